"""The results store: result documents under results/<group>/, JSON Schema validated, written
atomically (a replaced result kept under history/), read leniently (None) or strictly (BadInput, a
one-line message naming the file)."""

from __future__ import annotations

import functools
import json
import shutil
import time
from pathlib import Path

import jsonschema

from zkbench.backends import DEFAULT_BACKEND, backend_of
from zkbench.files import atomic_write_json

SCHEMA_PATH = Path(__file__).with_name("result.schema.json")
# Pipeline order of the stages: the schema's list is the one list.
STAGES: tuple[str, ...] = tuple(json.loads(SCHEMA_PATH.read_text())["properties"]["stages"]["propertyNames"]["enum"])
# Folders of a results directory that hold no result of its own: replaced results, the CI baseline.
NOT_GROUPS = ("history", "baseline")


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


def validate(result: dict) -> None:
    """Raise jsonschema.ValidationError (with the offending path) if the document is invalid."""
    error = jsonschema.exceptions.best_match(_validator().iter_errors(result))
    if error is not None:
        raise error


def result_path(results_dir: Path, group: str, name: str, tol: float, backend: str = DEFAULT_BACKEND) -> Path:
    """results/<group>/<name>_tol<tol>.json; another backend's result carries its name: ..._tol<tol>-<backend>.json."""
    suffix = "" if backend == DEFAULT_BACKEND else f"-{backend}"
    return Path(results_dir) / group / f"{name}_tol{tol:g}{suffix}.json"


def keep_history(path: Path, results_dir: Path, group: str) -> None:
    """A result about to be replaced goes to results/history/<group>/<name>_tol<tol>.<its mtime>.json."""
    history = Path(results_dir) / "history" / group
    history.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(path.stat().st_mtime))
    shutil.copy2(path, history / f"{path.stem}.{stamp}.json")


def write_result(result: dict, results_dir: Path) -> Path:
    """Validate, then write atomically to results/<group>/<name>_tol<tol>.json, keeping the result it
    replaces (keep_history). The one writer of results."""
    validate(result)
    path = result_path(results_dir, result["group"], result["name"], result["tol"], backend_of(result))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        keep_history(path, results_dir, result["group"])
    atomic_write_json(path, result)
    return path


def read_result(path: Path) -> dict | None:
    """A valid result document, or None if missing, unreadable or invalid."""
    try:
        doc = json.loads(Path(path).read_text())
        validate(doc)
        return doc
    except (OSError, json.JSONDecodeError, jsonschema.ValidationError):
        return None


class BadInput(Exception):
    """An input that cannot be read or compared; str() is a one-line message naming the file."""


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


def result_files(results_dir: str | Path) -> list[Path]:
    """<dir>/<group>/*.json: not .status/ (live worker state), history/ (replaced results) nor
    baseline/ (the benchmark JSON CI compares with, kept in results/baseline/)."""
    return sorted(
        f
        for f in Path(results_dir).glob("*/*.json")
        if not f.parent.name.startswith(".") and f.parent.name not in NOT_GROUPS
    )


def load_results_dir(path: str | Path) -> list[dict]:
    """Every result document under path/<group>/; BadInput if there is none or one is invalid."""
    path = Path(path)
    if not path.is_dir():
        raise BadInput(f"{path}: not a directory")
    files = result_files(path)
    if not files:
        raise BadInput(f"{path}: no result documents (expected {path}/<group>/<name>_tol<tol>.json)")
    return [read_result_strict(f) for f in files]
