"""Split proofs through the real engine: a part of a tiled layer (zkbench.layers.split.PartSpec)
proved as an experiment of its own, and --split N: the parts linked (their proofs' public inputs are
the layer's input), reassembled and judged as the whole layer."""

from zkbench.engine import split_step
from zkbench.engine.config import RunConfig
from zkbench.engine.experiment import run_experiment
from zkbench.engine.options import run_config
from zkbench.layers import get
from zkbench.layers.split import parts_of
from zkbench.results.fields import circuit_fields
from zkbench.results.store import validate


def test_a_part_of_a_convolution_is_proved_as_an_experiment_of_its_own(tmp_path):
    cfg = RunConfig(rounds=1, cache_dir=tmp_path / "cache")
    whole = run_experiment("Conv2d_k3_s1", 2.0, cfg)
    part = parts_of(get("Conv2d_k3_s1"), "smoke", 2)[1]
    r = run_experiment(part.name, 2.0, cfg, spec=part)
    assert r["status"] == "ok" and r["verified"] and r["soundness_checked"], r.get("failure")
    assert r["accuracy"]["tolerance_met"] and r["id"] == "Conv2d_k3_s1~part2of2-tol2"
    assert r["workload"]["part"] == {"of": "Conv2d_k3_s1", "part": 2, "parts": 2, "how": "output channels"}
    assert r["circuit"]["num_rows"] < whole["circuit"]["num_rows"]
    assert r["sizes"]["pk_bytes"] < whole["sizes"]["pk_bytes"]


def test_a_split_convolution_is_proved_linked_and_meets_its_tolerance_on_the_reassembled_output(tmp_path):
    cfg = run_config({"rounds": "2", "cache_dir": str(tmp_path / "cache"), "split": "2"})
    r = run_experiment("Conv2d_k3_s1", 2.0, cfg)
    validate(r)
    assert r["status"] == "ok" and r["verified"] and r["soundness_checked"], r.get("failure")
    split = r["split"]
    assert split["parts"] == 2 and split["how"] == "output channels" and split["linked"]["ok"]
    assert all(p["verified"] and p["soundness_checked"] for p in split["per_part"])
    assert r["accuracy"]["reassembled"] and r["accuracy"]["tolerance_met"]
    assert r["accuracy"]["float_values"] == 4 * 6 * 6  # per sample: the whole output, not a part's
    # totals: a stage's time the parts' summed per round, its peak the largest part's
    assert len(r["stages"]["prove"]["seconds"]) == 2
    assert r["stages"]["prove"]["peak_rss_bytes"] == max(p["prove_peak_rss_bytes"] for p in split["per_part"])
    assert r["sizes"]["proof_bytes"] == sum(p["proof_bytes"] for p in split["per_part"])
    assert r["circuit"]["parts"] == 2 and r["circuit"]["logrows"] == max(p["logrows"] for p in split["per_part"])
    # --circuit-only sees the split as part of the circuit
    assert circuit_fields(r)["split"]["per_part"][1]["name"] == "Conv2d_k3_s1~part2of2"


def test_a_part_proved_on_another_slice_of_the_input_fails_the_link(tmp_path, monkeypatch):
    """The check reads each verified proof's public inputs: a part given the wrong slice (here: the
    slicing moved by one row for the check) is an unlinked split, a failed experiment."""
    real = split_step.tile_input
    monkeypatch.setattr(split_step, "tile_input", lambda x, t, tile: real(x.roll(1, dims=1), t, tile))
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "2"})
    r = run_experiment("ReLU", 2.0, cfg)
    assert r["status"] == "failed" and r["failure"]["stage"] == "link", r.get("failure")
    assert "not its slice of the input" in r["failure"]["cause"] and not r["split"]["linked"]["ok"]


def test_split_auto_splits_only_when_the_budget_demands_it(tmp_path):
    """Conv2d_k3_s1 (smoke) as one circuit is predicted ~240 MiB at logrows 13, and at ~96 MiB at best
    laid out otherwise (2 columns, its rows spilled into more: zkbench.engine.memory_fit); under 94 MiB
    auto proves it as the fewest parts predicted to fit (2), linked and reassembled, and the measured
    peak of its largest part is within the budget; with room, it is the same one circuit --split never
    proves, and the result says why."""
    cache = str(tmp_path / "cache")
    tight = run_experiment(
        "Conv2d_k3_s1", 2.0, run_config({"rounds": "1", "cache_dir": cache, "split": "never"}, max_memory_bytes=2**20)
    )
    best = min(w["predicted_peak_rss_bytes"] for w in tight["search"]["memory"]["layouts"] if "error" not in w)
    budget = 94 * 2**20  # the 2 parts predicted ~82 MiB: room for the prediction's few % under
    assert best > budget  # the whole fits no layout
    r = run_experiment("Conv2d_k3_s1", 2.0, run_config({"rounds": "1", "cache_dir": cache}, max_memory_bytes=budget))
    validate(r)
    assert r["status"] == "ok" and r["split"]["parts"] == 2 and r["split"]["linked"]["ok"], r.get("failure")
    choice = r["split_choice"]
    assert choice["parts"] == 2 and choice["budget_bytes"] == budget and choice["budget_from"] == "--max-memory"
    assert [(x["parts"], x["fits"]) for x in choice["ladder"]] == [(1, False), (2, True)]
    assert choice["ladder"][0]["predicted_peak_rss_bytes"] > budget >= choice["ladder"][1]["predicted_peak_rss_bytes"]
    peaks = [max(p["setup_peak_rss_bytes"], p["prove_peak_rss_bytes"]) for p in r["split"]["per_part"]]
    assert max(peaks) <= budget, peaks
    assert r["accuracy"]["tolerance_met"]
    single = run_experiment("Conv2d_k3_s1", 2.0, run_config({"rounds": "1", "cache_dir": cache}))
    never = run_experiment("Conv2d_k3_s1", 2.0, run_config({"rounds": "1", "cache_dir": cache, "split": "never"}))
    assert "split" not in single and single["split_choice"]["parts"] == 1
    assert circuit_fields(single) == circuit_fields(never)


def test_split_auto_below_the_smallest_part_skips_with_the_reason(tmp_path):
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache")}, max_memory_bytes=10 * 2**20)
    r = run_experiment("Dense", 2.0, cfg)
    validate(r)
    assert r["status"] == "skipped" and r["skip_reason"].startswith("--split auto: even 32 parts")
    assert "10.0 MiB budget" in r["skip_reason"] and "\n" not in r["skip_reason"]
    assert "setup" not in r["stages"] and r["split_choice"]["parts"] is None


def test_a_model_of_your_own_runs_whole_under_auto(tmp_path, copy_model):
    """(Asked for parts, it splits along its graph: tests/integration/test_graph_split.py.)"""
    from zkbench.layers.custom import CustomSpec

    spec = CustomSpec("mlp", copy_model(tmp_path))
    auto = run_experiment("mlp", 2.0, run_config({"rounds": "1", "cache_dir": str(tmp_path / "c")}), spec=spec)
    assert auto["status"] == "ok" and "split" not in auto
