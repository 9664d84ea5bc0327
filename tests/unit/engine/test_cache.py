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


class Disk:
    """shutil.disk_usage as a disk of `free` bytes that grows by what is deleted from the cache."""

    def __init__(self, root: Path, free: int):
        self.root, self.start_free = root, free
        self.start_used = self.used()

    def used(self) -> int:
        return sum(f.stat().st_size for f in self.root.rglob("*") if f.is_file())

    def __call__(self, path):
        import shutil

        free = self.start_free + self.start_used - self.used()
        return shutil._ntuple_diskusage(10**12, 10**12 - free, free)  # type: ignore[attr-defined]


def keys_cache(tmp_path: Path, n: int) -> ArtifactCache:
    """n key entries of 10 kB each (and a manifest), entry k last used at time k (entry 0 the least recently)."""
    import os

    cache = ArtifactCache(tmp_path)
    for k in range(n):
        cache.get_or_build("keys", f"key{k}", lambda d: (d / "pk.key").write_bytes(b"x" * 10_000) and {})
        os.utime(tmp_path / "keys" / f"key{k}" / "manifest.json", (1000 + k, 1000 + k))
    return cache


def test_make_room_evicts_the_least_recently_used_keys_until_the_disk_has_room(tmp_path, monkeypatch):
    cache = keys_cache(tmp_path, 4)
    monkeypatch.setattr("zkbench.engine.cache.shutil.disk_usage", Disk(tmp_path, free=5_000))
    # a new key of 12 kB and 3 kB kept free: 15 kB free needed, one eviction frees 10 kB and its manifest
    evicted = cache.make_room("keys", need_bytes=12_000, keep_free_bytes=3_000)
    assert [e["key"] for e in evicted] == ["key0"] and evicted[0]["bytes"] > 10_000
    assert not (tmp_path / "keys" / "key0").exists() and (tmp_path / "keys" / "key1").exists()
    assert cache.make_room("keys", need_bytes=12_000, keep_free_bytes=3_000) == []  # room enough now
    cache.load("keys", "key1")  # used now: the most recent
    assert [e["key"] for e in cache.make_room("keys", 30_000, 3_000)] == ["key2", "key3"]


def test_make_room_spares_what_a_live_process_holds_and_what_is_being_built(tmp_path, monkeypatch):
    from filelock import FileLock

    cache = keys_cache(tmp_path, 3)
    monkeypatch.setattr("zkbench.engine.cache.shutil.disk_usage", Disk(tmp_path, free=0))
    cache.hold("keys", "key0")  # this process proves with it
    dead = tmp_path / "keys" / ".held" / "key1.999999999"  # a marker whose process is gone
    dead.touch()
    with FileLock(str(tmp_path / "keys" / "key2") + ".lock"):  # someone builds it right now
        evicted = cache.make_room("keys", need_bytes=10**6, keep_free_bytes=0)
    assert [e["key"] for e in evicted] == ["key1"] and not dead.exists()
    assert (tmp_path / "keys" / "key0").exists() and (tmp_path / "keys" / "key2").exists()
    cache.release()
    assert [e["key"] for e in cache.make_room("keys", 10**6, 0)] == ["key0", "key2"]
    rebuilt, built = cache.get_or_build("keys", "key0", lambda d: (d / "pk.key").write_bytes(b"y") and {})
    assert built  # an evicted entry is simply built again
