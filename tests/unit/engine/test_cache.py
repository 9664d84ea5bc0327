import multiprocessing as mp
import time
from pathlib import Path

from zkbench.engine.cache import ArtifactCache
from zkbench.files import content_key


def test_content_key_changes_with_every_part():
    base = content_key(b"onnx", {"scale": 7}, "23.0.5", 1)
    assert base == content_key(b"onnx", {"scale": 7}, "23.0.5", 1)
    assert (
        len(
            {
                base,
                content_key(b"onnx2", {"scale": 7}, "23.0.5", 1),
                content_key(b"onnx", {"scale": 8}, "23.0.5", 1),
                content_key(b"onnx", {"scale": 7}, "23.0.6", 1),
                content_key(b"onnx", {"scale": 7}, "23.0.5", 2),
            }
        )
        == 5
    )
    # Part boundaries matter: ("ab", "c") is not ("a", "bc").
    assert content_key("ab", "c") != content_key("a", "bc")


def test_build_once_then_reuse(tmp_path):
    cache, calls = ArtifactCache(tmp_path), []

    def build(d: Path):
        calls.append(1)
        (d / "a.bin").write_bytes(b"x" * 10)
        return {"answer": 42}

    m1, built1 = cache.get_or_build("k", "key1", build)
    m2, built2 = cache.get_or_build("k", "key1", build)
    assert (built1, built2) == (True, False) and len(calls) == 1
    assert m2["meta"] == {"answer": 42} and m2["files"]["a.bin"]["bytes"] == 10


def test_corrupt_entry_is_detected_and_rebuilt(tmp_path):
    cache = ArtifactCache(tmp_path)
    build = lambda d: (d / "pk.key").write_bytes(b"k" * 100) and {}
    m, _ = cache.get_or_build("keys", "x", build)
    pk = Path(m["dir"]) / "pk.key"
    pk.write_bytes(b"k" * 50)  # half a proving key
    assert cache.load("keys", "x") is None  # checksum mismatch: never used
    m2, built = cache.get_or_build("keys", "x", build)
    assert built and (Path(m2["dir"]) / "pk.key").stat().st_size == 100


def test_failed_build_leaves_nothing_behind(tmp_path):
    cache = ArtifactCache(tmp_path)

    def bad(d: Path):
        (d / "half").write_bytes(b"partial")
        raise RuntimeError("boom")

    try:
        cache.get_or_build("k", "y", bad)
    except RuntimeError:
        pass
    assert cache.load("k", "y") is None
    assert not [p for p in (tmp_path / "k").iterdir() if p.is_dir()]


def _slow_build(root, marker_dir, i):
    def build(d: Path):
        (Path(marker_dir) / f"built-{i}").write_text("")
        time.sleep(0.5)
        (d / "f").write_text("done")
        return {}

    ArtifactCache(Path(root)).get_or_build("k", "shared", build)


def test_concurrent_processes_build_an_entry_once(tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    procs = [mp.get_context("fork").Process(target=_slow_build, args=(tmp_path / "c", markers, i)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(list(markers.iterdir())) == 1
    assert (tmp_path / "c" / "k" / "shared" / "f").read_text() == "done"
