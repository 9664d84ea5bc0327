"""The loopback SSH hosts of the multi-host tests (issue 12): a real sshd on 127.0.0.1 serving two
aliases with separate HOMEs, a separate checkout + venv reached over SSH, and execnet gateways (the
transport of xdist's `--tx ssh=...`) into it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import execnet

REPO = Path(__file__).resolve().parents[2]


def test_sshd_listens_on_loopback_only(ssh_hosts):
    assert ssh_hosts.listening() == [("127.0.0.1", ssh_hosts.port)]
    assert ssh_hosts.port != 22


def test_each_alias_has_its_own_home_and_cache(ssh_hosts):
    seen = {}
    for alias in ssh_hosts.aliases:
        r = ssh_hosts.ssh(alias, 'echo "$HOME|$ZKBENCH_CACHE|$(id -un)"')
        assert r.returncode == 0, r.stderr
        seen[alias] = r.stdout.strip().split("|")
        home, cache, user = seen[alias]
        assert (home, cache, user) == (str(ssh_hosts.homes[alias]), str(ssh_hosts.caches[alias]), ssh_hosts.user)
        assert Path(cache).is_relative_to(home) and Path(home).is_dir()
    assert seen["zk-host-a"][:2] != seen["zk-host-b"][:2]


def test_remote_python_imports_the_remote_checkout(ssh_hosts, remote_side):
    assert remote_side.dir != REPO and (remote_side.dir / "pyproject.toml").is_file()
    assert not (remote_side.dir / ".venv").exists()
    probe = (
        "import json, sys, importlib.metadata as md, zkbench, zkbench.layers, zkbench.fixtures, torch, ezkl, xdist; "
        "print(json.dumps({'files': [m.__file__ for m in (zkbench, zkbench.layers, zkbench.fixtures)], "
        "'path': sys.path, 'prefix': sys.prefix, 'version': md.version('zkml-bench')}))"
    )
    # from / : the remote session starts in the passwd home, which must not matter
    cmd = f"cd / && {shlex.quote(str(remote_side.python))} -c {shlex.quote(probe)}"
    r = ssh_hosts.ssh("zk-host-a", cmd)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    for file in got["files"]:
        assert Path(file).is_relative_to(remote_side.dir), got
    assert Path(got["prefix"]) == remote_side.venv
    assert not any(Path(p).resolve() == REPO for p in got["path"] if p), got["path"]  # main's editable finder off

    for command in ("zkbench --help", "pytest --version"):
        r = ssh_hosts.ssh("zk-host-b", f"cd {shlex.quote(str(remote_side.dir))} && {remote_side.bin}/{command}")
        assert r.returncode == 0, (command, r.stdout, r.stderr)


def test_execnet_gateway_per_host(ssh_hosts, remote_side):
    group = execnet.Group()
    try:
        for alias in ssh_hosts.aliases:
            gw = group.makegateway(ssh_hosts.execnet_spec(alias, remote_side.python, remote_side.dir))
            channel = gw.remote_exec(
                "import os, zkbench\n"
                "channel.send((os.getcwd(), os.environ['HOME'], os.environ['ZKBENCH_CACHE'], zkbench.__file__))\n"
            )
            cwd, home, cache, module = channel.receive(timeout=60)
            assert Path(cwd) == remote_side.dir
            assert (home, cache) == (str(ssh_hosts.homes[alias]), str(ssh_hosts.caches[alias]))
            assert Path(module).is_relative_to(remote_side.dir)
    finally:
        group.terminate(timeout=10)
