"""A real OpenSSH server on 127.0.0.1 for the tests: devices reached over SSH.

One ``sshd`` (Debian's openssh-server, started without systemd, in the
foreground) with its own host key, its own sshd_config and a port of its
own, stopped when the block ends. Each *device* is a name in a client
ssh_config of its own (``device-a``, ``device-b``: the same server) with a
throwaway key of its own; the server gives each key the environment of
that device (its PATH and ``INTERVISOR_CONFIG``, so its own methods and
state folders), the way an ``intervisor`` installed on a Pi finds its
config::

    with start_sshd(["device-a", "device-b"]) as server:
        subprocess.run([*server.ssh, "device-a", "intervisor methods list"])
        server.devices["device-a"].methods      # that device's methods folder

The server runs in a mount namespace of its own (``unshare --mount``), in
which ``/usr/local/bin`` is a folder of the test's holding ``intervisor``
with a config of its own (``server.system``, as /etc/intervisor is on a
Pi): real ``sudo`` on the device side, which drops the login's
environment, finds it through its ``secure_path``, as it finds the one
``scripts/install.sh`` links there, while nothing outside the namespace
changes. Logins are as
root (the tests run as root; no user is added to the machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SSHD = "/usr/sbin/sshd"


@dataclass
class Device:
    name: str
    root: Path
    key: Path

    @property
    def methods(self) -> Path:
        return self.root / "methods"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"


@dataclass
class Server:
    port: int
    home: Path
    devices: dict[str, Device]
    ssh_config: Path
    log: Path
    system: Device  # the config `sudo intervisor` uses (sudo drops INTERVISOR_CONFIG)

    @property
    def ssh(self) -> list[str]:
        return ["ssh", "-F", str(self.ssh_config)]

    @property
    def scp(self) -> list[str]:
        return ["scp", "-F", str(self.ssh_config)]

    def env(self) -> dict[str, str]:
        """The environment for scripts/push-method (its SSH and SCP)."""
        return dict(os.environ, SSH=" ".join(self.ssh), SCP=" ".join(self.scp))

    def client_host(self, name: str, *, port: int | None = None, key: Path | None = None) -> None:
        """Add a host name to the client config: another port (nothing
        listening), another key (not authorised). ssh takes the first block
        of a name, so each test names its own."""
        block = _client_block(name, port or self.port, key or self.devices[next(iter(self.devices))].key,
                              self.home / "known_hosts")
        text = self.ssh_config.read_text()
        self.ssh_config.write_text(text + block)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


def _client_block(name: str, port: int, key: Path, known_hosts: Path) -> str:
    return (f"Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {key}\n"
            f"  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n"
            f"  UserKnownHostsFile {known_hosts}\n  ConnectTimeout 5\n  LogLevel ERROR\n"
            # One connection per device for the whole run, as Ansible keeps
            # one: a login costs a second and more on a busy test machine.
            f"  ControlMaster auto\n  ControlPath {known_hosts.parent}/cm-%n\n  ControlPersist 60\n\n")


def _device(home: Path, name: str) -> tuple[Device, str]:
    root = home / name
    (root / "methods").mkdir(parents=True)
    device = Device(name, root, home / f"{name}.key")
    public = _keygen(device.key, name)
    device.config.write_text(f"methods_dir: {device.methods}\nstate_dir: {device.state}\n")
    path = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"
    line = f'environment="PATH={path}",environment="INTERVISOR_CONFIG={device.config}" {public}'
    return device, line


def _sshd_config(home: Path, port: int) -> Path:
    config = home / "sshd_config"
    config.write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {home / 'host_ed25519'}
PidFile {home / 'sshd.pid'}
AuthorizedKeysFile {home / 'authorized_keys'}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitUserEnvironment PATH,INTERVISOR_CONFIG
AllowUsers root
MaxStartups 40:30:80
MaxSessions 40
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel VERBOSE
""")
    return config


def _local_bin(home: Path, device: Device) -> Path:
    """The device's /usr/local/bin: its installed ``intervisor``."""
    folder = home / "usr-local-bin"
    folder.mkdir()
    program = folder / "intervisor"
    program.write_text(f"#!/bin/sh\nINTERVISOR_CONFIG=\"${{INTERVISOR_CONFIG:-{device.config}}}\" "
                       f"exec {Path(sys.executable).parent / 'intervisor'} \"$@\"\n")
    program.chmod(0o755)
    return folder


def _wait_until_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"sshd stopped at once: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {port}: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def start_sshd(names: list[str]) -> Iterator[Server]:
    """Start the server for the devices ``names``."""
    if not (os.path.exists(SSHD) and shutil.which("unshare")):
        raise RuntimeError("openssh-server is not installed (scripts/setup test installs it)")
    home = Path(tempfile.mkdtemp(prefix="intervisor-sshd-"))
    home.chmod(0o755)
    port = free_port()
    _keygen(home / "host_ed25519", "intervisor-test-host")
    devices, lines = {}, []
    for name in names:
        devices[name], line = _device(home, name)
        lines.append(line)
    (home / "authorized_keys").write_text("\n".join(lines) + "\n")
    host_key = (home / "host_ed25519.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    ssh_config = home / "ssh_config"
    ssh_config.write_text("".join(_client_block(n, port, d.key, home / "known_hosts") for n, d in devices.items()))
    system, _ = _device(home, "system")  # what sudo's intervisor finds: the device's own config
    local_bin = _local_bin(home, system)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    log = home / "sshd.log"
    script = f'mount --bind "{local_bin}" /usr/local/bin && exec {SSHD} -D -e -f "{_sshd_config(home, port)}"'
    with open(log, "wb") as out:
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_listening(port, proc, log)
        yield Server(port, home, devices, ssh_config, log, system)
    finally:
        for name in names:
            subprocess.run(["ssh", "-F", str(ssh_config), "-O", "exit", name], capture_output=True, timeout=10)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(home, ignore_errors=True)
