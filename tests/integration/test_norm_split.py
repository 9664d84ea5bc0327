"""LayerNorm split through the real engine (zkbench.engine.norm_split_step): statistics parts, then
normalising parts on the statistics parts' proven outputs, every part an experiment of its own,
linked by the verified proofs' public values, judged on the reassembled output."""

import json

import torch

from zkbench.engine import norm_split_step
from zkbench.engine.experiment import norm_split, run_experiment
from zkbench.engine.options import run_config
from zkbench.layers import get
from zkbench.layers.custom import CustomSpec
from zkbench.results.store import validate


def config(tmp_path, max_memory_bytes=None, **kw):
    return run_config({"rounds": "1", "cache_dir": str(tmp_path / "cache"), **kw}, max_memory_bytes=max_memory_bytes)


def test_a_layernorm_split_is_proved_linked_and_meets_its_tolerance(tmp_path):
    r = run_experiment("LayerNorm", 2.0, config(tmp_path, split="4"))
    validate(r)
    assert r["status"] == "ok" and r["verified"] and r["soundness_checked"], r.get("failure")
    split = r["split"]
    assert split["parts"] == 5 and split["rounds"]["statistics"] == ["LayerNorm__stats1of1"]
    assert split["rounds"]["normalise"] == [f"LayerNorm__norm{j}of4" for j in range(1, 5)]
    assert split["linked"]["ok"] and all(p["verified"] and p["soundness_checked"] for p in split["per_part"])
    # one scale: a statistics part's outputs are the normalising parts' inputs, the same field elements
    assert {p["input_scale"] for p in split["per_part"]} == {split["scale"]["input_scale"]}
    assert all(p["visibility"]["input"] == p["visibility"]["output"] == "public" for p in split["per_part"])
    acc = r["accuracy"]
    assert acc["reassembled"] and acc["tolerance_met"] and acc["float_values"] == 64 and acc["samples"] == 4
    assert r["sizes"]["proof_bytes"] == sum(p["proof_bytes"] for p in split["per_part"])
    assert r["stages"]["prove"]["peak_rss_bytes"] == max(p["prove_peak_rss_bytes"] for p in split["per_part"])


def test_a_normalising_part_proved_on_other_statistics_fails_the_link(tmp_path, monkeypatch):
    """The normalising parts are proved on statistics a little off the statistics part's proven
    outputs: their proofs verify, but the link reads both from the proofs and fails the experiment."""
    cfg = config(tmp_path, split="2")
    real = norm_split_step.witness_output

    def off(backend, kept, h):
        out = real(backend, kept, h)
        return out + 0.125 if "__stats" in kept.name else out

    monkeypatch.setattr(norm_split_step, "witness_output", off)
    r = norm_split(get("LayerNorm"), 2.0, cfg)
    assert r["status"] == "failed" and r["failure"]["stage"] == "link", r.get("failure")
    assert (
        "LayerNorm__norm1of2: its proof's statistics are not the statistics parts' proven outputs"
        in (r["failure"]["cause"])
    )
    assert all(p["verified"] for p in r["split"]["per_part"])  # every proof is valid: the link is what fails
    monkeypatch.setattr(norm_split_step, "witness_output", real)
    honest = norm_split(get("LayerNorm"), 2.0, cfg)  # the same statistics parts, honestly linked
    assert honest["status"] == "ok" and honest["split"]["linked"]["ok"], honest.get("failure")


def test_auto_splits_a_layernorm_only_when_the_whole_does_not_fit(tmp_path):
    whole = run_experiment("LayerNorm", 2.0, config(tmp_path))
    assert whole["status"] == "ok" and "split" not in whole and whole["split_choice"]["parts"] == 1
    # under the least any layout of the whole is predicted to need (zkbench.engine.memory_fit)
    tight = run_experiment("LayerNorm", 2.0, config(tmp_path, max_memory_bytes=2**20, split="never"))
    predicted = min(w["predicted_peak_rss_bytes"] for w in tight["search"]["memory"]["layouts"] if "error" not in w)
    r = run_experiment("LayerNorm", 2.0, config(tmp_path, max_memory_bytes=int(predicted * 0.9)))
    validate(r)
    assert r["status"] == "ok" and r["accuracy"]["tolerance_met"], r.get("failure") or r.get("skip_reason")
    choice = r["split_choice"]
    assert [a["parts"] for a in choice["earlier_attempts"]] == [1] and choice["parts"] >= 2
    chosen = next(rung for rung in choice["ladder"] if rung["parts"] == choice["parts"])
    assert chosen["fits"] and chosen["predicted_peak_rss_bytes"] <= predicted * 0.9
    assert r["split"]["parts"] == choice["parts"] + 1  # and its statistics part
    assert max(p["prove_peak_rss_bytes"] for p in r["split"]["per_part"]) <= predicted * 0.9 * 1.1


def test_what_cannot_be_split_fails_with_the_reason(tmp_path):
    r = run_experiment("LayerNorm", 2.0, config(tmp_path, split="3"))
    validate(r)
    assert r["status"] == "failed" and r["failure"]["stage"] == "split"
    assert "do not divide its 64 values into equal chunks" in r["failure"]["cause"]
    # a model of one op: no tiles, and no point in its graph where one tensor alone crosses
    d = tmp_path / "tanh"
    d.mkdir()
    x = torch.randn(1, 8)
    torch.onnx.export(torch.nn.Tanh(), (x,), str(d / "network.onnx"), opset_version=18, dynamo=False)
    (d / "input.json").write_text(json.dumps({"input_data": [x.flatten().tolist()]}))
    r = run_experiment("tanh", 2.0, config(tmp_path, split="2"), spec=CustomSpec("tanh", d))
    assert r["status"] == "failed" and r["failure"]["stage"] == "split", r.get("failure")
    assert "cannot be split into 2 parts along its graph" in r["failure"]["cause"]
