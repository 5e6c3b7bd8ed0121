"""``glassnet train/evaluate/predict`` on a real folder of photos, as a user runs them."""

from __future__ import annotations

import html
import json
import shutil

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import BAD_FILES, run_cli
from glassnet.io.format import load_model

# A small CNN reaches the acceptance accuracy in about 20 epochs on 207 photos; the MLP of
# the tutorial does not on a random split (about 0.65, see notes/README-folder.md).
TRAIN_ARGS = ["--image-size", "64", "--test-split", "0.2", "--model", "cnn-small", "--epochs", "20",
              "--optimizer", "adam", "--lr", "0.003", "--lr-schedule", "cosine", "--batch-size", "32",
              "--augment", "flip,crop", "--seed", "0", "--quiet"]


@pytest.fixture(scope="module")
def data_env(tmp_path_factory) -> dict[str, str]:
    """A private data directory, so the image cache never lands in the shared data."""
    return {"GLASSNET_DATA": str(tmp_path_factory.mktemp("data"))}


@pytest.fixture(scope="module")
def folder_run(cat_photo_folder, data_env, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "photos"
    result = run_cli("train", "--dataset", str(cat_photo_folder), *TRAIN_ARGS, "--out", str(out),
                     env=data_env, timeout=900)
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.mark.slow
def test_training_on_a_photo_folder_reaches_075_and_reports_the_bad_files(folder_run, cat_photo_folder):
    out, result = folder_run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.75, metrics
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 4, result.stderr  # the three bad files and the count, nothing hidden
    for rel, reason in BAD_FILES.items():
        assert any(str(cat_photo_folder / rel) in w and reason in w for w in warnings), rel
    assert warnings[-1].startswith("glassnet train: warning: skipped 3 of 262 files")
    report = (out / "report.html").read_text()  # an archived report says so too
    assert "<td>skipped</td><td>3 files of the folder not used: " in report
    assert all(html.escape(rel) in report for rel in BAD_FILES)
    model = load_model(out / "model.glassnet")
    assert model.input_shape == (3, 64, 64) and model.class_names == ["cat", "non-cat"]
    run = json.loads((out / "run.json").read_text())["config"]
    assert run["test_split"] == 0.2 and run["image_size"] == 64 and run["augment"] == "flip,crop"


def exif_rotated_photo(image: np.ndarray, path) -> Image.Image:
    """Save ``image`` (H, W, 3) enlarged to 240x180 as a JPEG stored sideways with an EXIF
    orientation tag that turns it upright; return the upright picture a viewer shows."""
    upright = Image.fromarray(image).resize((240, 180), Image.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    upright.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    return upright


@pytest.mark.slow
def test_predict_on_a_large_exif_rotated_jpeg_equals_the_hand_resized_image(folder_run, cats, tmp_path):
    out, _ = folder_run
    model = load_model(out / "model.glassnet")
    path = tmp_path / "my_cat.jpg"
    exif_rotated_photo(cats["test"].x[1].transpose(1, 2, 0), path)
    with Image.open(path) as stored:
        assert stored.size == (180, 240)  # really stored sideways
        stored.load()  # decoded whole, as glassnet does: it is less than 8 x 64 wide
        by_hand = ImageOps.exif_transpose(stored).convert("RGB").resize((64, 64), Image.BILINEAR)
    expected = model.predict(np.asarray(by_hand).transpose(2, 0, 1)[None])[0, 0]
    result = run_cli("predict", str(out / "model.glassnet"), str(path), "--json")
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads(result.stdout)
    assert entry["probabilities"]["non-cat"] == pytest.approx(float(expected), abs=1e-5)
    assert entry["class"] == ("non-cat" if expected > 0.5 else "cat")


@pytest.mark.slow
def test_predict_on_files_and_folders_with_top_and_json(folder_run, cats, tmp_path):
    out, _ = folder_run
    folder = tmp_path / "mine"
    for i in range(3):
        (folder / "sub").mkdir(parents=True, exist_ok=True)
        Image.fromarray(cats["test"].x[i].transpose(1, 2, 0)).save(folder / "sub" / f"{i}.png")
    (folder / "list.txt").write_text("shopping")
    single = tmp_path / "one.jpg"
    Image.fromarray(cats["test"].x[5].transpose(1, 2, 0)).save(single)
    model = str(out / "model.glassnet")
    result = run_cli("predict", model, str(single), str(folder), "--top", "2", "--json")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    expected = [str(single)] + [str(folder / "sub" / f"{i}.png") for i in range(3)]
    assert [e["file"] for e in entries] == expected
    assert all(len(e["top"]) == 2 and e["top"][0]["class"] == e["class"] for e in entries)
    assert "skipped" in result.stderr and "list.txt" in result.stderr
    text = run_cli("predict", model, str(folder))
    lines = text.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.split(": ")[1].split()[0] in ("cat", "non-cat") for line in lines)
    strict = run_cli("predict", model, str(folder), "--strict")
    assert strict.returncode == 1 and "list.txt" in strict.stderr and "Traceback" not in strict.stderr


@pytest.mark.slow
def test_evaluate_on_a_folder_and_a_size_that_does_not_fit(folder_run, cat_photo_folder, data_env):
    out, _ = folder_run
    model = str(out / "model.glassnet")
    result = run_cli("evaluate", model, "--dataset", str(cat_photo_folder), "--json", env=data_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["samples"] == 259
    # a model takes only its own size: evaluate has no --image-size (any other size failed)
    wrong = run_cli("evaluate", model, "--dataset", str(cat_photo_folder), "--image-size", "32",
                    env=data_env)
    assert wrong.returncode == 2 and "unrecognized arguments: --image-size 32" in wrong.stderr


@pytest.mark.parametrize("args, code, message", [
    (["--dataset", "no/such/folder"], 1, "no/such/folder: no such folder"),
    (["--dataset", "{file}"], 1, "is a file, not a folder"),
    (["--dataset", "{folder}", "--image-size", "0"], 2, "--image-size: expected a positive integer, got '0'"),
    (["--dataset", "{folder}", "--image-size", "-3"], 2, "got '-3'"),
    (["--dataset", "{folder}", "--test-split", "1.5"], 2, "--test-split"),
    (["--dataset", "{folder}", "--strict"], 1, "strict"),
    (["--dataset", "{folder}", "--image-size", "4", "--model", "cnn-small"], 1,
     "does not fit the images"),
    (["--dataset", "{folder}", "--image-size", "4", "--model", "cnn-small"], 1,
     "; the smallest --image-size it fits is 7"),
    (["--dataset", "cats", "--image-size", "32"], 1, "fixed-size images"),
    (["--dataset", "cats", "--test-split", "0.2"], 1, "fixed-size images and its own test split"),
    (["--dataset", "{folder}", "--augment", "rotate"], 1, "unknown augmentation 'rotate'"),
])
def test_bad_input_is_one_clear_line(args, code, message, cat_photo_folder, data_env, tmp_path):
    a_file = tmp_path / "photo.jpg"
    a_file.write_bytes(b"x")
    args = [a.format(file=a_file, folder=cat_photo_folder) for a in args]
    result = run_cli("train", *args, "--epochs", "1", "--out", str(tmp_path / "run"), cwd=tmp_path,
                     env=data_env)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr


def _tiny_folder(root, classes=("a", "b"), images=8):
    """8x8 PNGs of one colour per class (and a little noise): a folder any model learns."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(images):
            noise = rng.integers(0, 20, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(np.full((8, 8, 3), 60 + 120 * c, np.uint8) + noise).save(root / name / f"{i}.png")
    return root


def test_names_that_are_not_utf8_or_hold_a_newline_train_report_and_print(tmp_path, data_env):
    """A Latin-1 file or class name ended `train` with a UnicodeEncodeError before the report
    was written, and a class folder named with a newline split predict's one line per image."""
    import os

    root = _tiny_folder(tmp_path / "photos", [os.fsdecode(b"caf\xe9"), "two\nlines"])
    with open(os.fsencode(root) + b"/caf\xe9/notes\xe9.txt", "w") as handle:
        handle.write("not an image")
    env = {**data_env, "PYTHONIOENCODING": "utf-8:strict"}  # a desktop terminal's strict UTF-8
    out = tmp_path / "run"
    trained = run_cli("train", "--dataset", str(root), "--image-size", "8", "--epochs", "2",
                      "--test-split", "0.25", "--quiet", "--out", str(out), env=env)
    assert trained.returncode == 0, trained.stderr
    page = (out / "report.html").read_text()
    assert "notes\\xe9.txt" in page and "caf\\xe9" in page
    info = run_cli("info", str(out), env=env)
    assert info.returncode == 0, info.stderr
    assert "classes (2): caf\\xe9, two\\nlines" in info.stdout
    image = os.fsdecode(os.fsencode(root) + b"/two\nlines/0.png")
    predicted = run_cli("predict", str(out), image, "--top", "2", env=env)
    assert predicted.returncode == 0, predicted.stderr
    assert len(predicted.stdout.splitlines()) == 1 and "two\\nlines" in predicted.stdout
    evaluated = run_cli("evaluate", str(out), env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "caf\\xe9" in evaluated.stdout




@pytest.mark.parametrize("how", ["--dataset . from inside it", "--out inside it"])
def test_a_run_folder_inside_the_image_folder_is_refused_before_any_work(how, tmp_path, data_env):
    """Its runs/ became a class of the folder: every later evaluate, report, --resume and new
    run on the folder failed ("class folder(s) ['runs'] ... hold no readable image")."""
    root = _tiny_folder(tmp_path / "photos")
    if how.startswith("--dataset ."):
        result = run_cli("train", "--dataset", ".", "--image-size", "8", "--epochs", "1", cwd=root,
                         env=data_env)
    else:
        result = run_cli("train", "--dataset", str(root), "--image-size", "8", "--epochs", "1",
                         "--out", str(root / "runs" / "x"), env=data_env)
    assert result.returncode == 1, result.stderr
    assert "would be inside the image folder" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in root.iterdir()) == ["a", "b"]  # nothing written into it


def test_a_hidden_run_folder_inside_the_image_folder_is_fine_and_search_is_checked_too(tmp_path, data_env):
    """The listing skips hidden entries, so .runs/ there is never a class; `search --dataset .`
    made runs/ in the folder before its first trial failed."""
    root = _tiny_folder(tmp_path / "photos")
    hidden = run_cli("train", "--dataset", ".", "--image-size", "8", "--epochs", "1", "--quiet",
                     "--out", ".runs/one", cwd=root, env=data_env)
    assert hidden.returncode == 0, hidden.stderr
    search = run_cli("search", "--dataset", ".", "--model", "mlp", "--hidden", "4", "--trials", "2",
                     "--epochs-per-trial", "1", "--image-size", "8", "--param", "lr=log:1e-3:1e-1",
                     "--name", "s1", "--no-plot", cwd=root, env=data_env)
    assert search.returncode == 1 and "would be inside the image folder" in search.stderr
    assert sorted(p.name for p in root.iterdir()) == [".runs", "a", "b"]
    # `--dataset ..` from a class folder: the run is named after the folder, not "..", so it
    # is not hidden from the check (runs/..-mlp-search-... was skipped as a hidden folder)
    up = run_cli("search", "--dataset", "..", "--model", "mlp", "--hidden", "4", "--trials", "2",
                 "--epochs-per-trial", "1", "--image-size", "8", "--param", "lr=log:1e-3:1e-1",
                 "--no-plot", cwd=root / "a", env=data_env)
    assert up.returncode == 1 and "runs/photos-mlp-search-" in up.stderr


def test_evaluate_says_the_models_training_folder_moved(tmp_path, data_env):
    """It said only '<folder>: no such folder', not that it was the recorded training folder."""
    root = _tiny_folder(tmp_path / "photos")
    out = tmp_path / "run"
    trained = run_cli("train", "--dataset", str(root), "--image-size", "8", "--epochs", "1",
                      "--test-split", "0.25", "--quiet", "--out", str(out), env=data_env)
    assert trained.returncode == 0, trained.stderr
    root.rename(tmp_path / "moved")
    result = run_cli("evaluate", str(out), env=data_env)
    assert result.returncode == 1
    assert (f"was trained on the image folder {root}, which is no longer there: give its new place "
            "with --dataset") in result.stderr
    # given its new place as advised, the whole folder is scored: say it holds training images
    # (it did not: only the recorded path was recognized)
    whole = run_cli("evaluate", str(out), "--dataset", str(tmp_path / "moved"), env=data_env)
    assert whole.returncode == 0, whole.stderr
    assert (f"was trained on this folder (the same files as its training folder {root}) with "
            "--test-split 0.25 --seed 0: the whole folder includes its training images") in whole.stderr
    split = run_cli("evaluate", str(out), "--dataset", str(tmp_path / "moved"), "--test-split", "0.25",
                    "--seed", "0", env=data_env)
    assert split.returncode == 0 and "warning" not in split.stderr, split.stderr


def test_predict_plot_refuses_a_folder_inside_the_models_training_folder(tmp_path, data_env):
    """Plots written into a class folder of the training images became images of that class
    for the next evaluate (and training): only the folders named to predict were checked."""
    root = _tiny_folder(tmp_path / "photos")
    out = tmp_path / "run"
    trained = run_cli("train", "--dataset", str(root), "--image-size", "8", "--epochs", "1",
                      "--quiet", "--out", str(out), env=data_env)
    assert trained.returncode == 0, trained.stderr
    inside = root / "a" / "plots"
    result = run_cli("predict", str(out), str(root / "a" / "0.png"), "--plot", str(inside), env=data_env)
    assert result.returncode == 1 and not inside.exists()
    assert (f"--plot {inside} is inside the model's training folder {root}: training, evaluate and "
            "report would read the plots as images of a class") in result.stderr
    hidden = run_cli("predict", str(out), str(root / "a" / "0.png"), "--plot", str(root / ".plots"),
                     env=data_env)
    assert hidden.returncode == 0, hidden.stderr


def test_a_search_on_an_image_folder_resumes_from_any_directory(tmp_path, data_env):
    """The search stores the folder as typed ("photos", read from the directory it started
    in, so that another machine's worker reads its own copy), and records where that was:
    --resume from another directory found no data set ("unknown dataset 'photos'"), and
    --dataset with the folder's absolute path was refused as another setting."""
    root = _tiny_folder(tmp_path / "photos")
    run_dir = str(tmp_path / "runs" / "s")

    def resume(trials, cwd, *options):
        return run_cli("search", "--out", run_dir, "--resume", "--trials", str(trials), *options,
                       cwd=cwd, env=data_env)

    first = run_cli("search", "--model", "mlp", "--hidden", "4", "--epochs-per-trial", "1",
                    "--image-size", "8", "--param", "lr=log:1e-3:1e-1", "--no-plot", "--dataset",
                    "photos", "--trials", "1", "--out", run_dir, cwd=tmp_path, env=data_env)
    assert first.returncode == 0, first.stderr
    # elsewhere, where another folder is called photos too: the search's own is read
    elsewhere = _tiny_folder(tmp_path / "elsewhere" / "photos", classes=("x", "y")).parent
    resumed = resume(2, elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert f"--dataset {root.resolve()} " in resumed.stdout  # its train command works from anywhere
    stored = json.loads((tmp_path / "runs" / "s" / "search.json").read_text())["config"]
    assert stored["base"]["dataset"] == "photos"  # as the study stores it
    assert resume(3, elsewhere, "--dataset", str(root)).returncode == 0
    join = run_cli("search", "--model", "mlp", "--hidden", "4", "--epochs-per-trial", "1", "--image-size",
                   "8", "--param", "lr=log:1e-3:1e-1", "--no-plot", "--dataset", "photos", "--trials", "3",
                   "--out", run_dir, cwd=elsewhere, env=data_env)  # the first command, from elsewhere
    assert join.returncode == 1
    assert f"reads the image folder {root.resolve()}, and --dataset photos" in join.stderr
    refused = resume(3, elsewhere, "--dataset", "photos")  # elsewhere/photos: another folder
    assert refused.returncode == 1
    assert f"stored {root.resolve()}, given {elsewhere / 'photos'}" in refused.stderr
    # another machine: the same relative path, its own copy (the first one's is not there)
    machine_b = tmp_path / "b"
    shutil.copytree(root, machine_b / "photos")
    root.rename(tmp_path / "moved")
    joined = resume(4, machine_b, "--workers", "2")  # the worker process reads the copy too
    assert joined.returncode == 0, joined.stderr  # the study still says "photos", not a path
    lost = resume(5, tmp_path / "moved")
    assert lost.returncode == 1
    assert (f"the search's image folder is not there any more (neither at {root.resolve()}, where it was "
            f"when the search started, nor at photos from {tmp_path / 'moved'}): give its place now with "
            "--dataset") in lost.stderr
    assert resume(5, tmp_path, "--dataset", "moved", "--workers", "2").returncode == 0  # it moved
    # named where it is now, also from a directory that holds another folder of its name
    assert resume(6, elsewhere, "--dataset", str(tmp_path / "moved")).returncode == 0
    (tmp_path / "moved").rename(tmp_path / "moved-again")  # not named: elsewhere/photos is another set
    other = resume(7, elsewhere)
    assert other.returncode == 1
    assert ("the image folder " + str(elsewhere / "photos") + " holds the classes ['x', 'y'], but the search "
            "started on ['a', 'b']: it is another data set") in other.stderr
