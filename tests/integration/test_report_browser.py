"""The HTML report in a real browser (headless Chromium, tests/browser.py): opened from disk, every
result a table row, every plot rendered, no console error, nothing fetched from anywhere; the menus
filter, a header sorts; with a history of three runs, the one with an injected slowdown is marked.
Screenshots go to $ZKBENCH_SCREENSHOTS when set (the closing notes' pictures), else to tmp_path."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests import browser
from tests.report_data import later_run, with_split_and_failure
from zkbench.results.history import add_run
from zkbench.tools.report.html import build_html

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))
SLOWED = ("Dense-tol0.5", "ReLU-tol0.5")


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    hist = tmp / "hist"
    for i, slow in enumerate(((), (), SLOWED)):
        add_run(hist, later_run(tmp, f"run{i}", hours=i, slow=slow), commit=f"{i:040x}")
    return build_html([with_split_and_failure(tmp)], tmp / "report.html", history=hist)


def visible_rows(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#results > tbody > tr.result')].filter(r => !r.hidden)"
        ".map(r => r.cells[0].textContent)"
    )


def test_the_page_renders_in_chromium(page, tmp_path):
    shots = Path(os.environ.get("ZKBENCH_SCREENSHOTS") or tmp_path)
    with browser.open_page(page) as driver:
        assert len(visible_rows(driver)) == 10
        assert driver.find_element("css selector", ".filters .shown").text == "10 of 10 results shown"
        sections = driver.execute_script(
            "return [...document.querySelectorAll('section')].filter(s => s.querySelector('.bk-root, div[id]'))"
            ".map(s => s.id)"
        )
        plotted = {s: driver.execute_script(browser.CANVASES, driver.find_element("id", s)) for s in sections}
        for anchor in ("scaling-0", "scaling-1", "all-layers", "tolerance", "breakdown", "prediction", "trends"):
            assert plotted.get(anchor, 0) > 0, (anchor, plotted)
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert not [u for u in fetched if not u.startswith(("file:", "data:", "blob:"))], fetched
        assert driver.execute_script("return window.reportErrors") == []
        severe = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert severe == []

        # the slowed run is marked: a regressions row per slowed experiment, naming the prove time
        rows = driver.find_elements("css selector", "table.regressions tbody tr")
        assert sorted(r.find_elements("tag name", "td")[3].text for r in rows) == sorted(SLOWED)
        assert all("prove time" in r.text and "+200%" in r.text for r in rows)

        # the status menu keeps the failed row only; the search box narrows by id
        driver.execute_script(
            "const m = document.querySelector('[data-filter=status]'); m.value = 'failed';"
            "m.dispatchEvent(new Event('input'))"
        )
        assert visible_rows(driver) == ["ReLU-tol2"]
        driver.execute_script(
            "const m = document.querySelector('[data-filter=status]'); m.value = '';"
            "m.dispatchEvent(new Event('input'));"
            "const t = document.querySelector('[data-filter=text]'); t.value = 'scaling';"
            "t.dispatchEvent(new Event('input'))"
        )
        assert all("Scaling" in r for r in visible_rows(driver)) and len(visible_rows(driver)) == 4
        driver.execute_script(
            "const t = document.querySelector('[data-filter=text]'); t.value = ''; t.dispatchEvent(new Event('input'))"
        )

        # a click on "prove (median)" sorts by the number, the failed row (no prove) last
        header = next(h for h in driver.find_elements("css selector", "#results th") if h.text == "prove (median)")
        header.click()
        col = int(header.get_attribute("data-col"))
        cells = driver.execute_script(
            f"return [...document.querySelectorAll('#results > tbody > tr.result')].map(r => r.cells[{col}].textContent)"
        )
        values = [float(re.match(r"[\d.]+", c).group()) for c in cells if c]
        assert values == sorted(values) and cells[-1] == "" and len(values) == 9

        for anchor in ("experiments", "scaling-0", "trends", "regressions"):
            assert browser.screenshot(driver, anchor, shots / f"report-{anchor}.png").stat().st_size > 1000
