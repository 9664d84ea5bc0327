"""End to end through real ezkl: one small smoke experiment cold, then again from the cache,
and the soundness check with the verifier or the tampering replaced by stand-ins."""

import json

import jsonschema
import pytest

import zkbench.resources.fingerprint as environment
from zkbench.engine import soundness
from zkbench.engine.config import RunConfig
from zkbench.engine.experiment import run_experiment
from zkbench.engine.srs import srs_cache_key
from zkbench.engine.stage_worker import StageWorker
from zkbench.results.store import STAGES, read_result, validate, write_result

MEASURED_EVERY_RUN = ("witness", "prove", "verify")


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
    prove = r["stages"]["prove"]
    assert prove["peak_rss_bytes"] == prove["base_rss_bytes"] + prove["growth_rss_bytes"]
    assert prove["growth_rss_bytes"] > 0 and prove["base_rss_bytes"] > 0
    assert r["sizes"]["pk_bytes"] > r["sizes"]["vk_bytes"] > 0
    assert r["circuit"]["num_rows"] <= 2 ** r["circuit"]["logrows"]
    chosen = r["search"]["candidates"][r["search"]["chosen"]]
    assert chosen["meets_tol"] and chosen["logrows"] == r["circuit"]["logrows"]
    assert r["circuit"]["input_scale"] == chosen["effective_input_scale"]
    path = write_result(r, tmp_path)
    assert read_result(path)["id"] == "Tanh-tol2"


def test_search_is_its_own_stage_and_settings_calibrate_time_only_the_chosen_circuit(first_and_second):
    r, _ = first_and_second
    search, st = r["stages"]["search"], r["stages"]
    assert search["candidates"] == len(r["search"]["candidates"]) > 1
    # one gen_settings / calibrate_settings call each, against a search that made many of both
    assert len(st["settings"]["seconds"]) == 1 and len(st["calibrate"]["seconds"]) == 1
    assert st["settings"]["seconds"][0] + st["calibrate"]["seconds"][0] < search["seconds"][0]


def test_proof_bytes_is_the_transcript_not_the_json_file(first_and_second):
    sizes = first_and_second[0]["sizes"]
    # halo2's BN254 transcript is a sequence of 32-byte scalars and compressed points; the JSON
    # file also holds it in hex, the instances and pretty-printed inputs
    assert sizes["proof_bytes"] % 32 == 0
    assert 0 < sizes["proof_bytes"] < sizes["proof_file_bytes"]
    assert sizes["proof_instances"] == 128  # Tanh smoke: 64 inputs + 64 outputs are public


def test_cold_and_warm_runs_measure_the_same_stage_peaks(first_and_second):
    cold, warm = first_and_second
    for stage in MEASURED_EVERY_RUN:
        a, b = cold["stages"][stage], warm["stages"][stage]
        assert abs(a["peak_rss_bytes"] - b["peak_rss_bytes"]) <= 0.05 * a["peak_rss_bytes"], (stage, a, b)
        assert a["base_rss_bytes"] == pytest.approx(b["base_rss_bytes"], rel=0.05), stage


def test_second_run_reuses_the_cache_no_srs_no_setup(first_and_second):
    _, again = first_and_second
    assert again["status"] == "ok"
    for stage in ("export", "search", "settings", "calibrate", "compile", "srs", "setup"):
        assert again["stages"][stage]["cached"], stage
    for stage in MEASURED_EVERY_RUN:
        assert not again["stages"][stage]["cached"], stage


def test_the_wall_time_is_accounted_for(first_and_second):
    for r in first_and_second:
        h = r["harness"]
        assert h["measured_stage_s"] + sum(h["parts_s"].values()) + h["unaccounted_s"] == pytest.approx(h["wall_s"])
        # what no bucket holds is the parent's own bookkeeping between them (reading settings and
        # outputs, the accuracy, the result): tens of ms, 2 % of a cold run but more of a 1.4 s warm one
        assert abs(h["unaccounted_s"]) <= max(0.02 * h["wall_s"], 0.1), h
        assert h["overhead_s"] == pytest.approx(h["wall_s"] - h["measured_stage_s"])
        assert h["parts_s"]["child_start_s"] > 0 and h["parts_s"]["cache_io_s"] > 0
    assert first_and_second[0]["harness"]["parts_s"]["prepare_s"] > 0  # the cold run built its inputs


def test_the_srs_cache_key_names_logrows_and_the_prover_build(first_and_second):
    r = first_and_second[0]
    k = r["circuit"]["logrows"]
    assert r["cache_keys"]["srs"].startswith(f"k{k}-")
    assert r["backend"]["name"] == "ezkl-23" and r["backend"]["build"] == environment.package_build("ezkl")
    prover = f"ezkl-23:{r['backend']['build']}:{r['backend']['device']}"  # name, native build, device
    assert srs_cache_key(k, prover) == r["cache_keys"]["srs"]
    assert srs_cache_key(k, "ezkl-23:23.0.5+another-build") != r["cache_keys"]["srs"]


def test_soundness_checks_were_rejections_by_the_verifier(first_and_second):
    for r in first_and_second:
        assert r["soundness_checked"] is True and len(r["soundness"]) == 2
        for check in r["soundness"].values():
            assert check["verdict"] == "rejected" and "constraint system is not satisfied" in check["reason"]


def _soundness_calls_replaced(monkeypatch, replace):
    real = StageWorker.call

    def call(self, stage, op=None, timeout_s=None, **args):
        if stage == "soundness":
            return replace(self, real, stage, op, timeout_s, args)
        return real(self, stage, op=op, timeout_s=timeout_s, **args)

    monkeypatch.setattr(StageWorker, "call", call)


def test_a_verifier_that_accepts_a_tampered_proof_fails_the_experiment(first_and_second, config, monkeypatch):
    accepted = {"ok": True, "result": {"verdict": "accepted", "verified": True, "reason": None}}
    _soundness_calls_replaced(monkeypatch, lambda *a: accepted)
    r = run_experiment("Tanh", 2.0, config)
    assert r["status"] == "failed" and r["failure"]["stage"] == "soundness", r.get("failure")
    assert r["failure"]["kind"] == "unsound" and "flipped_proof_byte" in r["failure"]["cause"]


def test_a_missing_tampered_proof_is_not_a_rejection(first_and_second, config, monkeypatch, tmp_path):
    def missing(self, real, stage, op, timeout_s, args):  # the real verifier, on a file that is not there
        return real(self, stage, op=op, timeout_s=timeout_s, **{**args, "proof": str(tmp_path / "gone.json")})

    _soundness_calls_replaced(monkeypatch, missing)
    r = run_experiment("Tanh", 2.0, config)
    assert r["status"] == "failed" and r["failure"]["kind"] == "check_failed", r.get("failure")
    assert r["soundness"]["flipped_proof_byte"]["verdict"] == "error"
    assert "failed to load the proof" in r["failure"]["cause"]


def test_a_tampered_output_that_is_no_field_element_is_not_a_rejection(first_and_second, config, monkeypatch):
    def not_a_felt(backend, proof):
        out = json.loads(json.dumps(proof))
        out["instances"][-1][-1] = "ff" * 32  # above the field's modulus
        return out

    monkeypatch.setattr(soundness, "tamper_public_output", not_a_felt)
    r = run_experiment("Tanh", 2.0, config)  # the well-formedness check refuses it before verify
    assert r["status"] == "failed" and r["failure"]["kind"] == "check_failed", r.get("failure")
    assert "not a field element" in r["failure"]["cause"]
    monkeypatch.setattr(soundness, "malformed_tamper", lambda backend, original, tampered: None)
    r = run_experiment("Tanh", 2.0, config)  # and the real verifier cannot parse it: an error, not a "no"
    assert r["status"] == "failed" and r["failure"]["kind"] == "check_failed", r.get("failure")
    assert r["soundness"]["changed_public_output"]["verdict"] == "error"
    assert "valid field element" in r["soundness"]["changed_public_output"]["reason"]


def test_schema_rejects_an_ok_result_without_stages(first_and_second):
    bad = json.loads(json.dumps(first_and_second[0]))
    del bad["stages"]["search"]
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    bad = json.loads(json.dumps(first_and_second[0]))
    bad["verified"] = False
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_an_undecodable_tampered_proof_is_malformed_not_a_rejection(first_and_second, config, monkeypatch):
    def truncated(self, real, stage, op, timeout_s, args):  # the real verifier, on a transcript cut short
        doc = json.loads(open(args["proof"]).read())
        doc["proof"] = doc["proof"][:64]
        doc["hex_proof"] = "0x" + bytes(doc["proof"]).hex()
        with open(args["proof"], "w") as f:
            json.dump(doc, f)
        return real(self, stage, op=op, timeout_s=timeout_s, **args)

    _soundness_calls_replaced(monkeypatch, truncated)
    r = run_experiment("Tanh", 2.0, config)
    assert r["status"] == "failed" and r["failure"]["kind"] == "check_failed", r.get("failure")
    flip = r["soundness"]["flipped_proof_byte"]
    assert flip["verdict"] == "malformed" and len(flip["attempts"]) == soundness.FLIP_ATTEMPTS
    assert "Transcript error" in flip["reason"]


def test_the_bisected_search_reuses_the_other_tolerances_evaluations_and_chooses_as_the_full_scan(tmp_path):
    full = {
        tol: run_experiment("Tanh", tol, RunConfig(rounds=1, cache_dir=tmp_path / "full", search_scan="exhaustive"))
        for tol in (0.5, 2.0)
    }
    fast = {tol: run_experiment("Tanh", tol, RunConfig(rounds=1, cache_dir=tmp_path / "fast")) for tol in (0.5, 2.0)}

    def chosen(r):
        c = r["search"]["candidates"][r["search"]["chosen"]]
        return (r["circuit"]["logrows"], r["circuit"]["num_rows"], c["scale"], c["decomp_base"], c["num_inner_cols"])

    for tol in (0.5, 2.0):
        assert fast[tol]["status"] == full[tol]["status"] == "ok"
        assert chosen(fast[tol]) == chosen(full[tol])
    made = {tol: r["stages"]["search"]["evaluations"] for tol, r in fast.items()}
    assert fast[0.5]["stages"]["search"]["reused"] == 0 and fast[2.0]["stages"]["search"]["reused"] > 0
    assert sum(made.values()) < sum(r["stages"]["search"]["evaluations"] for r in full.values())
    # an evaluation read back is marked, and counted once
    reused = [c for c in fast[2.0]["search"]["candidates"] if c.get("cached")]
    assert len(reused) == fast[2.0]["stages"]["search"]["reused"]


def test_a_full_disk_evicts_the_least_recently_used_keys_not_the_ones_in_use(tmp_path):
    """Two experiments' keys in one cache; a third run that must keep more free than the disk has
    deletes both (neither is in use), not its own; the first, run again, builds its keys again."""
    import shutil
    from dataclasses import replace

    cfg = RunConfig(profile="smoke", rounds=1, cache_dir=tmp_path / "cache")
    first, second = run_experiment("Tanh", 2.0, cfg), run_experiment("ReLU", 2.0, cfg)
    assert first["status"] == second["status"] == "ok"
    squeezed = replace(cfg, keep_disk_free_bytes=shutil.disk_usage(tmp_path).total)  # more than there can be
    third = run_experiment("SiLU", 2.0, squeezed)
    assert third["status"] == "ok", third.get("failure")
    evicted = third["harness"]["evicted_from_cache"]
    assert {e["key"] for e in evicted} == {first["cache_keys"]["keys"], second["cache_keys"]["keys"]}
    assert all(e["bytes"] >= first["sizes"]["pk_bytes"] // 2 for e in evicted)
    assert (cfg.cache_dir / "keys" / third["cache_keys"]["keys"]).is_dir()  # its own, built after the eviction
    again = run_experiment("Tanh", 2.0, cfg)
    assert again["status"] == "ok" and not again["stages"]["setup"]["cached"]
    assert again["stages"]["compile"]["cached"]  # only the keys were evicted
