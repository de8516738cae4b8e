"""Shared fixtures. Each area keeps its block self-contained."""

import pytest


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
