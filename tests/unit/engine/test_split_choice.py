"""zkbench/engine/split_choice.py and split_step.run_auto: --split auto's count of parts, decided by
the predictor from one probed part before any setup, and a run in memory trouble split further.
The probe and the predictor are stand-ins here (their real ones: tests/integration/test_split.py)."""

import math

import pytest

from zkbench.engine.config import RunConfig
from zkbench.engine.split_choice import (
    MAX_LOGROWS,
    choose,
    ladder_counts,
    part_ops,
    probe_count,
    scaled_settings,
)
from zkbench.engine.split_step import MAX_RESPLITS, budget_of, memory_trouble, run_auto
from zkbench.layers import get
from zkbench.layers.split import PartSpec

MiB = 2**20


def settings(rows: int, logrows: int | None = None) -> dict:
    k = logrows or math.ceil(math.log2(rows + 64))
    return {
        "num_rows": rows,
        "total_assignments": 3 * rows,
        "total_const_size": rows // 10,
        "model_instance_shapes": [[1, 100]],
        "run_args": {"logrows": k},
    }


def peak_per_row(per_row: float):
    """A predictor whose peak is per_row bytes per row of the circuit's area, per inner column: 2^logrows
    rows, or its rows where they spill into more columns at a lower logrows (col-overflow)."""
    return lambda s: {
        "peak_rss_bytes": int(
            per_row * max(2 ** s["run_args"]["logrows"], s["num_rows"]) * s["run_args"].get("num_inner_cols", 1)
        ),
        "prove_seconds": 1.0,
    }


def rows_probe(rows_per_op: float):
    """A probe whose circuit has rows_per_op rows per op of the probed part."""

    def probe(spec):
        parent = spec.parent if isinstance(spec, PartSpec) else spec
        n = spec.n if isinstance(spec, PartSpec) else 1
        return settings(int(rows_per_op * part_ops(parent, "paper", n)))

    return probe


def test_the_ladder_is_powers_of_two_up_to_the_most_tiles():
    assert ladder_counts(get("Dense"), "paper") == [1, 2, 4, 8, 16, 32, 64, 128]  # 128 output features
    counts = ladder_counts(get("AvgPool2d_k2"), "paper")  # 32 channels x 32 output rows
    assert counts[:6] == [1, 2, 4, 8, 16, 32] and counts[-1] == 1024
    with pytest.raises(ValueError, match="LayerNorm"):
        ladder_counts(get("LayerNorm"), "paper")


def test_the_probe_is_the_whole_when_small_and_a_small_part_when_not():
    assert probe_count(get("Dense"), "smoke", ladder_counts(get("Dense"), "smoke")) == 1
    conv = get("Conv2d_Scaling_Small")
    n = probe_count(conv, "paper", ladder_counts(conv, "paper"))
    assert n > 1 and part_ops(conv, "paper", n) <= 2**17 < part_ops(conv, "paper", n // 2)


def test_scaled_settings_grow_rows_and_logrows_with_the_part():
    s = scaled_settings(settings(1000), 64)
    assert s["num_rows"] == 64000 and s["total_assignments"] == 192000 and s["run_args"]["logrows"] == 16
    assert s["model_instance_shapes"] == [[6400]]
    # a probe whose logrows its lookup tables set (rows fill under half): never below it
    assert scaled_settings(settings(1000, logrows=15), 0.5)["run_args"]["logrows"] == 15


def chosen(c):
    return next(r for r in reversed(c.ladder) if r.parts == c.parts)


def test_the_fewest_parts_whose_predicted_peak_fits_are_chosen():
    spec = get("Conv2d_Scaling_Small")  # 4.7 M multiply-accumulates at paper size
    probe, predict = rows_probe(0.42), peak_per_row(20_000)
    whole_rows = 0.42 * part_ops(spec, "paper", 1)
    c = choose(spec, "paper", 20 * 2**30, probe, predict)
    assert c.parts is not None and c.parts > 1 and chosen(c).fits
    assert chosen(c).peak_rss_bytes <= 20 * 2**30
    assert not any(r.fits for r in c.ladder if r.parts < c.parts)  # fewer parts: predicted not to fit
    assert c.ladder[0].parts == 1 and c.ladder[0].num_rows == pytest.approx(whole_rows, rel=0.01)  # scaled
    # a budget the whole fits: no split
    assert choose(spec, "paper", 2**50, probe, predict).parts == 1
    # start: the count after one that met memory trouble
    assert choose(spec, "paper", 20 * 2**30, probe, predict, start=c.parts + 1).parts > c.parts


def test_a_scaled_estimate_that_overstates_is_checked_by_probing_fewer_parts_for_real():
    """Small tiles carry fixed overhead (here 20000 rows a part): scaled from the 1-of-64 probe, 4
    parts look too big and 8 fit; probed for real, 4 parts fit, so 4 are chosen; 2 probed do not."""
    spec = get("Conv2d_Scaling_Small")
    probed = []

    def probe(part):
        probed.append(part.n if isinstance(part, PartSpec) else 1)
        n = probed[-1]
        return settings(int(0.42 * part_ops(spec, "paper", n)) + 20_000)

    c = choose(spec, "paper", 20 * 2**30, probe, peak_per_row(40_000))
    scaled = {r.parts: r for r in c.ladder if r.why != "probed"}
    real = {r.parts: r for r in c.ladder if r.why == "probed"}
    assert not scaled[4].fits and scaled[8].fits  # the estimate alone would split into 8
    assert real[4].fits and not real[2].fits and c.parts == 4
    assert probed == [64, 4, 2]  # the probe, then fewer parts for real while they fit


def test_a_budget_below_the_smallest_part_chooses_nothing_and_says_why():
    c = choose(get("Dense"), "paper", 10 * MiB, rows_probe(1.0), peak_per_row(10**6))
    assert c.parts is None and c.ladder[-1].parts == 128
    assert "even 128 parts" in c.why_none() and "10.0 MiB" in c.why_none() and "\n" not in c.why_none()


def test_a_part_beyond_ezkls_largest_circuit_never_fits():
    spec = get("Conv2d_Scaling_Large")
    c = choose(spec, "paper", 2**60, rows_probe(0.42), peak_per_row(1.0))  # memory is no limit
    assert c.ladder[0].logrows > MAX_LOGROWS and not c.ladder[0].fits and "largest circuit" in c.ladder[0].why
    assert c.parts is not None and c.ladder[-1].logrows <= MAX_LOGROWS


def fake_result(spec, status, **extra):
    return {"id": spec.name, "name": spec.name, "status": status, "stages": {}, **extra}


def test_a_run_in_memory_trouble_is_split_further_never_rerun_as_it_was(tmp_path):
    """The whole is predicted to fit, but its own admission skips it: auto tries 2 parts; a part of
    2 dies of memory: auto tries 4, whose parts are skipped for their prediction: 8, ... Each count
    once, and after MAX_RESPLITS more counts in trouble the run is given up as it is."""
    spec = get("Dense")
    ran: list[tuple[str, int]] = []

    def run_whole(budget):
        ran.append(("whole", 1))
        return fake_result(
            spec, "skipped", skip_reason="needs ~9 GiB (predicted peak RSS at logrows 18), 8 GiB available"
        )

    def run_part(name, tol, cfg, spec):
        ran.append((name, spec.n))
        if spec.n == 2:
            return fake_result(
                spec,
                "failed",
                failure={"stage": "setup", "kind": "killed", "cause": "SIGKILL"},
                prediction={"peak_rss_bytes": 7 * 2**30},
            )
        return fake_result(
            spec, "skipped", skip_reason="needs ~9 GiB (predicted peak RSS at logrows 17), 8 GiB available"
        )

    config = RunConfig(profile="paper", cache_dir=tmp_path, max_memory_bytes=8 * 2**30)
    result = run_auto(spec, 2.0, config, run_whole, run_part, lambda: {}, rows_probe(1.0), peak_per_row(1.0))
    counts = [n for _, n in ran]
    assert counts[0] == 1 and 2 in counts and 4 in counts  # the whole, then 2 parts, then 4
    assert counts.count(2) == 1  # the dead part's count is not retried: the next count up is
    assert len(counts) == len(set(counts)) == 1 + MAX_RESPLITS  # each count once, then given up
    attempts = result["split_choice"]["earlier_attempts"]
    assert [a["parts"] for a in attempts][:3] == [1, 2, 4] and "SIGKILL" in attempts[1]["trouble"]
    assert result["status"] == "skipped" and result["split_choice"]["budget_from"] == "--max-memory"
    assert "memory trouble at 5 part counts in a row" == result["split_choice"]["gave_up"]


def test_only_memory_sends_a_run_to_more_parts():
    budget = 8 * 2**30
    skipped = {"status": "skipped", "skip_reason": "needs ~9 GiB (predicted peak RSS at logrows 20), x"}
    assert memory_trouble(skipped, budget)
    oom = {"status": "failed", "failure": {"stage": "prove", "kind": "out_of_memory", "cause": "x"}}
    assert memory_trouble(oom, budget)
    killed = {"status": "failed", "failure": {"stage": "prove", "kind": "killed", "cause": "SIGKILL"}}
    assert memory_trouble({**killed, "prediction": {"peak_rss_bytes": 7 * 2**30}}, budget)  # near the budget
    assert memory_trouble({**killed, "prediction": {"peak_rss_bytes": 2**27}}, budget) is None  # someone's kill -9
    part = {"name": "x~part1of2", "status": "failed", "prediction": {"peak_rss_bytes": 7 * 2**30}}
    assert memory_trouble({**killed, "split": {"per_part": [part]}}, budget)
    missed = {"status": "failed", "failure": {"stage": "accuracy", "kind": "tolerance_not_met", "cause": "x"}}
    assert memory_trouble(missed, budget) is None
    assert memory_trouble({"status": "skipped", "skip_reason": "no GPU"}, budget) is None
    assert memory_trouble({"status": "ok"}, budget) is None


def test_a_layer_without_tiles_runs_whole_under_auto_and_says_why(tmp_path):
    spec = get("LayerNorm")
    config = RunConfig(profile="paper", cache_dir=tmp_path, max_memory_bytes=2**30)
    result = run_auto(
        spec,
        2.0,
        config,
        lambda budget: fake_result(spec, "ok"),
        lambda *a, **k: pytest.fail("no parts to run"),
        lambda: {},
        lambda s: pytest.fail("nothing to probe"),
        peak_per_row(1.0),
    )
    assert result["status"] == "ok" and result["split_choice"]["parts"] == 1
    assert "no tile split: LayerNorm" in result["split_choice"]["why"]


def test_the_budget_is_the_gpus_memory_where_a_gpu_backend_proves_on_one(tmp_path):
    gpu = {"mode": "gpu", "name": "RTX 3090", "memory_bytes": 24 * 2**30, "uuid": "GPU-1"}
    on_gpu = RunConfig(cache_dir=tmp_path, max_memory_bytes=100 * 2**30, backend="ezkl-gpu-16", gpu=gpu)
    assert budget_of(on_gpu) == (24 * 2**30, "the GPU's memory (RTX 3090; predicted host peak as its proxy)")
    cpu_prover = RunConfig(cache_dir=tmp_path, max_memory_bytes=100 * 2**30, gpu=gpu)  # ezkl-23 ignores the GPU
    assert budget_of(cpu_prover) == (100 * 2**30, "--max-memory")


def test_a_backend_without_a_prediction_runs_whole_under_auto_and_says_why(tmp_path):
    spec = get("Dense")
    result = run_auto(
        spec,
        2.0,
        RunConfig(cache_dir=tmp_path),
        lambda budget: fake_result(spec, "ok"),
        lambda *a, **k: pytest.fail("no parts to run"),
        lambda: {},
        lambda s: pytest.fail("nothing to probe"),
        lambda s: pytest.fail("nothing to predict"),
        unpredictable="no fitted prediction for backend 'ezkl-19': known ones are ezkl-23",
    )
    assert result["status"] == "ok" and result["split_choice"]["parts"] == 1
    assert (
        result["split_choice"]["why"]
        == "nothing to choose parts by: no fitted prediction for backend 'ezkl-19': known ones are ezkl-23"
    )


def test_a_small_whole_is_its_own_probe_run_first_and_split_only_when_its_prediction_is_over(tmp_path):
    """The smoke Dense is small: auto runs it whole at once, admitted by the budget (no separate probe,
    so a run that fits measures its own export and search); a whole skipped for its predicted peak
    is then split, the whole's cached search standing as the probe."""
    spec = get("Dense")
    config = RunConfig(profile="smoke", cache_dir=tmp_path, max_memory_bytes=8 * 2**30)
    assert probe_count(spec, "smoke", ladder_counts(spec, "smoke")) == 1
    fitted = {
        "prediction": {"peak_rss_bytes": 2**30, "prove_seconds": 0.5},
        "circuit": {"logrows": 12, "num_rows": 900},
    }
    budgets = []

    def run_whole(budget):
        budgets.append(budget)
        return fake_result(spec, "ok", **fitted)

    result = run_auto(
        spec,
        2.0,
        config,
        run_whole,
        lambda *a, **k: pytest.fail("no parts to run"),
        lambda: {},
        lambda s: pytest.fail("the whole run is the probe"),
        peak_per_row(1.0),
    )
    assert budgets == [8 * 2**30] and result["status"] == "ok"
    choice = result["split_choice"]
    assert choice["parts"] == 1 and choice["budget_from"] == "--max-memory"
    assert choice["ladder"] == [
        {
            "parts": 1,
            "logrows": 12,
            "num_rows": 900,
            "predicted_peak_rss_bytes": 2**30,
            "predicted_prove_seconds": 0.5,
            "fits": True,
        }
    ]

    over = {**fitted, "prediction": {"peak_rss_bytes": 9 * 2**30}}
    skip = "needs ~9 GiB (predicted peak RSS at logrows 12), 8 GiB available"
    probed, parts = [], []

    def run_part(name, tol, cfg, spec):
        parts.append(spec.n)
        return fake_result(spec, "failed", failure={"stage": "accuracy", "kind": "tolerance_not_met", "cause": "x"})

    result = run_auto(
        spec,
        2.0,
        config,
        lambda budget: fake_result(spec, "skipped", skip_reason=skip, **over),
        run_part,
        lambda: {},
        lambda s: probed.append(s.name) or settings(1000),
        lambda s: {"peak_rss_bytes": 2**30, "prove_seconds": 1.0},
    )
    assert probed == ["Dense"] and parts == [2]  # the whole's search as the probe, then 2 parts
    assert result["split_choice"]["earlier_attempts"] == [{"parts": 1, "trouble": skip}]
    assert result["split_choice"]["parts"] == 2
    assert [(r["parts"], r["fits"]) for r in result["split_choice"]["ladder"]] == [(1, False), (2, True)]


def test_a_part_that_fits_only_with_its_rows_spilled_into_more_columns_is_weighed_so():
    """1.1 M rows take logrows 21 (2^21 rows of area); laid out at any logrows from 10 (its range check's
    1024 values) to 20, its rows spill into more columns and its area is its rows: half. A budget between
    the two: a col-overflow layout fits, as the memory fit would lay that part out
    (zkbench.engine.memory_fit); every one proves as fast here, so the highest logrows (fewest columns)."""
    from zkbench.engine.split_choice import layout_fit, weigh

    s = {**settings(1_100_000), "required_range_checks": [[0, 1023]]}
    predict = peak_per_row(1000)
    assert s["run_args"]["logrows"] == 21
    layout, laid, p = layout_fit(s, predict, budget_bytes=1_500_000_000)
    assert (layout, laid["run_args"]["logrows"], p["peak_rss_bytes"]) == ("col-overflow", 20, 1_100_000_000)
    rung = weigh(1, s, predict, 1_500_000_000)
    assert rung.fits and rung.layout == "col-overflow" and rung.logrows == 20
    # faster the fewer rows of domain: the lowest logrows that fits
    faster = lambda x: {**predict(x), "prove_seconds": 2 ** x["run_args"]["logrows"]}  # noqa: E731
    assert layout_fit(s, faster, 1_500_000_000)[1]["run_args"]["logrows"] == 10
    assert rung.record()["layout"] == "col-overflow"
    # its rows layout fits: kept as it is (the search's circuit)
    assert layout_fit(s, predict, budget_bytes=3 * 2**30)[0] == "rows"
    # neither fits: not fitting, the smaller of the two reported
    tight = weigh(1, s, predict, 10**8)
    assert not tight.fits and tight.peak_rss_bytes == 1_100_000_000
