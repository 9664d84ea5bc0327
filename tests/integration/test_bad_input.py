"""Bad input gets one line that says what is wrong and what to do; nothing computed is lost."""

import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import zkbench.backends.identity as identity
import zkbench.fixtures.controller as controller_module
from zkbench.engine.config import RunConfig
from zkbench.engine.experiment import run_experiment
from zkbench.files import atomic_write_json
from zkbench.fixtures.controller import Controller
from zkbench.fixtures.resume import resumable
from zkbench.layers import SPECS
from zkbench.layers.custom import CustomSpec

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "data" / "models"


def cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "zkbench", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def pytest_cli(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "benchmarks"), "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if "rror" in line]
    assert lines, text
    return lines[-1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "Relu"], "unknown layer 'Relu': known layers are"),
        (["run", "ReLU", "--tol", "-1"], "tolerance '-1' must be a finite percentage > 0"),
        (["run", "ReLU", "--tol", "nan"], "tolerance 'nan' must be a finite percentage > 0"),
        (["run", "ReLU", "--tol", "abc"], "tolerance 'abc' is not a number"),
    ],
)
def test_cli_rejects_bad_names_and_tolerances(args, message):
    res = cli(*args)
    assert res.returncode == 2 and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--layer", "Relu"], "--layer: unknown layer 'Relu'; known layers are"),
        (["--tol", "-0.5"], "tolerance '-0.5' must be a finite percentage > 0"),
        (["--max-memory", "lots"], "--max-memory:"),
        (["--models-dir", "/nonexistent"], "--models-dir /nonexistent: no such directory"),
    ],
)
def test_pytest_options_are_usage_errors(tmp_path, args, message):
    res = pytest_cli(tmp_path, "--collect-only", *args)
    assert res.returncode == pytest.ExitCode.USAGE_ERROR
    assert message in res.stderr


def test_results_dir_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = pytest_cli(tmp_path, "--layer", "ReLU", "--results-dir", str(blocker / "results"))
    assert res.returncode == pytest.ExitCode.USAGE_ERROR
    assert f"results dir {blocker / 'results'} is not writable" in res.stderr and "--results-dir" in res.stderr


@pytest.fixture
def broken_models(tmp_path):
    root = tmp_path / "models"
    for name in ("garbage_onnx", "no_input", "bad_shape"):
        shutil.copytree(MODELS / "mlp", root / name)
    (root / "garbage_onnx" / "network.onnx").write_bytes(b"this is not a protobuf")
    (root / "no_input" / "input.json").unlink()
    (root / "bad_shape" / "input.json").write_text(json.dumps({"input_data": [[0.1] * 9]}))
    return root


@pytest.mark.parametrize(
    "name, message",
    [
        ("garbage_onnx", "not a valid ONNX model"),
        ("no_input", 'input.json is missing: write {"input_data"'),
        ("bad_shape", "input 'x' needs 10 values (shape [1, 10]), input.json has 9"),
    ],
)
def test_bad_custom_models_fail_with_a_reason(broken_models, tmp_path, name, message):
    spec = CustomSpec(name, broken_models / name)
    r = run_experiment(name, 2, RunConfig(rounds=1, cache_dir=tmp_path / "cache"), spec=spec)
    assert r["status"] == "failed" and r["failure"]["stage"] == "input"
    assert message in r["failure"]["cause"] and "\n" not in r["failure"]["cause"]


def test_unsupported_operator_reason_comes_from_ezkl(tmp_path):
    import torch

    d = tmp_path / "models" / "fft"
    d.mkdir(parents=True)

    class Erf(torch.nn.Module):  # erf has no ezkl lookup? use a sort, which ezkl does not support
        def forward(self, x):
            return torch.sort(x, dim=-1).values

    x = torch.randn(1, 6)
    torch.onnx.export(Erf(), x, d / "network.onnx", opset_version=18, dynamo=False)
    (d / "input.json").write_text(json.dumps({"input_data": [x.flatten().tolist()]}))
    r = run_experiment("fft", 2, RunConfig(rounds=1, cache_dir=tmp_path / "cache"), spec=CustomSpec("fft", d))
    assert r["status"] == "failed", r.get("circuit")
    assert r["failure"]["stage"] == "search" and "every candidate failed to build" in r["failure"]["cause"]


def test_results_from_another_ezkl_version_or_profile_are_redone(tmp_path, monkeypatch, make_result):
    # every field of the run identity: tests/unit/fixtures/test_resume_counts.py
    spec, cfg = SPECS[0], RunConfig(cache_dir=tmp_path)
    good = make_result(spec, 0.5, cfg)
    assert resumable(good, spec, cfg)
    assert not resumable({**good, "status": "failed"}, spec, cfg)
    assert not resumable(good, spec, RunConfig(cache_dir=tmp_path, profile="paper"))
    monkeypatch.setattr(identity, "package_build", lambda name: "22.0.0+other")
    assert not resumable(good, spec, cfg)


def test_disk_full_while_writing_keeps_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    atomic_write_json(path, {"old": True})

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(path, {"new": True})
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_controller_reports_a_result_it_cannot_write(tmp_path, monkeypatch):
    class Config:
        def getoption(self, name, default=None):
            return {"results_dir": str(tmp_path / "results")}.get(name, default)

        def getini(self, name):
            return ""

    controller = Controller.__new__(Controller)
    controller.config, controller.write_errors = Config(), []
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(controller_module, "write_result", full)
    controller.store({"group": "core_layers", "name": "ReLU", "tol": 0.5, "id": "ReLU-tol0.5"})
    assert len(controller.write_errors) == 1
    msg = controller.write_errors[0]
    assert "No space left on device" in msg and "free disk space" in msg and "kept in" in msg
    assert json.loads((tmp_path / "tmp" / "zkbench-unsaved" / "ReLU_tol0.5.json").read_text())["id"] == "ReLU-tol0.5"


def test_user_supplied_srs_is_hash_checked_and_recorded(tmp_path):
    import hashlib

    from zkbench.backends import get_backend

    first = run_experiment("Tanh", 2, RunConfig(rounds=1, cache_dir=tmp_path / "c0"))
    k = first["circuit"]["logrows"]
    assert first["srs"]["source"].startswith("generated locally") and "unsafe for production" in first["srs"]["source"]
    user = tmp_path / f"ceremony{k}.srs"
    get_backend("ezkl-23").gen_srs(str(user), k)  # a "ceremony" file made outside the suite
    sha = hashlib.sha256(user.read_bytes()).hexdigest()
    ok = run_experiment("Tanh", 2, RunConfig(rounds=1, cache_dir=tmp_path / "c1", srs_files={k: (str(user), sha)}))
    assert ok["status"] == "ok" and ok["srs"]["sha256"] == sha and "user-supplied" in ok["srs"]["source"]
    bad = run_experiment(
        "Tanh", 2, RunConfig(rounds=1, cache_dir=tmp_path / "c2", srs_files={k: (str(user), "0" * 64)})
    )
    assert bad["status"] == "failed" and bad["failure"]["stage"] == "srs" and "expected 0000" in bad["failure"]["cause"]
    other = run_experiment(
        "Tanh", 2, RunConfig(rounds=1, cache_dir=tmp_path / "c3", srs_files={k + 1: (str(user), None)})
    )
    assert other["failure"]["kind"] == "no_srs" and f"--srs {k}=PATH" in other["failure"]["cause"]


def test_bad_srs_option_is_a_usage_error(tmp_path):
    res = pytest_cli(tmp_path, "--collect-only", "--srs", "seventeen=x.srs")
    assert res.returncode == pytest.ExitCode.USAGE_ERROR and "write K=PATH or K=PATH@SHA256" in res.stderr
