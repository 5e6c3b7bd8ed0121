"""Open an HTML file in headless Chromium: check its images and requests, take a screenshot.

Used by the tests (every image of ``report.html`` loads, the page requests nothing from
the network) and by ``scripts/example_reports.py`` for the screenshots in ``docs/``.
Needs Selenium (``pip install 'glassnet[browser]'``, also in the ``test`` extra) and a
Chromium with its matching driver (Debian: ``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GlassnetError, require_extra

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVER_PATHS = ("/usr/lib/chromium/chromedriver", "/usr/bin/chromedriver")

IMAGES_JS = """return Array.from(document.images).map(img => ({
    src: img.getAttribute("src").slice(0, 40), complete: img.complete,
    natural_width: img.naturalWidth, natural_height: img.naturalHeight}));"""


class BrowserNotFoundError(GlassnetError):
    """No Chromium (or no chromedriver) on this machine."""


@dataclass
class PageCheck:
    """What a browser saw: ``images`` (one dict per ``<img>``: ``src`` start, ``complete``,
    ``natural_width``, ``natural_height``), ``requests`` (every URL fetched except the page
    itself and ``data:`` URIs), the page ``title`` and the ``screenshot`` path if taken."""

    images: list[dict] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    title: str = ""
    screenshot: Path | None = None

    @property
    def broken_images(self) -> list[dict]:
        return [img for img in self.images if not img["complete"] or img["natural_width"] <= 0]


def find_chromium() -> tuple[str, str]:
    """``(browser, driver)`` paths; ``$GLASSNET_CHROMIUM`` and ``$GLASSNET_CHROMEDRIVER`` win."""
    browser = os.environ.get("GLASSNET_CHROMIUM") or next(
        (path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = os.environ.get("GLASSNET_CHROMEDRIVER") or shutil.which("chromedriver") or next(
        (p for p in DRIVER_PATHS if Path(p).is_file()), None)
    if not browser or not driver or not Path(browser).is_file() or not Path(driver).is_file():
        raise BrowserNotFoundError(
            f"headless Chromium needs a browser and its driver; found browser={browser}, "
            f"driver={driver} (Debian: apt-get install chromium chromium-driver)")
    return browser, driver


def _driver(width: int, height: int):
    webdriver = require_extra("selenium.webdriver", "browser")
    browser, driver_path = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))


def _requested_urls(log: list[dict]) -> list[str]:
    urls = []
    for entry in log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def inspect_page(path: str | Path, screenshot: str | Path | None = None, width: int = 1200,
                 max_height: int = 12000) -> PageCheck:
    """Load ``path`` (a local HTML file) in headless Chromium and report what happened.

    ``screenshot``: where to save a PNG of the whole page (up to ``max_height`` pixels).
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise GlassnetError(f"{path}: no such file")
    driver = _driver(width, 900)
    try:
        page_url = path.as_uri()
        driver.get(page_url)
        driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "if (document.readyState === 'complete') done(); else window.addEventListener('load', done);")
        check = PageCheck(images=driver.execute_script(IMAGES_JS), title=driver.title)
        check.requests = [u for u in _requested_urls(driver.get_log("performance"))
                          if u != page_url and not u.startswith("data:")]
        if screenshot is not None:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, min(int(height) + 20, max_height))
            driver.save_screenshot(str(screenshot))
            check.screenshot = Path(screenshot)
        return check
    finally:
        driver.quit()
