"""Plots are checked for what they show: numbers in cells, images in the gallery, curve data."""

import io

import numpy as np
import pytest
from matplotlib.colors import to_hex
from PIL import Image

from glassnet import metrics
from glassnet.errors import ShapeError
from glassnet.report import curves, figures, plots
from glassnet.training import History


def _main_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _cell_numbers(ax, n):
    """The integers written in the heatmap's cells, placed by their (x, y) positions."""
    shown = np.full((n, n), -1)
    for t in ax.texts:
        x, y = t.get_position()
        shown[int(round(y)), int(round(x))] = int(t.get_text())
    return shown


@pytest.mark.parametrize("n", [2, 10])
def test_confusion_matrix_cells_show_the_computed_counts(rng, n):
    y_true = rng.integers(0, n, 400)
    y_pred = np.where(rng.random(400) < 0.5, y_true, rng.integers(0, n, 400))
    matrix = metrics.confusion_matrix(y_true, y_pred, n)
    names = [f"class {i}" for i in range(n)]
    fig = plots.plot_confusion_matrix(matrix, names)
    (ax,) = _main_axes(fig)
    np.testing.assert_array_equal(_cell_numbers(ax, n), matrix)
    # colours: each row divided by its sum
    colors = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(colors, matrix / matrix.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(colors.sum(axis=1), 1.0)
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names


def test_confusion_matrix_empty_row_and_bad_shapes():
    colors = plots.row_normalized(np.array([[0, 0], [1, 3]]))
    np.testing.assert_allclose(colors, [[0, 0], [0.25, 0.75]])
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        plots.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ShapeError, match="3 class names"):
        plots.plot_confusion_matrix(np.zeros((2, 2)), ["a", "b", "c"])


def _predictions(rng, n=30, classes=3):
    images = rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
    y_true = rng.integers(0, classes, n)
    probs = rng.dirichlet(np.ones(classes), n)
    return images, y_true, probs.argmax(axis=1), probs


def test_gallery_shows_exactly_the_misclassified_images(rng):
    images, y_true, y_pred, probs = _predictions(rng)
    names = ["plane", "car", "bird"]
    wrong = np.flatnonzero(y_true != y_pred)
    assert 5 < len(wrong) < 30
    fig = plots.plot_misclassified(images, y_true, y_pred, probs, names, max_images=100)
    axes = fig.axes
    assert [int(ax.get_label()) for ax in axes] == wrong.tolist()
    for ax, i in zip(axes, wrong, strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), images[i].transpose(1, 2, 0))
        assert ax.get_title() == (f"Prediction: {names[y_pred[i]]} ({probs[i, y_pred[i]]:.2f})\n"
                                  f"Class: {names[y_true[i]]}")
        assert ax.get_xlabel() == f"#{i}"


def test_gallery_keeps_the_first_max_images_and_handles_none(rng):
    images, y_true, y_pred, probs = _predictions(rng)
    fig = plots.plot_misclassified(images, y_true, y_pred, probs, ["a", "b", "c"], max_images=4)
    assert [int(ax.get_label()) for ax in fig.axes] == np.flatnonzero(y_true != y_pred)[:4].tolist()
    fig = plots.plot_misclassified(images, y_pred, y_pred, probs, ["a", "b", "c"])
    assert fig.axes == [] and fig.texts[0].get_text() == "no misclassified images"
    with pytest.raises(ShapeError, match="30 images, 29 labels"):
        plots.plot_misclassified(images, y_true[:-1], y_pred, probs, ["a", "b", "c"])


def test_gallery_grayscale_and_float_images(rng):
    images = rng.random((4, 1, 5, 5))
    fig = plots.plot_misclassified(images, np.array([0, 1, 0, 1]), np.array([1, 1, 0, 0]),
                                   np.full((4, 2), 0.5), ["a", "b"])
    assert [ax.get_label() for ax in fig.axes] == ["0", "3"]
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown.shape == (5, 5) and shown.min() == 0 and shown.max() == 1


def _history(epochs=12, lr_factor=0.9):
    h = History()
    for e in range(epochs):
        h.append(e, {"loss": 1 / (e + 1), "accuracy": e / epochs, "val_loss": 1.2 / (e + 1),
                     "val_accuracy": e / epochs - 0.1, "lr": 0.1 * lr_factor ** e})
    return h


def test_training_curves_plot_the_history_and_the_changing_lr():
    h = _history()
    fig = curves.plot_training_curves(h)
    loss_ax, acc_ax, lr_ax = fig.axes
    drawn = {line.get_label(): line for ax in (loss_ax, acc_ax) for line in ax.get_lines()}
    for key, label in [("loss", "training loss"), ("val_loss", "validation loss"),
                       ("accuracy", "training accuracy"), ("val_accuracy", "validation accuracy")]:
        np.testing.assert_array_equal(drawn[label].get_xdata(), np.arange(1, 13))
        np.testing.assert_allclose(drawn[label].get_ydata(), h[key])
    (lr_line,) = lr_ax.get_lines()
    np.testing.assert_allclose(lr_line.get_ydata(), h["lr"])
    assert lr_ax.get_ylabel() == "learning rate" and loss_ax.get_xlabel() == "epoch"
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == [
        "training loss", "validation loss", "learning rate"]
    # a class-weighted training loss is named so (the validation loss is not weighted)
    weighted = curves.plot_training_curves(h, weighted_loss=True)
    assert [t.get_text() for t in weighted.axes[0].get_legend().get_texts()] == [
        "training loss (class-weighted)", "validation loss", "learning rate"]
    assert [t.get_text() for t in weighted.axes[1].get_legend().get_texts()] == [
        "training accuracy", "validation accuracy"]


def test_training_curves_without_lr_change_or_validation():
    h = History()
    for e in range(5):
        h.append(e, {"loss": 1.0 / (e + 1), "lr": 0.01})
    fig = curves.plot_training_curves(h.to_dict())  # a history dict works too
    (ax,) = fig.axes  # no accuracy panel, no learning-rate axis
    assert [line.get_label() for line in ax.get_lines()] == ["training loss"]
    with pytest.raises(ShapeError, match="no 'loss'"):
        curves.plot_training_curves({"accuracy": [0.5]})


def test_a_one_epoch_curve_is_a_visible_point():
    fig = curves.plot_training_curves({"epoch": [0], "loss": [0.7], "val_loss": [0.8]})
    assert all(line.get_marker() == "o" for line in fig.axes[0].get_lines())
    long = {"epoch": list(range(100)), "loss": [1.0] * 100}
    assert curves.plot_training_curves(long).axes[0].get_lines()[0].get_marker() in ("None", None, "")


def test_probability_bars_show_the_probabilities(rng):
    image = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    probs = np.array([0.1, 0.6, 0.3])
    fig = plots.plot_probabilities(image, probs, ["a", "b", "c"], true_class=2)
    ax_image, ax_bars = fig.axes
    np.testing.assert_array_equal(ax_image.images[0].get_array(), image.transpose(1, 2, 0))
    bars = {t.get_text(): p for t, p in zip(ax_bars.get_yticklabels(), ax_bars.patches, strict=True)}
    assert {k: round(p.get_width(), 6) for k, p in bars.items()} == {"a": 0.1, "b": 0.6, "c": 0.3}
    assert to_hex(bars["b"].get_facecolor()) == figures.WRONG_COLOR  # predicted b, true c
    assert ax_image.get_title() == "Prediction: b (0.60)\nClass: c"
    many = rng.dirichlet(np.ones(15))
    fig = plots.plot_probabilities(image, many, [f"k{i}" for i in range(15)], top=5)
    shown = sorted(p.get_width() for p in fig.axes[1].patches)
    np.testing.assert_allclose(shown, np.sort(many)[-5:])


def test_probability_bars_title_the_image_with_its_file_name(rng):
    image = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    probs = np.array([0.2, 0.8])
    untitled = plots.plot_probabilities(image, probs, ["a", "b"])
    assert untitled.axes[0].get_title() == ""
    named = plots.plot_probabilities(image, probs, ["a", "b"], image_name="my $5\tcat.jpg")
    assert named.axes[0].get_title() == r"my \$5\tcat.jpg"  # drawn literally, the tab escaped
    both = plots.plot_probabilities(image, probs, ["a", "b"], true_class=0, image_name="x" * 60 + ".png")
    name, prediction = both.axes[0].get_title().split("\n", 1)
    assert len(name) == 40 and name.startswith("xxx") and name.endswith("x.png") and "…" in name
    assert prediction == "Prediction: b (0.80)\nClass: a"


def test_a_probability_label_never_sits_on_its_own_bar(rng):
    """Labels went at min(p + 0.02, 0.86): a bar above 0.84 had its label drawn over it."""
    image = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    fig = plots.plot_probabilities(image, np.array([0.05, 0.95]), ["a", "b"], true_class=1)
    ax_bars = fig.axes[1]
    labels = {text.get_text(): text for text in ax_bars.texts}
    inside, after = labels["0.95 true"], labels["0.05"]
    assert inside.get_position()[0] < 0.95 and inside.get_ha() == "right" and inside.get_color() == "white"
    assert after.get_position()[0] > 0.05 and after.get_ha() == "left"


def test_optimizer_comparison_has_one_curve_per_optimizer():
    histories = {"sgd": _history(lr_factor=1.0), "adam": _history(8).to_dict()}
    fig = curves.plot_optimizer_comparison(histories)
    loss_ax, acc_ax = fig.axes
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    assert set(lines) == {"sgd", "sgd (validation)", "adam", "adam (validation)"}
    np.testing.assert_allclose(lines["adam"].get_ydata(), histories["adam"]["loss"])
    assert lines["adam"].get_color() == lines["adam (validation)"].get_color()
    assert lines["sgd (validation)"].get_linestyle() == "--"
    assert len(acc_ax.get_lines()) == 4
    assert [ax.get_title() for ax in fig.axes] == ["loss by optimizer", "accuracy by optimizer"]
    # the tutorial's initializer figure was titled "by optimizer" too
    fig = curves.plot_optimizer_comparison(histories, compared="initializer")
    assert [ax.get_title() for ax in fig.axes] == ["loss by initializer", "accuracy by initializer"]
    with pytest.raises(ShapeError):
        curves.plot_optimizer_comparison({})


def test_saved_png_is_an_image(tmp_path):
    path = tmp_path / "cm.png"
    figures.save_figure(plots.plot_confusion_matrix(np.eye(3, dtype=int)), path)
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 100 and img.height > 100
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_a_loaded_models_missing_history_is_named():
    with pytest.raises(ShapeError, match="there is no training history to plot"):
        curves.plot_training_curves(None)


def test_probability_bars_take_a_sigmoid_models_one_probability(rng):
    image = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    fig = plots.plot_probabilities(image, np.array([0.8]), ["non-cat", "cat"], true_class=1)
    bars = [patch.get_width() for patch in fig.axes[1].patches]
    assert bars == pytest.approx([0.2, 0.8])
    with pytest.raises(ShapeError, match="true_class 5 is not a class index"):
        plots.plot_probabilities(image, np.array([0.8]), ["non-cat", "cat"], true_class=5)


def test_epoch_ticks_are_whole_numbers():
    fig = curves.plot_training_curves({"epoch": [0, 1], "loss": [0.7, 0.6]})
    fig.canvas.draw()
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 2]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_long_and_foreign_class_names_stay_readable_without_glyph_warnings(recwarn):
    names = ["<img src=x onerror=alert(1)>", "say \"hi\" & 'bye'", "café <b>bold"]
    fig = plots.plot_confusion_matrix(np.eye(3, dtype=int), names, title="photos 日本語")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["<img sr…lert(1)>", "say \"hi\" & 'bye'", "café <b>bold"]
    assert fig.axes[0].get_xticklabels()[0].get_rotation() == 45  # long names are slanted
    figures.figure_png(fig)  # the title's characters the font lacks are boxes, without warnings
    assert not [w for w in recwarn if "missing from" in str(w.message)]
    assert figures.short_name("a" * 40) == "a" * 7 + "…" + "a" * 8
    assert figures.short_names(["golden_retriever_puppy", "golden_retriever_adult"]) == [
        "golden_…er_puppy", "golden_…er_adult"]
    assert figures.short_names(["a" * 20 + "x" + "b" * 20, "a" * 20 + "y" + "b" * 20]) == [
        "a" * 20 + "x" + "b" * 20, "a" * 20 + "y" + "b" * 20]  # would collide: kept whole


def test_text_tables_align_wide_characters():
    from glassnet.report.text import display_width, table

    lines = table([["猫", "1"], ["cat", "22"]], ["class", "n"], "lr").splitlines()
    assert display_width("猫") == 2
    assert len({display_width(line) for line in (lines[0], lines[2], lines[3])}) == 1


# --- review fixes: titles that tell classes apart, grayscale, one epoch, many classes ---

def test_a_wrong_prediction_never_reads_like_a_right_one(rng):
    """Names that short_name alone would shorten alike (class_000_…/class_003_…) must differ
    in the gallery and probability titles, or a mistake reads 'Prediction: X / Class: X'."""
    names = [f"class_{k:03d}_golden_retriever_puppy" for k in range(4)]
    images = rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])
    fig = plots.plot_misclassified(images, np.array([0, 3]), np.array([3, 0]), probs, names)
    for ax in fig.axes:
        pred, true = ax.get_title().split("\n")
        assert pred.split(": ", 1)[1].rsplit(" (", 1)[0] != true.split(": ", 1)[1], ax.get_title()
    title = plots.plot_probabilities(images[0], probs[0], names, true_class=0).axes[0].get_title()
    pred, true = title.split("\n")
    assert pred.split(": ", 1)[1].rsplit(" (", 1)[0] != true.split(": ", 1)[1], title
    short = figures.short_names(names + ["class_001_tabby"])
    assert len(set(short)) == 5 and all(len(s) < len(n) for s, n in zip(short, names, strict=False))
    assert short[-1] == "class_001_tabby"


def test_a_grayscale_image_is_not_contrast_stretched(rng):
    """A dark one-channel image is shown dark, as the same image in RGB is."""
    dark = (40 + rng.integers(0, 21, (1, 8, 8))).astype(np.uint8)
    fig = plots.plot_misclassified(dark[None], np.array([0]), np.array([1]),
                                   np.array([[0.3, 0.7]]), ["a", "b"])
    shown = fig.axes[0].images[0]
    assert shown.norm.vmin == 0 and shown.norm.vmax == 255
    rgba = shown.to_rgba(shown.get_array(), bytes=True)
    np.testing.assert_allclose(rgba[..., 0], dark[0], atol=2)  # grey level k drawn as k


def test_one_epoch_has_one_whole_epoch_tick():
    for fig in (curves.plot_training_curves({"epoch": [0], "loss": [0.7], "accuracy": [0.5]}),
                curves.plot_optimizer_comparison({"sgd": {"loss": [0.7]}})):
        fig.canvas.draw()
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            visible = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert visible == [1.0], visible


def test_a_confusion_matrix_of_many_classes_stays_readable(rng):
    n = 100
    matrix = np.diag(rng.integers(1, 5, n))
    matrix[3, 7] = 2
    fig = plots.plot_confusion_matrix(matrix, [f"c{i}" for i in range(n)])
    (ax,) = _main_axes(fig)
    assert not ax.texts  # 10,000 overlapping numbers would be unreadable
    assert ax.get_xticklabels()[0].get_rotation() == 90
    fig = plots.plot_confusion_matrix(matrix[:30, :30], [f"c{i}" for i in range(30)])
    (ax,) = _main_axes(fig)
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in matrix[:30, :30].ravel() if v)


def test_probability_bars_mark_the_true_class_even_outside_the_top(rng):
    image = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    probs = np.full(15, 0.06)
    probs[14] = 0.01
    probs /= probs.sum()
    fig = plots.plot_probabilities(image, probs, [f"k{i}" for i in range(15)], true_class=14, top=5)
    ax_bars = fig.axes[1]
    labels = [t.get_text() for t in ax_bars.get_yticklabels()]
    assert len(labels) == 5 and "k14" in labels
    bold = [t.get_text() for t in ax_bars.get_yticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["k14"]


def test_class_names_the_font_cannot_draw_are_numbered_and_the_report_says_which_is_which(
        rng, monkeypatch):
    """Chinese names with DejaVu Sans: every name would be the same boxes, and a wrong
    prediction would read 'Prediction: □ / Class: □'."""
    from glassnet.report import html
    from glassnet.report.evaluation import Evaluation

    latin = frozenset(range(0x250)) | {ord("…")}
    monkeypatch.setattr(figures, "_drawable_characters", lambda: latin)
    names = ["猫", "狗", "cat"]
    assert figures.figure_labels(names) == ["#0", "#1", "#2"]
    assert figures.figure_labels(["cat", "dog"]) == ["cat", "dog"]
    images = rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8)
    probs = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    gallery = plots.plot_misclassified(images, np.array([0, 1]), np.array([1, 0]), probs, names)
    assert gallery.axes[0].get_title() == "Prediction: #1 (0.70)\nClass: #0"
    bars = plots.plot_probabilities(images[0], probs[0], names, true_class=0)
    assert [t.get_text() for t in bars.axes[1].get_yticklabels()] == ["#0", "#1", "#2"]
    ev = Evaluation(name="photos/test", class_names=names, y_true=np.array([0, 1]),
                    y_pred=np.array([1, 0]), probs=probs, images=images, loss=1.0)
    page = "".join(html.evaluation_sections(ev))
    assert "the figures number the classes: #0 = 猫, #1 = 狗, #2 = cat." in page


def test_invisible_and_control_characters_in_names_are_shown_as_escapes(rng):
    """``cat`` and ``cat\u200b`` are two classes: drawn alike, a wrong prediction reads as
    right; a right-to-left override would reverse the rest of an HTML cell."""
    from glassnet.report import html
    from glassnet.report.evaluation import Evaluation

    names = ["cat", "cat\u200b", "dog\u202eevil", "two\nlines", "tab\tname"]
    shown = ["cat", "cat\\u200b", "dog\\u202eevil", "two\\nlines", "tab\\tname"]
    assert figures.figure_labels(names, limit=40) == shown
    images = rng.integers(0, 256, (1, 3, 8, 8), dtype=np.uint8)
    probs = np.array([[0.9, 0.1, 0, 0, 0]])
    gallery = plots.plot_misclassified(images, np.array([1]), np.array([0]), probs, names)
    assert gallery.axes[0].get_title() == "Prediction: cat (0.90)\nClass: cat\\u200b"
    ev = Evaluation(name="photos/test", class_names=names, y_true=np.array([1]),
                    y_pred=np.array([0]), probs=probs, images=images, loss=1.0)
    page = "".join(html.evaluation_sections(ev))
    assert not any(ch in page for ch in "\u200b\u202e\t") and "two\nlines" not in page
    assert all(html.esc(name) in page for name in shown)


def test_dollar_signs_in_names_are_drawn_as_they_are_not_as_formulas(rng):
    names = ["price_$5_to_$10", "size_$x^2$"]
    fig = plots.plot_confusion_matrix(np.eye(2, dtype=int), names, title="confusion matrix: $HOME")
    figures.figure_png(fig)  # '$5_to_$' was a formula matplotlib could not parse: the report died
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [r"price_\$5_to_\$10", r"size_\$x^2\$"]
    assert ax.get_title() == r"confusion matrix: \$HOME"
    images = rng.integers(0, 256, (1, 3, 8, 8), dtype=np.uint8)
    figures.figure_png(plots.plot_misclassified(images, np.array([0]), np.array([1]),
                                                np.array([[0.3, 0.7]]), names))
    figures.figure_png(plots.plot_probabilities(images[0], np.array([0.3, 0.7]), names, true_class=0))


def test_probability_bars_say_how_many_classes_they_leave_out(rng):
    image = rng.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    probs = np.linspace(1, 2, 12)
    probs /= probs.sum()
    names = [f"k{i}" for i in range(12)]
    assert plots.plot_probabilities(image, probs, names, true_class=0).axes[1].get_title() == (
        "the 9 most likely of 12 classes and the true class")
    assert plots.plot_probabilities(image, probs, names, true_class=11).axes[1].get_title() == (
        "the 10 most likely of 12 classes")
    assert plots.plot_probabilities(image, probs[:5] / probs[:5].sum(), names[:5]).axes[1].get_title() == ""


def test_accuracy_is_drawn_on_zero_to_one_and_the_kept_epoch_is_marked():
    """A model stuck on the majority class (accuracy 0.61-0.66) must not fill the panel."""
    history = {"epoch": [0, 1, 2, 3], "loss": [0.7, 0.69, 0.68, 0.68],
               "accuracy": [0.61, 0.65, 0.66, 0.655]}
    fig = curves.plot_training_curves(history, kept_epoch=3)
    loss_ax, acc_ax = _main_axes(fig)
    assert acc_ax.get_ylim() == (0, 1.02)
    for ax in (loss_ax, acc_ax):
        marks = [line for line in ax.get_lines() if line.get_label() == "weights kept (epoch 3)"]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [3, 3]



def test_epochs_whose_value_is_not_finite_are_named_in_the_legend():
    """matplotlib leaves a gap where a value is NaN or infinite (an overflowing validation
    loss; history.json stores it as null): the legend says which epochs are missing."""
    fig = curves.plot_training_curves({"loss": [0.9, 0.7, 0.6, 0.5, 0.4],
                                       "val_loss": [0.8, float("inf"), None, 0.7, float("nan")]})
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["training loss", "validation loss (not finite, not drawn: epochs 2, 3, 5)"]
    many = curves.plot_training_curves({"loss": [float("nan")] * 5 + [0.5]})
    assert many.axes[0].get_lines()[0].get_label() == (
        "training loss (not finite, not drawn: epochs 1, 2, 3, ...)")
    one = curves.plot_training_curves({"loss": [0.5, 0.4], "val_loss": [None, 0.3]})
    assert one.axes[0].get_lines()[1].get_label().endswith("(not finite, not drawn: epoch 1)")


def test_a_long_curve_marks_a_finite_epoch_between_two_gaps_as_a_point():
    """Past FEW_EPOCHS the curves are plain lines; a lone finite value between two NaNs
    would be a line of no length, so it gets a dot (as does one at either end)."""
    values = [0.9] * 10 + [float("nan"), 0.5, float("nan")] + [0.4] * 10 + [float("nan"), 0.3]
    line = curves.plot_training_curves({"loss": values}).axes[0].get_lines()[0]
    assert line.get_marker() == "o" and list(line.get_markevery()) == [11, 24]
    plain = curves.plot_training_curves({"loss": [0.5] * 25}).axes[0].get_lines()[0]
    assert plain.get_marker() in ("None", None, "")
    short = curves.plot_training_curves({"loss": [0.5] * 5}).axes[0].get_lines()[0]
    assert short.get_marker() == "o" and list(short.get_markevery()) == [0, 1, 2, 3, 4]


def test_optimizer_comparison_shows_where_an_optimizer_diverged():
    """A learning rate too high for one optimizer ends its loss in inf/NaN (null in
    history.json): the legend says which epochs are not drawn; a lone epoch is a dot."""
    fig = curves.plot_optimizer_comparison({"sgd": {"loss": [0.7, 0.6, 0.5]},
                                            "adam": {"loss": [0.7, float("inf"), None]},
                                            "once": {"loss": [0.4]}})
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"sgd", "adam (not finite, not drawn: epochs 2, 3)", "once"}
    assert lines["once"].get_marker() == "o"


def test_training_curves_plot_each_series_against_its_own_epochs():
    """A history written by hand may record validation for fewer epochs than training."""
    fig = curves.plot_training_curves({"loss": [0.5, 0.4, 0.3], "val_loss": [0.6, 0.5],
                                       "lr": [0.1, 0.05, 0.01, 0.005]})
    train, validation = fig.axes[0].get_lines()[:2]
    assert list(train.get_xdata()) == [1, 2, 3] and list(validation.get_xdata()) == [1, 2]


def test_the_names_the_readme_documents_under_plots_stay_importable_from_there():
    """README "Evaluation and reports" calls them as ``plots.X``; they live in curves.py
    and figures.py now."""
    assert plots.plot_training_curves is curves.plot_training_curves
    assert plots.plot_optimizer_comparison is curves.plot_optimizer_comparison
    assert plots.save_figure is figures.save_figure



def _texts_past_the_edge(fig) -> list[str]:
    """The titles and axis labels that reach past the figure's edge, as last drawn."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    past = []
    for ax in fig.axes:
        for text in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.get_yticklabels()):
            box = text.get_window_extent(renderer)
            if text.get_text() and (box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5
                                    or box.y1 > height + 0.5):
                past.append(text.get_text())
    return past


@pytest.mark.parametrize("wrong", [1, 2, 3, 5, 6])
def test_no_title_or_label_is_cut_off_at_the_image_edge(rng, wrong):
    """A gallery of one row (2 to 5 wrong images) lost the top of its titles and the #index
    under each image (constrained layout had not settled in one pass); a long class name
    over the probability bars' image lost its start."""
    images = rng.integers(0, 256, (wrong, 3, 16, 16), dtype=np.uint8)
    long_names = [f"class_{i:03d}_of_a_data_set_with_very_long_descriptive_names" for i in range(10)]
    for fig in (plots.plot_misclassified(images, np.zeros(wrong, int), np.ones(wrong, int),
                                         np.tile([0.4, 0.6], (wrong, 1)), ["airplane", "automobile"]),
                plots.plot_probabilities(images[0], np.full(10, 0.1), long_names, true_class=3)):
        png = figures.figure_png(fig)
        size = Image.open(io.BytesIO(png)).size  # the figure's own size (1 px of rounding)
        assert abs(size[0] - fig.bbox.width) <= 1 and abs(size[1] - fig.bbox.height) <= 1
        assert _texts_past_the_edge(fig) == []
