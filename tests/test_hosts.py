"""Several machines without a network: --hosts parsing and expansion, the argument mapping that
replaces xdist's rsync-root rule, worker placement per host, the version check's lines, the
controller's live view and the result of a lost worker."""

import json
import threading
import time
from types import SimpleNamespace

import execnet
import pytest

from zkbench.engine import worker_status
from zkbench.fixtures.host_facts import facts, source_digest
from zkbench.fixtures.hosts import (
    Host,
    Placement,
    mismatches,
    parse_hosts,
    placement_of_node,
    remote_args,
    tx_specs,
)
from zkbench.fixtures.live_view import Heartbeat, LiveView
from zkbench.tools.status import live_workers


def test_hosts_expand_to_one_tx_entry_per_host_with_its_worker_count():
    hosts = parse_hosts(["gpu1*3", "gpu2", "localhost*2,gpu1"])
    assert hosts == [Host("gpu1", 4), Host("gpu2", 1), Host("localhost", 2)]
    assert tx_specs(hosts, "/srv/zkml-bench", None, "/etc/zk/ssh_config") == [
        "4*ssh=gpu1//python=/srv/zkml-bench/.venv/bin/python//chdir=/srv/zkml-bench//ssh_config=/etc/zk/ssh_config",
        "1*ssh=gpu2//python=/srv/zkml-bench/.venv/bin/python//chdir=/srv/zkml-bench//ssh_config=/etc/zk/ssh_config",
        "2*popen",
    ]
    # an absolute interpreter, or one on PATH, is taken as written
    assert "python=/opt/py/bin/python3//" in tx_specs([Host("h", 1)], "zk", "/opt/py/bin/python3", None)[0]
    assert "python=python3//" in tx_specs([Host("h", 1)], "zk", "python3", None)[0]


@pytest.mark.parametrize("bad", ["gpu1*0", "gpu1*x", "gpu 1*2*3", "*3"])
def test_a_bad_host_spec_is_one_line_that_says_what_to_write(bad):
    with pytest.raises(pytest.UsageError, match="write HOST or HOST\\*N"):
        parse_hosts([bad])


def test_arguments_map_onto_the_remote_checkout_without_rsync_roots(tmp_path):
    root = tmp_path / "checkout"
    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / "test_core_layers.py").write_text("")
    outside = tmp_path / "abs-results"
    outside.mkdir()
    args = [
        "benchmarks",  # relative: xdist's rule fails on it ("not relative to an rsync root")
        "--results-dir",
        str(outside),  # an existing path outside the checkout, as a separate token: passed as written
        f"{root}/benchmarks/test_core_layers.py::test_core_layers[ReLU-tol2]",
        "--layer",
        "ReLU",
        "-k",
        "not-a-path",
    ]
    assert remote_args(args, root, root) == [
        "benchmarks",
        "--results-dir",
        str(outside),
        "benchmarks/test_core_layers.py::test_core_layers[ReLU-tol2]",
        "--layer",
        "ReLU",
        "-k",
        "not-a-path",
    ]
    # invoked from a subfolder: relative to where pytest was started, then to the checkout
    assert remote_args(["test_core_layers.py"], root / "benchmarks", root) == ["benchmarks/test_core_layers.py"]


def _node(spec, specs):
    return SimpleNamespace(gateway=SimpleNamespace(spec=spec, id=spec.id), nodemanager=SimpleNamespace(specs=specs))


def test_worker_k_of_a_host_gets_that_hosts_gpu_k_and_its_share_of_the_cores():
    specs = []
    for i, s in enumerate(["ssh=gpu1", "ssh=gpu1", "ssh=gpu2", "ssh=gpu1", "popen"]):
        spec = execnet.XSpec(s)
        spec.id = f"gw{i}"
        specs.append(spec)
    where = [placement_of_node(_node(s, specs)) for s in specs]
    assert where == [
        Placement("gpu1", 0, 3),
        Placement("gpu1", 1, 3),
        Placement("gpu2", 0, 1),
        Placement("gpu1", 2, 3),
        Placement("localhost", 0, 1),
    ]
    # a restarted worker has a new id but its predecessor's spec: the same slot
    specs[3].id = "gw7"
    assert placement_of_node(_node(specs[3], specs)) == Placement("gpu1", 2, 3)


def test_a_host_that_differs_is_refused_one_line_per_mismatch():
    mine = {
        "project": {"version": "0.1.0", "source": "aaaa", "imports_from": "/c/zkbench"},
        "workload": "w1",
        "backends": {"ezkl-23": {"version": "23.0.5", "build": "23.0.5+x"}},
        "files": {"--srs 17=kzg17.srs": "f" * 64},
    }
    assert mismatches("gpu2", mine, json.loads(json.dumps(mine))) == []
    theirs = {
        "project": {"version": "0.1.0", "source": "bbbb", "imports_from": "/h/zkbench"},
        "workload": "w0",
        "backends": {"ezkl-23": {"version": "23.0.4", "build": "23.0.4+y"}},
        "files": {"--srs 17=kzg17.srs": None},
    }
    lines = mismatches("gpu2", mine, theirs)
    assert len(lines) == 4
    assert all(line.startswith("host gpu2: ") and "\n" not in line for line in lines)
    assert "project source" in lines[0] and "update the host's checkout" in lines[0]
    assert "23.0.4+y" in lines[2] and "zkbench backend install ezkl-23" in lines[2]
    assert "is missing there" in lines[3]


def test_facts_name_this_checkouts_source_and_a_changed_file_changes_it(tmp_path):
    mine = facts({"backends": {}, "files": {"pyproject": "pyproject.toml", "gone": "no/such/file"}})
    assert mine["project"]["source"] and mine["workload"]
    assert mine["files"]["gone"] is None and len(mine["files"]["pyproject"]) == 64
    tree = tmp_path / "pkg"
    tree.mkdir()
    (tree / "a.py").write_text("x = 1\n")
    before = source_digest([tree])
    (tree / "a.py").write_text("x = 2\n")
    assert source_digest([tree]) != before


def test_the_controller_sees_every_workers_stage_through_its_heartbeat_channel(tmp_path):
    """A real execnet channel (a local gateway): a status the engine writes in the worker reaches the
    controller's view, `zkbench status` shows it with the host, and the view goes with the run."""
    gw = execnet.makegateway("popen")
    try:
        lines: list[str] = []
        view = LiveView(tmp_path / ".status", write_line=lines.append)
        node = SimpleNamespace(gateway=gw, workerinput={})
        view.attach(node, Placement("zk-host-b", 1, 2))
        assert not view.path.exists()  # nothing until a worker reports (a run without experiments)
        got = threading.Event()
        original = view.update

        def update(*args):
            original(*args)
            got.set()

        view.update = update  # type: ignore[method-assign]
        # the worker side, in this process: the channel as a worker receives it
        remote = gw.remote_exec(
            "ch = channel.receive()\nch.send({'experiment': 'ReLU-tol2', 'stage': 'prove', 'pid': 1, "
            "'stage_elapsed_s': 3.0, 'experiment_elapsed_s': 9.0, 'child_rss_bytes': 2**20})\nchannel.send('sent')"
        )
        remote.send(node.workerinput["zkbench_live"])
        assert remote.receive(timeout=30) == "sent"
        assert got.wait(30)
        assert view.stage_of("gw0") == "prove" or view.stage_of(gw.id) == "prove"
        shown = live_workers(tmp_path / ".status")
        assert [(w["host"], w["experiment"], w["stage"]) for w in shown] == [("zk-host-b", "ReLU-tol2", "prove")]
        assert 2.5 < time.time() - shown[0]["stage_started"] < 30
        assert lines and "zk-host-b" in lines[0] and "prove" in lines[0]
        view.close()
        assert live_workers(tmp_path / ".status") == []
    finally:
        gw.exit()


def test_a_worker_forwards_each_status_and_beats_while_a_stage_runs(tmp_path):
    sent: list[dict] = []
    channel = SimpleNamespace(send=sent.append, isclosed=lambda: False)
    beat = Heartbeat(channel, interval_s=0.05).start()
    try:
        now = time.time()
        worker_status.write_status(
            tmp_path,
            {"experiment": "Tanh-tol2", "stage": "setup", "stage_started": now, "experiment_started": now - 4},
        )
        deadline = time.time() + 10
        while len(sent) < 3 and time.time() < deadline:
            time.sleep(0.05)
    finally:
        beat.close()
    assert len(sent) >= 3 and all(m["stage"] == "setup" for m in sent)
    assert sent[-1]["experiment_elapsed_s"] >= 4 and "stage_started" not in sent[-1]
    assert beat.on_status not in worker_status.LISTENERS


def test_the_plan_puts_each_layer_on_a_host_it_fits_and_balances_the_rest():
    from zkbench.tools.plan import assign_to_hosts, parse_plan_host

    def plan(name, tol, peak_gib, prove_s):
        return {
            "id": f"{name}-tol{tol}",
            "name": name,
            "status": "ok",
            "prediction": {"peak_rss_bytes": int(peak_gib * 2**30), "prove_seconds": prove_s},
        }

    plans = [
        plan("Conv2d", 0.5, 300, 900),
        plan("Conv2d", 2, 200, 800),  # a layer's tolerances go together: its largest peak decides
        plan("ReLU", 0.5, 2, 20),
        plan("ReLU", 2, 2, 20),
        plan("Tanh", 0.5, 3, 30),
        plan("Huge", 2, 900, 10),
        {"id": "Bad-tol2", "name": "Bad", "status": "failed"},
    ]
    hosts = [parse_plan_host("gpu1=128G*2"), parse_plan_host("big=512G")]
    assert hosts == [("gpu1", 128 * 2**30, 2), ("big", 512 * 2**30, 1)]
    assert assign_to_hosts(plans, hosts) == {"Conv2d": "big", "Tanh": "gpu1", "ReLU": "gpu1", "Huge": None}
    with pytest.raises(ValueError, match="NAME=MEMORY"):
        parse_plan_host("gpu1")


def test_a_long_stage_is_never_silent_every_worker_gets_a_line_each_minute(tmp_path):
    now = [1000.0]
    lines: list[str] = []
    view = LiveView(tmp_path / ".status", write_line=lines.append, clock=lambda: now[0])
    a, b = Placement("gpu1", 0, 2), Placement("gpu2", 0, 1)
    view.update("gw0", a, {"experiment": "SiLU-tol2", "stage": "prove", "stage_elapsed_s": 0.0})
    view.update("gw1", b, {"experiment": "Tanh-tol2", "stage": "setup", "stage_elapsed_s": 0.0})
    assert len(lines) == 2  # a line per stage change
    for _ in range(11):  # heartbeats of the same stage, 5 s apart: nothing new to say for a minute
        now[0] += 5.0
        view.update("gw0", a, {"experiment": "SiLU-tol2", "stage": "prove", "stage_elapsed_s": now[0] - 1000.0})
    assert len(lines) == 2
    now[0] += 5.0  # a minute since the last block: one line per worker, with its host and elapsed time
    view.update("gw0", a, {"experiment": "SiLU-tol2", "stage": "prove", "stage_elapsed_s": 60.0})
    assert len(lines) == 4
    assert "gpu1" in lines[2] and "SiLU-tol2" in lines[2] and "60s" in lines[2]
    assert "gpu2" in lines[3] and "setup" in lines[3] and "60s" in lines[3]
