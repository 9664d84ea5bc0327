"""zkbench plan's table: per memory size, what --split auto would run (one circuit, parts x logrows,
or nothing), and the counts per size."""

from zkbench.tools.plan import render

GiB = 2**30


def plan(eid, by_memory, probe_parts=1, tol_metric=0.3):
    return {
        "id": eid,
        "status": "ok",
        "probe": {"spec": eid, "parts": probe_parts, "logrows": 17},
        "candidate": {"tol_metric": tol_metric, "target_tol_metric": 1.6, "meets_target": True, "from_cache": True},
        "whole": {"logrows": 21, "num_rows": 2_000_000, "peak_rss_bytes": 54 * GiB},
        "by_memory": by_memory,
    }


def at(memory, parts, logrows=19, peak=13 * GiB, total_s=600.0, why=""):
    return {
        "memory_bytes": memory,
        "parts": parts,
        "logrows": logrows,
        "peak_rss_bytes": peak,
        "total_s": total_s,
        "why": why,
    }


def test_the_table_says_single_split_or_nowhere_per_memory_and_counts_them():
    memories = [24 * GiB, 128 * GiB]
    plans = [
        plan("AvgPool2d_k2-tol2", [at(memories[0], 4), at(memories[1], 1, logrows=21, peak=54 * GiB)], probe_parts=2),
        plan(
            "LayerNorm-tol2",
            [at(memories[0], None, why="one circuit needs more and it has no tiles"), at(memories[1], None, why="x")],
            tol_metric=None,
        ),
        {"id": "CNN_ReLU-tol2", "status": "failed", "failure": {"stage": "search", "cause": "no answer after 600 s"}},
    ]
    out = render(plans, memories)
    assert "| AvgPool2d_k2-tol2 | 1 of 2 parts (logrows 17) | 21, 2000000, 54.0 GiB |" in out
    assert "split 4 x logrows 19, 13.0 GiB, 10 min" in out and "single, 54.0 GiB" in out
    assert "not measured (gen_settings only)" in out and "fits nowhere: one circuit needs more" in out
    assert "| CNN_ReLU-tol2 | failed at search: no answer after 600 s |" in out
    assert "at 24.0 GiB: 0 of 3 as one circuit, 1 split (4 parts in all), 1 fit nowhere (LayerNorm-tol2)" in out
    assert "at 128.0 GiB: 1 of 3 as one circuit, 0 split (0 parts in all), 1 fit nowhere (LayerNorm-tol2)" in out
