"""A part of a tiled layer (zkbench.layers.split.PartSpec) through the real engine: exported,
searched, proved, verified and soundness-checked as an experiment of its own, at its own, smaller
circuit; its result says which part of which layer it is."""

from zkbench.engine.config import RunConfig
from zkbench.engine.experiment import run_experiment
from zkbench.layers import get
from zkbench.layers.split import parts_of


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
