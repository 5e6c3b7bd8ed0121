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
])
def test_names_are_shown_as_written_unless_they_would_break_the_line(name, shown):
    assert printable(name) == shown
