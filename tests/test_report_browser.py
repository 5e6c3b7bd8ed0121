"""report.html in headless Chromium: every image loads and the page makes no network request.

Needs Selenium (test extra) and Debian's ``chromium`` + ``chromium-driver``, which
``make test`` installs when missing; skipped, with the reason, only when they are absent.
"""

from __future__ import annotations

import pytest
from PIL import Image

from glassnet.report.browser import BrowserNotFoundError, find_chromium, inspect_page
from glassnet.runs import RunConfig, train_run


@pytest.fixture(scope="module")
def chromium():
    pytest.importorskip("selenium", reason="Selenium is not installed: `make test` installs the "
                                           "test extra (or pip install 'glassnet[browser]')")
    try:
        return find_chromium()
    except BrowserNotFoundError as exc:
        pytest.skip(f"{exc}; `make test` tries to install them with apt-get and could not")


def test_report_loads_every_image_and_requests_nothing(chromium, cats, tmp_path):
    config = RunConfig(hidden=[5], epochs=3, validation_split=0.2, lr_decay=0.9, out=str(tmp_path / "run"))
    train_run(config, verbose=0, data=cats)
    shot = tmp_path / "report.png"
    check = inspect_page(tmp_path / "run" / "report.html", screenshot=shot)
    assert check.title == "glassnet run run"
    assert len(check.images) == 4
    assert check.broken_images == []
    assert all(img["natural_width"] > 0 and img["natural_height"] > 0 for img in check.images)
    assert check.requests == []
    with Image.open(shot) as img:
        assert img.format == "PNG" and img.width == 1200 and img.height > 2000
    print(f"screenshot: {shot}")


def test_the_check_sees_requests_and_broken_images(chromium, tmp_path):
    """The same check flags a page that fetches from the network or has a broken image."""
    page = tmp_path / "bad.html"
    page.write_text('<html><head><title>bad</title></head><body>'
                    '<img src="http://127.0.0.1:9/missing.png">'
                    '<img src="data:image/png;base64,AAAA"></body></html>')
    check = inspect_page(page)
    assert "http://127.0.0.1:9/missing.png" in check.requests
    assert len(check.broken_images) == 2


def test_without_selenium_the_error_names_the_package_and_the_extra(monkeypatch):
    import sys

    from glassnet.errors import MissingExtraError, require_extra

    monkeypatch.setitem(sys.modules, "selenium", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "selenium.webdriver", raising=False)
    with pytest.raises(MissingExtraError, match=r"^this needs the optional package 'selenium': "
                                                r"pip install 'glassnet\[browser\]'$"):
        require_extra("selenium.webdriver", "browser")
