"""Text helpers shared by the reports and the CLI (glassnet._text)."""

import pytest

from glassnet._text import printable


@pytest.mark.parametrize("name,shown", [
    ("گربه\u200cها", "گربه\u200cها"),  # Persian needs its zero-width non-joiner
    ("no\u00a0break", "no\u00a0break"),
    ("👩\u200d💻", "👩\u200d💻"),  # an emoji joined
    ("two\nlines", "two\\nlines"),
    ("red\x1b[31m", "red\\x1b[31m"),
    ("a\u2028b", "a\\u2028b"),
    ("caf\udce9", "caf\\xe9"),  # a Latin-1 byte, as os.fsdecode keeps it
    ("evil\u202egnp.txt", "evil\\u202egnp.txt"),  # a right-to-left override
    ("cat\u200b", "cat\\u200b"),  # would look like "cat"
    ("cat\u2060", "cat\\u2060"),  # a word joiner: the same
    ("cat\u00ad", "cat\\xad"),  # a soft hyphen: invisible in the HTML report
    ("cat\U000e0063\U000e0061", "cat\\U000e0063\\U000e0061"),  # tags outside a flag
    ("\U0001f3f4\U000e0067\U000e0062\U000e007f", "\U0001f3f4\U000e0067\U000e0062\U000e007f"),
])
def test_names_are_shown_as_written_unless_they_would_break_the_line(name, shown):
    assert printable(name) == shown


def test_format_characters_take_no_column():
    from glassnet._text import display_width

    assert display_width("گربه\u200cها") == 6 and display_width("ab\u200d") == 2  # 6 letters
    assert display_width("co\u00adop") == 5  # terminals draw the soft hyphen


@pytest.mark.parametrize("value, shown", [
    (0.69314718, "0.6931"), (999999.0, "999999.0000"), (2331842771412716703224692736.0, "2.332e+27"),
    (-3e9, "-3e+09"), (float("nan"), "nan"), (float("inf"), "inf"),
    (None, "n/a")])  # a file's null (info of an edited file raised TypeError), or no loss at all
def test_scores_have_four_decimals_and_huge_losses_four_significant_digits(value, shown):
    from glassnet._text import logged_number, score_text

    assert score_text(value) == shown
    assert logged_number("loss", value) == shown and logged_number("lr", 5.11e-05) == "5.11e-05"
    assert logged_number("lr", None) == "n/a"


@pytest.mark.filterwarnings("ignore::glassnet.errors.GlassnetWarning")  # the inputs' scale, on purpose
def test_a_diverging_runs_loss_prints_in_a_few_digits(capsys):
    import numpy as np

    import glassnet as gn

    model = gn.Sequential([gn.layers.Dense(1)], input_shape=(2,), seed=0)
    model.compile("binary_crossentropy", "sgd")
    x = np.array([[3e9, -3e9], [-3e9, 3e9]], np.float32)  # a loss of about 1e9
    model.fit(x, [0, 1], epochs=1, batch_size=None, verbose=2)
    printed = capsys.readouterr()
    line = printed.out + printed.err
    assert "loss 5.317e+09 - accuracy" in line, line  # was loss 5317XXXXXX.XXXX


def test_table_rows_end_without_spaces_and_wide_names_line_up():
    from glassnet._text import table

    text = table([["猫", "x"], ["dog", ""]], ["name", "tag"])
    assert text.splitlines() == ["name  tag", "---------", "猫    x", "dog"]
