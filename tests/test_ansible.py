"""admin/ansible/site.yml with real ansible-core against the loopback SSH
server (``ssh_server``): two rooms (device-a, device-b: one server, each
device its own key, config, methods and state) and one device that is off.
Install into a scratch root per device, methods, selection per room, one
history file; a second run changes nothing; --check changes nothing;
a refused method or a device named twice stops the run before any device
is touched."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from intervisor.core.clock import FakeClock
from intervisor.core.events import Mark
from intervisor.core.model import Duration, Method, Phase
from intervisor.appliance.records import Recorder, RecordBook

REPO = Path(__file__).resolve().parents[1]
PLAYBOOK = REPO / "admin" / "ansible" / "site.yml"
PLAYBOOK_CMD = Path(sys.executable).parent / "ansible-playbook"
METHODS = REPO / "methods"

pytestmark = pytest.mark.skipif(not PLAYBOOK_CMD.exists(), reason="ansible-core is a test extra (scripts/setup test)")


def room(device, method: str, **more) -> dict:
    root = device.root
    return {"ansible_host": device.name, "ansible_remote_tmp": str(root / "ansible-tmp"),
            "intervisor_stage": str(root / "stage"), "intervisor_src": str(root / "src"),
            "intervisor_install_args": f"--root {root / 'root'} --no-model --no-piper --no-start",
            "intervisor_method": method, **more}


def inventory(tmp_path: Path, server, hosts: dict, methods: list[Path]) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"intervisor": {"hosts": hosts, "vars": {
        "ansible_user": "root", "ansible_ssh_common_args": f"-F {server.ssh_config}",
        "ansible_python_interpreter": "/usr/bin/python3", "intervisor_become": False,
        "intervisor_methods": [str(m) for m in methods],
        "intervisor_archive": str(tmp_path / "src.tar"),
        "intervisor_history_file": str(tmp_path / "history.csv")}}}))
    return path


def play(tmp_path: Path, inv: Path, *args: str) -> tuple[int, str, dict]:
    """Run the playbook; its exit status, output and PLAY RECAP per host."""
    # Its own folder of connections: a master kept from another run would
    # reach that run's server (the name of a control socket holds no port).
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"),
               ANSIBLE_PIPELINING="True", ANSIBLE_DEPRECATION_WARNINGS="False",
               ANSIBLE_LOCALHOST_WARNING="False", PYTHONWARNINGS="ignore", ANSIBLE_FORKS="5")
    r = subprocess.run([str(PLAYBOOK_CMD), "-i", str(inv), str(PLAYBOOK), *args], capture_output=True,
                       text=True, env=env, timeout=240)
    out = r.stdout + r.stderr
    recap = {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
             for m in re.finditer(r"^(\S+)\s+:\s+(ok=.*)$", out, re.M)}
    return r.returncode, out, recap


def a_session(state: Path) -> None:
    m = Method("kort", "Kort", "nl", (Phase("a", "A", Duration(60, 60)),))
    clock = FakeClock(wall=1_796_000_000.0)
    rec = Recorder.begin(m, clock, {}, 5)
    rec.mark(Mark("phase_start", "a"))
    clock.advance(70)
    RecordBook(state / "records").save(rec.finish(True))


def files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.glob("*.yaml"))} if folder.exists() else {}


def test_the_fleet_is_installed_selected_and_collected_and_a_second_run_changes_nothing(ssh_devices, tmp_path):
    from sshd import free_port

    a, b = ssh_devices.devices["device-a"], ssh_devices.devices["device-b"]
    a_session(a.state)
    ssh_devices.client_host("device-gone", port=free_port())
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("vijf-stappen.yaml", "beeldbellen-eigen-casus.yaml"):
        shutil.copy(METHODS / name, mine / name)
    methods = sorted(mine.iterdir())
    hosts = {"room-a": room(a, "vijf-stappen"),
             "room-b": room(b, "beeldbellen-eigen-casus", intervisor_choices={"vragen": "vijf-alternatieve-vragen"}),
             "room-off": {"ansible_host": "device-gone"}}
    inv = inventory(tmp_path, ssh_devices, hosts, methods)

    rc, out, recap = play(tmp_path, inv)
    assert recap["room-a"]["failed"] == 0 and recap["room-b"]["failed"] == 0, out
    assert recap["room-a"]["changed"] >= 4 and recap["room-b"]["changed"] >= 4, out
    assert recap["room-off"]["unreachable"] == 1
    off = [line for line in out.splitlines() if "room-off" in line and "UNREACHABLE" in line]
    assert len(off) == 1 and "Connection refused" in off[0], out
    for device in (a, b):
        assert files(device.methods) == files(mine)
        assert (device.root / "root" / "opt" / "intervisor").is_dir()  # install.sh laid it out
    listed = subprocess.run([*ssh_devices.ssh, "device-b", "intervisor methods list"], capture_output=True,
                            text=True, timeout=60).stdout
    assert "selected: beeldbellen-eigen-casus (vragen=vijf-alternatieve-vragen)" in listed
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].startswith("device,id,date,")
    assert len(history) == 2 and history[1].startswith("room-a,")

    rc, out, recap = play(tmp_path, inv)
    assert recap["room-a"]["changed"] == 0 and recap["room-b"]["changed"] == 0, out
    assert recap["room-a"]["failed"] == 0 and recap["room-b"]["failed"] == 0, out

    # --check after an edit: it says what would change and changes nothing.
    (mine / "vijf-stappen.yaml").write_text((mine / "vijf-stappen.yaml").read_text().replace(
        "title: Intervisie in vijf stappen", "title: Intervisie in vijf stappen, nieuw"))
    rc, out, recap = play(tmp_path, inv, "--check", "--limit", "room-a")
    assert recap["room-a"]["changed"] >= 1 and recap["room-a"]["failed"] == 0, out
    assert "nieuw" not in (a.methods / "vijf-stappen.yaml").read_text()


def test_a_refused_method_for_one_room_is_reported_for_it_and_installed_on_none(ssh_devices, tmp_path):
    a, b = ssh_devices.devices["device-a"], ssh_devices.devices["device-b"]
    good = tmp_path / "vijf-stappen.yaml"
    shutil.copy(METHODS / "vijf-stappen.yaml", good)
    half = tmp_path / "five-steps.yaml"  # half written: cut off in the middle of a phase
    text = (METHODS / "five-steps.yaml").read_text()
    half.write_text(text[: text.index("phases:") + 60])
    hosts = {"room-a": room(a, "vijf-stappen", intervisor_methods=[str(good)]),
             "room-b": room(b, "five-steps", intervisor_methods=[str(good), str(half)])}
    rc, out, recap = play(tmp_path, inventory(tmp_path, ssh_devices, hosts, []))
    assert rc != 0
    fatal = [line for line in out.splitlines() if line.startswith("fatal:")]
    assert len(fatal) == 1 and fatal[0].startswith("fatal: [room-b]: FAILED!"), out
    assert "five-steps.yaml:" in fatal[0]
    for device in (a, b):
        assert files(device.methods) == {}
        assert not (device.root / "src.tar").exists() and not (device.root / "stage").exists()


def test_a_device_named_twice_stops_the_run_with_a_line_for_each_name(ssh_devices, tmp_path):
    a, b = ssh_devices.devices["device-a"], ssh_devices.devices["device-b"]
    good = tmp_path / "vijf-stappen.yaml"
    shutil.copy(METHODS / "vijf-stappen.yaml", good)
    hosts = {"room-a": room(a, "vijf-stappen"), "room-b": room(b, "vijf-stappen"),
             "room-a-again": room(a, "vijf-stappen")}
    rc, out, recap = play(tmp_path, inventory(tmp_path, ssh_devices, hosts, [good]))
    assert rc != 0
    fatal = {line.split("]")[0] for line in out.splitlines() if line.startswith("fatal:")}
    assert fatal == {"fatal: [room-a", "fatal: [room-a-again"}, out
    assert "room-a is the same device as room-a-again (device-a:22)" in out
    for device in (a, b):
        assert files(device.methods) == {}
