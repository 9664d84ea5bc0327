"""How a stage runs: each round in a fresh child that has imported the backend before its memory
window opens; setup and prove also admitted by the machine-wide memory budget and sampled on the
worker's GPU; every stage start written to the live status."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

from zkbench.backends import Backend
from zkbench.backends.venvs import BackendEnv
from zkbench.engine.config import RunConfig
from zkbench.engine.stage_worker import Clock, StageWorker
from zkbench.engine.worker_status import write_status
from zkbench.resources.gpu_telemetry import GpuSampler


class StageRunner:
    """The children of one experiment, and what running them recorded: admission waits, GPU samples,
    the harness clock."""

    def __init__(
        self,
        experiment_id: str,
        group: str,
        config: RunConfig,
        backend: Backend,
        env: BackendEnv,
        log_path: Path,
        clock: Clock,
    ):
        self.experiment_id, self.group, self.cfg, self.backend, self.env = experiment_id, group, config, backend, env
        self.log_path, self.clock = log_path, clock
        self.prediction: dict | None = None  # set once known: admission sizes setup and prove by it
        self.waited_s: dict[str, float] = {}
        self.gpu_samples: dict[str, list[dict]] = {}
        self.started = time.time()

    def new_worker(self, preload: tuple[str, ...] | None = None, prover: bool = True) -> StageWorker:
        """A stage child that has imported `preload` (default: the backend's modules) before it says ready.
        A prover child runs under the backend's interpreter; the others (torch, onnxruntime) under this one."""
        return StageWorker(
            self.log_path,
            threads=self.cfg.threads,
            memory_limit_bytes=self.cfg.memory_limit_bytes,
            on_stage=self.report_stage,
            clock=self.clock,
            backend=self.backend.name,
            preload=self.backend.preload if preload is None else preload,
            python=self.env.python if prover else None,
            environment=self.env.child_environment(self.cfg.gpu) if prover else None,
        )

    def stage(
        self,
        stage: str,
        op: str | None = None,
        rounds: int = 1,
        preload: tuple[str, ...] | None = None,
        timeout_s: float | None = None,
        prover: bool = True,
        **args,
    ) -> list[dict]:
        """Run a stage `rounds` times, each round in a fresh child (a round never starts from what the
        previous one left on the heap); the replies, one per round."""
        replies = []
        for _ in range(rounds):
            with self.new_worker(preload, prover) as w:
                replies.append(w.call(stage, op=op, timeout_s=timeout_s, **args))
        return replies

    def report_stage(self, stage: str | None, child_pid: int | None = None) -> None:
        """Live status for `zkbench status`: which experiment and stage this worker is in."""
        if not self.cfg.status_dir:
            return
        t0 = time.perf_counter()
        write_status(
            self.cfg.status_dir,
            {
                "experiment": self.experiment_id,
                "group": self.group,
                "stage": stage,
                "pid": os.getpid(),
                "child_pid": child_pid,
                "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
                "host": socket.gethostname(),
                "experiment_started": self.started,
                "stage_started": time.time(),
                "gpu": self.cfg.gpu.get("uuid"),
                "predicted_peak_rss_bytes": (self.prediction or {}).get("peak_rss_bytes"),
                "log": str(self.log_path),
                "backend": self.backend.name,
            },
        )
        self.clock.add("status_write_s", time.perf_counter() - t0)  # an fsynced file per stage call

    def heavy(self, stage: str, rounds: int = 1, **args) -> list[dict]:
        """setup and prove: each round runs in a fresh child, takes its predicted memory from the
        machine-wide budget and samples the GPU of this worker for the stage child."""
        need = (self.prediction or {}).get(f"{stage}_peak_rss_bytes")
        budget = self.cfg.memory_budget
        replies = []
        for _ in range(rounds):
            with self.new_worker() as w:
                t0 = time.perf_counter()
                admit = (
                    budget.reserve(need, f"{self.experiment_id} {stage}")
                    if budget and need
                    else contextlib.nullcontext()
                )
                with admit as reservation:
                    waited = reservation.waited_s if reservation else 0.0
                    self.clock.add("admission_wait_s", waited)
                    t_gpu = time.perf_counter()
                    with GpuSampler(self.cfg.gpu.get("uuid"), pid=w.pid) as sampler:
                        t_call = time.perf_counter()
                        replies.append(w.call(stage, **args))
                        t_done = time.perf_counter()
                    self.clock.add("gpu_sampling_s", (t_call - t_gpu) + (time.perf_counter() - t_done))
                self.clock.add("admission_s", (time.perf_counter() - t0) - (time.perf_counter() - t_gpu) - waited)
                self.waited_s[stage] = self.waited_s.get(stage, 0.0) + waited
                self.gpu_samples.setdefault(stage, []).append(sampler.summary())
        return replies
