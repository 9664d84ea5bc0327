"""Where a circuit's SRS comes from: generated locally per exact logrows and backend build, or the
user's file for exactly that logrows (hash checked), each cached."""

from __future__ import annotations

from pathlib import Path

from zkbench.engine.stage_records import from_cache, measured
from zkbench.engine.stage_worker import StageFailed
from zkbench.files import content_key


def srs_cache_key(logrows: int, prover_id: str) -> str:
    """One SRS per exact logrows and prover build; the logrows stays readable in the entry's name."""
    return f"k{logrows}-" + content_key("srs", logrows, prover_id)[:16]


def generated_srs(exp, logrows: int) -> dict:
    # One SRS per exact logrows and ezkl build, generated locally (never downloaded, never downsized).
    def build(tmp: Path) -> dict:
        [rep] = exp.stage("srs", op="gen_srs", path=str(tmp / f"k{logrows}.srs"), logrows=logrows)
        return {"srs": measured(rep), "logrows": logrows, "prover": exp.prover_id}

    key = srs_cache_key(logrows, exp.prover_id)
    m, built = exp.cache.get_or_build("srs", key, build)
    source = (
        f"generated locally by {exp.backend.name} gen_srs (test-only: its toxic waste is known; "
        "fine for benchmarking, unsafe for production)"
    )
    return _recorded(exp, m, built, logrows, key, source)


def user_srs(exp, logrows: int) -> dict:
    """The user's SRS for exactly this logrows, its hash checked, copied into the cache."""
    if logrows not in exp.cfg.srs_files:
        have = ", ".join(f"k={k}" for k in sorted(exp.cfg.srs_files))
        raise StageFailed(
            "srs",
            "no_srs",
            f"the circuit needs an SRS for logrows {logrows}, supplied: {have}; "
            f"add --srs {logrows}=PATH (an SRS is never downsized)",
        )
    src, expected = exp.cfg.srs_files[logrows]
    src = Path(src)
    if not src.is_file():
        raise StageFailed("srs", "no_srs", f"--srs {logrows}={src}: no such file")
    stat = src.stat()
    key = content_key("user-srs", str(src.resolve()), stat.st_size, stat.st_mtime_ns, expected)

    def build(tmp: Path) -> dict:
        [rep] = exp.stage(
            "srs", op="import_srs", preload=(), src=str(src), dst=str(tmp / f"k{logrows}.srs"), expected_sha256=expected
        )
        return {"srs": measured(rep), "logrows": logrows, "source_path": str(src)}

    m, built = exp.cache.get_or_build("srs-user", key, build)
    checked = " (sha256 checked)" if expected else " (no expected sha256 given: recorded only)"
    return _recorded(exp, m, built, logrows, key, f"user-supplied {src}{checked}")


def _recorded(exp, m: dict, built: bool, logrows: int, key: str, source: str) -> dict:
    """The SRS cache entry `m` into the result: its stage record, size, hash, source and cache key."""
    exp.stages["srs"] = from_cache(m["meta"]["srs"], built)
    info = m["files"][f"k{logrows}.srs"]
    exp.r["sizes"]["srs_bytes"] = info["bytes"]
    exp.r["srs"] = {"source": source, "sha256": info["sha256"], "logrows": logrows}
    exp.r["cache_keys"]["srs"] = key
    return m
