"""A private PulseAudio server with a null sink, for tests and benchmarks.

The device has no sound card here, so the tests start their own sound
server: a PulseAudio daemon (as root it needs ``--system=false``) with one
null sink and a unix socket in a private temporary folder, so that the test
sessions of several engineers on one machine never meet. Programs reach it
the way the device reaches its card: sounddevice -> PortAudio -> ALSA's
``pulse`` plugin (``libasound2-plugins``), with ``PULSE_SERVER`` pointing at
the socket. What the sink plays is recorded from its monitor with ``parec``
and stamped on arrival, so a test can check *what* was heard and *when*.

>>> with start_pulse() as server:            # doctest: +SKIP
...     with server.record() as rec:
...         play_something()
...         onset = rec.wait_for_sound(timeout=5)
...     print(onset.time - pressed_at)

In pytest, use the session fixture ``pulse_server`` (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

RATE = 48000
"""The rate the monitor is recorded at."""


class PulseUnavailable(RuntimeError):
    """PulseAudio or its tools are not installed, or the server did not come up."""


@dataclass(frozen=True)
class Onset:
    """The first sample of a sound at the sink: its index in the recording
    and its time on ``time.monotonic()``'s clock."""

    index: int
    time: float


def _end(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class PulseServer:
    """One running PulseAudio daemon with a null sink. Start it with
    :func:`start_pulse`; :meth:`kill` and :meth:`start` unplug and plug it
    back (the same socket, so clients find it again)."""

    def __init__(self, root: Path, sink: str = "intervisor_test"):
        self.root = root
        self.sink = sink
        self.runtime = root / "run"
        self.socket = self.runtime / "native"
        self.server = f"unix:{self.socket}"
        self._proc: subprocess.Popen | None = None
        self._pacer: subprocess.Popen | None = None
        self._log = root / "pulseaudio.log"

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs in its environment to reach this server."""
        return {"PULSE_SERVER": self.server, "PULSE_RUNTIME_PATH": str(self.runtime)}

    def client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        if self.running:
            return
        for tool in ("pulseaudio", "pactl", "parec"):
            if shutil.which(tool) is None:
                raise PulseUnavailable(f"{tool} is not installed (scripts/setup test installs pulseaudio-utils)")
        self.runtime.mkdir(parents=True, exist_ok=True)
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        # Its own HOME and runtime dirs: it must not find (or write) anyone
        # else's cookie, socket or saved state.
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "PULSE_RUNTIME_PATH": str(self.runtime),
            "PULSE_STATE_PATH": str(home / "state"),
        }
        env.pop("PULSE_SERVER", None)
        cmd = [
            "pulseaudio", "--system=false", "-n", "--exit-idle-time=-1", "--daemonize=no",
            "--use-pid-file=no", "--disallow-exit", "--log-target=stderr",
            "-L", f"module-null-sink sink_name={self.sink} rate={RATE}",
            "-L", f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
        ]
        if self.socket.exists():
            self.socket.unlink()
        with open(self._log, "ab") as log:
            self._proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PulseUnavailable(f"pulseaudio exited at start: {self._log.read_text()[-2000:]}")
            if self._pactl("info", check=False).returncode == 0:
                self._pactl("set-default-sink", self.sink)
                self._start_pacer()
                return
            time.sleep(0.05)  # polling a socket that has no event to wait on
        self.kill()
        raise PulseUnavailable(f"pulseaudio did not answer within {timeout} s")

    def _start_pacer(self) -> None:
        # An idle null sink renders in blocks of up to two seconds, and a
        # client joining it then waits that long (a real card does not).
        # One reader of its monitor asking for 5 ms keeps it clocked like a
        # card, whether or not a test records.
        self._stop_pacer()
        self._pacer = subprocess.Popen(
            ["parec", f"--device={self.sink}.monitor", "--raw", "--format=float32le", "--channels=1",
             f"--rate={RATE}", "--latency-msec=5", "--process-time-msec=2"],
            env=self.client_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The sink notices the pacer only when its current long sleep ends.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._pacer.poll() is None:
            latency = self.sink_latency()
            if latency is not None and latency < 0.05:
                return
            time.sleep(0.05)  # no event tells when the sink changed pace
        raise PulseUnavailable("the null sink did not come to a low latency")

    def sink_latency(self) -> float | None:
        """The sink's current latency in seconds, as pactl reports it."""
        out = self._pactl("list", "sinks", check=False).stdout
        mine = False
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("Name:"):
                mine = line.split(":", 1)[1].strip() == self.sink
            elif mine and line.startswith("Latency:"):
                return int(line.split()[1]) / 1e6
        return None

    def _stop_pacer(self) -> None:
        pacer, self._pacer = self._pacer, None
        _end(pacer)

    def kill(self) -> None:
        """Stop the server at once, as if the speaker were unplugged."""
        self._stop_pacer()
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        self._stop_pacer()
        proc, self._proc = self._proc, None
        _end(proc)

    def _pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["pactl", *args], env=self.client_env(), capture_output=True,
                              text=True, timeout=10, check=check)

    def sink_inputs(self) -> int:
        """How many streams play into the sink now (one persistent stream: 1)."""
        out = self._pactl("list", "short", "sink-inputs").stdout
        return len([line for line in out.splitlines() if line.strip()])

    def record(self) -> "Recorder":
        """Record the sink's monitor: ``with server.record() as rec: ...``."""
        return Recorder(self)


class Recorder:
    """What the sink played, sample by sample, stamped on arrival.

    The mapping from sample index to time is the lower envelope of
    ``arrival - samples_after_it / rate`` over the reads of the second that
    follows the sample: the read that waited least in the pipe tells best
    when the sink rendered it. Local, because the sink's clock and this
    machine's drift apart by some parts per million over minutes.
    """

    CHUNK = 960  # bytes per read: 5 ms of float32 mono at 48 kHz

    def __init__(self, server: PulseServer, rate: int = RATE):
        self.server = server
        self.rate = rate
        self._chunks: list[np.ndarray] = []
        self._count = 0
        self._t0 = float("inf")
        self._read_counts: list[int] = []
        self._read_times: list[float] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Recorder":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        cmd = ["parec", f"--device={self.server.sink}.monitor", "--raw", "--format=float32le",
               "--channels=1", f"--rate={self.rate}", "--latency-msec=5", "--process-time-msec=2"]
        self._proc = subprocess.Popen(cmd, env=self.server.client_env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, bufsize=0)
        self._thread = threading.Thread(target=self._read, name="parec", daemon=True)
        self._thread.start()
        # The first samples prove the recording runs, so nothing played after
        # start() returns can be missed.
        if not self.wait_until(lambda: self._count >= self.rate // 50, timeout=10):
            self.stop()
            raise PulseUnavailable("parec recorded nothing from the monitor")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=5)
            self._proc = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _read(self) -> None:
        fd = self._proc.stdout.fileno()
        pending = b""
        while True:
            try:
                data = os.read(fd, self.CHUNK * 8)
            except OSError:
                break
            now = time.monotonic()
            if not data:
                break
            data = pending + data
            usable = len(data) - len(data) % 4
            pending = data[usable:]
            block = np.frombuffer(data[:usable], dtype="<f4").copy()
            with self._cond:
                self._chunks.append(block)
                self._count += len(block)
                self._t0 = min(self._t0, now - self._count / self.rate)
                self._read_counts.append(self._count)
                self._read_times.append(now)
                self._cond.notify_all()

    # -------------------------------------------------------------- reading

    def wait_until(self, predicate, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout=timeout)

    @property
    def count(self) -> int:
        return self._count

    def samples(self, start: int = 0) -> np.ndarray:
        with self._cond:
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            whole = self._chunks[0] if self._chunks else np.zeros(0, dtype="float32")
        return whole[start:]

    def time_of(self, index: int) -> float:
        """When sample ``index`` left the sink (``time.monotonic()`` clock)."""
        with self._cond:
            counts = np.asarray(self._read_counts)
            times = np.asarray(self._read_times)
        lo = int(np.searchsorted(counts, index))
        hi = int(np.searchsorted(counts, index + self.rate))
        if lo >= hi:
            return self._t0 + index / self.rate
        return float(np.min(times[lo:hi] - (counts[lo:hi] - index) / self.rate))

    def index_at(self, t: float) -> int:
        guess = (t - self._t0) * self.rate
        guess += (t - self.time_of(int(guess))) * self.rate  # one step onto the local mapping
        return max(0, int(round(guess)))

    def onset_after(self, t: float, threshold: float = 0.01) -> Onset | None:
        """The first sample louder than ``threshold`` at or after time ``t``."""
        start = self.index_at(t)
        loud = np.flatnonzero(np.abs(self.samples(start)) > threshold)
        if not len(loud):
            return None
        index = start + int(loud[0])
        return Onset(index, self.time_of(index))

    def wait_for_sound(self, after: float | None = None, timeout: float = 5.0,
                       threshold: float = 0.01) -> Onset | None:
        """Wait until something louder than ``threshold`` was heard after
        time ``after`` (default: now), and return its onset."""
        after = time.monotonic() if after is None else after
        found: list[Onset] = []

        def heard() -> bool:
            onset = self.onset_after(after, threshold)
            if onset is not None:
                found.append(onset)
            return bool(found)

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                self._cond.wait(timeout=0.05)
            if heard():
                return found[0]
        return None

    def wait_for_silence(self, after: float, seconds: float = 0.3, timeout: float = 10.0,
                         threshold: float = 0.005) -> float | None:
        """Wait until ``seconds`` of silence have passed after time ``after``;
        return when the silence began."""
        deadline = time.monotonic() + timeout
        need = int(seconds * self.rate)
        while time.monotonic() < deadline:
            with self._cond:
                self._cond.wait(timeout=0.05)
            start = self.index_at(after)
            tail = np.abs(self.samples(start))
            loud = np.flatnonzero(tail > threshold)
            end = int(loud[-1]) + 1 if len(loud) else 0
            if len(tail) - end >= need:
                return self.time_of(start + end)
        return None

    def segment(self, t_from: float, t_to: float) -> np.ndarray:
        return self.samples(self.index_at(t_from))[: max(0, self.index_at(t_to) - self.index_at(t_from))]


@contextlib.contextmanager
def start_pulse(sink: str = "intervisor_test", set_env: bool = True) -> Iterator[PulseServer]:
    """Start a private PulseAudio server; stop it and remove its folder on exit.

    With ``set_env`` (the default) this process's ``PULSE_SERVER`` and
    ``PULSE_RUNTIME_PATH`` point at it while it runs, so sounddevice in this
    process plays into its null sink (through ALSA's default or ``pulse`` PCM).
    """
    root = Path(tempfile.mkdtemp(prefix="intervisor-pulse-"))
    server = PulseServer(root, sink)
    saved = {k: os.environ.get(k) for k in server.env}
    try:
        server.start()
        if set_env:
            os.environ.update(server.env)
        yield server
    finally:
        server.stop()
        if set_env:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        shutil.rmtree(root, ignore_errors=True)
