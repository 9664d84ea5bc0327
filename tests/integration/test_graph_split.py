"""Split proofs along a model's graph through the real engine (zkbench.engine.graph_split_step):
consecutive segments of the ONNX graph, each proved as an experiment of its own, linked by
committing each cut tensor (ezkl's proof splitting), judged on the last part's outputs."""

from dataclasses import replace

from zkbench.engine.experiment import graph_split, run_experiment
from zkbench.engine.options import run_config
from zkbench.layers import get
from zkbench.results.store import validate


def test_a_cnn_split_along_its_graph_is_proved_linked_and_meets_its_tolerance(tmp_path):
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "2"})
    r = run_experiment("CNN_Strided", 2.0, cfg)
    validate(r)
    assert r["status"] == "ok" and r["verified"] and r["soundness_checked"], r.get("failure")
    split = r["split"]
    assert split["parts"] == 2 and split["how"].startswith("along the graph: input -> ")
    assert split["linked"]["ok"] and split["linked"]["per_part"][1]["linked"]["verdict"] == "accepted"
    assert all(c["own"]["ok"] for c in split["linked"]["per_part"])
    assert all(p["verified"] and p["soundness_checked"] for p in split["per_part"])
    # the cut tensor is committed on both sides, the model's own input and output stay public
    first, last = (p["visibility"] for p in split["per_part"])
    assert (first["input"], first["output"]) == ("public", "kzgcommit")
    assert (last["input"], last["output"]) == ("kzgcommit", "public")
    # every part at the whole model's scale: the second part's input is the first's output, exactly
    assert {p["input_scale"] for p in split["per_part"]} == {split["scale"]["input_scale"]}
    acc = r["accuracy"]
    assert acc["through_parts"] == 2 and acc["tolerance_met"] and acc["tol_metric"] <= 2.0
    assert acc["float_values"] == 10 and acc["samples"] == 4  # per sample the whole model's 10 logits, not a part's
    assert r["sizes"]["proof_bytes"] == sum(p["proof_bytes"] for p in split["per_part"])
    assert r["stages"]["prove"]["peak_rss_bytes"] == max(p["prove_peak_rss_bytes"] for p in split["per_part"])


def test_a_part_proved_on_other_values_than_the_previous_part_committed_fails_the_link(tmp_path):
    """The second part is proved on the first part's proven output of the proved sample, but the
    commitment it is linked to is swapped for the first part's output on another input: the verifier
    rejects the swapped proof, and the experiment fails at stage link."""
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "2"})

    def swapping(name, tol, part_cfg, spec):
        if part_cfg.link_from is not None:
            part_cfg = replace(part_cfg, link_from=tuple(w.with_name("witness_1.json") for w in part_cfg.link_from))
        return run_experiment(name, tol, part_cfg, spec=spec)

    r = graph_split(get("CNN_Strided"), 2.0, cfg, run_part=swapping)
    assert r["status"] == "failed" and r["failure"]["stage"] == "link", r.get("failure")
    assert (
        "part 2 of 2" in r["failure"]["cause"]
        and "previous part's output commitments: rejected" in r["failure"]["cause"]
    )
    honest = graph_split(get("CNN_Strided"), 2.0, cfg)  # the same parts, linked to what was proved
    assert honest["status"] == "ok" and honest["split"]["linked"]["ok"], honest.get("failure")


def test_a_model_of_your_own_splits_along_its_graph(tmp_path, copy_model):
    from zkbench.layers.custom import CustomSpec

    spec = CustomSpec("mlp", copy_model(tmp_path))
    r = run_experiment(
        "mlp", 2.0, run_config({"rounds": "1", "cache_dir": str(tmp_path / "c"), "split": "2"}), spec=spec
    )
    validate(r)
    assert r["status"] == "ok" and r["split"]["parts"] == 2 and r["split"]["linked"]["ok"], r.get("failure")
    assert r["accuracy"]["tolerance_met"]


def test_every_part_is_laid_out_at_one_logrows_and_a_larger_later_part_proves_the_earlier_again(tmp_path, copy_model):
    """relu_wide (ReLU of 16 values, then a 16 -> 512 Linear) in 2 parts: the first part's circuit needs
    logrows 8, the second 14. KZG commitments of one tensor over 2^8 and over 2^14 rows differ, so the
    first part is proved again at 14 and both commit over one domain; a second part laid out at 15 is
    not linked (rejected)."""
    from zkbench.layers.custom import CustomSpec

    spec = CustomSpec("relu_wide", copy_model(tmp_path, "relu_wide"))
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "2"})
    r = graph_split(spec, 2.0, cfg)
    assert r["status"] == "ok" and r["split"]["linked"]["ok"], r.get("failure")
    first, second = r["split"]["per_part"]
    assert (first["logrows"], first["raised_from_logrows"], second["logrows"]) == (14, 8, 14)
    assert "raised_from_logrows" not in second
    assert r["split"]["domain"]["logrows"] == 14
    assert r["split"]["domain"]["proved_again"] == [
        {"parts_proved": ["relu_wide__graph1of2"], "logrows": 8, "then_needed": 14}
    ]
    assert r["accuracy"]["tolerance_met"]

    def other_domain(name, tol, part_cfg, spec):
        if part_cfg.link_from is not None:
            part_cfg = replace(part_cfg, commit_logrows=15)
        return run_experiment(name, tol, part_cfg, spec=spec)

    apart = graph_split(spec, 2.0, cfg, run_part=other_domain)
    assert apart["status"] == "failed" and apart["failure"]["stage"] == "link", apart.get("failure")
    assert "previous part's output commitments: rejected" in apart["failure"]["cause"]


def test_auto_does_not_split_a_cnn_whose_whole_fits_laid_out_otherwise(tmp_path):
    """CNN_Strided smoke under 115 MiB: the search's whole circuit (4 columns, logrows 12) is predicted
    at ~133 MiB; the same circuit with 2 columns, its rows spilled into more columns at a lower logrows,
    fits (zkbench.engine.memory_fit): it is proved whole, not split, under the budget."""
    budget = 115 * 2**20
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache")}, max_memory_bytes=budget)
    r = run_experiment("CNN_Strided", 2.0, cfg)
    validate(r)
    assert r["status"] == "ok" and "split" not in r, r.get("failure") or r.get("skip_reason")
    assert r["split_choice"]["parts"] == 1 and r["split_choice"]["ladder"][0]["fits"]
    memory = r["search"]["memory"]
    assert not memory["search_choice"]["fits"] and memory["chosen"]["layout"] == "col-overflow"
    assert r["circuit"]["logrows"] == memory["chosen"]["logrows"] < memory["search_choice"]["logrows"]
    assert max(r["stages"]["setup"]["peak_rss_bytes"], r["stages"]["prove"]["peak_rss_bytes"]) <= budget
    assert r["accuracy"]["tolerance_met"] and r["verified"] and r["soundness_checked"]
    roomy = run_experiment("CNN_Strided", 2.0, replace(cfg, max_memory_bytes=None))  # no budget: the search's
    assert roomy["status"] == "ok" and "split" not in roomy, roomy.get("failure")
    assert roomy["circuit"]["logrows"] == memory["search_choice"]["logrows"]


def test_auto_tries_tiles_when_even_the_most_segments_do_not_fit_and_a_tiled_split_fits_its_budget(tmp_path):
    """CNN_Poly smoke under 75 MiB: the whole (logrows 14) is predicted at ~455 MiB; whatever the
    segments, the largest (its first conv and x*x, 37 % of the graph's cost) at ~82 MiB laid out at
    best; one segment per layer with the first cut into 2 tiles of its 2 channels is estimated at
    ~69 MiB, so auto tries those 4 parts. The first tile's real circuit is 13 % more rows than the
    estimate, a column block more: ~82 MiB at best. It is skipped before any key is built, and with
    no finer split the experiment is skipped saying so. Under 100 MiB the same tiles prove: every part
    laid out at one logrows (11, its rows spilled into more columns where they need more), each
    measured under the budget, linked, the outputs within the tolerance."""
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache")}, max_memory_bytes=75 * 2**20)
    r = run_experiment("CNN_Poly", 2.0, cfg)
    validate(r)
    assert r["status"] == "skipped", r.get("failure")
    choice = r["split_choice"]
    [tiles] = [rung for rung in choice["ladder"] if rung["fits"]]  # the one rung predicted to fit: tried
    assert tiles["parts"] == 4 and tiles["tiles"] == [2, 1, 1]
    tried = choice["earlier_attempts"][-1]
    assert tried["parts"] == 4 and tried["trouble"].startswith("part 1 of 4 (CNN_Poly__graph1of3t1of2): needs ~")
    assert (
        "no finer split: layer segment input -> /2/AveragePool_output_0 is at its most tiles (2)" in (r["skip_reason"])
    )

    budget = 100 * 2**20  # its largest part predicted ~82 MiB: room for the prediction's few % under
    tiled = replace(cfg, split=4, graph_tiles=(2, 1, 1), max_memory_bytes=budget, commit_logrows=11)
    r = graph_split(get("CNN_Poly"), 2.0, tiled)
    validate(r)
    assert r["status"] == "ok" and r["split"]["linked"]["ok"], r.get("failure") or r.get("skip_reason")
    split = r["split"]
    assert [p["name"] for p in split["per_part"]] == [
        "CNN_Poly__graph1of3t1of2",
        "CNN_Poly__graph1of3t2of2",
        "CNN_Poly__graph2of3",
        "CNN_Poly__graph3of3",
    ]
    assert [s.get("tiles") for s in split["segments"]] == [2, 1, 1]
    assert split["domain"] == {**split["domain"], "logrows": 11, "proved_again": []}
    assert {p["logrows"] for p in split["per_part"]} == {11}
    # the second layer reads both tiles' outputs, each linked to the tile that committed it
    assert split["parts_graph"][2]["from"] == ["CNN_Poly__graph1of3t1of2", "CNN_Poly__graph1of3t2of2"]
    assert split["linked"]["per_part"][2]["linked"]["ok"]
    peaks = [max(p["setup_peak_rss_bytes"], p["prove_peak_rss_bytes"]) for p in split["per_part"]]
    assert max(peaks) <= budget, peaks
    assert all(p["verified"] and p["soundness_checked"] for p in split["per_part"])
    assert r["accuracy"]["tolerance_met"] and r["accuracy"]["float_values"] == 10


def test_auto_lays_every_part_out_at_the_logrows_its_ladder_weighed(tmp_path):
    """CNN_ReLU smoke under 150 MiB: the ladder weighs 3 segments, the largest laid out at logrows 10 with
    its rows spilled into more columns (~148 MiB). Every part then commits over that domain: the first
    part's own circuit (logrows 12 at 4 columns, ~133 MiB, fitting) is laid out at 10 instead, since at
    12 the third (a max pool, 1184 rows but more lookups) would need ~167 MiB; each part is measured
    under the budget, none proved twice."""
    budget = 150 * 2**20
    cfg = run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache")}, max_memory_bytes=budget)
    r = run_experiment("CNN_ReLU", 2.0, cfg)
    validate(r)
    assert r["status"] == "ok" and r["split"]["linked"]["ok"], r.get("failure") or r.get("skip_reason")
    choice = r["split_choice"]
    assert choice["parts"] == 3 and [a["parts"] for a in choice["earlier_attempts"]] == [1]
    rung = choice["ladder"][-1]
    assert (rung["parts"], rung["logrows"], rung["layout"], rung["fits"]) == (3, 10, "col-overflow", True)
    split = r["split"]
    assert split["domain"]["logrows"] == 10 and split["domain"]["proved_again"] == []
    assert [p["logrows"] for p in split["per_part"]] == [10, 10, 10]
    peaks = [max(p["setup_peak_rss_bytes"], p["prove_peak_rss_bytes"]) for p in split["per_part"]]
    assert max(peaks) <= budget, peaks
    assert r["accuracy"]["tolerance_met"]


def test_tiles_linked_to_each_other_s_commitments_fail_the_link(tmp_path):
    """CNN_ReLU smoke, its second layer in 2 tiles: the last part's two inputs are the two tiles' outputs.
    Linked to them in the wrong order (each input to the other tile's committed output), the swapped
    proof is rejected and the experiment fails at stage link; in order, it is accepted."""
    cfg = replace(
        run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), "split": "4"}), graph_tiles=(1, 2, 1)
    )

    def crossed(name, tol, part_cfg, spec):
        if part_cfg.link_from is not None and len(part_cfg.link_from) == 2:
            part_cfg = replace(part_cfg, link_from=part_cfg.link_from[::-1])
        return run_experiment(name, tol, part_cfg, spec=spec)

    r = graph_split(get("CNN_ReLU"), 2.0, cfg, run_part=crossed)
    assert r["status"] == "failed" and r["failure"]["stage"] == "link", r.get("failure")
    assert "part 4 of 4 (CNN_ReLU__graph3of3)" in r["failure"]["cause"]
    assert "its 2 producing parts' output commitments: rejected" in r["failure"]["cause"]
    honest = graph_split(get("CNN_ReLU"), 2.0, cfg)
    assert honest["status"] == "ok" and honest["split"]["linked"]["ok"], honest.get("failure")
    assert [p["name"] for p in honest["split"]["per_part"]][1:3] == [
        "CNN_ReLU__graph2of3t1of2",
        "CNN_ReLU__graph2of3t2of2",
    ]
    assert honest["accuracy"]["tolerance_met"]
