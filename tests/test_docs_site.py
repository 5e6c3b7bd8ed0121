"""The documentation site builds strictly, and its pages render in headless Chromium:
equations typeset by the bundled KaTeX (no raw TeX left), every image loaded, nothing
fetched from the network.

The site is built in a temporary copy of docs/, examples/ and mkdocs.yml, with the tutorials
run on short settings, so the test never touches the working tree's docs/ or site/.
Needs the docs packages (in the ``test`` extra) and Debian's ``chromium`` and
``chromium-driver`` (``make test`` installs them; the browser test skips, with the reason,
where they cannot be installed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Pages rich in equations, and whether they show plots: two tutorials and a layer page.
PAGES = {"tutorials/first-network/index.html": True, "tutorials/backprop/index.html": True,
         "layers/dense/index.html": False}

RENDER_JS = """
const math = Array.from(document.querySelectorAll('.arithmatex'));
return {
  math: math.length,
  typeset: math.filter(el => el.querySelector('.katex')).length,
  raw: math.filter(el => /\\\\[\\[\\(]|\\$\\$/.test(el.innerText)).map(el => el.innerText.slice(0, 60)),
  dollars: document.body.innerText.includes('$$'),
  katex_errors: document.querySelectorAll('.katex-error').length,
  images: Array.from(document.images).map(img => ({src: img.getAttribute('src'),
      complete: img.complete, width: img.naturalWidth})),
};"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def site(tmp_path_factory, data_root) -> Path:
    pytest.importorskip("mkdocs", reason="the docs packages are missing: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the docs packages are missing: pip install -e '.[docs]'")
    work = tmp_path_factory.mktemp("docs-build")
    shutil.copytree(ROOT / "docs", work / "docs",
                    ignore=shutil.ignore_patterns("generated", "__pycache__"))
    shutil.copytree(ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    (work / "src").symlink_to(ROOT / "src")
    tutorials = _run(["docs/build_tutorials.py", "--quick"], work)
    assert tutorials.returncode == 0, tutorials.stdout + tutorials.stderr
    build = _run(["-m", "mkdocs", "build", "--strict", "--site-dir", "site"], work)
    assert build.returncode == 0, build.stdout + build.stderr
    return work / "site"


def test_strict_build_writes_every_page(site):
    for page in [*PAGES, "index.html", "coming-from/index.html", "reference/model/index.html",
                 "optimizers/adam/index.html", "tutorials/backprop/index.html"]:
        assert (site / page).is_file(), page
    dense = (site / "layers/dense/index.html").read_text()
    assert "src/glassnet/layers/dense.py, lines" in dense  # the code is the source file's
    assert "max relative error" in dense  # the gradient check ran at build time


@pytest.fixture(scope="module")
def chrome():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is missing (test extra)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/lib/chromium/chromedriver",) if Path(p).is_file()), None)
    if not browser or not driver:
        pytest.skip("headless Chromium not found (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))
    yield drv
    drv.quit()


def _requested_urls(driver) -> list[str]:
    import json

    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_renders_equations_and_images_offline(site, chrome, page):
    chrome.get((site / page).as_uri())
    chrome.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (document.readyState === 'complete') done(); else window.addEventListener('load', done);")
    seen = chrome.execute_script(RENDER_JS)
    assert seen["math"] >= 1, seen
    assert seen["typeset"] == seen["math"], seen
    assert not seen["raw"] and not seen["dollars"] and not seen["katex_errors"], seen
    assert bool(seen["images"]) == PAGES[page], seen["images"]
    broken = [img for img in seen["images"] if not img["complete"] or img["width"] <= 0]
    assert not broken, broken
    remote = [u for u in _requested_urls(chrome) if u.startswith(("http:", "https:"))]
    assert not remote, remote
