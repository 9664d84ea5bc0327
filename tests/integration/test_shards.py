"""--shard K/N for batch schedulers, and `zkbench merge` of the shards' results directories.

Unit tests: the LPT split (coverage, purity, balance), the option's usage errors, the shard of real
collections, merge and report over result documents written here. One integration test runs three
shards as separate pytest processes through real ezkl and merges them."""

import os
import subprocess
import sys
from pathlib import Path

from zkbench.results.selection import read_selection

ROOT = Path(__file__).resolve().parents[2]


BENCH = str(ROOT / "benchmarks")


def count_rows(lines) -> dict[str, list[str]]:
    return {
        line.split()[0]: line.split()[1:]
        for line in lines
        if len(line.split()) == 6 and all(x.isdigit() for x in line.split()[1:])
    }


def test_three_shard_processes_and_merge_cover_the_selection_once(tmp_path):
    env = {**os.environ, "ZKBENCH_CACHE": str(tmp_path / "cache")}  # fresh, shared by the shards
    selection = ("--layer", "ReLU,Dense", "--tol", "2")

    def pytest_run(*args) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "pytest", BENCH, "-p", "no:cacheprovider", *selection, *args]
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    shards = [tmp_path / f"shard{k}" for k in (1, 2, 3)]
    # three separate processes, as three array tasks would run them; one under xdist (its selection
    # comes from a worker's collection)
    procs = [
        pytest_run("--shard", f"{k}/3", "--results-dir", str(d), *(["-n", "2"] if k == 1 else []))
        for k, d in zip((1, 2, 3), shards, strict=True)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    codes = [p.returncode for p in procs]
    # two experiments in three shards: one shard is empty, which is not a failed job
    assert codes == [0, 0, 0], outputs
    selected = [read_selection(d) for d in shards]
    assert [s["shard"] for s in selected if s] == ["1/3", "2/3", "3/3"]  # the empty one says so too
    ids = [sorted(e["id"] for e in s["experiments"]) if s else [] for s in selected]
    assert sorted(i for s in ids for i in s) == ["Dense-tol2", "ReLU-tol2"], ids  # each exactly once
    for d, own in zip(shards, ids, strict=True):  # each shard proved only its own
        assert sorted(f.name for f in d.glob("core_layers/*.json")) == sorted(
            f"{i.rsplit('-tol', 1)[0]}_tol{i.rsplit('-tol', 1)[1]}.json" for i in own
        )

    merged = subprocess.run(
        [sys.executable, "-m", "zkbench", "merge", *map(str, shards), "--out", str(tmp_path / "merged")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    print(merged.stdout)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert count_rows(merged.stdout.splitlines()) == {"core_layers": ["2", "2", "0", "0", "0"]}, merged.stdout
    union = read_selection(tmp_path / "merged")
    assert union is not None and sorted(e["id"] for e in union["experiments"]) == ["Dense-tol2", "ReLU-tol2"]
