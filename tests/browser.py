"""A page opened in a real browser: Debian's chromium, headless, driven by Selenium through Debian's
chromium-driver (`apt-get install chromium chromium-driver`; .ci/run installs them). Nothing is
downloaded: the driver and browser are the system's, Selenium Manager is not asked for either."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"

# Counts canvases under an element, through the shadow roots Bokeh renders into.
CANVASES = """
function count(root) {
  let n = 0;
  root.querySelectorAll('canvas').forEach(c => { if (c.width > 0 && c.height > 0) n += 1; });
  root.querySelectorAll('*').forEach(e => { if (e.shadowRoot) n += count(e.shadowRoot); });
  return n;
}
return count(arguments[0]);
"""
# Bokeh's views of the page's roots, each finished rendering
RENDERED = """
if (!window.Bokeh || Bokeh.documents.length === 0) return null;
const views = typeof Bokeh.index.values === 'function' ? [...Bokeh.index.values()] : Object.values(Bokeh.index);
return views.length > 0 && views.every(v => v.has_finished()) ? views.length : null;
"""


def missing() -> str | None:
    """Why no browser test can run here, or None."""
    if not any(Path(p).exists() for p in CHROMIUM) or not Path(DRIVER).exists():
        return "no chromium / chromedriver: apt-get install chromium chromium-driver"
    return None


@contextlib.contextmanager
def open_page(path: Path, width: int = 1400, height: int = 1000, timeout: float = 90) -> Iterator:
    """A headless Chromium showing the page from disk, its plots rendered; yields the driver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = next(p for p in CHROMIUM if Path(p).exists())
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        driver.get(Path(path).resolve().as_uri())
        deadline = time.monotonic() + timeout
        while driver.execute_script(RENDERED) is None:
            assert time.monotonic() < deadline, f"{path}: Bokeh's plots did not finish rendering in {timeout} s"
            time.sleep(0.2)
        yield driver
    finally:
        driver.quit()


def screenshot(driver, element_id: str, out: Path) -> Path:
    """The element, whole: the window is made tall enough for it first."""
    el = driver.find_element("id", element_id)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(height, 1000), 16000))
    out.parent.mkdir(parents=True, exist_ok=True)
    el.screenshot(str(out))
    return out
