"""``glassnet evaluate`` on image folders: classes matched by name, the training run's test
split reproduced with ``--test-split``/``--seed``, and run files usable from any directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli


@pytest.fixture(scope="module")
def data_env(data_root, tmp_path_factory) -> dict[str, str]:
    """A private data directory (the folder cache lands there) that still holds the cat set."""
    root = tmp_path_factory.mktemp("data")
    (root / "catvnoncat").symlink_to(data_root / "catvnoncat")
    return {"GLASSNET_DATA": str(root)}


@pytest.fixture(scope="module")
def cats_model(data_env, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("runs") / "cats"
    result = run_cli("train", "--dataset", "cats", "--hidden", "7", "--epochs", "60", "--batch-size",
                     "full", "--lr", "0.0075", "--seed", "1", "--quiet", "--out", str(out), env=data_env)
    assert result.returncode == 0, result.stderr
    return str(out / "model.glassnet")


def write_folder(dataset, root, names=None) -> None:
    """Save a Dataset's images as lossless PNGs in one subfolder per class."""
    for i, (image, label) in enumerate(zip(dataset.x, dataset.y, strict=True)):
        folder = root / (names or dataset.class_names)[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"{i:03d}.png")


def evaluate_json(*args, env) -> dict:
    result = run_cli("evaluate", *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_folder_is_scored_by_class_name_not_by_folder_order(cats, cats_model, data_env, tmp_path):
    """The cat set's classes are (non-cat, cat); a folder lists them sorted (cat, non-cat)."""
    write_folder(cats["test"], tmp_path / "test-photos")
    named = evaluate_json(cats_model, "--dataset", "cats", env=data_env)
    folder = evaluate_json(cats_model, "--dataset", str(tmp_path / "test-photos"), env=data_env)
    assert named["accuracy"] != pytest.approx(0.5, abs=0.05)  # a swap would show
    assert folder["accuracy"] == pytest.approx(named["accuracy"])
    assert folder["confusion_matrix"] == named["confusion_matrix"]
    assert folder["class_names"] == ["non-cat", "cat"] and folder["split"] == "all"
    text = run_cli("evaluate", cats_model, "--dataset", str(tmp_path / "test-photos"), env=data_env)
    # labelled as a split of a folder is (test-photos/test with --test-split), by its name
    assert text.stdout.startswith("test-photos/all (50 images): loss "), text.stdout


def test_split_on_a_whole_folder_is_an_error_not_ignored(cats, cats_model, data_env, tmp_path):
    write_folder(cats["test"], tmp_path / "photos")
    result = run_cli("evaluate", cats_model, "--dataset", str(tmp_path / "photos"), "--split",
                     "train", env=data_env)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "--split train: the image folder" in result.stderr and "add --test-split" in result.stderr


def test_a_data_set_with_some_of_the_models_classes_keeps_the_models_order():
    from glassnet import Sequential, layers
    from glassnet.data import Dataset
    from glassnet.run_data import check_compatible

    model = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(1, 2, 2))
    model.class_names = ["bird", "cat", "dog"]
    x = np.zeros((3, 1, 2, 2), dtype=np.uint8)
    folder = Dataset(x, [0, 1, 1], ["cat", "dog"], "pets")  # sorted, no birds
    matched = check_compatible(model, folder)
    assert matched.class_names == ["bird", "cat", "dog"] and matched.y.tolist() == [1, 2, 2]


def test_class_names_match_whatever_their_unicode_normal_form():
    """A folder unzipped from a Mac names "grün" with a combining diaeresis (NFD): it was "a
    class the model was not trained on", in an error that showed two identical names."""
    import unicodedata

    from glassnet import Sequential, layers
    from glassnet.data import Dataset
    from glassnet.errors import ConfigError
    from glassnet.run_data import check_compatible

    model = Sequential([layers.Flatten(), layers.Dense(2)], input_shape=(1, 2, 2))
    model.class_names = ["blau", unicodedata.normalize("NFC", "grün")]
    x = np.zeros((2, 1, 2, 2), dtype=np.uint8)
    folder = Dataset(x, [0, 1], ["blau", unicodedata.normalize("NFD", "grün")], "photos")
    matched = check_compatible(model, folder)
    assert matched.class_names == model.class_names and matched.y.tolist() == [0, 1]
    # two classes of the model that differ only in their form: each matches only itself
    nfd, nfc = "e\u0301", "\u00e9"
    both = Sequential([layers.Flatten(), layers.Dense(2)], input_shape=(1, 2, 2),
                      class_names=sorted([nfd, nfc]))
    for name in (nfd, nfc):
        one = Dataset(np.zeros((1, 1, 2, 2), np.uint8), [0], [name], "folder")
        assert check_compatible(both, one).y.tolist() == [both.class_names.index(name)]
    # a third form of the same letter (the Angstrom sign, NFC of both): which class it is, is
    # a guess, so it is no class of the model, not the first of the two
    angstrom = Sequential([layers.Flatten(), layers.Dense(2)], input_shape=(1, 2, 2),
                          class_names=["\u00c5", "A\u030a"])
    sign = Dataset(np.zeros((1, 1, 2, 2), np.uint8), [0], ["\u212b"], "folder")
    with pytest.raises(ConfigError, match="has classes the model was not trained on: '\u212b'"):
        check_compatible(angstrom, sign)


def test_a_folder_of_one_of_the_models_classes(cats, cats_model, data_env, tmp_path):
    only_cats = cats["test"].subset(cats["test"].y == 1)
    write_folder(only_cats, tmp_path / "my-cats")
    result = evaluate_json(cats_model, "--dataset", str(tmp_path / "my-cats"), env=data_env)
    assert result["samples"] == len(only_cats) == 33
    assert result["confusion_matrix"][0] == [0, 0]  # row of the model's class 0: no non-cats


def test_a_model_without_class_names_refuses_a_data_set_with_more_classes():
    from glassnet import Sequential, layers
    from glassnet.data import Dataset
    from glassnet.errors import ShapeError
    from glassnet.run_data import check_compatible

    model = Sequential([layers.Flatten(), layers.Dense(1)], input_shape=(1, 2, 2))  # binary
    three = Dataset(np.zeros((3, 1, 2, 2), dtype=np.uint8), [0, 1, 2], ["a", "b", "c"], "abc")
    with pytest.raises(ShapeError, match="abc has 3 classes but the model predicts 2"):
        check_compatible(model, three)


def test_a_model_without_class_names_warns_that_classes_are_matched_by_position():
    from glassnet import Sequential, layers
    from glassnet.data import Dataset
    from glassnet.errors import GlassnetWarning
    from glassnet.run_data import check_compatible

    model = Sequential([layers.Flatten(), layers.Dense(3)], input_shape=(1, 2, 2))
    two = Dataset(np.zeros((2, 1, 2, 2), dtype=np.uint8), [0, 1], ["cat", "non-cat"], "photos")
    with pytest.warns(GlassnetWarning, match=r"no class names, so the classes of photos are matched "
                                             r"by position \(0 = 'cat', 1 = 'non-cat'\)"):
        assert check_compatible(model, two) is two


def test_a_folder_with_other_classes_is_a_clear_error(cats, cats_model, data_env, tmp_path):
    write_folder(cats["test"], tmp_path / "renamed", names=["dog", "cat"])
    result = run_cli("evaluate", cats_model, "--dataset", str(tmp_path / "renamed"), env=data_env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "classes the model was not trained on: 'dog'" in result.stderr
    assert "'non-cat', 'cat' (an image folder needs one subfolder per class" in result.stderr


def test_a_named_set_with_other_classes_gets_no_folder_advice():
    from glassnet import Sequential, layers
    from glassnet.data import Dataset
    from glassnet.errors import ConfigError
    from glassnet.run_data import check_compatible

    model = Sequential([layers.Flatten(), layers.Dense(1)], input_shape=(1, 2, 2),
                       class_names=["non-cat", "cat"])
    named = Dataset(np.zeros((2, 1, 2, 2), dtype=np.uint8), [0, 1], ["airplane", "cat"], "cifar10/test")
    with pytest.raises(ConfigError, match=r"not trained on: 'airplane'; the model's classes are "
                                          r"'non-cat', 'cat'$"):
        check_compatible(model, named)


def test_evaluate_reproduces_a_folder_runs_test_split_and_report_works_anywhere(
        cats, data_env, tmp_path):
    write_folder(cats["test"], tmp_path / "photos")
    out = tmp_path / "runs" / "photos"
    args = ["--image-size", "32", "--test-split", "0.25", "--seed", "3"]
    trained = run_cli("train", "--dataset", "photos", *args, "--hidden", "5", "--epochs", "5",
                      "--quiet", "--out", str(out), cwd=tmp_path, env=data_env)
    assert trained.returncode == 0, trained.stderr
    test = json.loads((out / "metrics.json").read_text())["test"]
    again = evaluate_json(str(out / "model.glassnet"), "--dataset", str(tmp_path / "photos"),
                          "--test-split", "0.25", "--seed", "3", env=data_env)
    assert again["split"] == "test" and again["samples"] == 12
    assert again["accuracy"] == pytest.approx(test["accuracy"])
    assert again["loss"] == pytest.approx(test["loss"], rel=1e-5)
    no_split = run_cli("evaluate", str(out / "model.glassnet"), "--dataset", str(tmp_path / "photos"),
                       "--split", "test", env=data_env)
    assert no_split.returncode == 1 and "has no splits of its own; add --test-split" in no_split.stderr
    assert "warning" not in no_split.stderr  # of training images in an evaluation that never ran
    # run.json keeps the folder's absolute path: the report rebuilds from another directory
    assert json.loads((out / "run.json").read_text())["config"]["dataset"] == str(tmp_path / "photos")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    report = run_cli("report", str(out), cwd=elsewhere, env=data_env)
    assert report.returncode == 0, report.stderr


def test_search_on_a_folder_holds_out_a_test_split_for_final_and_prints_it(cats, data_env, tmp_path):
    pytest.importorskip("optuna")
    write_folder(cats["test"], tmp_path / "photos")
    out = tmp_path / "search"
    result = run_cli("search", "--dataset", str(tmp_path / "photos"), "--image-size", "16",
                     "--test-split", "0.25", "--model", "mlp", "--hidden", "5", "--trials", "2",
                     "--epochs-per-trial", "2", "--param", "lr=log:1e-3:1e-1", "--seed", "2",
                     "--final", "--no-plot", "--out", str(out), env=data_env)
    assert result.returncode == 0, result.stderr
    command = next(line for line in result.stdout.splitlines() if "glassnet train" in line)
    assert "--image-size 16" in command and "--test-split 0.25" in command
    final = json.loads((out / "search.json").read_text())["final"]
    assert 0 <= final["test"]["accuracy"] <= 1  # a test split exists and was scored once
    assert "(no test split)" not in result.stdout
    config = json.loads((out / "final" / "run.json").read_text())["config"]
    assert config["image_size"] == 16 and config["test_split"] == 0.25


def write_wide_folder(dataset, root) -> None:
    """The images as 64x96 PNGs (a strip of each beside it), so crop and squash differ."""
    for i, (image, label) in enumerate(zip(dataset.x[:40], dataset.y[:40], strict=True)):
        folder = root / dataset.class_names[label]
        folder.mkdir(parents=True, exist_ok=True)
        wide = np.concatenate([image, image[:, :, :32]], axis=2).transpose(1, 2, 0)
        Image.fromarray(np.ascontiguousarray(wide)).save(folder / f"{i:03d}.png")


def test_evaluate_and_predict_fit_images_as_the_training_run_did(cats, data_env, tmp_path):
    write_wide_folder(cats["test"], tmp_path / "wide")
    out = tmp_path / "runs" / "crop"
    split = ["--test-split", "0.25", "--seed", "2"]
    trained = run_cli("train", "--dataset", str(tmp_path / "wide"), "--image-size", "24",
                      "--resize", "crop", *split, "--hidden", "5", "--epochs", "3", "--quiet",
                      "--out", str(out), env=data_env)
    assert trained.returncode == 0, trained.stderr
    model = str(out / "model.glassnet")
    test = json.loads((out / "metrics.json").read_text())["test"]
    again = evaluate_json(model, "--dataset", str(tmp_path / "wide"), *split, env=data_env)
    assert again["loss"] == pytest.approx(test["loss"], rel=1e-5)  # cropped, as in training
    squashed = evaluate_json(model, "--dataset", str(tmp_path / "wide"), *split, "--resize",
                             "squash", env=data_env)
    assert squashed["loss"] != pytest.approx(test["loss"], rel=1e-5)  # --resize still wins
    image = next((tmp_path / "wide" / "cat").iterdir())
    predicted = [json.loads(run_cli("predict", model, str(image), "--json", *extra, env=data_env).stdout)
                 [0]["probability"] for extra in ([], ["--resize", "crop"], ["--resize", "squash"])]
    assert predicted[0] == predicted[1] != predicted[2]
    info = run_cli("info", model, env=data_env)
    assert "images fitted by crop" in info.stdout


def test_evaluate_reads_a_grayscale_models_folder_in_grayscale(cats, data_env, tmp_path):
    import glassnet as gn
    from glassnet.data import image_folder

    write_folder(cats["test"], tmp_path / "photos")
    gray = image_folder(tmp_path / "photos", 16, color_mode="grayscale", cache=False)
    model = gn.Sequential([gn.layers.Flatten(), gn.layers.Dense(1)], input_shape=(1, 16, 16), seed=0,
                          class_names=gray.class_names, preprocessing={"scale": 1 / 255})
    model.compile("binary_crossentropy", "sgd")
    model.save(tmp_path / "gray.glassnet")
    scored = evaluate_json(str(tmp_path / "gray.glassnet"), "--dataset", str(tmp_path / "photos"),
                           env=data_env)
    assert scored["samples"] == len(gray)
    assert scored["loss"] == pytest.approx(model.evaluate(gray.x, gray.y)["loss"], rel=1e-5)


def test_images_too_large_for_a_model_get_no_smallest_size_hint(tmp_path):
    """Every shape error said "the smallest --image-size it fits is 4", also for images too large."""
    from glassnet.data import Dataset
    from glassnet.errors import ShapeError
    from glassnet.run_setup import build_model
    from glassnet.runs import RunConfig

    big = Dataset(np.zeros((2, 3, 2048, 2048), np.uint8), [0, 1], ["a", "b"], "photos/train")
    with pytest.raises(ShapeError, match="values per image") as info:
        build_model(RunConfig(dataset=str(tmp_path), model="cnn-bn"), big)
    assert "smallest --image-size" not in str(info.value)
