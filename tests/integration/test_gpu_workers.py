"""One GPU per xdist worker, through real `pytest -n N` runs (pytester subprocesses).

The subprocesses import tests/data/fake_nvml/pynvml.py as pynvml (first on their PYTHONPATH):
three fake GPUs for the plugin's real pytest_configure in the real controller and workers. A
conftest in the pytester folder records, in every process, the GPU the plugin assigned
(config._zkbench_gpu), the GPU a RunConfig would carry into the results, and the process's
CUDA_VISIBLE_DEVICES; in the controller also the environment each worker is started with.
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
FAKE_NVML = Path(__file__).resolve().parents[1] / "data" / "fake_nvml"
FAKE = runpy.run_path(str(FAKE_NVML / "pynvml.py"))["UUIDS"]  # the three fake GPUs, in NVML order
OUT_VAR = "ZKBENCH_TEST_GPU_OUT"

RECORDER = f'''
import json, os
from pathlib import Path

OUT = Path(os.environ["{OUT_VAR}"])


def cuda_env():
    return {{"CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
             "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER")}}


def pytest_configure_node(node):   # controller, just before it starts worker node
    (OUT / f"inherited-{{node.gateway.id}}.json").write_text(json.dumps(cuda_env()))


def pytest_sessionfinish(session):
    config = session.config
    workerinput = getattr(config, "workerinput", None)
    role = workerinput["workerid"] if workerinput else \\
        "controller" if config.pluginmanager.has_plugin("dsession") else "single"
    gpu = config._zkbench_gpu
    record = {{"role": role, "mode": gpu.mode, "uuid": gpu.gpu.uuid if gpu.gpu else None,
               "reason": gpu.reason, **cuda_env()}}
    if role != "controller":   # what an experiment of this process would record as gpu.uuid
        from zkbench.fixtures.run_configs import run_config
        record["run_config_uuid"] = run_config(config).gpu["uuid"]
    (OUT / f"{{role}}.json").write_text(json.dumps(record))


def pytest_terminal_summary(terminalreporter):
    for path in sorted(OUT.glob("*.json")):
        if not path.name.startswith("inherited-"):
            r = json.loads(path.read_text())
            terminalreporter.write_line(f"zkbench-gpu {{r['role']}}: {{r['mode']}} {{r['uuid']}} "
                                        f"CUDA_VISIBLE_DEVICES={{r['CUDA_VISIBLE_DEVICES']}}")
'''


@pytest.fixture
def run_on_fake_gpus(pytester, monkeypatch):
    """run(n, cuda_visible_devices) -> (stdout lines, {role: record}, {gw: inherited env})."""
    out = pytester.path / "gpu-records"
    out.mkdir()
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(test_noop="".join(f"def test_{i}():\n    pass\n\n\n" for i in range(6)))
    for var in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT"):
        monkeypatch.delenv(var, raising=False)  # e.g. set by an outer xdist run of this suite
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(FAKE_NVML), str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    monkeypatch.setenv(OUT_VAR, str(out))
    monkeypatch.setenv("ZKBENCH_CACHE", str(pytester.path / "cache"))

    def run(n: int, cuda_visible_devices: str | None = None, **environ: str):
        if cuda_visible_devices is not None:
            monkeypatch.setenv("CUDA_VISIBLE_DEVICES", cuda_visible_devices)
        for var, value in environ.items():
            monkeypatch.setenv(var, value)
        result = pytester.runpytest_subprocess("-p", "zkbench.fixtures.plugin", "-p", "no:cacheprovider", "-n", str(n))
        assert result.ret == 0, result.stdout.str()
        records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json") if not p.stem.startswith("inherited-")}
        inherited = {p.stem.removeprefix("inherited-"): json.loads(p.read_text()) for p in out.glob("inherited-*.json")}
        return result.stdout.lines, records, inherited

    return run


def assert_workers_pinned(records: dict, expected: list[str]) -> None:
    workers = {f"gw{i}": uuid for i, uuid in enumerate(expected)}
    assert {role: r["uuid"] for role, r in records.items() if role != "controller"} == workers
    for role, uuid in workers.items():
        r = records[role]
        assert r["mode"] == "gpu"
        # the worker's stage children inherit exactly this device, numbered the way NVML does
        assert (r["CUDA_VISIBLE_DEVICES"], r["CUDA_DEVICE_ORDER"]) == (uuid, "PCI_BUS_ID")
        assert r["run_config_uuid"] == uuid  # what its results carry as gpu.uuid


def assert_controller_untouched(records: dict, inherited: dict, n: int, user_value: str | None) -> None:
    controller = records["controller"]
    assert controller["mode"] == "cpu" and controller["uuid"] is None
    assert controller["reason"].startswith("xdist controller")
    assert (controller["CUDA_VISIBLE_DEVICES"], controller["CUDA_DEVICE_ORDER"]) == (user_value, None)
    unchanged = {"CUDA_VISIBLE_DEVICES": user_value, "CUDA_DEVICE_ORDER": None}
    assert inherited == {f"gw{i}": unchanged for i in range(n)}


@pytest.mark.parametrize("n", [2, 3])
def test_each_xdist_worker_gets_its_own_gpu(run_on_fake_gpus, n):
    lines, records, inherited = run_on_fake_gpus(n)
    assert_workers_pinned(records, FAKE[:n])
    assert len({records[f"gw{i}"]["uuid"] for i in range(n)}) == n
    assert_controller_untouched(records, inherited, n, None)
    for i in range(n):
        assert f"zkbench-gpu gw{i}: gpu {FAKE[i]} CUDA_VISIBLE_DEVICES={FAKE[i]}" in lines


@pytest.mark.parametrize(
    "n, user_value, expected",
    [
        (2, "2,0", [FAKE[2], FAKE[0]]),  # indices, the user's order
        (3, f"{FAKE[1][:12]},{FAKE[2]}", [FAKE[1], FAKE[2], FAKE[1]]),  # UUID prefix and UUID; 3 > 2 GPUs
    ],
)
def test_workers_get_only_the_users_cuda_visible_devices(run_on_fake_gpus, n, user_value, expected):
    lines, records, inherited = run_on_fake_gpus(n, user_value)
    assert_workers_pinned(records, expected)
    hidden = set(FAKE) - set(expected)  # the fake GPU the user left out
    assert len(hidden) == 1 and not hidden & {r["uuid"] for r in records.values()}
    assert_controller_untouched(records, inherited, n, user_value)
    for i in range(n):
        assert f"zkbench-gpu gw{i}: gpu {expected[i]} CUDA_VISIBLE_DEVICES={expected[i]}" in lines


def test_single_process_pins_itself_to_the_first_visible_gpu(run_on_fake_gpus):
    # Started from inside an xdist worker (as by this suite's own tests under -n 2), it inherits
    # that worker's PYTEST_XDIST_WORKER, which says nothing about its own role.
    lines, records, inherited = run_on_fake_gpus(0, "1,2", PYTEST_XDIST_WORKER="gw1", PYTEST_XDIST_WORKER_COUNT="2")
    assert list(records) == ["single"] and not inherited
    r = records["single"]
    assert (r["mode"], r["uuid"], r["run_config_uuid"]) == ("gpu", FAKE[1], FAKE[1])
    assert (r["CUDA_VISIBLE_DEVICES"], r["CUDA_DEVICE_ORDER"]) == (FAKE[1], "PCI_BUS_ID")
    assert f"zkbench-gpu single: gpu {FAKE[1]} CUDA_VISIBLE_DEVICES={FAKE[1]}" in lines
