"""zkbench report --html: one self-contained page from the stored real results (tests/data/
results_smoke): nothing fetched at view time, a row per result with its units, a failure's stage and
cause, a split's parts, the plots' models, the trends with a history; small enough at 120 results.
tests/integration/test_report_browser.py opens such a page in Chromium."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.report_data import RESULTS, with_split_and_failure
from zkbench.cli import main
from zkbench.results.history import add_run
from zkbench.tools.report.html import build_html


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("html")
    path = build_html([with_split_and_failure(tmp)], tmp / "report.html")
    return path.read_text()


def test_the_page_fetches_nothing(page):
    # no element that loads anything (the browser test also finds no resource fetched)
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b[^>]*\b(src|href|data)=", page)
    assert "Bokeh" in page and "window.reportErrors" in page  # the library and the page's script, inlined


def test_one_row_per_result_with_units_failure_and_parts(page):
    rows = re.findall(r'<tr class="result" (.*?)</tr>\n', page, re.S)
    assert len(rows) == len(list(RESULTS.glob("*/*.json"))) == 10
    tanh = next(r for r in rows if ">Tanh-tol0.5<" in r)
    assert 'data-group="core_layers"' in tanh and 'data-tol="0.5 %"' in tanh and 'data-status="done"' in tanh
    assert re.search(r">49\.3 MiB<", tanh) and re.search(r">6,208 B<", tanh) and re.search(r">2\.34 s<", tanh)
    relu = next(r for r in rows if ">ReLU-tol2<" in r)
    assert 'data-status="failed"' in relu and "failed at prove (memory): killed by SIGKILL" in relu
    dense = next(r for r in rows if ">Dense-tol2<" in r)
    assert "2 parts, tiles along output features" in dense and dense.count("Dense__tile") == 2
    assert ">11 ×2<" in dense  # logrows of the largest part, times the parts


def test_every_plot_section_is_on_the_page(page):
    for anchor in ("scaling-0", "scaling-1", "all-layers", "tolerance", "breakdown", "prediction"):
        assert f'<section id="{anchor}">' in page
    assert 'id="matrix"' not in page  # one backend: no version matrix
    assert 'id="trends"' not in page  # no history given
    assert "Intel(R) Xeon(R) Processor" in page and "Run configuration" in page


def test_a_page_of_120_results_stays_small(tmp_path):
    dirs = []
    for host in range(12):
        d = tmp_path / f"m{host}"
        shutil.copytree(RESULTS, d)
        for f in d.glob("*/*.json"):
            r = json.loads(f.read_text())
            r["environment"]["hostname"] = f"host{host}"
            f.write_text(json.dumps(r))
        dirs.append(d)
    path = build_html(dirs, tmp_path / "big.html")
    assert path.read_text().count('<tr class="result"') == 120
    assert path.stat().st_size < 5 * 2**20, path.stat().st_size


def test_the_cli_writes_the_page_with_trends_and_says_what_is_missing(tmp_path, capsys):
    add_run(tmp_path / "hist", RESULTS, commit="a" * 40)
    out = tmp_path / "page.html"
    assert main(["report", str(RESULTS), "--html", str(out), "--history", str(tmp_path / "hist")]) == 0
    text = out.read_text()
    assert '<section id="trends">' in text and "No run regressed" in text
    assert main(["report", str(RESULTS)]) == 2
    assert "give --out DIR" in capsys.readouterr().err
    assert main(["report", str(RESULTS), "--out", str(tmp_path / "md"), "--history", str(tmp_path / "hist")]) == 2
    assert "--history draws trends on the HTML page" in capsys.readouterr().err
    assert main(["report", str(RESULTS), "--html", str(out), "--history", str(tmp_path / "none")]) == 2
    assert "no such history directory" in capsys.readouterr().err
