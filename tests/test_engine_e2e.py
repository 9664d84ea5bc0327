"""End to end through real ezkl (no mocks): one small smoke experiment, then again from cache."""
import json

import jsonschema
import pytest

from fixtures.pipeline import STAGES, RunConfig, run_experiment
from fixtures.results import read_result, validate, write_result


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return RunConfig(profile="smoke", rounds=2, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def first_and_second(config):
    return run_experiment("Tanh", 2.0, config), run_experiment("Tanh", 2.0, config)


def test_a_real_smoke_experiment_proves_verifies_and_is_schema_valid(first_and_second, tmp_path):
    r, _ = first_and_second
    assert r["status"] == "ok", r.get("failure")
    validate(r)
    assert r["verified"] is True and r["accuracy"]["tolerance_met"] is True
    assert set(r["stages"]) == set(STAGES)
    assert all(not s["cached"] for s in r["stages"].values())
    assert len(r["stages"]["prove"]["seconds"]) == 2 and len(r["stages"]["verify"]["seconds"]) == 2
    # peak RSS is the stage's own high-water mark, above the process baseline
    prove = r["stages"]["prove"]
    assert prove["peak_rss_bytes"] > prove["base_rss_bytes"] > 0
    assert r["sizes"]["pk_bytes"] > r["sizes"]["vk_bytes"] > 0 and r["sizes"]["proof_bytes"] > 0
    assert r["circuit"]["num_rows"] <= 2 ** r["circuit"]["logrows"]
    chosen = r["search"]["candidates"][r["search"]["chosen"]]
    assert chosen["meets_tol"] and chosen["logrows"] == r["circuit"]["logrows"]
    assert r["circuit"]["input_scale"] == chosen["effective_input_scale"]
    # soundness: verify rejected a flipped proof byte and a changed public output
    assert r["soundness_checked"] is True
    assert all(c["rejected"] for c in r["soundness"].values()) and len(r["soundness"]) == 2
    path = write_result(r, tmp_path)
    assert read_result(path)["id"] == "Tanh-tol2"


def test_second_run_reuses_the_cache_no_srs_no_setup(first_and_second):
    _, again = first_and_second
    assert again["status"] == "ok"
    for stage in ("export", "settings", "calibrate", "compile", "srs", "setup"):
        assert again["stages"][stage]["cached"], stage
    for stage in ("witness", "prove", "verify"):
        assert not again["stages"][stage]["cached"], stage


def test_harness_overhead_stays_within_ten_percent(first_and_second):
    for r in first_and_second:
        h = r["harness"]
        assert h["overhead_s"] <= 0.10 * h["measured_stage_s"], h


def test_schema_rejects_an_ok_result_without_stages(first_and_second):
    bad = json.loads(json.dumps(first_and_second[0]))
    del bad["stages"]["prove"]
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    bad = json.loads(json.dumps(first_and_second[0]))
    bad["verified"] = False
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_tampering_helpers_change_exactly_what_they_say():
    from fixtures.pipeline import tamper_proof_byte, tamper_public_output
    proof = {"proof": [1, 2, 3, 4], "hex_proof": "0x01020304", "instances": [["00ab", "10ff"]],
             "pretty_public_inputs": {}}
    flipped = tamper_proof_byte(proof)
    assert flipped["proof"] == [1, 2, 2, 4] and flipped["hex_proof"] == "0x01020204"
    changed = tamper_public_output(proof)
    assert changed["instances"] == [["00ab", "11ff"]] and proof["instances"] == [["00ab", "10ff"]]
