"""Child side of the stage worker: the protocol loop. The parent (zkbench.engine.stage_worker.StageWorker)
sends one JSON request per line on a pipe; this process runs the stage, timing only the library call,
and measures the stage's own peak RSS (instruments.PeakRSS): the kernel's high-water mark (VmHWM) is
reset through /proc/self/clear_refs before the call and read after it. A crash here (panic, abort,
OOM kill) takes down only this process; the parent reports it."""

from __future__ import annotations

import json
import os
import sys
import time
from types import ModuleType

from zkbench.engine.child import prover_ops, workload_ops
from zkbench.engine.child.errors import failure_reply
from zkbench.engine.child.instruments import Heartbeat, PeakRSS


def ops_of(module: ModuleType) -> dict:
    """A module's operations by name: op_<name> -> <name>."""
    return {name[3:]: fn for name, fn in vars(module).items() if name.startswith("op_")}


OPS = {**ops_of(workload_ops), **ops_of(prover_ops)}


def handle(req: dict) -> dict:
    op = OPS[req["op"]]
    result, call = op(**req.get("args", {}))
    if call is None:
        return {"ok": True, "result": result}
    with Heartbeat(req["op"]), PeakRSS() as mem:
        cpu0 = os.times()
        t0 = time.perf_counter()
        call()
        seconds = time.perf_counter() - t0
        cpu1 = os.times()
    if callable(result):  # results read back after the timed call
        result = result()
    # CPU time over wall time shows how many cores the stage really kept busy (prover threads).
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    # peak = the child's resident size before the call (interpreter + preloaded libraries, reported
    # as base) + what the call itself added at its high point (growth).
    return {
        "ok": True,
        "result": result,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_bytes": mem.peak,
        "base_rss_bytes": mem.base,
        "growth_rss_bytes": max(0, mem.peak - mem.base),
        "rss_method": "VmHWM" if mem.kernel_reset else "sampled",
    }


def main(rfd: int, wfd: int, preload: str = "", backend_name: str = "ezkl-23") -> None:
    prover_ops.use_backend(backend_name)
    if preload:  # a prover stage: its backend module is imported before the memory window too
        prover_ops.backend()
    # Import what the stages use before saying ready, so every child starts a stage from the same
    # state whatever ran before it elsewhere (a cold run's search imports numpy, a warm run's not).
    for module in filter(None, preload.split(",")):
        __import__(module)
    rx, tx = os.fdopen(rfd, "r"), os.fdopen(wfd, "w")
    tx.write(json.dumps({"ready": True}) + "\n")
    tx.flush()
    for line in rx:
        req = json.loads(line)
        if req.get("op") == "exit":
            # Every stage's files are closed and its reply sent: skip the interpreter's teardown
            # (unloading torch or the prover takes longer than many a stage), nothing is lost.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        try:
            reply = handle(req)
        except BaseException as e:  # noqa: BLE001 - report panics and MemoryError to the parent
            if isinstance(e, KeyboardInterrupt):
                raise
            import traceback

            traceback.print_exc(file=sys.stderr)
            reply = failure_reply(e)
        tx.write(json.dumps(reply) + "\n")
        tx.flush()
