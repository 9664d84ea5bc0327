"""Reading what the tools compare and report: result documents of a results directory, one way.

Every problem is a BadInput whose message is one line naming the file and what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import jsonschema
from pytest_benchmark.stats import Stats

from zkbench.backends import backend_of, with_backend
from zkbench.engine.results import validate


class BadInput(Exception):
    """An input that cannot be read or compared; str() is a one-line message naming the file."""


def stats_of(samples: Iterable[float]) -> Stats:
    """pytest-benchmark's statistics over measured rounds."""
    stats = Stats()
    for x in samples:
        stats.update(x)
    return stats


def machine_of(environment: dict) -> str:
    """The fingerprint a result is attributed to: host, CPU model and ezkl version."""
    return (
        f"{environment.get('hostname') or 'unknown host'} ({environment.get('cpu_model') or 'unknown CPU'}, "
        f"ezkl {environment.get('ezkl') or '?'})"
    )


def result_key(result: dict) -> str:
    """What the tools key a result by: its id, with its backend unless the default (with_backend),
    so two backends' runs of one experiment never collide and default-only runs keep bare ids."""
    return with_backend(result["id"], backend_of(result))


def one_line(text: object, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not valid JSON ({one_line(e)})") from None


def read_result_strict(path: Path) -> dict:
    doc = read_json(path)
    try:
        validate(doc)  # rather than results.read_result: the message must say what is wrong
    except jsonschema.ValidationError as e:
        raise BadInput(f"{path}: not a valid result document: {one_line(e.message)} (at {e.json_path})") from None
    return doc


NOT_GROUPS = ("history", "baseline")


def load_results_dir(path: str | Path) -> list[dict]:
    """Every result document under path/<group>/; BadInput if there is none or one is invalid."""
    path = Path(path)
    if not path.is_dir():
        raise BadInput(f"{path}: not a directory")
    # <group>/ folders only: not .status/ (live worker state), history/ (replaced results) nor
    # baseline/ (the benchmark JSON CI compares with, kept in results/baseline/)
    files = sorted(
        f for f in path.glob("*/*.json") if not f.parent.name.startswith(".") and f.parent.name not in NOT_GROUPS
    )
    if not files:
        raise BadInput(f"{path}: no result documents (expected {path}/<group>/<name>_tol<tol>.json)")
    return [read_result_strict(f) for f in files]
