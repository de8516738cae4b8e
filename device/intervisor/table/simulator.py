"""The device on any computer: the real panel code on gpiozero's mock pins,
the keyboard as the chair's finger, the terminal as the lights.

A key never needs holding down: each key plays a whole gesture on the mock
button pin (press, hold until gpiozero's hold thread has counted the ticks,
release), so what reaches the engine went through exactly the code that
runs on the Pi. The live view is one line, redrawn in place, with what the
device said last as a caption under it (for whoever has no speakers or
does not hear them)::

    ●○○  fase 2/5 · Verhelderen · vraag 2/4 · 04:31   ␣ verder  1 herhaal  2 terug  3 pauze  4 einde  q stop
         Wat wilde je op dat moment bereiken?

>>> KEYS[" "], KEYS["2"], KEYS["p"]
(0, 2, 3)
"""

from __future__ import annotations

import os
import queue
import select
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable, TextIO

from gpiozero.pins.mock import MockFactory, MockPWMPin

from intervisor.core.events import Mark, Say
from intervisor.table.panel import Panel, PushButton
from intervisor.table.runner import Device

# Key -> number of hold ticks (0: a plain press). Letters for those who
# think in words rather than ticks.
KEYS = {
    " ": 0, "\n": 0, "\r": 0,
    "1": 1, "r": 1, "s": 1,
    "2": 2, "b": 2,
    "3": 3, "p": 3,
    "4": 4, "e": 4,
}
QUIT = {"q", "\x04"}  # q, Ctrl-D

WORDS = {
    "nl": {
        "session_keys": "␣ verder  1 herhaal  2 terug  3 pauze  4 einde  q stop",
        "choosing_keys": "␣ kies  1 volgende  2 terug  q stop",
        "ready": "klaar: {title}",
        "choosing": "kiezen",
        "phase": "fase {n}/{of}",
        "question": "vraag {n}/{of}",
        "turn": "beurt {n}/{of}",
        "paused": "gepauzeerd",
        "confirm": "afronden? 4 bevestigt",
        "holding": "vast: {ticks} → {what}",
        "cancel": "annuleren",
        "next": "verder", "repeat": "herhaal", "back": "terug", "pause": "pauze",
        "end": "einde", "step": "volgende",
        "repeated": "↻ herhaald",
    },
    "en": {
        "session_keys": "␣ next  1 repeat  2 back  3 pause  4 end  q quit",
        "choosing_keys": "␣ choose  1 next option  2 back  q quit",
        "ready": "ready: {title}",
        "choosing": "choosing",
        "phase": "phase {n}/{of}",
        "question": "question {n}/{of}",
        "turn": "turn {n}/{of}",
        "paused": "paused",
        "confirm": "end? 4 confirms",
        "holding": "held: {ticks} → {what}",
        "cancel": "cancel",
        "next": "next", "repeat": "repeat", "back": "back", "pause": "pause",
        "end": "end", "step": "next option",
        "repeated": "↻ said again",
    },
}

COLOURS = {"green": "32", "amber": "38;5;214", "red": "31", "mic": "34"}


def mock_factory() -> MockFactory:
    """A mock pin factory whose pins all do PWM, so the lights can breathe."""
    return MockFactory(pin_class=MockPWMPin)


class Finger:
    """Plays whole gestures on the mock button pin, one after another.

    >>> finger = Finger(factory.pin(17), panel.button)   # doctest: +SKIP
    >>> finger.gesture(2)                                 # doctest: +SKIP
    """

    def __init__(self, pin, button: PushButton, press_time: float | None = None):
        self.pin = pin
        self.button = button
        # Long enough that the release is no bounce, short like a real tap.
        self.press_time = press_time if press_time is not None else max(0.08, 3 * button.bounce)
        self._gestures: queue.Queue[int | None] = queue.Queue()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._work, name="finger", daemon=True)
        self._thread.start()

    def gesture(self, ticks: int) -> None:
        """Queue a gesture: a press (0) or a hold of ``ticks`` ticks."""
        self._gestures.put(ticks)

    def _work(self) -> None:
        while True:
            ticks = self._gestures.get()
            if ticks is None:
                return
            self.pin.drive_low()
            if ticks:
                self.button.wait_ticks(ticks, timeout=ticks * self.button.hold * 5 + 5)
            else:
                self._stopped.wait(self.press_time)
            self.pin.drive_high()
            # Let the bounce filter see a settled button before the next key.
            self._stopped.wait(self.button.bounce * 2)

    def close(self) -> None:
        self._stopped.set()
        self._gestures.put(None)
        self._thread.join(timeout=5)


class View:
    """The one-line live view: lights as coloured dots, where the session
    stands, the keys. Draws only when the line changed."""

    def __init__(self, device: Device, panel: Panel, out: TextIO, *, colour: bool = True):
        self.device = device
        self.panel = panel
        self.out = out
        self.colour = colour
        self._last: tuple[str, int] | None = None
        self._lines = 1      # how many lines the last drawing took
        self._choice = ""    # the question of the open choice
        self._offered = ""   # the option spoken last
        self._caption = ""   # what was said last
        self._repeats = 0    # how often it was said again
        self._counted = False  # the last Say counted as said again

    def perform(self, action) -> None:
        """An adapter too: it keeps what was said last, for the caption,
        and follows what is offered while choosing (the engine's status
        does not say), to show it on the line."""
        if isinstance(action, Mark) and action.kind == "choice":
            self._choice = action.text or ""
        elif isinstance(action, Mark) and action.kind == "repeat":
            # The Say just before it is the repeat (once, when it was the
            # same words, it counted already).
            self._repeats += not self._counted
            self._counted = True
        elif isinstance(action, Say) and action.parts:
            # The same words again (a repeat at idle or while choosing, where
            # no mark says so) count as said again; a repeat in a session
            # may add the question's hint, and its mark says so.
            self._counted = action.text == self._caption
            self._repeats = self._repeats + 1 if self._counted else 0
            self._caption = action.text
            if action.parts[-1] not in self._sentences():
                # Not the device's own sentences said while choosing ("we
                # are already at the beginning", "really end?"): no option.
                self._offered = action.parts[-1]

    def caption(self) -> str:
        """What the device said last, marked when it was said again."""
        if not self._caption or not self._repeats:
            return self._caption
        words = WORDS.get(self.language(), WORDS["en"])
        times = f" ({self._repeats + 1}×)" if self._repeats > 1 else ""
        return f"{words['repeated']}{times}: {self._caption}"

    def _sentences(self) -> set[str]:
        from intervisor.core.phrases import fixed_parts

        return set(fixed_parts(self.language()))

    def width(self) -> int:
        # Asked of the terminal itself each time: $COLUMNS is fixed at the
        # start and would miss a resize.
        try:
            columns = os.get_terminal_size(self.out.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        # A terminal that gives no size (0 columns: a bare pty, some serial
        # consoles) would clip the line to nothing.
        return columns if columns > 0 else shutil.get_terminal_size((100, 24)).columns

    def dots(self) -> str:
        out = []
        levels = self.panel.time_light.levels()
        for name in ("green", "amber", "red"):
            out.append(self._dot(name, levels[name]))
        if self.panel.mic_light.is_lit:  # listening: shown only then
            out.append(" " + self._dot("mic", 1.0))
        return "".join(out)

    def _dot(self, name: str, level: float) -> str:
        if not self.colour:
            return "●" if level > 0.5 else "◐" if level > 0.02 else "○"
        if level > 0.5:
            return f"\x1b[1;{COLOURS[name]}m●\x1b[0m"
        if level > 0.02:  # breathing, on its way up or down
            return f"\x1b[2;{COLOURS[name]}m●\x1b[0m"
        return "\x1b[90m○\x1b[0m"

    def language(self) -> str:
        device = self.device
        if device.session is not None:
            return device.session.method.language
        method = device.methods.get(device.selected) if device.selected else None
        return method.language if method is not None and method.language in WORDS else "nl"

    def text(self, width: int = 1000) -> str:
        """The line without the dots (what the tests read). When the
        terminal is narrow the phase title gives way first, then the keys."""
        words = WORDS.get(self.language(), WORDS["en"])
        st = self.device.status()
        head: list[str] = []
        title = ""
        if st["stage"] == "idle":
            title = self.device.methods[st["selected"]].title if st.get("selected") else "—"
            head.append(words["ready"].format(title=""))
        elif st["stage"] == "choosing":
            head.append(words["choosing"])
            title = f"{self._choice} → {self._offered}"
        elif st["stage"] == "running":
            head.append(words["phase"].format(n=st["phase_number"], of=st["phases"]))
            title = st["phase_title"]
            if st.get("question"):
                head.append(words["question"].format(n=st["question"], of=st["questions"]))
            if st.get("turn"):
                head.append(words["turn"].format(n=st["turn"], of=st["turns"]))
            head.append(clock_text(st["remaining"]))
            if st.get("paused"):
                head.append(words["paused"])
            confirm = getattr(self.device.session, "confirm_until", None)
            if confirm is not None and self.device.clock.monotonic() < confirm:
                head.append(words["confirm"])
        ticks = self.panel.button.ticks
        if ticks:
            pending = self.panel.button.pending
            what = words[pending.value] if pending is not None else words["cancel"]
            head.append(words["holding"].format(ticks=ticks, what=what))
        keys = words["choosing_keys"] if self.panel.choosing else words["session_keys"]
        if len(" · ".join(head)) + 3 + len(keys) + min(len(title), 20) > width:
            keys = _key_letters(keys)  # the legend printed above says the rest
        fixed = len(" · ".join(head)) + len(" · ") + 3 + len(keys)
        room = max(12, width - fixed)
        if len(title) > room and st["stage"] == "choosing":
            # The option on offer is what a press takes: the question gives way.
            offer = f" → {self._offered}"
            title = self._choice[: max(1, room - len(offer) - 1)] + "…" + offer
        if len(title) > room:
            title = title[: room - 1] + "…"
        if title:
            if st["stage"] == "idle":
                head[0] += title
            else:
                head.insert(1, title)
        return " · ".join(head) + "   " + keys

    def draw(self) -> None:
        width = self.width() - 1
        try:
            line = f"{self.dots()}  {self.text(width - 5)}"
            caption = self.caption()
        except Exception:  # a status read mid-change: the next turn draws it
            return
        if (line, caption, width) == self._last:
            return
        self._last = (line, caption, width)
        block = [_clip(line, width)] + [CAPTION_INDENT + part for part in _wrap(caption, width - len(CAPTION_INDENT))]
        # From the line's start, clear it and everything under it (the last
        # caption), write the block, and go back up to the line's start.
        up = f"\x1b[{len(block) - 1}A" if len(block) > 1 else ""
        self.out.write("\r\x1b[J" + "\n".join(block) + up + "\r")
        self._lines = len(block)
        self.out.flush()

    def leave(self) -> None:
        """Move below the drawing, for whatever the terminal shows next."""
        self.out.write("\n" * self._lines)
        self.out.flush()


CAPTION_INDENT = " " * 5   # under the text, past the lights
CAPTION_LINES = 6          # a long introduction: its start, and "…"


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, at most CAPTION_LINES of them."""
    import textwrap

    lines = textwrap.wrap(text, max(20, width)) if text else []
    if len(lines) > CAPTION_LINES:
        lines = lines[:CAPTION_LINES]
        lines[-1] = lines[-1][: max(20, width) - 1] + "…"
    return lines


def _key_letters(keys: str) -> str:
    """``␣ verder  1 herhaal  q stop`` -> ``␣ 1 q``."""
    return " ".join(part.split(" ")[0] for part in keys.split("  "))


def clock_text(remaining: float) -> str:
    """``04:31`` left, or ``+01:10`` over time."""
    sign = "+" if remaining < 0 else ""
    s = int(abs(remaining) + (0 if remaining < 0 else 0.999))
    return f"{sign}{s // 60:02d}:{s % 60:02d}"


def _clip(line: str, width: int) -> str:
    """Cut to ``width`` visible characters, leaving colour codes whole."""
    out, visible, i = [], 0, 0
    while i < len(line) and visible < width:
        if line[i] == "\x1b":
            j = line.index("m", i) + 1
            out.append(line[i:j])
            i = j
            continue
        out.append(line[i])
        visible += 1
        i += 1
    return "".join(out) + "\x1b[0m"


class Keyboard:
    """Reads single keys from a terminal (no Enter needed) on its own
    thread and hands each to ``on_key``; restores the terminal on close."""

    def __init__(self, on_key: Callable[[str], None], stdin: TextIO | None = None):
        self.on_key = on_key
        self.fd = (stdin or sys.stdin).fileno()
        self._saved = None
        self._stop = threading.Event()
        if os.isatty(self.fd):
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        self._thread = threading.Thread(target=self._read, name="keyboard", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if not ready:
                continue
            data = os.read(self.fd, 32)
            if not data:
                self.on_key("\x04")
                return
            for ch in data.decode("utf-8", "replace"):
                self.on_key(ch)

    def close(self) -> None:
        self._stop.set()
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None


class WavDevice:
    """Stands in for the ``sounddevice`` module when the computer has no
    sound device: its one output "device" is a WAV file, written in real
    time from the sound adapter's own mixer, so the file holds exactly what
    the speakers would have played. Silences longer than ``max_gap``
    seconds are cut short, so an hour's session is a file of minutes.

    >>> sound = SoundOutput(speech, sd=WavDevice("out/demo.wav"))  # doctest: +SKIP
    """

    class PortAudioError(Exception):
        pass

    def __init__(self, path, rate: int = 22050, max_gap: float = 1.0):
        self.path = path
        self.rate = rate
        self.max_gap = max_gap

    def query_devices(self, device=None, kind=None):
        info = {"name": f"WAV file {self.path}", "max_output_channels": 1,
                "default_samplerate": float(self.rate)}
        return info if kind else [info]

    def OutputStream(self, *, samplerate, blocksize, channels, callback, **_):  # noqa: N802 (sounddevice's name)
        if int(samplerate) != self.rate:
            # The adapter then asks again at default_samplerate, ours.
            raise self.PortAudioError(f"the WAV file is written at {self.rate} Hz")
        return _WavStream(self, int(blocksize), int(channels), callback)

    def _terminate(self) -> None:
        pass

    def _initialize(self) -> None:
        pass


class _WavStream:
    """One 'open stream': a thread that asks the callback for a block at
    the pace of the clock, as PortAudio would, and writes it down."""

    def __init__(self, device: WavDevice, blocksize: int, channels: int, callback):
        import wave

        self.device, self.blocksize, self.channels, self.callback = device, blocksize, channels, callback
        self.latency = blocksize / device.rate
        path = Path(device.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._wav = wave.open(str(path), "wb")
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(device.rate)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wav-stream", daemon=True)

    @property
    def active(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        import numpy as np

        period = self.blocksize / self.device.rate
        silent_blocks = 0
        max_silent = int(self.device.max_gap / period)
        deadline = time.monotonic()
        while not self._stop.is_set():
            out = np.zeros((self.blocksize, self.channels), dtype=np.float32)
            self.callback(out, self.blocksize, None, None)
            silent_blocks = silent_blocks + 1 if not out.any() else 0
            if silent_blocks <= max_silent:
                self._wav.writeframes((np.clip(out, -1, 1) * 32767).astype("<i2").tobytes())
            deadline += period
            self._stop.wait(max(0.0, deadline - time.monotonic()))
        self._wav.close()

    def abort(self, ignore_errors: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    close = abort


class SpeakIn:
    """First in line among the adapters: keeps the sound speaking the
    language of what runs, when the chair starts a method in another
    language from idle."""

    def __init__(self, device: Device, sound):
        self.device = device
        self.sound = sound

    def perform(self, action) -> None:
        if not isinstance(action, Say):
            return
        session = self.device.session
        method = session.method if session is not None else self.device.methods.get(self.device.selected)
        speech = getattr(self.sound, "speech", None)
        if method is not None and speech is not None and speech.language != method.language:
            self.sound.set_language(method.language)


class Simulator:
    """The device with a keyboard for a button and a terminal for lights.

    ``device`` is the runner's :class:`~intervisor.table.runner.Device` with the
    panel (and the sound adapter) among its adapters; the panel must sit on
    ``factory``'s mock pins and put its commands on ``device.queue``.
    """

    # A key held down repeats every 30-50 ms; no finger taps that fast.
    AUTOREPEAT = 0.1
    # But the first repeat comes only after the terminal's delay (250 to
    # 660 ms), as late as a quick second tap: such a key waits for the
    # next event (or AUTOREPEAT of quiet) to tell which it was.
    REPEAT_DELAY = 0.7

    def __init__(self, device: Device, panel: Panel, factory: MockFactory, *, out: TextIO | None = None,
                 now: Callable[[], float] = time.monotonic):
        self.device = device
        self.panel = panel
        self._now = now
        self._last_key = ("", -1.0)
        self._maybe: str | None = None   # a second tap, or the start of a repeat
        self._keys = threading.Lock()
        self.out = out or sys.stdout
        self.view = View(device, panel, self.out, colour=self.out.isatty())
        device.adapters.append(self.view)
        self.finger = Finger(factory.pin(panel.pins["button"]), panel.button)
        self.stop = threading.Event()

    def key(self, ch: str) -> None:
        """What the keyboard thread calls for every key. A key held down
        (the terminal repeats it) is one gesture, not a burst of presses
        that would race through the session."""
        ch = ch.lower()
        with self._keys:
            now = self._now()
            last, self._last_key = self._last_key, (ch, now)
            maybe, self._maybe = self._maybe, None
            if ch == last[0] and now - last[1] < self.AUTOREPEAT:
                return   # a repeat; a key waiting before it was its start
            if maybe is not None:
                self._act(maybe)   # it was a tap of its own
            if ch == last[0] and now - last[1] < self.REPEAT_DELAY:
                self._maybe = ch
                return
            self._act(ch)

    def settle(self) -> None:
        """The loop calls it every turn: a key that waited and was not
        followed by a repeat was a tap."""
        with self._keys:
            if self._maybe is not None and self._now() - self._last_key[1] >= self.AUTOREPEAT:
                ch, self._maybe = self._maybe, None
                self._act(ch)

    def _act(self, ch: str) -> None:
        if ch in QUIT:
            self.stop.set()
        elif ch in KEYS:
            self.finger.gesture(KEYS[ch])

    def _turn(self) -> None:
        self.settle()
        self.view.draw()

    def run(self, start: str | None = None, choices=None) -> None:
        """Run until ``q``; ``start`` begins that method at once."""
        keyboard = Keyboard(self.key)
        try:
            if start is not None:
                self.device.dispatch(self.device.start(start, choices))
            else:
                self.device.dispatch(self.device.greeting())
            self.view.draw()
            self.device.run(self.stop, max_wait=0.1, each_turn=self._turn)
        finally:
            keyboard.close()
            self.finger.close()
            self.view.leave()
