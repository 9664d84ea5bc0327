"""Two SSH hosts on loopback (tests/ssh_loopback.py: a throwaway sshd on 127.0.0.1, two aliases with
their own HOME and cache, a separate checkout + venv as the remote side): a real multi-host run
with relative test paths and `--results-dir /abs` (none of xdist's rsync quirks), the controller's
status view of both hosts, a worker killed mid-experiment, and the rerun that completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zkbench.engine.worker_status import VIEW_FILE

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 420


def hosts_run(ssh_hosts, remote_side, results: Path, *extra: str) -> subprocess.Popen:
    """`pytest benchmarks` from the checkout's root on both hosts: a relative test path and
    `--results-dir /abs` written as two tokens."""
    cmd = [
        sys.executable,
        *"-m pytest benchmarks -p no:cacheprovider".split(),
        "--hosts",
        f"{ssh_hosts.aliases[0]}*1",
        "--hosts",
        f"{ssh_hosts.aliases[1]}*1",
        "--remote-dir",
        str(remote_side.dir),
        "--remote-python",
        str(remote_side.python),
        "--ssh-config",
        str(ssh_hosts.ssh_config),
        "--results-dir",
        str(results),
        *extra,
    ]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def status(results: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "zkbench", "status", "--results-dir", str(results)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def view(results: Path) -> list[dict]:
    try:
        return json.loads((results / ".status" / VIEW_FILE).read_text())["workers"]
    except (OSError, json.JSONDecodeError, KeyError):
        return []


def finish(proc: subprocess.Popen) -> str:
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the multi-host run did not finish in {RUN_TIMEOUT_S} s:\n{out[-4000:]}")
    return out


def files_of(tree: Path) -> set[Path]:
    """Files under tree; not bytecode, nor pytest-benchmark's empty storage folder (.benchmarks)."""
    return {p for p in tree.rglob("*") if "__pycache__" not in p.parts and p != tree / ".benchmarks"}


def results_of(results: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in results.glob("*/*.json") if not p.parent.name.startswith(".")}


def test_two_hosts_over_ssh_relative_paths_and_an_absolute_results_dir(ssh_hosts, remote_side, tmp_path):
    results = tmp_path / "abs results"  # absolute, with a space
    remote_files = files_of(remote_side.dir)
    proc = hosts_run(ssh_hosts, remote_side, results, "--layer", "ReLU,Dense", "--tol", "2")
    seen: set[str] = set()
    shown = ""
    deadline = time.time() + RUN_TIMEOUT_S
    while proc.poll() is None and time.time() < deadline:
        hosts_now = {w["host"] for w in view(results) if w.get("stage")}
        seen |= hosts_now
        # `zkbench status` taken while both are at work: a slow status call may see them done, so again
        if hosts_now == set(ssh_hosts.aliases) and not all(a in shown for a in ssh_hosts.aliases):
            shown = status(results)
        time.sleep(0.2)
    out = finish(proc)
    assert proc.returncode == 0, out[-4000:]
    # the controller saw both hosts at work, and `zkbench status` showed them
    assert seen == set(ssh_hosts.aliases), out[-2000:]
    assert all(alias in shown for alias in ssh_hosts.aliases), shown
    # results on the controller only, each labelled with the host that ran it
    got = results_of(results)
    assert set(got) == {"ReLU_tol2", "Dense_tol2"}
    assert {r["host"] for r in got.values()} == set(ssh_hosts.aliases)
    assert all(r["status"] == "ok" and r["verified"] for r in got.values())
    assert files_of(remote_side.dir) == remote_files  # nothing written into the remote checkout
    # each host used its own cache (its own HOME): no worker read the controller's
    for alias in ssh_hosts.aliases:
        assert any(ssh_hosts.caches[alias].rglob("*.srs")) or any(ssh_hosts.caches[alias].iterdir())
    assert "2 passed" in out


def test_a_lost_host_is_a_failed_result_the_other_host_carries_on_and_a_rerun_completes_it(
    ssh_hosts, remote_side, tmp_path
):
    """Host a goes away mid-prove: its SSH route is cut (its alias now points at a closed port, so
    xdist cannot start a replacement there) and its worker is killed. The experiment it was proving
    is a failed result "worker lost: zk-host-a"; host b runs everything else; the rerun, with host a
    back, completes the lost one and resumes the rest."""
    lost_host, other_host = ssh_hosts.aliases
    results = tmp_path / "results"
    args = ("--layer", "Tanh,SiLU,ReLU,Dense", "--tol", "0.5")
    config = ssh_hosts.ssh_config.read_text()
    proc = hosts_run(ssh_hosts, remote_side, results, *args)
    killed = None
    try:
        deadline = time.time() + RUN_TIMEOUT_S
        while proc.poll() is None and killed is None and time.time() < deadline:
            for w in view(results):
                if w.get("host") == lost_host and w.get("stage") == "prove" and w.get("pid"):
                    ssh_hosts.ssh_config.write_text(config.replace(f"Port {ssh_hosts.port}\n", "Port 9\n", 1))
                    os.kill(int(w["pid"]), signal.SIGKILL)  # the remote worker process, mid-prove
                    killed = w
                    break
            time.sleep(0.05)
        out = finish(proc)
    finally:
        ssh_hosts.ssh_config.write_text(config)
    assert killed is not None, out[-4000:]
    # 1: a failed test (the lost one); 2: also stopped early, when every other worker had already been
    # given its last experiment and nobody was left to take the lost worker's next one
    assert proc.returncode in (1, 2), out[-4000:]
    got = results_of(results)
    lost = got.pop(killed["experiment"].replace("-tol", "_tol"))
    assert lost["status"] == "failed" and lost["failure"]["kind"] == "worker_lost", lost.get("failure")
    assert lost["failure"]["stage"] == "prove"
    assert lost["failure"]["cause"].startswith(f"worker lost: {lost_host}")
    assert f"worker lost: {lost_host}" in out  # the summary's failed row says why
    assert f"host {lost_host} is unreachable" in out
    # the other experiments finished on the other host, or are left for the rerun, which it says
    assert all(r["status"] == "ok" for r in got.values()), out[-4000:]
    assert other_host in {r["host"] for r in got.values()}
    if len(got) < 3:
        assert proc.returncode == 2 and "no worker is left to take its 1 pending experiment(s)" in out, out[-4000:]

    rerun = hosts_run(ssh_hosts, remote_side, results, *args)
    out = finish(rerun)
    assert rerun.returncode == 0, out[-4000:]
    assert all(r["status"] == "ok" and r["verified"] for r in results_of(results).values())
    assert "4 passed" in out and "(* resumed from an earlier run's result" in out


def test_a_host_whose_input_file_differs_is_refused_before_any_experiment(ssh_hosts, remote_side, tmp_path):
    """Workers read --models-dir models (and --srs files) on their own host: one that differs from the
    controller's copy is a one-line refusal naming the host and the file, not a silent other measurement."""
    model = remote_side.dir / "tests" / "data" / "models" / "mlp" / "input.json"
    original = model.read_bytes()
    model.write_bytes(original.replace(b"]", b", 0.0]", 1))
    try:
        proc = hosts_run(
            ssh_hosts, remote_side, tmp_path / "results", "--models-dir", "tests/data/models", "--layer", "mlp"
        )
        out = finish(proc)
    finally:
        model.write_bytes(original)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, out[-4000:]
    refusals = [line for line in out.splitlines() if "is different there" in line]
    assert len(refusals) == 2, out[-4000:]  # one line per host
    assert all("--models-dir mlp input.json" in line for line in refusals)
    assert not (tmp_path / "results" / "custom").exists()  # no experiment ran
