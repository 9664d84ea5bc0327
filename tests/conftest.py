"""Helpers shared by the suite's own tests."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from zkbench.engine.result_parts import base_result
from zkbench.results.store import validate


@pytest.fixture
def study_size():
    """study_size(group=None, heavy=None): the registry's experiments (x the default tolerances) in
    `group`, memory_heavy or not. Tests derive their counts from it instead of writing them down, so
    adding a layer edits the registry only."""
    from zkbench.layers import SPECS, TOLERANCES

    def count(group: str | None = None, heavy: bool | None = None) -> int:
        specs = [
            s
            for s in SPECS
            if (group is None or s.group == group) and (heavy is None or ("memory_heavy" in s.tags) == heavy)
        ]
        return len(specs) * len(TOLERANCES)

    return count


@pytest.fixture
def copy_model():
    """copy_model(tmp_path, name="mlp"): a writable copy of one of tests/data/models/."""

    def copy(tmp_path: Path, name: str = "mlp") -> Path:
        import shutil

        d = tmp_path / name
        shutil.copytree(Path(__file__).parent / "data" / "models" / name, d)
        return d

    return copy


STORED = Path(__file__).parent / "data" / "results_smoke" / "core_layers" / "ReLU_tol0.5.json"


def ok_result(spec, tol, cfg, **changes) -> dict:
    """A valid result document of the current schema, as run_experiment would write it for this
    spec, tol and RunConfig (its identity comes from the real base_result); the measured parts are
    a stored smoke run's. `changes` replace top-level fields; accuracy= is merged."""
    stored = json.loads(STORED.read_text())
    r = base_result(spec, tol, cfg)
    r.update(
        status="ok",
        verified=True,
        stages={**stored["stages"], "search": stored["stages"]["settings"]},
        circuit=stored["circuit"],
        sizes=stored["sizes"],
        accuracy={**stored["accuracy"], "tol": tol},
        search=stored["search"],
        srs=stored["srs"],
        soundness_checked=True,
        soundness={k: {**v, "verdict": "rejected"} for k, v in stored["soundness"].items()},
        started_at="2024-05-01T10:00:00+00:00",
        finished_at="2024-05-01T10:00:30+00:00",
        workload={
            **stored["workload"],
            "fingerprint": spec.fingerprint(r["profile"]),
            "workload_version": spec.workload_version,
        },
    )
    r["accuracy"].update(changes.pop("accuracy", {}))
    r.update(changes)
    validate(r)
    return r


def tolerance_missed(spec, tol, cfg, status="ok") -> dict:
    """A result whose proven outputs missed the tolerance: status ok (as the pipeline used to
    write it) or failed at stage accuracy (as it writes it now)."""
    miss = {"tol_metric": 3 * tol, "tolerance_met": False}
    if status == "ok":
        return ok_result(spec, tol, cfg, accuracy=miss)
    return ok_result(
        spec,
        tol,
        cfg,
        accuracy=miss,
        status="failed",
        failure={"stage": "accuracy", "kind": "tolerance_not_met", "cause": "above tol"},
    )


@pytest.fixture
def make_result():
    return ok_result


@pytest.fixture
def make_missed_result():
    return tolerance_missed


def ssh_loopback():
    """tests/ssh_loopback.py, loaded by path: tests/ is not on sys.path under --import-mode=importlib."""
    name = "zkbench_tests_ssh_loopback"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("ssh_loopback.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def ssh_hosts(tmp_path_factory):
    """Two SSH "hosts", zk-host-a and zk-host-b, served by a throwaway sshd on 127.0.0.1 with separate
    HOMEs (ssh_loopback.Loopback); skips when OpenSSH is not installed."""
    with ssh_loopback().start_sshd(tmp_path_factory.mktemp("sshd")) as loopback:
        yield loopback


@pytest.fixture(scope="session")
def remote_side(tmp_path_factory):
    """A separate checkout of this working tree with its own venv (ssh_loopback.RemoteSide)."""
    return ssh_loopback().remote_checkout(Path(__file__).parents[1], tmp_path_factory.mktemp("remote"))
