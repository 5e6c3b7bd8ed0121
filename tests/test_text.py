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
