"""Metrics: accuracy, confusion matrix, per-class precision/recall/F1, macro averages."""

import numpy as np
import pytest

from glassnet import metrics
from glassnet.errors import GlassnetError, ShapeError


def naive_scores(y_true, y_pred, num_classes):
    """Per-class scores straight from the definitions, one class at a time."""
    out = []
    for c in range(num_classes):
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append((precision, recall, f1, tp + fn))
    return out


def test_binary_report_by_hand():
    # 3 true negatives, 1 false positive, 2 false negatives, 4 true positives
    y_true = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    y_pred = [0, 0, 0, 1, 0, 0, 1, 1, 1, 1]
    r = metrics.classification_report(y_true, y_pred, ["non-cat", "cat"])
    assert r["confusion_matrix"] == [[3, 1], [2, 4]]
    assert r["accuracy"] == pytest.approx(0.7)
    cat = r["per_class"][1]
    assert (cat["precision"], cat["recall"], cat["support"]) == (pytest.approx(0.8), pytest.approx(4 / 6), 6)
    assert cat["f1"] == pytest.approx(2 * 0.8 * (4 / 6) / (0.8 + 4 / 6))
    non_cat = r["per_class"][0]
    assert non_cat["precision"] == pytest.approx(3 / 5) and non_cat["recall"] == pytest.approx(3 / 4)
    assert r["macro_avg"]["precision"] == pytest.approx((0.8 + 0.6) / 2)
    assert r["weighted_avg"]["recall"] == pytest.approx(0.4 * 0.75 + 0.6 * 4 / 6)
    assert r["binary"] == {"positive_class": "cat", "precision": cat["precision"],
                           "recall": cat["recall"], "f1": cat["f1"]}


def test_multiclass_matches_the_definitions(rng):
    y_true = rng.integers(0, 5, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 5, 300))
    r = metrics.classification_report(y_true, y_pred, num_classes=5)
    expected = naive_scores(y_true.tolist(), y_pred.tolist(), 5)
    for row, (p, rec, f1, support) in zip(r["per_class"], expected, strict=True):
        assert row["precision"] == pytest.approx(p)
        assert row["recall"] == pytest.approx(rec)
        assert row["f1"] == pytest.approx(f1)
        assert row["support"] == support
    assert r["macro_avg"]["f1"] == pytest.approx(np.mean([e[2] for e in expected]))
    assert r["accuracy"] == pytest.approx(metrics.accuracy(y_true, y_pred))
    assert "binary" not in r
    assert r["class_names"] == ["0", "1", "2", "3", "4"]


def test_confusion_matrix_rows_are_true_columns_predicted():
    cm = metrics.confusion_matrix([0, 1, 2, 2], [1, 1, 0, 2], num_classes=3)
    assert cm.tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_a_class_never_predicted_scores_zero_and_one_absent_has_no_scores():
    """A class with no images and no predictions was 0.0 in JSON (read as "always missed")
    while the tables showed "-" and the macro average left it out: it is None (null)."""
    r = metrics.classification_report([0, 0, 1], [0, 0, 0], ["a", "b", "c"])
    b, c = r["per_class"][1], r["per_class"][2]
    assert (b["precision"], b["recall"], b["f1"], b["support"]) == (0.0, 0.0, 0.0, 1)
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (None, None, None, 0)
    assert np.isfinite(r["macro_avg"]["f1"])
    scored = [row for row in r["per_class"] if row["f1"] is not None]  # a script's own macro average
    assert np.mean([row["f1"] for row in scored]) == pytest.approx(r["macro_avg"]["f1"])


def test_a_class_predicted_but_never_true_scores_zero_and_counts_in_the_macro_average():
    """As scikit-learn: its false positives make it a class that occurs (precision 0), unlike
    one neither true nor predicted."""
    r = metrics.classification_report([0, 0, 1], [0, 2, 1], ["a", "b", "c", "d"])
    c, d = r["per_class"][2], r["per_class"][3]
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 0)
    assert (d["precision"], d["recall"], d["f1"]) == (None, None, None)
    assert r["macro_avg"]["precision"] == pytest.approx((1 + 1 + 0) / 3)


def test_one_output_column_at_exactly_the_threshold_is_class_0():
    """Keras' binary accuracy and the course's predict take p > 0.5: logit 0 (p = 0.5) is class 0,
    from logits and from probabilities alike."""
    logits = np.array([[0.0], [1e-12], [-1e-12]])
    assert metrics.predicted_classes(logits, "sigmoid").tolist() == [0, 1, 0]
    assert metrics.predicted_classes(np.array([0.5, 0.5 + 1e-12, 0.5 - 1e-12]), None).tolist() == [0, 1, 0]
    assert metrics.predicted_classes(np.array([[0.5, 0.5], [0.2, 0.8]]), "softmax").tolist() == [0, 1]


def test_macro_average_leaves_out_classes_that_never_occur():
    """As scikit-learn: a folder of cats alone, all predicted right, is a perfect score, not
    half of one (class c, neither true nor predicted, has nothing to average)."""
    r = metrics.classification_report([1, 1, 1], [1, 1, 1], ["non-cat", "cat"])
    assert r["macro_avg"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    r = metrics.classification_report([0, 0, 1], [0, 0, 0], ["a", "b", "c"])  # b occurs, c does not
    assert r["macro_avg"]["precision"] == pytest.approx((2 / 3 + 0) / 2)


def test_precision_recall_f1_from_matrix():
    scores = metrics.precision_recall_f1(np.array([[5, 5], [0, 10]]))
    np.testing.assert_allclose(scores["precision"], [1.0, 10 / 15])
    np.testing.assert_allclose(scores["recall"], [0.5, 1.0])
    assert scores["support"].tolist() == [10, 10]


def test_class_probabilities_expands_one_sigmoid_column():
    probs = metrics.class_probabilities(np.array([[0.2], [0.9]]))
    np.testing.assert_allclose(probs, [[0.8, 0.2], [0.1, 0.9]])
    softmax = np.array([[0.1, 0.7, 0.2]])
    assert metrics.class_probabilities(softmax) is softmax


@pytest.mark.parametrize("call", [
    lambda: metrics.accuracy([0, 1], [0]),
    lambda: metrics.confusion_matrix([0, 1], [0, 1, 1]),
    lambda: metrics.confusion_matrix([0, 3], [0, 1], num_classes=2),
    lambda: metrics.classification_report([0, 1], [0, 2], ["a", "b"]),
    lambda: metrics.precision_recall_f1(np.zeros((2, 3))),
])
def test_bad_inputs_are_clear_errors(call):
    with pytest.raises(ShapeError) as info:
        call()
    assert isinstance(info.value, GlassnetError)
    assert any(ch.isdigit() for ch in str(info.value))  # the message quotes the bad sizes/values


@pytest.mark.parametrize("cats", [14, 27, 137])
def test_balanced_accuracy_of_a_constant_predictor_is_one_half_whatever_the_priors(cats):
    y_true = np.array([1] * cats + [0] * 41)
    for answer in (0, 1):
        assert metrics.balanced_accuracy(y_true, np.full_like(y_true, answer)) == 0.5
    assert metrics.accuracy(y_true, np.zeros_like(y_true)) == pytest.approx(41 / (41 + cats))


def test_balanced_accuracy_is_the_mean_recall(rng):
    y_true, y_pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    recalls = [r for _, r, _, support in naive_scores(y_true, y_pred, 4) if support]
    assert metrics.balanced_accuracy(y_true, y_pred) == pytest.approx(np.mean(recalls))
    # 3 of 4 cats and 1 of 2 non-cats found: (0.75 + 0.5) / 2, while accuracy is 4/6
    assert metrics.balanced_accuracy([1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1]) == pytest.approx(0.625)
    assert metrics.balanced_accuracy([2, 2, 0], [2, 2, 0]) == 1.0  # class 1 absent: left out
    assert metrics.balanced_accuracy([0, 0, 2], [1, 1, 2]) == pytest.approx(0.5)
    assert metrics.balanced_accuracy([], []) == 0.0
    with pytest.raises(ShapeError, match="outside"):
        metrics.balanced_accuracy([0, 5], [0, 1], num_classes=2)
