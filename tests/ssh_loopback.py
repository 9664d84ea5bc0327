"""Remote hosts on this machine, for the tests of multi-host runs (issue 12): a real OpenSSH server on
127.0.0.1 serving two host aliases with separate HOMEs (`start_sshd`), and a separate checkout of the
project with its own venv for the remote side (`remote_checkout`).

A helper module, not a test file: under --import-mode=importlib tests/ is not on sys.path, so
tests/conftest.py loads it by path and exposes it through session fixtures (`ssh_hosts`,
`remote_side`).

How HOME differs per alias: sshd sets HOME from the user's passwd entry *after* the variables the
client sends (ssh_config SetEnv / sshd AcceptEnv), so SetEnv cannot change HOME (it arrives, then is
overwritten). Each alias therefore logs in with its own user key, and that key's authorized_keys line
carries `environment="HOME=...",environment="ZKBENCH_CACHE=..."`, which sshd applies after its
defaults (PermitUserEnvironment limited to those two names). The session's working directory is
still the passwd home (sshd changes into it before running the command): pass chdir= to execnet
or cd explicitly.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import pwd
import shutil
import site
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

SSHD = Path("/usr/sbin/sshd")
ALIASES = ("zk-host-a", "zk-host-b")
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
INSTALL_HINT = "apt-get install openssh-server"


@dataclass
class Loopback:
    """A running throwaway sshd on 127.0.0.1:`port` and the client config that reaches it."""

    root: Path
    ssh_config: Path  # client config: `ssh -F ssh_config zk-host-a ...`
    port: int
    user: str
    aliases: tuple[str, ...]
    homes: dict[str, Path]  # alias -> the HOME its sessions get
    caches: dict[str, Path]  # alias -> the ZKBENCH_CACHE its sessions get (under that HOME)
    log: Path  # sshd's own log (-e: to stderr, redirected here)
    process: subprocess.Popen[bytes] = field(repr=False)

    def ssh(self, alias: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `command` through the remote login shell of `alias`; output captured as text."""
        return subprocess.run(
            ["ssh", "-F", str(self.ssh_config), alias, command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def execnet_spec(self, alias: str, python: Path | str, chdir: Path | str) -> str:
        """The execnet / xdist `--tx` spec of a worker on `alias`."""
        return f"ssh={alias}//ssh_config={self.ssh_config}//python={python}//chdir={chdir}"

    def listening(self) -> list[tuple[str, int]]:
        """The addresses sshd listens on (only 127.0.0.1:port is expected)."""
        proc = psutil.Process(self.process.pid)
        conns = proc.net_connections(kind="inet") if hasattr(proc, "net_connections") else proc.connections("inet")
        return sorted((c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN)

    def stop(self) -> None:
        """Stop sshd, then every process its sessions started, orphans included (a listener's
        SIGTERM leaves sessions running, and a command whose client went away outlives its
        session): all that carry this server's SSH_CONNECTION. Each step waits at most
        STOP_TIMEOUT_S, then kills."""
        try:
            procs = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        known = {p.pid for p in procs}
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                conn = p.environ().get("SSH_CONNECTION", "").split()
                if conn[2:] == ["127.0.0.1", str(self.port)] and p.pid not in known:
                    procs.append(p)
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.terminate()
        _, alive = psutil.wait_procs(procs, timeout=STOP_TIMEOUT_S)
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(alive, timeout=STOP_TIMEOUT_S)

    close = stop

    def __enter__(self) -> Loopback:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _require_openssh() -> None:
    missing = [str(SSHD)] if not SSHD.is_file() else []
    missing += [tool for tool in ("ssh", "ssh-keygen") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"OpenSSH not installed ({', '.join(missing)} missing): {INSTALL_HINT}")


def _q(path: Path) -> str:
    """A path quoted for sshd_config / ssh_config / authorized_keys."""
    if '"' in str(path) or "\n" in str(path):
        raise ValueError(f"unusable path for an ssh config: {path!r}")
    return f'"{path}"'


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "zkbench-loopback", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _banner(port: int) -> bool:
    """Whether an SSH server answers on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _write_sshd_config(path: Path, port: int, host_key: Path, pid: Path, authorized_keys: Path, user: str) -> None:
    lines = [
        "ListenAddress 127.0.0.1",
        f"Port {port}",
        f"HostKey {_q(host_key)}",
        f"PidFile {_q(pid)}",
        f"AuthorizedKeysFile {_q(authorized_keys)}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "AuthenticationMethods publickey",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {user}",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        # HOME and ZKBENCH_CACHE come from the key's authorized_keys options (see the module's doc);
        # other ZKBENCH_* variables a client sends with SetEnv are accepted as they are.
        "PermitUserEnvironment HOME,ZKBENCH_CACHE",
        "AcceptEnv ZKBENCH_*",
        # many xdist workers connect at once
        "MaxStartups 100",
        "MaxSessions 100",
    ]
    # OpenSSH >= 9.8 penalizes sources of dropped connections (a killed worker's, say); only
    # loopback connects here. Older versions reject the option: then it is left out.
    optional = ["PerSourcePenaltyExemptList 127.0.0.1"]
    for extra in (optional, []):
        path.write_text("\n".join(lines + extra) + "\n")
        check = subprocess.run([str(SSHD), "-t", "-f", str(path)], capture_output=True, text=True, timeout=30)
        if check.returncode == 0:
            return
        if not any(option.split()[0] in check.stderr for option in extra):
            break
    raise RuntimeError(f"sshd rejects its config {path}: {check.stderr.strip()}")


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    """Wait (at most START_TIMEOUT_S) until sshd listens on 127.0.0.1:port; False if it exited
    or the time ran out. Its log says when it listens (no probe connection, which newer sshd
    would count against the source); an SSH banner on the port is accepted after 2 s too."""
    start = time.monotonic()
    while time.monotonic() - start < START_TIMEOUT_S and process.poll() is None:
        if f"Server listening on 127.0.0.1 port {port}" in log.read_text(errors="replace"):
            return True
        if time.monotonic() - start > 2 and _banner(port):
            return True
        time.sleep(0.05)
    return False


def start_sshd(root: Path) -> Loopback:
    """Start a throwaway sshd on 127.0.0.1 (a free port), with its keys, configs and log in `root`.

    Skips the calling test when OpenSSH is not installed. Use as a context manager, or call stop().
    """
    _require_openssh()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation's chroot

    host_key = root / "ssh_host_ed25519_key"
    _keygen(host_key)
    homes = {alias: root / f"home-{alias.rsplit('-', 1)[1]}" for alias in ALIASES}
    caches = {alias: home / ".cache" / "zkml-bench" for alias, home in homes.items()}
    authorized = []
    for alias in ALIASES:
        _keygen(root / f"id_{alias}")
        caches[alias].mkdir(parents=True, exist_ok=True)
        env = f'environment="HOME={homes[alias]}",environment="ZKBENCH_CACHE={caches[alias]}"'
        authorized.append(f"{env} {(root / f'id_{alias}.pub').read_text().strip()}")
    authorized_keys = root / "authorized_keys"
    authorized_keys.write_text("\n".join(authorized) + "\n")
    authorized_keys.chmod(0o600)

    sshd_config = root / "sshd_config"
    log = root / "sshd.log"
    for _attempt in range(3):  # the free port can be taken between the probe and sshd's bind
        port = _free_port()
        _write_sshd_config(sshd_config, port, host_key, root / "sshd.pid", authorized_keys, user)
        with log.open("wb") as err:  # this attempt's log
            process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(sshd_config)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        if _wait_listening(process, port, log):
            break
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
            raise RuntimeError(f"sshd did not accept on 127.0.0.1:{port} within {START_TIMEOUT_S:g} s: {log}")
        if "Bind to port" not in log.read_text(errors="replace"):
            raise RuntimeError(f"sshd exited with {process.returncode}:\n{log.read_text(errors='replace')}")
    else:
        raise RuntimeError(f"sshd found no free port in 3 attempts:\n{log.read_text(errors='replace')}")

    ssh_config = root / "ssh_config"
    ssh_config.write_text(
        "".join(
            f"Host {alias}\n"
            "  HostName 127.0.0.1\n"
            f"  Port {port}\n"
            f"  User {user}\n"
            f"  IdentityFile {_q(root / f'id_{alias}')}\n"
            "  IdentitiesOnly yes\n"
            "  IdentityAgent none\n"
            "  PreferredAuthentications publickey\n"
            "  StrictHostKeyChecking no\n"
            f"  UserKnownHostsFile {_q(root / 'known_hosts')}\n"
            "  GlobalKnownHostsFile /dev/null\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 10\n"
            "  LogLevel ERROR\n"
            "\n"
            for alias in ALIASES
        )
    )
    return Loopback(root, ssh_config, port, user, ALIASES, homes, caches, log, process)


@dataclass(frozen=True)
class RemoteSide:
    """A separate copy of the project and a venv whose `zkbench` is that copy."""

    dir: Path  # the remote project directory (the checkout)
    venv: Path
    python: Path  # the venv's interpreter

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _project_files(repo: Path) -> list[str]:
    """The working tree as it is now: tracked files plus untracked ones git does not ignore."""
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "-z"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return sorted({name for name in out.decode().split("\0") if name})


def _copy_tree(repo: Path, files: list[str], dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in files:
        src = repo / name
        if not src.is_symlink() and not src.is_file():  # deleted in the working tree, or a submodule
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)


def _site_packages() -> list[str]:
    """The running interpreter's own site-packages (its venv's), where torch, ezkl, pytest, xdist are."""
    return [p for p in site.getsitepackages() if Path(p).is_dir() and Path(p).is_relative_to(sys.prefix)]


def remote_checkout(repo: Path, dest: Path) -> RemoteSide:
    """Copy the project's working tree to dest/checkout and give it the venv dest/venv.

    The venv (no pip of its own) reaches the running interpreter's site-packages through a .pth
    path line (which does not run that directory's own .pth files, so its editable `zkbench`
    finder stays off) and has the copy installed editable without dependencies, with the
    `zkbench` and `pytest` commands in dest/venv/bin. The copy is made afresh on every call; the
    venv is kept when dest/venv was made by an earlier call for the same pyproject.toml and
    interpreter.
    """
    repo, dest = Path(repo).resolve(), Path(dest).resolve()
    checkout, venv = dest / "checkout", dest / "venv"
    _copy_tree(repo, _project_files(repo), checkout)
    python = venv / "bin" / "python"
    stamp = venv / "zkbench-remote.json"
    site_dirs = _site_packages()
    key = {
        "pyproject": hashlib.sha256((checkout / "pyproject.toml").read_bytes()).hexdigest(),
        "python": sys.version,
        "base": sys.prefix,
        "site": site_dirs,
        "checkout": str(checkout),
    }
    if stamp.is_file() and python.exists() and json.loads(stamp.read_text()) == key:
        return RemoteSide(checkout, venv, python)

    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    Path(purelib, "zz_zkbench_main_site.pth").write_text("".join(f"{p}\n" for p in site_dirs))
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-cache-dir"]
    if importlib.util.find_spec("setuptools") is not None:  # the build backend is here: no download
        install.append("--no-build-isolation")
    result = subprocess.run(
        [*install, "-e", str(checkout)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=dest,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONNOUSERSITE": "1"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"installing {checkout} into {venv} failed:\n{result.stdout}{result.stderr}")
    pytest_script = venv / "bin" / "pytest"
    pytest_script.write_text(f"#!{python}\nimport sys\nfrom pytest import console_main\nsys.exit(console_main())\n")
    pytest_script.chmod(0o755)
    stamp.write_text(json.dumps(key))
    return RemoteSide(checkout, venv, python)
