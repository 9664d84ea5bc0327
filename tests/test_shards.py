"""--shard K/N for batch schedulers, and `zkbench merge` of the shards' results directories.

Unit tests: the LPT split (coverage, purity, balance), the option's usage errors, the shard of real
collections, merge and report over result documents written here. One integration test runs three
shards as separate pytest processes through real ezkl and merges them."""

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from zkbench.engine.config import RunConfig, run_identity
from zkbench.fixtures.options import parse_shard
from zkbench.fixtures.shard import split
from zkbench.layers import get
from zkbench.results.selection import read_selection, selection_doc, selection_entry, write_selection
from zkbench.results.store import write_result
from zkbench.tools.merge import merge, shard_gaps
from zkbench.tools.report import build_report

ROOT = Path(__file__).resolve().parent.parent
BENCH = str(ROOT / "benchmarks")
pytest_plugins = ["pytester"]


# --- the split ----------------------------------------------------------------------------------


def random_costs(rng: random.Random, n: int) -> dict[str, float]:
    """Long-tailed costs with ties, as a study's are (a layer's tolerances cost the same)."""
    return {f"e{i:02d}": float(int(rng.lognormvariate(0, 2) * 10) + 1) for i in range(n)}


def test_the_shards_cover_every_experiment_exactly_once():
    rng = random.Random(1)
    for n_items, n in [(40, 3), (7, 3), (2, 3), (1, 1), (30, 4)]:
        costs = random_costs(rng, n_items)
        shards = split(costs, n)
        assert len(shards) == n
        assert sorted(i for s in shards for i in s) == sorted(costs)


def test_the_split_is_the_same_whatever_order_the_experiments_come_in():
    rng = random.Random(2)
    costs = random_costs(rng, 40)
    costs.update({"tie-a": 5.0, "tie-b": 5.0, "tie-c": 5.0})  # equal costs: the id decides
    expected = split(costs, 4)
    for _ in range(20):
        items = list(costs.items())
        rng.shuffle(items)
        assert split(dict(items), 4) == expected


def lpt_bound(costs: dict[str, float], n: int) -> float:
    """Graham's bound for LPT: makespan <= (4/3 - 1/(3n)) * optimum, with the brute-force optimum."""
    best = min(
        max(sum(c for c, s in zip(costs.values(), assign, strict=True) if s == k) for k in range(n))
        for assign in itertools.product(range(n), repeat=len(costs))
    )
    return (4 / 3 - 1 / (3 * n)) * best


@pytest.mark.parametrize("seed", range(8))
def test_lpt_balances_the_shards(seed):
    rng = random.Random(seed)
    costs = random_costs(rng, 9)
    for n in (2, 3):
        totals = [sum(costs[i] for i in s) for s in split(costs, n)]
        # every experiment went to the lightest shard: no two shards differ by more than the largest one
        assert max(totals) - min(totals) <= max(costs.values())
        assert max(totals) <= lpt_bound(costs, n) + 1e-9
    # the longest experiments are spread first: the n longest land in n different shards
    shards = split(costs, 3)
    longest = sorted(costs, key=lambda i: (-costs[i], i))[:3]
    assert sorted(next(k for k, s in enumerate(shards) if i in s) for i in longest) == [0, 1, 2]


def test_experiments_that_cost_nothing_are_spread_too():
    shards = split({f"skipped{i}": 0.0 for i in range(6)}, 3)
    assert [len(s) for s in shards] == [2, 2, 2]


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/3/4", "1.5/3", "/3", "2/"])
def test_a_bad_shard_is_a_one_line_usage_error_that_says_what_to_write(value):
    with pytest.raises(pytest.UsageError) as e:
        parse_shard(value)
    message = str(e.value)
    assert "\n" not in message and repr(value) in message and "write K/N" in message and "--shard 2/4" in message


def test_a_good_shard_parses():
    assert parse_shard("2/4") == (2, 4) and parse_shard(" 1/1 ") == (1, 1)
    assert parse_shard(None) is None and parse_shard("") is None


@pytest.mark.parametrize("args", [("--shard", "4/3"), ("--shard=x", "-n", "2")])
def test_a_bad_shard_stops_the_run_before_it_starts(pytester, args):
    result = pytester.runpytest_subprocess(BENCH, "-p", "no:cacheprovider", "--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: --shard") and "write K/N" in errors[0], errors


# --- the shard of a real collection -----------------------------------------------------------


def collected_ids(pytester, *args) -> list[str]:
    rec = pytester.inline_run(BENCH, "-p", "no:cacheprovider", "--collect-only", *args)
    return [i.callspec.id for i in rec.getcall("pytest_collection_finish").session.items]


@pytest.mark.parametrize("selection", [(), ("-m", "composite"), ("--layer", "ReLU,Dense,Tanh", "--tol", "2")])
def test_shards_of_a_collection_cover_its_selection_exactly_once(pytester, selection):
    everything = collected_ids(pytester, *selection)
    shards = [collected_ids(pytester, *selection, "--shard", f"{k}/3") for k in (1, 2, 3)]
    assert sorted(i for s in shards for i in s) == sorted(everything)
    if len(everything) >= 3:
        assert all(shards), shards


def test_the_split_ignores_what_this_machine_measured(pytester, tmp_path, make_result):
    """The collection order follows measured durations (results/), which differ per machine; the
    shards must not: another results dir with other measurements gives the same shards."""
    results = tmp_path / "measured"
    cfg = RunConfig(threads=1, cache_dir=tmp_path / "cache")
    for name, factor in (("ReLU", 1000.0), ("Dense", 0.001)):  # ReLU measured slow, Dense fast
        r = make_result(get(name), 2.0, cfg)
        for stage in r["stages"].values():
            stage["seconds"] = [s * factor for s in stage["seconds"]]
            stage["cached"] = False
        write_result(r, results)
    for k in (1, 2, 3):
        here = collected_ids(pytester, "--shard", f"{k}/3", "--results-dir", str(tmp_path / "empty"))
        there = collected_ids(pytester, "--shard", f"{k}/3", "--results-dir", str(results))
        assert sorted(here) == sorted(there), k
    # while the measurements do reorder the run
    here = collected_ids(pytester, "--results-dir", str(tmp_path / "empty"))
    there = collected_ids(pytester, "--results-dir", str(results))
    assert here.index("ReLU-tol2") > here.index("Dense-tol2") and there.index("ReLU-tol2") < there.index("Dense-tol2")


# --- merge -----------------------------------------------------------------------------------


def shard_dir(root: Path, name: str, cfg: RunConfig, entries, results=(), shard: str | None = None) -> Path:
    """A shard's results dir: its selection (as the controller writes it) and its result documents."""
    d = root / name
    selection = [selection_entry(get(n), t, "smoke", identity=run_identity(get(n), cfg)) for n, t in entries]
    write_selection(d, selection_doc("smoke", selection, shard=shard))
    for r in results:
        write_result(r, d)
    return d


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


def run_merge(dirs, out) -> tuple[int, list[str]]:
    lines: list[str] = []
    return merge(list(dirs), out, say=lines.append), lines


def count_rows(lines) -> dict[str, list[str]]:
    return {
        line.split()[0]: line.split()[1:]
        for line in lines
        if len(line.split()) == 6 and all(x.isdigit() for x in line.split()[1:])
    }


def test_merge_takes_the_union_and_resolves_duplicates_by_the_newest_valid_result(
    tmp_path, make_result, make_missed_result
):
    cfg = RunConfig(threads=1, cache_dir=tmp_path / "cache")
    relu, tanh, dense = get("ReLU"), get("Tanh"), get("Dense")
    a = shard_dir(
        tmp_path,
        "a",
        cfg,
        [("ReLU", 0.5), ("ReLU", 2.0)],
        [
            make_result(relu, 0.5, cfg, finished_at="2024-05-01T10:00:30+00:00"),
            make_result(relu, 2.0, cfg),  # done: beats b's later failed one
            make_result(tanh, 0.5, cfg, finished_at="2024-05-01T09:00:00+00:00"),  # older: b's wins
        ],
    )
    b = shard_dir(
        tmp_path,
        "b",
        cfg,
        [("Tanh", 0.5), ("Dense", 0.5)],
        [
            make_result(relu, 0.5, cfg, finished_at="2024-05-01T11:00:00+00:00"),  # newer done: wins
            {**make_missed_result(relu, 2.0, cfg, status="failed"), "finished_at": "2024-05-02T00:00:00+00:00"},
            make_result(tanh, 0.5, cfg, finished_at="2024-05-01T12:00:00+00:00"),
            make_result(dense, 0.5, cfg),
        ],
    )
    before = {d: tree_digest(d) for d in (a, b)}
    rc, lines = run_merge([a, b], tmp_path / "out")
    assert rc == 0, lines
    assert {d: tree_digest(d) for d in (a, b)} == before  # the inputs are only read
    out = tmp_path / "out"
    kept = {f.name: json.loads(f.read_text()) for f in (out / "core_layers").glob("*.json")}
    assert set(kept) == {"ReLU_tol0.5.json", "ReLU_tol2.json", "Tanh_tol0.5.json", "Dense_tol0.5.json"}
    assert kept["ReLU_tol0.5.json"]["finished_at"].startswith("2024-05-01T11")
    assert kept["ReLU_tol2.json"]["status"] == "ok"
    assert kept["Tanh_tol0.5.json"]["finished_at"].startswith("2024-05-01T12")
    assert sum(line.startswith("duplicate ") for line in lines) == 3, lines
    assert not any(line.startswith("conflict ") for line in lines), lines
    selection = read_selection(out)
    assert selection is not None
    assert sorted(e["id"] for e in selection["experiments"]) == [
        "Dense-tol0.5",
        "ReLU-tol0.5",
        "ReLU-tol2",
        "Tanh-tol0.5",
    ]
    assert count_rows(lines) == {"core_layers": ["4", "4", "0", "0", "0"]}, lines
    # merging again changes nothing
    rc, again = run_merge([a, b], out)
    assert rc == 0 and "4 unchanged" in " ".join(again) and not (out / "history").exists()


def test_merge_reports_conflicting_circuits_one_line_each(tmp_path, make_result):
    cfg = RunConfig(threads=1, cache_dir=tmp_path / "cache")
    relu = get("ReLU")
    mine = make_result(relu, 0.5, cfg)
    theirs = make_result(relu, 0.5, cfg, finished_at="2024-05-01T11:00:00+00:00")
    theirs["circuit"] = {**theirs["circuit"], "logrows": theirs["circuit"]["logrows"] + 1}
    a = shard_dir(tmp_path, "a", cfg, [("ReLU", 0.5)], [mine])
    b = shard_dir(tmp_path, "b", cfg, [("ReLU", 0.5)], [theirs])
    rc, lines = run_merge([a, b], tmp_path / "out")
    conflicts = [line for line in lines if line.startswith("conflict ")]
    assert rc == 0 and len(conflicts) == 1, lines
    assert "logrows" in conflicts[0] and str(a) in conflicts[0] and str(b) in conflicts[0]


def test_merge_exits_1_and_names_what_is_missing(tmp_path, make_result):
    cfg = RunConfig(threads=1, cache_dir=tmp_path / "cache")
    a = shard_dir(tmp_path, "a", cfg, [("ReLU", 0.5)], [make_result(get("ReLU"), 0.5, cfg)])
    b = shard_dir(tmp_path, "b", cfg, [("Tanh", 0.5), ("Tanh", 2.0)], [make_result(get("Tanh"), 2.0, cfg)])
    rc, lines = run_merge([a, b], tmp_path / "out")
    assert rc == 1
    assert count_rows(lines) == {"core_layers": ["3", "2", "0", "0", "1"]}, lines
    assert "missing in core_layers: Tanh-tol0.5" in lines


def test_merge_notices_a_missing_shard_when_the_selections_name_theirs(tmp_path, make_result):
    cfg = RunConfig(threads=1, cache_dir=tmp_path / "cache")
    a = shard_dir(tmp_path, "a", cfg, [("ReLU", 0.5)], [make_result(get("ReLU"), 0.5, cfg)], shard="1/3")
    b = shard_dir(tmp_path, "b", cfg, [("Tanh", 0.5)], [make_result(get("Tanh"), 0.5, cfg)], shard="3/3")
    rc, lines = run_merge([a, b], tmp_path / "out")
    assert rc == 1 and any("2/3" in line and "missing" in line for line in lines), lines
    (tmp_path / "empty").mkdir()  # an empty shard leaves no selection: then 2/3 may be that one
    rc, lines = run_merge([a, b, tmp_path / "empty"], tmp_path / "out2")
    assert rc == 0, lines
    assert shard_gaps([{"shard": "1/2"}, {"shard": "2/2"}], 0) == ([], False)


def test_merge_never_writes_into_an_input(tmp_path, make_result, capsys):
    from zkbench.cli import main

    cfg = RunConfig(threads=1, cache_dir=tmp_path / "cache")
    a = shard_dir(tmp_path, "a", cfg, [("ReLU", 0.5)], [make_result(get("ReLU"), 0.5, cfg)])
    before = tree_digest(a)
    assert main(["merge", str(a), "--out", str(a)]) == 2
    assert main(["merge", str(a), "--out", str(a / "merged")]) == 2
    assert main(["merge", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert tree_digest(a) == before
    assert main(["merge", str(a), "--out", str(tmp_path / "out")]) == 0
    assert "core_layers            1     1" in capsys.readouterr().out


def test_report_over_shard_dirs_counts_the_union_of_their_selections(tmp_path, make_result):
    cfg = RunConfig(threads=1, cache_dir=tmp_path / "cache")
    a = shard_dir(tmp_path, "a", cfg, [("ReLU", 0.5)], [make_result(get("ReLU"), 0.5, cfg)])
    b = shard_dir(tmp_path, "b", cfg, [("Tanh", 0.5), ("Tanh", 2.0)], [make_result(get("Tanh"), 0.5, cfg)])
    (tmp_path / "empty").mkdir()  # an empty shard: no results, not an error among others
    md = build_report([a, b, tmp_path / "empty"], tmp_path / "report").read_text()
    assert "## Count check of the runs' selection" in md
    assert "| core_layers | 3 | 2 | 0 | 0 | 1 |" in md and "Missing: Tanh-tol2" in md


# --- three shards through real ezkl, then merge ------------------------------------------------


@pytest.mark.integration
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
