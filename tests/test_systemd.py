"""The systemd units: they pass `systemd-analyze verify` and say what the
appliance needs (notify, watchdog, restart limits, an unprivileged user,
hardening that leaves ALSA and GPIO usable, no network)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "systemd"
INSTALLED_BIN = "/opt/intervisor/venv/bin/intervisor"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (scripts/setup test installs the systemd package)",
)


def directives(path: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit, repeated keys kept in order."""
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def verifiable_copy(tmp_path: Path, source: Path = UNITS) -> list[Path]:
    """The units with ExecStart pointing at this checkout's program:
    `verify` checks that the binary exists, and /opt is not here."""
    program = Path(sys.executable).with_name("intervisor")
    assert program.exists(), "the package is not installed in the test venv"
    out = []
    for unit in sorted(source.glob("intervisor*")):
        if unit.is_dir():
            continue
        text = unit.read_text().replace(INSTALLED_BIN, str(program))
        target = tmp_path / unit.name
        target.write_text(text)
        out.append(target)
    return out


@needs_analyze
def test_units_pass_systemd_analyze_verify(tmp_path):
    units = verifiable_copy(tmp_path)
    assert {u.name for u in units} == {
        "intervisor.service", "intervisor-methods.path", "intervisor-reload.service"}
    r = subprocess.run(["systemd-analyze", "verify", *map(str, units)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # verify also reports non-fatal doubts on stderr: there must be none
    assert r.stderr.strip() == "", r.stderr


@needs_analyze
def test_service_exposure_is_low(tmp_path):
    unit = [u for u in verifiable_copy(tmp_path) if u.name == "intervisor.service"][0]
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                       capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for intervisor\.service: ([0-9.]+)", r.stdout + r.stderr)
    if found is None:
        pytest.skip(f"systemd-analyze security --offline is not available here: {r.stderr.strip()[:200]}")
    assert float(found.group(1)) <= 3.0, r.stdout


def test_service_is_a_watched_notify_service_that_restarts_sanely():
    d = directives(UNITS / "intervisor.service")
    assert d["Type"] == ["notify"]
    assert d["ExecStart"][0].split()[:2] == [INSTALLED_BIN, "serve"]
    assert "-HUP" in d["ExecReload"][0]
    assert 10 <= int(d["WatchdogSec"][0]) <= 120
    assert d["Restart"] == ["on-failure"]
    assert int(d["StartLimitBurst"][0]) >= 3 and int(d["StartLimitIntervalSec"][0]) >= 60
    # SIGTERM must be given time to finish a cue and save (the service needs < 2 s)
    assert int(d["TimeoutStopSec"][0]) >= 2


def test_service_runs_unprivileged_and_hardened_with_audio_and_gpio():
    d = directives(UNITS / "intervisor.service")
    assert d["User"] == ["intervisor"]
    assert set(d["SupplementaryGroups"][0].split()) == {"audio", "gpio"}
    assert d["StateDirectory"] == ["intervisor"]
    assert d["WorkingDirectory"][0].startswith("/run/intervisor")  # lgpio's pipes
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes"}.items():
        assert d[key] == [value], key
    # Hiding devices or remapping users would cut off /dev/snd and /dev/gpiochip*
    assert "PrivateDevices" not in d and "PrivateUsers" not in d
    assert "DevicePolicy" not in d
    assert d["RestrictAddressFamilies"] == ["AF_UNIX"]  # no network socket can be made


def test_methods_folder_is_watched_and_triggers_a_reload():
    path = directives(UNITS / "intervisor-methods.path")
    assert path["PathChanged"] == ["/var/lib/intervisor/methods"]
    assert path["Unit"] == ["intervisor-reload.service"]
    reload = directives(UNITS / "intervisor-reload.service")
    assert reload["Type"] == ["oneshot"]
    assert "reload" in reload["ExecStart"][0] and "intervisor.service" in reload["ExecStart"][0]
    # the installer's default config points the service at the watched folder
    installer = (REPO / "scripts" / "install.sh").read_text()
    assert "METHODS=$STATE/methods" in installer and "STATE=/var/lib/intervisor" in installer
