"""scripts/push-method against a real OpenSSH server on 127.0.0.1 (the
``ssh_server`` fixture): real ssh, scp and sudo, the device side the real
``intervisor methods add``."""

from __future__ import annotations

import glob
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PUSH = REPO / "scripts" / "push-method"

KORT = """\
id: kort
title: Kort overleg
language: nl
phases:
  - {id: een, title: Inbreng, duration: 10m}
"""


def push(server, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(PUSH), *args], capture_output=True, text=True, env=server.env(),
                          timeout=60, cwd=cwd)


def method(folder: Path, name: str, text: str | None = None) -> Path:
    path = folder / name
    path.write_text(text if text is not None else KORT.replace("id: kort", f"id: {Path(name).stem}"))
    return path


def left_on_the_device(name: str) -> list[str]:
    """Copies of ``name`` in push-method's temporary folders (the device is
    this machine; other tests' folders hold other names)."""
    return glob.glob(f"/tmp/intervisor-push.*/{glob.escape(name)}")


def test_push_installs_on_the_device_and_prints_its_verdict(ssh_devices, tmp_path):
    r = push(ssh_devices, "device-b", str(method(tmp_path, "ssh-kort.yaml")))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ssh-kort.yaml: ok (ssh-kort, Kort overleg)" in r.stdout
    assert (ssh_devices.devices["device-b"].methods / "ssh-kort.yaml").read_text() == KORT.replace("kort", "ssh-kort")
    assert list(ssh_devices.devices["device-a"].methods.iterdir()) == []  # the other device untouched
    assert left_on_the_device("ssh-kort.yaml") == []                        # its temporary folder removed


def test_a_refused_file_installs_nothing_and_is_named_as_the_admin_named_it(ssh_devices, tmp_path):
    good, bad = method(tmp_path, "ssh-kort.yaml"), method(tmp_path, "ssh-kapot.yaml", "id: ssh-kapot\ntitle: [\n")
    r = push(ssh_devices, "device-a", str(good), str(bad))
    assert r.returncode == 1
    assert "ssh-kapot.yaml:3:" in r.stdout and "/tmp/intervisor-push" not in r.stdout + r.stderr
    assert "nothing was installed" in r.stdout
    assert list(ssh_devices.devices["device-a"].methods.iterdir()) == []
    assert left_on_the_device("ssh-kapot.yaml") == []


ODD = ["it's $(touch PWNED) a;b.yaml", "sp ace.yaml", "café.yaml", "a:b.yaml", "back`touch PWNED`.yaml"]


def test_odd_file_names_reach_the_device_as_they_are_and_run_nothing(ssh_devices, tmp_path):
    """Each is refused by the device (a method's id is its file name, small
    letters only) and named in its verdict as written; no part of a name
    runs, on either side."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ODD:
        method(work, name, KORT)
    r = push(ssh_devices, "device-a", *ODD, cwd=work)
    assert r.returncode == 1, r.stdout + r.stderr
    for name in ODD:
        assert f'{name}:1: the id "kort" must be the same as the file name' in r.stdout, r.stdout + r.stderr
    assert list(ssh_devices.devices["device-a"].methods.iterdir()) == []
    assert not (work / "PWNED").exists() and not (Path.home() / "PWNED").exists()
    assert not Path("/tmp/PWNED").exists()


def test_a_method_whose_name_starts_with_a_dash_is_installed(ssh_devices, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    method(work, "-kort.yaml")
    r = push(ssh_devices, "device-a", "-kort.yaml", cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (ssh_devices.devices["device-a"].methods / "-kort.yaml").exists()


def test_sudo_runs_the_device_side_through_real_sudo(ssh_devices, tmp_path):
    # sudo drops the login's environment: the device's own intervisor (in
    # /usr/local/bin, on sudo's secure_path) and its default config answer.
    r = push(ssh_devices, "--sudo", "device-a", str(method(tmp_path, "kort.yaml")))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (ssh_devices.system.methods / "kort.yaml").read_text() == KORT
    assert list(ssh_devices.devices["device-a"].methods.iterdir()) == []


def one_line(r: subprocess.CompletedProcess) -> str:
    lines = (r.stdout + r.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_device_that_is_off_gives_one_clear_line(ssh_devices, tmp_path):
    from sshd import free_port

    ssh_devices.client_host("device-off", port=free_port())
    r = push(ssh_devices, "device-off", str(method(tmp_path, "kort.yaml")))
    assert r.returncode == 255
    assert one_line(r).startswith("push-method: device-off: cannot log in over SSH (")
    assert "Connection refused" in r.stderr


def test_a_wrong_key_gives_one_clear_line_and_installs_nothing(ssh_devices, tmp_path):
    from sshd import _keygen

    _keygen(tmp_path / "stranger", "not authorised")
    ssh_devices.client_host("device-stranger", key=tmp_path / "stranger")
    r = push(ssh_devices, "device-stranger", str(method(tmp_path, "kort.yaml")))
    assert r.returncode == 255
    assert one_line(r).startswith("push-method: device-stranger: cannot log in over SSH (")
    assert "Permission denied" in r.stderr
    assert all(not list(d.methods.iterdir()) for d in ssh_devices.devices.values())


def test_a_missing_file_or_no_file_is_refused_before_any_login(ssh_devices, tmp_path):
    r = push(ssh_devices, "device-a", str(tmp_path / "missing.yaml"))
    assert r.returncode == 1 and one_line(r) == f"push-method: {tmp_path / 'missing.yaml'}: there is no such file"
    assert push(ssh_devices, "device-a").returncode == 2
