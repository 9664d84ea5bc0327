"""The docs' generated figures (zkbench docs): they match their committed data, and the check fails on a
hand-edited figure, on data committed without regenerating, and on a malformed block."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from zkbench.cli import main
from zkbench.tools.docs import BASELINE, BLOCK, PREDICT_DATA, doc_files

ROOT = Path(__file__).resolve().parents[3]


def copy_repo(tmp_path: Path) -> Path:
    """README, docs, the baseline and the predictor's data points: what the blocks are made from."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    for data in (BASELINE, PREDICT_DATA):
        (tmp_path / data).parent.mkdir(parents=True)
        shutil.copy(ROOT / data, tmp_path / data)
    return tmp_path


def docs(capsys, root: Path, *args: str) -> tuple[int, str]:
    rc = main(["docs", "--root", str(root), *args])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_the_committed_docs_match_their_data(capsys):
    blocks = [m.group("name") for p in doc_files(ROOT) for m in BLOCK.finditer(p.read_text())]
    assert {"smoke-baseline", "study-size", "predict-accuracy"} <= set(blocks)
    assert docs(capsys, ROOT, "--check") == (0, "0 block(s) differ\n")


def test_a_hand_edited_figure_fails_the_check_and_regenerating_restores_it(tmp_path, capsys):
    root = copy_repo(tmp_path)
    readme = root / "docs" / "smoke-baseline.md"
    text = readme.read_text()
    block = next(m for m in BLOCK.finditer(text) if m.group("name") == "smoke-baseline")
    line = next(x for x in block.group("body").splitlines() if x.startswith("| Tanh-tol2 |"))
    cells = line.split(" | ")
    cells[1] = str(int(cells[1]) + 1)  # logrows, by hand
    edited = " | ".join(cells)
    readme.write_text(text.replace(line, edited))
    rc, out = docs(capsys, root, "--check")
    assert rc == 1 and "smoke-baseline.md: block 'smoke-baseline' differs from its data" in out
    assert readme.read_text() != text  # --check changes nothing
    assert docs(capsys, root)[0] == 0 and readme.read_text() == text


def test_data_committed_without_regenerating_fails_the_check(tmp_path, capsys):
    root = copy_repo(tmp_path)
    baseline = root / BASELINE
    baseline.write_text(baseline.read_text().replace('"logrows": 10', '"logrows": 11', 1))
    rc, out = docs(capsys, root, "--check")
    assert rc == 1 and "'smoke-baseline'" in out


def test_predictor_points_committed_without_regenerating_fail_the_check(tmp_path, capsys):
    root = copy_repo(tmp_path)
    data = json.loads((root / PREDICT_DATA).read_text())
    data["points"][0]["measured"]["prove_seconds"] *= 3  # a remeasured point, docs not regenerated
    (root / PREDICT_DATA).write_text(json.dumps(data, indent=1) + "\n")
    rc, out = docs(capsys, root, "--check")
    assert rc == 1 and "options.md: block 'predict-accuracy' differs from its data" in out


def test_every_doc_page_is_scanned(tmp_path):
    """The README and every page under docs/ (where the moved sections' blocks now live)."""
    root = copy_repo(tmp_path)
    names = {p.relative_to(root).as_posix() for p in doc_files(root)}
    assert {"README.md", "docs/smoke-baseline.md", "docs/options.md"} <= names
    assert names == {"README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))}


@pytest.mark.parametrize(
    "block, message",
    [
        ("<!-- zkbench docs: nonsense -->\nx\n<!-- /zkbench docs -->\n", "unknown block 'nonsense'"),
        ("<!-- zkbench docs: study-size -->\nno end\n", "block 'study-size' has no closing"),
        (  # the unclosed one is named, not the next block whose end it would borrow
            "<!-- zkbench docs: smoke-baseline -->\nno end\n<!-- zkbench docs: study-size -->\nx\n<!-- /zkbench docs -->\n",
            "block 'smoke-baseline' has no closing",
        ),
    ],
)
def test_a_malformed_block_is_a_one_line_error(tmp_path, capsys, block, message):
    root = copy_repo(tmp_path)
    (root / "docs" / "extra.md").write_text(block)
    rc, out = docs(capsys, root, "--check")
    assert rc == 2 and message in out and len(out.strip().splitlines()) == 1
