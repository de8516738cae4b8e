"""Shared fixtures. Each area keeps its block self-contained."""

import pytest


def pytest_collection_modifyitems(items):
    """Every test that plays into the null sink is an ``audio`` test, marked
    or not: scripts/test runs those alone, on an otherwise quiet machine,
    because they measure when sound reaches the sink (to 50 ms)."""
    for item in items:
        if "pulse_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.audio)


# --- sound (issue 3) --------------------------------------------------------


@pytest.fixture(scope="session")
def pulse_server():
    """A real PulseAudio server with a null sink, started once for the test
    session and stopped at its end (see tests/pulse.py). While it runs, this
    process's ``PULSE_SERVER`` points at it, so sounddevice (through ALSA's
    default or ``pulse`` device) plays into the null sink;
    ``pulse_server.record()`` records what the sink played, and when.
    Child processes reach it with ``env=pulse_server.client_env()``.

    Import sounddevice only after this fixture has started (PortAudio reads
    ALSA's config when it starts, and ALSA routes the default device to
    PulseAudio only when a server answers)."""
    from pulse import start_pulse

    with start_pulse() as server:
        yield server


# --- SSH (issue 24) ---------------------------------------------------------


@pytest.fixture(scope="session")
def ssh_server():
    """A real OpenSSH server on 127.0.0.1 (see tests/sshd.py), started once
    for the test session: devices ``device-a`` and ``device-b``, each with
    its own key, methods and state folders; ``sudo intervisor`` on the
    server side works on the folders of ``ssh_server.system``."""
    from sshd import start_sshd

    with start_sshd(["device-a", "device-b"]) as server:
        yield server


@pytest.fixture
def ssh_devices(ssh_server):
    """The server with every device emptied first but for its config."""
    import shutil

    for device in [*ssh_server.devices.values(), ssh_server.system]:
        for path in device.root.iterdir():
            if path != device.config:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        device.methods.mkdir()
    return ssh_server
