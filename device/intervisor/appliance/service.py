"""`intervisor serve`: the device's main process.

It loads the config and the methods folder, starts the parts that are
there (panel, sound, voice; one that fails is logged and lit as a fault,
the rest keeps going), picks up a session that a crash or power cut
interrupted, tells systemd it is ready and then runs the one loop::

    service = Service("/etc/intervisor/config.yaml")
    sys.exit(service.run())

Signals: SIGHUP re-reads methods and config, on a thread of its own
(:mod:`intervisor.appliance.reloader`; the loop answers the button meanwhile and
swaps the result in; a running session keeps its method; a deleted config
keeps the one in use; a refused file is logged, announced when idle, and the old one
stays; a SIGHUP that finds nothing changed since the last reload does
nothing but count itself, so `methods add` and the path unit, both
reloading for the same files, make one reload); SIGTERM lets the cue that
is playing finish, saves the state and exits 0. The state file is written
atomically after every step (and, for a step the group will hear, before
its sounds are handed over), so a ``kill -9`` loses nothing. It holds the
session only; what the library loaded and refused is in its own report
(:class:`~intervisor.appliance.storage.LibraryReport`). A write that fails (a full
disk, read-only records) is the storage fault; a finished record that
cannot be written is kept in the state until it can
(:mod:`intervisor.appliance.storage`).

Prompts are rendered ahead on a thread of their own (:class:`Renderer`):
start-up waits for them before READY=1, a reload does not, so a session
in the room keeps its ticks and presses while espeak-ng works. Where a
language has a Piper voice, its versions are rendered after that, in the
background at the lowest priority, in the order things will be said (the
selected method as a rehearsal says it first); espeak-ng says a prompt
until its Piper version is there.

A session resumes on the copy of its method saved in the state (the file
may have been edited since), with the time away measured on the monotonic
clock within one boot and on the wall clock across boots; one saved more
than 12 hours ago is closed as interrupted instead.

No network at all: commands reach the service as signals and files
(``intervisor methods add`` writes the methods folder, then sends SIGHUP).
For debugging, ``input: stdin`` (or a FIFO path) in the config reads one
command name per line (``next``, ``pause``...), as if the button gave it
(:mod:`intervisor.appliance.lineinput`: a pipe, FIFO or terminal only).
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import math
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from intervisor.core.clock import Clock, SystemClock
from intervisor.core.events import Action, Command, Hush, Light, Mark, Play, Say, Show
from intervisor.appliance.notify import Notifier
from intervisor.core.phrases import gesture_text
from intervisor.appliance.lineinput import LineInput
from intervisor.appliance.records import Recorder, RecordBook
from intervisor.appliance.reloader import Reading, Reloader
from intervisor.appliance.state import StateStore, read_regular, remove_stale_temps, set_aside, write_atomic
from intervisor.appliance.storage import LibraryReport, PendingRecords, WriteFaults, lock_holder

log = logging.getLogger("intervisor.service")

DEFAULT_CONFIG = "/etc/intervisor/config.yaml"
PID_FILE = "intervisor.pid"
LOCK_FILE = ".lock"
EXTEND_USEC = 180_000_000
SELECTION_FILE = ".selection.json"
SELECTION_BYTES = 64 * 1024
RECORDS = "records"
#: Longest the loop waits for a command; also bounds how late a flag is seen.
MAX_WAIT = 0.5
#: Config problems kept in the state (the log has them all).
MAX_CONFIG_PROBLEMS = 20
#: How long SIGTERM lets the cue that is playing finish.
FINISH_CUE = 1.2
#: A session saved longer ago than this is not resumed: nobody is at the
#: table any more. Its record is closed as interrupted.
STALE_AFTER = 12 * 3600

NOTICES = {
    "nl": {"refused": "Een van de methodes is afgekeurd en niet geladen. De beheerder vindt de reden in het logboek.",
           "no_methods": "Er staan nog geen methodes op het apparaat."},
    "en": {"refused": "One of the method files has errors and was not loaded. The administrator can find the reason in the log.",
           "no_methods": "There are no methods on the device yet."},
}


def setting(config: Any, dotted: str, default: Any = None) -> Any:
    """``setting(config, "audio.enabled", True)``: a config value whether
    the config keeps its sections as objects or as mappings."""
    node = config
    for key in dotted.split("."):
        if node is None:
            return default
        node = node.get(key) if isinstance(node, Mapping) else getattr(node, key, None)
    return default if node is None else node


FOLDERS = ("state_dir", "methods_dir", "cache_dir")


def load_settings(path: str | os.PathLike | None) -> tuple[Any, list[str]]:
    """The validated config and its problems (``FILE:LINE: message``).
    A refused config gives the defaults, so the device still comes up; but
    the folders it names, where those lines were right, are kept: the
    session saved there and the methods installed there are the device's,
    whatever typo sits elsewhere in the file."""
    from intervisor.files.config import Config, ConfigError, load_config

    try:
        return load_config(path if path is not None else DEFAULT_CONFIG), []
    except ConfigError as e:
        config = Config.default()
        if e.partial is not None:
            config = dataclasses.replace(config, **{k: getattr(e.partial, k) for k in FOLDERS})
        return config, [str(p) for p in e.problems]
    except OSError as e:
        return Config.default(), [f"{path}:1: cannot read it: {e.strerror or e}"]


def read_selection(methods_dir: str | os.PathLike) -> dict | None:
    """What ``intervisor methods select`` chose: ``{"method", "choices"}``."""
    path = Path(methods_dir) / SELECTION_FILE
    try:
        data = json.loads(read_regular(path, SELECTION_BYTES).decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        log.warning("selection: %s is unreadable (%s); using the config's", path, e)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("method"), str) \
            or not isinstance(data.get("choices", {}), dict):
        log.warning("selection: %s is not a selection; using the config's", path)
        return None
    return data


def write_selection(methods_dir: str | os.PathLike, method: str, choices: Mapping[str, str]) -> None:
    write_atomic(Path(methods_dir) / SELECTION_FILE,
                 json.dumps({"method": method, "choices": dict(choices)}, indent=1).encode(), 0o664)


def pid_alive(pid: int) -> bool:
    """Is ``pid`` a running ``intervisor serve``?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"serve" in cmdline and any(b"intervisor" in part for part in cmdline)


def running_pid(state_dir: str | os.PathLike) -> int | None:
    """The pid of the serve that runs on ``state_dir``: from its pid file,
    or, when that could not be written (a full disk), from its lock."""
    try:
        pid = int(read_regular(Path(state_dir) / PID_FILE, 64).decode().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and pid_alive(pid):
        return pid
    pid = lock_holder(Path(state_dir) / LOCK_FILE)
    return pid if pid is not None and pid_alive(pid) else None


def method_copy(method) -> dict | None:
    """The running method's file as text, kept in the state so that a
    session resumes on the method it started with, even when its file is
    edited, removed or broken meanwhile. ``None`` when the file no longer
    holds exactly this method (edited since it was loaded)."""
    if not method.path:
        return None
    try:
        text = Path(method.path).read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    copy = {"id": method.id, "name": Path(method.path).name, "text": text}
    restored = method_from_copy(copy, method.id)
    if restored is None or dataclasses.replace(restored, path=method.path) != method:
        return None
    return copy


def method_from_copy(copy: Any, mid: str | None):
    """The method a saved copy holds, checked by the loader like any file;
    ``None`` when it is not a valid copy of method ``mid``."""
    from intervisor.files.method import load_method_text

    if not isinstance(copy, dict) or copy.get("id") != mid or not isinstance(copy.get("text"), str):
        return None
    name = copy.get("name") if isinstance(copy.get("name"), str) else f"{mid}.yaml"
    result = load_method_text(copy["text"], Path(name).name)
    if result.method is None or result.method.id != mid:
        return None
    return result.method


def folder_fingerprint(config_path: str | os.PathLike | None, methods_dir: str | os.PathLike) -> str:
    """What a reload reads, as one hash: the config file and the methods
    folder (method files and the selection). Equal fingerprints mean a
    reload would change nothing; `methods add` waits for the service to
    report the fingerprint of the folder it has just written."""
    from intervisor.files.method import SUFFIXES as METHOD_SUFFIXES
    from intervisor.files.yamlsafe import MAX_BYTES

    digest = hashlib.sha256()
    config = Path(config_path if config_path else DEFAULT_CONFIG)
    for path in [config] + sorted(Path(methods_dir).glob("*")):
        if path.name.startswith(".") and path.name != SELECTION_FILE:
            continue  # editors' and installers' temporary files
        try:
            # Only what a reload reads, and no more of it than it would read:
            # any other file (a stray disk image) by its size and time alone.
            read = path.is_file() and (path == config or path.name == SELECTION_FILE
                                       or path.suffix in METHOD_SUFFIXES)
            if read:
                with open(path, "rb") as f:
                    data = f.read(MAX_BYTES + 1)
            else:
                st = path.stat()
                data = f"{path.is_file()} {st.st_size} {st.st_mtime_ns}".encode()
        except OSError as e:
            data = f"unreadable {e.errno}".encode()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def boot_id() -> str | None:
    """The kernel's id of this boot: the monotonic clock counts within one."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def pin_factory(kind: str | None):
    """gpiozero's pin factory by name; ``None`` lets gpiozero choose."""
    if kind is None:
        return None
    if kind == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        return MockFactory(pin_class=MockPWMPin)
    import importlib

    module, cls = {"lgpio": ("gpiozero.pins.lgpio", "LGPIOFactory"),
                   "rpigpio": ("gpiozero.pins.rpigpio", "RPiGPIOFactory"),
                   "pigpio": ("gpiozero.pins.pigpio", "PiGPIOFactory"),
                   "native": ("gpiozero.pins.native", "NativeFactory")}[kind]
    return getattr(importlib.import_module(module), cls)()


class Parts:
    """The hardware-facing adapters the service could start, and its faults.

    Each is optional: a missing audio device or GPIO chip is a fault that is
    logged and shown, never a reason to stop.
    """

    def __init__(self, config: Any, put: Callable[[Command], None], language: str):
        self.config = config
        self.put = put
        self.language = language
        self.panel = None
        self.sound = None
        self.voice = None
        # The spoken "voice is off" notice, kept for the device's next Say
        # (a Say of its own would be cut off by the greeting).
        self.voice_notices: list[Say] = []
        self.faults: dict[str, str] = {}

    def start(self, commands: "queue.Queue[Command]") -> None:
        """Sound and panel; voice waits for :meth:`start_voice`."""
        self._start_sound()
        self._start_panel(commands)
        for part, why in self.faults.items():
            self._light_fault(part)

    def adapters(self) -> list:
        return [p for p in (self.sound, self.panel) if p is not None]

    def _fault(self, part: str, why: str) -> None:
        self.faults[part] = why
        log.warning("%s: fault: %s", part, why)

    def found_fault(self, part: str, why: str) -> None:
        """A fault found after start-up (a language that cannot be rendered):
        logged and lit like the ones found while starting."""
        self._fault(part, why)
        self._light_fault(part)

    def _light_fault(self, part: str) -> None:
        if self.panel is not None and hasattr(self.panel, "fault"):
            try:
                self.panel.fault(part)
            except Exception:
                log.exception("panel: cannot show the %s fault", part)

    def _start_panel(self, commands) -> None:
        if not setting(self.config, "panel.enabled", True):
            return
        try:
            from intervisor.table import panel

            kind = setting(self.config, "panel.pin_factory", None)
            ticks = panel.tick_cues(self.sound) if self.sound is not None else None
            self.panel = panel.from_config(self.config, commands, pin_factory=pin_factory(kind),
                                           on_tick=ticks)
            log.info("panel: up (%s pins)", kind or "default")
        except Exception as e:  # no GPIO here: run without a panel
            self.panel = None
            self._fault("panel", f"no panel ({type(e).__name__}: {e})")

    def _start_sound(self) -> None:
        if not setting(self.config, "audio.enabled", True):
            log.info("sound: off in the config")
            return
        try:
            from intervisor.sound import output as sound

            # Without a device it runs silently and keeps trying: a fault
            # that `refresh` follows, not a reason to go without sound.
            self.sound = sound.from_config(self.config, language=self.language)
        except Exception as e:
            self.sound = None
            self._fault("audio", f"no sound ({type(e).__name__}: {e})")
            return
        if not self.refresh():
            log.info("sound: up")

    def refresh(self) -> bool:
        """Follow the sound device and the microphone coming and going
        (their threads only keep their state; this reads it, from the
        service's own thread); ``True`` on a change."""
        changed = False
        if self.sound is not None:
            why = getattr(self.sound, "fault", None) if getattr(self.sound, "faulted", False) else None
            changed |= self.follow("audio", str(why) if why is not None else None)
        if self.voice is not None:
            why = getattr(self.voice, "fault", None)
            changed |= self.follow("voice", f"no voice commands ({why})" if why else None)
        return changed

    def follow(self, part: str, why: str | None, logged: bool = False) -> bool:
        """Set or clear the fault of ``part`` (``why`` or ``None``), on the
        lights and in the log (``logged``: the caller has said it); ``True``
        on a change."""
        if why is not None and (part not in self.faults or self.faults[part] != why):
            new = part not in self.faults
            self.faults[part] = why
            if new:
                if not logged:
                    log.warning("%s: fault: %s", part, why)
                self._light_fault(part)
            return new
        if why is None and part in self.faults:
            del self.faults[part]
            if not logged:
                log.info("%s: fault cleared", part)
            if self.panel is not None and hasattr(self.panel, "clear_fault"):
                try:
                    self.panel.clear_fault(part)
                except Exception:
                    log.exception("panel: cannot clear the %s fault", part)
            return True
        return False

    def speak_in(self, language: str) -> None:
        """Let the sound speak, and voice listen in, ``language`` (a method
        in another language). Where the device's own language is asked for,
        voice keeps the ``voice.language`` the config chose, if any."""
        heard_in = language
        if language == self.language:
            heard_in = setting(self.config, "voice.language", None) or language
        for name, part, lang in (("sound", self.sound, language), ("voice", self.voice, heard_in)):
            if part is not None and hasattr(part, "set_language"):
                try:
                    part.set_language(lang)
                except Exception:
                    log.exception("%s: cannot switch to %s", name, lang)

    def start_voice(self, commands: "queue.Queue[Command]",
                    acts_on: Callable[[Command], bool] | None = None) -> None:
        """Listen from when the device is ready: a command heard while the
        prompts render (minutes, on a cold cache) would wait on the queue
        and be acted on long after it was said; and the microphone light
        must not say "listening" while nothing acts on it. ``acts_on``: the
        device's ``accepts``; a command it would not act on is dropped
        unanswered."""
        if not setting(self.config, "voice.enabled", False):
            return
        try:
            from intervisor.voice import listen as voice

            # With the sound adapter, voice is deaf while the device speaks
            # and answers every command it takes with the "heard" cue;
            # one the device would do nothing with is not taken.
            self.voice = voice.from_config(
                self.config, commands, language=self.language, sound=self.sound,
                mic_light=getattr(self.panel, "mic_light", None), say=self.voice_notices.append,
                # A model for each other language a method may speak.
                models=setting(self.config, "voice.models", None) or None, acts_on=acts_on)
            log.info("voice: up")
        except Exception as e:
            self.voice = None
            self.found_fault("voice", f"no voice commands ({type(e).__name__}: {e})")

    def speech_for(self, language: str):
        """A renderer of ``language`` prompts into the sound's disk cache,
        apart from the voice the sound speaks with (rendering for a reload
        must not switch the voice of a session that is running)."""
        factory = getattr(self.sound, "speech_factory", None)
        return factory(language) if factory is not None else None

    def finish(self, timeout: float) -> None:
        """Let the cue that is playing end, then let go of every part."""
        if self.sound is not None:
            for name in ("finish", "drain"):
                if hasattr(self.sound, name):
                    try:
                        getattr(self.sound, name)(timeout)
                    except Exception:
                        log.exception("sound: could not finish the cue")
                    break
        for part in (self.voice, self.sound, self.panel):
            if part is not None and hasattr(part, "close"):
                try:
                    part.close()
                except Exception:
                    log.exception("%s: close failed", type(part).__name__)

    def reconfigure_voice(self, config: Any, commands: "queue.Queue[Command]",
                          acts_on: Callable[[Command], bool] | None = None) -> bool:
        """A reloaded config reaches voice too. When its voice section
        changed, the listener stops (the microphone closes, its light goes
        off) and, when voice is still on, starts again with the new
        settings. Returns whether it did."""
        before = setting(self.config, "voice", None)
        self.config = config
        if setting(config, "voice", None) == before:
            return False
        if self.voice is not None:
            try:
                self.voice.close()
            except Exception:
                log.exception("voice: close failed")
            self.voice = None
        self.follow("voice", None)
        if setting(config, "voice.enabled", False):
            self.start_voice(commands, acts_on)
        else:
            log.info("voice: off in the config")
        return True

    def take_voice_notices(self) -> list[Say]:
        """The voice notices not said yet; none are left (the list stays:
        voice appends to it)."""
        notices = list(self.voice_notices)
        self.voice_notices.clear()
        return notices

    @property
    def voice_on(self) -> bool:
        return self.voice is not None and "voice" not in self.faults


def with_notices(actions: list, notices: list[Say]) -> list:
    """``actions`` with the notices' words said after the last Say's, in
    the same Say (a Say of their own would interrupt it, or be cut off).

    >>> with_notices([Say(("Klaar.",))], [Say(("De knop werkt.",))])
    [Say(parts=('Klaar.', 'De knop werkt.'), at=None)]
    """
    extra = tuple(part for notice in notices for part in notice.parts)
    if not extra:
        return actions
    says = [i for i, a in enumerate(actions) if isinstance(a, Say)]
    if not says:
        return [*actions, Say(extra)]
    i = says[-1]
    return [*actions[:i], Say(actions[i].parts + extra, actions[i].at), *actions[i + 1:]]


def said_in_order(method, choices: Mapping[str, str] | None = None, participants: int | None = None) -> list[str]:
    """The parts a whole session of ``method`` says, in the order it says
    them (a rehearsal on a fake clock): what Piper renders first.

    >>> from intervisor.core.model import Method, Phase, Duration
    >>> said_in_order(Method("m", "Proef", "nl", (Phase("a", "Start", Duration(60, 60)),)))[:2]
    ['Proef.', 'Start.']
    """
    from intervisor.core.rehearsal import rehearse

    valid = {c.id: {o.id for o in c.options} for c in method.choices}
    run = rehearse(method, {k: v for k, v in (choices or {}).items() if v in valid.get(k, ())}, participants)
    parts = (p for _, actions in run.steps for a in actions if isinstance(a, Say) for p in a.parts)
    return list(dict.fromkeys(p.strip() for p in parts if p and p.strip()))


class RenderJob:
    """Prompts of one or more languages to render; ``done`` is set when
    they are in the cache, or when rendering stopped or failed."""

    def __init__(self, texts_by_language: Mapping[str, Iterable[str]], label: str,
                 progress: Callable[[str], None] | None = None,
                 said: Iterable[tuple[str, Iterable[str]]] | None = None):
        self.texts = {lang: list(dict.fromkeys(texts)) for lang, texts in texts_by_language.items()}
        # The order things will be said, languages mixed: Piper's order.
        self.said = [(lang, list(texts)) for lang, texts in (said or self.texts.items())]
        self.label = label
        self.progress = progress
        self.done = threading.Event()
        self.rendered = 0
        self.stopped = False


class Renderer:
    """Renders prompts to the disk cache on a thread of its own, so the loop
    keeps ticking (and answering the button) while espeak-ng works.

    Jobs run one after the other, in small batches, through the speech
    module's espeak-ng worker processes (each the only owner of its
    pyttsx3): ``workers()`` says how many may work at once now. The stop
    flag is looked at between batches::

        renderer = Renderer(parts.speech_for, stop)
        job = renderer.submit({"nl": texts}, "reload")
        job.done.wait()

    A language that cannot be rendered is reported through :meth:`faults`,
    which the loop drains: only the loop touches the service's state.
    """

    BATCH = 50  # as many as one request to the espeak-ng worker takes

    def __init__(self, speech_for: Callable[[str], Any], stop: threading.Event,
                 workers: Callable[[], int] = lambda: 1):
        self._speech_for = speech_for
        self._stop = stop
        self._workers = workers
        self._speeches: dict[str, Any] = {}
        self._jobs: "queue.Queue[RenderJob | None]" = queue.Queue()
        self._faults: "queue.SimpleQueue[tuple[str, str]]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="render", daemon=True)
        self._thread.start()

    def submit(self, texts_by_language: Mapping[str, Iterable[str]], label: str,
               progress: Callable[[str], None] | None = None,
               said: Iterable[tuple[str, Iterable[str]]] | None = None) -> RenderJob:
        job = RenderJob(texts_by_language, label, progress, said)
        self._jobs.put(job)
        return job

    def faults(self) -> list[tuple[str, str]]:
        out = []
        while True:
            try:
                out.append(self._faults.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Stop after the batch that is being rendered; nothing waits for it."""
        self._stop.set()
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._render(job)
            except Exception:
                log.exception("speech: rendering the %s prompts failed", job.label)
            finally:
                job.done.set()
            if not job.stopped:
                self._fill_piper(job)   # after done: READY never waits for Piper

    def _fill_piper(self, job: RenderJob) -> None:
        """espeak-ng has every prompt: Piper's versions follow, behind it
        (also of those espeak-ng had from before a restart)."""
        for language, texts in job.said:
            speech = self._speeches.get(language)
            try:
                if hasattr(speech, "fill_piper"):
                    speech.fill_piper(texts)
            except Exception:
                log.exception("speech: cannot hand the %s prompts to Piper", language)

    def _speech(self, language: str):
        if language not in self._speeches:
            self._speeches[language] = self._speech_for(language)
        return self._speeches[language]

    def _render(self, job: RenderJob) -> None:
        started = time.monotonic()
        total = sum(len(t) for t in job.texts.values())
        for language, texts in job.texts.items():
            if job.progress is not None:
                job.progress(language)
            try:
                speech = self._speech(language)
                if speech is None:
                    continue
                todo = [t for t in texts if t.strip() and not speech.cached(t.strip())]
                if todo:
                    log.info("speech: rendering %d %s prompts (%s)", len(todo), language, job.label)
                i = 0
                while i < len(todo):
                    if self._stop.is_set():
                        job.stopped = True
                        log.info("speech: rendering stopped (%s), %d prompts rendered",
                                 job.label, job.rendered)
                        return
                    n = self._workers()
                    batch, i = todo[i:i + self.BATCH * n], i + self.BATCH * n
                    done = speech.prerender(batch, workers=n) if n > 1 else speech.prerender(batch)
                    job.rendered += done or 0
            except Exception as e:
                self._faults.put(("speech", f"cannot render the {language} prompts "
                                            f"({type(e).__name__}: {e})"))
        log.info("speech: %d prompts rendered, %d in all, in %.1f s (%s)", job.rendered, total,
                 time.monotonic() - started, job.label)


class Service:
    """The device's main process. See the module's docstring."""

    def __init__(self, config_path: str | os.PathLike | None = None, *,
                 clock: Clock | None = None, environ: Mapping[str, str] | None = None):
        self.config_path = str(config_path) if config_path else None
        self.clock = clock or SystemClock()
        self.notifier = Notifier(environ)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.device = None
        self.parts: Parts | None = None
        self.recorder: Recorder | None = None
        self._closed_on_resume = False
        self._finished = None
        self._voice_config = None   # a voice section reloaded during a session, for after it
        self.reloads = 0
        self.config_problems: list[str] = []
        self.writes = WriteFaults()
        self.pending: PendingRecords | None = None
        self._recorded: set[int] = set()   # marks recorded ahead of their dispatch
        self._method_copy: dict | None = None
        self._texts: dict[str, dict] = {}
        self._fingerprint: str | None = None
        self._render_stop = threading.Event()
        self.renderer: Renderer | None = None
        self.reloader = Reloader(self._read_for_reload, wake=self._wake)
        self._up = False
        self.started = time.time()

    # ------------------------------------------------------------ set-up

    def _configure(self) -> None:
        self._config_was_there = os.path.lexists(self.config_path or DEFAULT_CONFIG)
        self.config, self.config_problems = load_settings(self.config_path)
        for problem in self.config_problems:
            log.error("config: %s", problem)
        if self.config_problems:
            log.error("config: refused; running on the defaults, in the folders it names "
                      "(state %s, methods %s)", setting(self.config, "state_dir", "?"),
                      setting(self.config, "methods_dir", "?"))
        self.state_dir = Path(setting(self.config, "state_dir", "/var/lib/intervisor"))
        self.methods_dir = Path(setting(self.config, "methods_dir", self.state_dir / "methods"))
        self.store = StateStore(self.state_dir)
        self.book = RecordBook(self.state_dir / RECORDS)
        self.pending = PendingRecords(self.book, self.writes)
        self.report = LibraryReport(self.state_dir, self.writes)

    def _selection(self) -> tuple[str | None, dict]:
        chosen = read_selection(self.methods_dir)
        if chosen is not None:
            return chosen["method"], dict(chosen.get("choices") or {})
        return setting(self.config, "selected", None), dict(setting(self.config, "choices", {}) or {})

    def _load_methods(self):
        from intervisor.files.method import Library

        library = Library(self.methods_dir)
        self._note_refused(library.refused)
        log.info("methods: %d loaded from %s", len(library.methods), self.methods_dir)
        self.report.write(library.methods, library.refused, self._fingerprint)
        return library

    def _note_refused(self, refused: Mapping[str, list]) -> None:
        for path, problems in refused.items():
            log.error("methods: %s refused", Path(path).name)
            for p in problems:
                log.error("%s", p)

    def _cue_lead(self) -> float:
        """How long before a deadline the loop acts on it: ``audio.cue_lead``,
        but never less than the output buffer and two blocks, or the cue
        would still come late. 0 without sound: nothing to place."""
        lead = float(setting(self.config, "audio.cue_lead", 0.1))
        sound = self.parts.sound
        if sound is None or lead <= 0:
            return 0.0
        blocks = 2 * getattr(sound, "block_size", 256) / getattr(sound, "rate", 48000)
        return max(lead, float(getattr(sound, "output_latency", 0.0)) + blocks)

    def _language(self) -> str:
        lang = setting(self.config, "language", None)
        if lang in NOTICES:
            return lang
        selected = self.device.selected if self.device else None
        if selected and selected in self.library.methods:
            return self.library.methods[selected].language
        return "nl"

    # ----------------------------------------------------------- signals

    def _on_signal(self, signum, frame) -> None:
        # Runs on the main thread between bytecodes, maybe inside a queue
        # call: only set a flag, and wake the loop from another thread.
        (self._reload if signum == signal.SIGHUP else self._stop).set()
        if self.device is not None:
            threading.Thread(target=self.device.put, args=(Command.TICK,), daemon=True).start()

    def _wake(self) -> None:
        if self.device is not None:
            self.device.put(Command.TICK)

    def _install_signals(self) -> None:
        signal.signal(signal.SIGHUP, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # ------------------------------------------------------------ adapter

    def perform(self, action: Action) -> None:
        """The service's own adapter, first in line: it keeps the sound in
        the language of what is running, and marks feed the session record."""
        if self.device is not None and self.parts is not None and not isinstance(action, (Mark, Show)):
            self._speak_in_current()
        if isinstance(action, Mark) and id(action) not in self._recorded:
            self._record(action)

    def _record(self, mark: Mark) -> None:
        if self.recorder is None and self.device is not None and self.device.session is not None:
            s = self.device.session
            self.recorder = Recorder.begin(s.method, self.clock, s.choices, s.participants)
            self._method_copy = self._copy_of(s.method)
        if self.recorder is not None:
            self.recorder.mark(mark)

    def _before_sound(self, actions: list[Action]) -> None:
        """Once the group has heard a step, a kill must not undo it: a step
        of a running session that will be heard is saved, its marks in the
        record, before its sounds are handed over (and again after, as
        every step)."""
        session = self.device.session
        if session is None or session.stage != "running" \
                or not any(isinstance(a, (Say, Play)) for a in actions):
            return
        for action in actions:
            if isinstance(action, Mark):
                self._record(action)
                self._recorded.add(id(action))
        if self.recorder is not None:
            self.recorder.set_choices(session.method, session.choices, session.participants)
        self.save()

    def _reconfigure_voice(self, config) -> None:
        if self.parts.reconfigure_voice(config, self.device.queue, acts_on=self.device.accepts_by_voice):
            self._speak_in_current()

    def _speak_in_current(self) -> None:
        """Sound and voice in the language of what is running."""
        session = self.device.session
        self.parts.speak_in(session.method.language if session is not None else self.device_language)

    def _on_session_end(self, engine) -> None:
        self._finished = engine

    def _on_change(self, device) -> None:
        self._recorded.clear()
        if self._finished is not None:
            engine, self._finished = self._finished, None
            self._close_record(engine)
            if self._voice_config is not None:
                config, self._voice_config = self._voice_config, None
                self._reconfigure_voice(config)
                # Not said over the session's closing words: the voice fault
                # is on the lights and in the log.
                self.parts.take_voice_notices()
            self._method_copy = None
            device.methods = self.library.methods  # drop a copy a resume may have added
        elif self.recorder is not None and device.session is not None:
            self.recorder.set_choices(device.session.method, device.session.choices,
                                      device.session.participants)
        self.save()

    def _close_record(self, engine) -> None:
        rec, self.recorder = self.recorder, None
        if rec is None:
            return
        if not rec.data["segments"]:
            return  # ended while choosing: no session took place
        rec.set_choices(engine.method, engine.choices, engine.participants)
        completed = engine.run is not None and engine.run.index == len(engine.plan) - 1
        # Kept (and saved with the state) until the book takes it.
        self.pending.add(rec.finish(completed=completed))

    # ------------------------------------------------------------- state

    def status(self) -> dict:
        st = self.device.status() if self.device is not None else {"stage": "starting"}
        faults = set(st.get("faults", []))
        if self.parts is not None:
            faults |= set(self.parts.faults)
        if self.config_problems:
            faults.add("config")
        if self.writes.fault:
            faults.add("storage")
        st["faults"] = sorted(faults)
        return st

    def save(self) -> None:
        """The state file: the session and a few lines about the service,
        never the library (that is :class:`LibraryReport`'s, written per
        reload), so it stays small whatever the methods folder holds.
        Records still pending are tried first and kept in it until
        written; a write that fails is the storage fault."""
        if self.pending is not None:
            self.pending.flush()
        if self.writes.failing("pid"):
            self._write_pid()
        if self.writes.failing("library"):
            self.report.write(self.library.methods, self.library.refused, self._fingerprint)
        self._show_storage()
        recovering = self.writes.failing("state")
        self._write_state()
        if recovering and not self.writes.failing("state"):
            self._write_state()   # again, without the fault it has just mended

    def _write_state(self) -> None:
        session = self.device.session if self.device is not None else None
        content = {
            "service": {
                "pid": os.getpid(),
                "started": self.started,
                "config": self.config_path,
                "methods_dir": str(self.methods_dir),
                "selected": self.device.selected if self.device is not None else None,
                "voice": bool(self.parts and self.parts.voice_on),
                "faults": self.status()["faults"],
                "storage": self.writes.fault,
                "config_problems": self.config_problems[:MAX_CONFIG_PROBLEMS],
                "reloads": self.reloads,
                "fingerprint": self._fingerprint,
            },
            "status": self.status(),
            # Only a session that runs: one still asking its start-up
            # questions has nothing to pick up (after a restart the device
            # is idle and the chair starts again).
            "session": session.snapshot() if session is not None and session.stage == "running" else None,
            # Taken with the snapshot: a restart in the same boot measures
            # the time away on the monotonic clock (see _time_away).
            "clock": {"boot_id": boot_id(), "monotonic": self.clock.monotonic()},
            "record": self.recorder.to_dict() if self.recorder is not None else None,
            "method_copy": self._method_copy if session is not None else None,
            "pending_records": self.pending.to_list() if self.pending is not None else [],
        }
        try:
            self.store.save(content)
        except OSError as e:
            # A full or read-only disk must not stop the session in the room.
            self.writes.failed("state", e)
        else:
            self.writes.ok("state")
        self._show_storage()

    def _write_pid(self) -> OSError | None:
        """The pid file. On a full disk the session in the room matters
        more: it runs with the storage fault shown (`status` finds the
        service by its lock meanwhile), and every save tries again."""
        try:
            write_atomic(self.state_dir / PID_FILE, f"{os.getpid()}\n".encode())
        except OSError as e:
            self.writes.failed("pid", e)
            return e
        self.writes.ok("pid")
        return None

    def _show_storage(self) -> None:
        """The storage fault on the lights, as the write faults say (they
        log it themselves)."""
        if self.parts is not None:
            self.parts.follow("storage", self.writes.fault, logged=True)

    def _remember_texts(self, ids: Iterable[str]) -> None:
        """Keep the text each method was loaded from (checked to give that
        very method), so a session's copy is what it started with even if
        the file is edited between the load and the first press."""
        for mid in ids:
            method = self.library.methods.get(mid)
            copy = method_copy(method) if method is not None else None
            if copy is None:
                self._texts.pop(mid, None)
            else:
                self._texts[mid] = {**copy, "_method": method}

    def _copy_of(self, method) -> dict | None:
        kept = self._texts.get(method.id)
        if kept is not None and kept["_method"] is method:
            return {k: v for k, v in kept.items() if k != "_method"}
        return method_copy(method)

    def _time_away(self, saved: Mapping, snap: Mapping) -> float:
        """Seconds since the session was saved. Within one boot (a crash, a
        kill -9) the monotonic clock says it, whatever the wall clock does;
        after a reboot only the wall clock can, and a Pi without a clock
        chip and without network may start with one that is behind (the
        last time fake-hwclock saved): then the session resumes with no
        time away, and the log says why."""
        mark = saved.get("clock") if isinstance(saved.get("clock"), Mapping) else {}
        mono = mark.get("monotonic")
        if mark.get("boot_id") and mark.get("boot_id") == boot_id() and isinstance(mono, (int, float)):
            away = self.clock.monotonic() - float(mono)
            if away >= 0:
                return away
        away = self.clock.time() - float(snap["saved_wall"])
        if away < 0:
            log.warning("state: the clock is %.0f s behind the time the session was saved "
                        "(after a reboot without network?); resuming with no time away", -away)
            return 0.0
        return away

    def _resume(self) -> None:
        """Pick up the saved session, on the copy of the method it started
        with (kept in the state); the installed file only when there is no
        copy (a state from before copies were kept)."""
        saved = self.store.load()
        if self.store.unreadable:
            self.writes.standing = f"the state file could not be read: {self.store.unreadable}"
            log.error("state: %s", self.writes.standing)
        if not saved:
            return
        # Records a run before could not write: tried again now, and kept
        # until they are written.
        self.pending.restore(saved.get("pending_records"))
        if len(self.pending):
            self.pending.flush("left pending before the restart")
        if not saved.get("session"):
            self._close_unresumed_record(saved)
            return
        snap = saved["session"]
        mid = snap.get("method") if isinstance(snap, Mapping) else None
        record = saved.get("record")
        if isinstance(record, Mapping) and self.book.holds(record):
            # Its record is in the book: the session ended (or was closed)
            # and the process stopped before the state said so (a kill -9
            # or a power cut between the two writes). It is over; resuming
            # it would record it a second time.
            log.info("state: the saved session of %s had ended (its record %s is saved); not resumed",
                     mid, record.get("id"))
            return
        copy = saved.get("method_copy")
        method = method_from_copy(copy, mid)
        try:
            if method is not None:
                self._method_copy = {k: copy[k] for k in ("id", "name", "text") if k in copy}
                self.device.methods = {**self.library.methods, mid: method}
                if self.library.methods.get(mid) != dataclasses.replace(
                        method, path=getattr(self.library.methods.get(mid), "path", None)):
                    log.warning("methods: %s differs in the folder or is refused; the session goes "
                                "on with the copy saved with it", mid)
            else:
                if copy:
                    log.warning("state: the saved copy of %s is not a valid method; "
                                "resuming on the installed file", mid)
                if mid in self.library.methods:
                    self._method_copy = self._copy_of(self.library.methods[mid])
            away = self._time_away(saved, snap)
            if away > STALE_AFTER:
                self._close_stale(saved, snap, away)
                return
            # Engine.restore counts the time away from the snapshot's wall
            # time; the engine stays clock-agnostic, so the away measured
            # here (monotonic where it can be) is handed to it as that.
            snap = {**snap, "saved_wall": self.clock.time() - away}
            if saved.get("record"):
                try:
                    self.recorder = Recorder.from_dict(saved["record"], self.clock)
                except ValueError as e:
                    # The session matters more than its record: it goes on,
                    # and a new record starts with it now.
                    log.warning("state: %s; the session goes on and its record starts again", e)
            self.device.resume(snap)
        except Exception as e:
            # The state file is input like any other: whatever is wrong with
            # it, the device comes up idle, never in a loop of crashes.
            self.recorder = None
            self.device.session = None
            self._method_copy = None
            self.device.methods = self.library.methods
            unexpected = not isinstance(e, (ValueError, KeyError, TypeError, AttributeError, ArithmeticError))
            log.warning("state: cannot resume the saved session: %s: %s", type(e).__name__, e,
                        exc_info=unexpected)
            set_aside(self.store.path, f"cannot resume: {e}")
            return
        if self.device.session is None:
            log.info("session resumed and closed method=%s away=%.1fs (its last phase ran out meanwhile)",
                     mid, away)
            self._closed_on_resume = True   # its closing words are being said: no greeting over them
            return
        if self.recorder is not None:
            self.recorder.restarted()
        phase = self.device.session.status().get("phase")
        log.info("session resumed method=%s phase=%s away=%.1fs", mid, phase, away)

    def _close_unresumed_record(self, saved: Mapping) -> None:
        """No session to resume, but a record with phases in it: the first
        phase ran, back asked the start-up question again, and the device
        stopped before it was answered (a session still choosing is not
        saved). What ran is recorded, ended early when it was last saved."""
        record = saved.get("record")
        if not isinstance(record, Mapping) or self.book.holds(record):
            return
        at = saved.get("saved")
        self._save_left_record(record, "stopped while its start-up question was asked again",
                               at=at if isinstance(at, (int, float)) and math.isfinite(at) else None)

    def _save_left_record(self, record: Any, why: str, **finish) -> None:
        """The record of a session that will not resume goes into the book,
        not completed, if a phase of it ran; ``finish`` as Recorder.finish."""
        if not record:
            return
        try:
            rec = Recorder.from_dict(record, self.clock)
            if rec.data["segments"]:
                self.pending.add(rec.finish(completed=False, **finish), why)
        except (ValueError, KeyError, TypeError) as e:
            log.error("record: cannot save the record (%s): %s", why, e)

    def _close_stale(self, saved: Mapping, snap: Mapping, away: float) -> None:
        """A session left for longer than STALE_AFTER: its record is closed
        as interrupted at the time it was last saved; the device starts idle."""
        log.warning("state: the saved session of %s is %.1f hours old; not resumed, its record "
                    "is closed as interrupted", snap.get("method"), away / 3600)
        self._method_copy = None
        self.device.methods = self.library.methods
        self._save_left_record(saved.get("record"), "interrupted", at=self.clock.time() - away,
                               interrupted=True)

    # ------------------------------------------------------------ reload

    def _read_for_reload(self, library, fingerprint: str | None) -> Reading:
        """On the reload thread: read and check the folder and the config
        against ``library`` (a copy of the one in use) and the last
        ``fingerprint``. Touches nothing the loop uses."""
        now = folder_fingerprint(self.config_path, self.methods_dir)
        if now == fingerprint:
            return Reading(fingerprint=now, unchanged=True)
        reading = Reading(fingerprint=now, unchanged=False)
        path = self.config_path or DEFAULT_CONFIG
        if self._config_was_there and not os.path.lexists(path):
            # Deleted (or being replaced by a tool that removes first): the
            # defaults would switch off what the admin set up.
            reading.config_gone = f"{path} is gone"
        else:
            reading.config, reading.problems = load_settings(self.config_path)
        reading.change = library.reload()
        reading.library = library
        for mid in reading.change.added + reading.change.changed:
            method = library.methods.get(mid)
            copy = method_copy(method) if method is not None else None
            reading.texts[mid] = None if copy is None else {**copy, "_method": method}
        return reading

    def _request_reload(self) -> None:
        """A SIGHUP: read off the loop; one at a time (a SIGHUP during a
        reload is taken when it is done, and finds what changed since)."""
        if self.reloader.busy:
            return
        self._reload.clear()
        self.notifier.reloading()
        self.reloader.request(self.library, self._fingerprint)

    def _apply_reload(self, reading: Reading) -> None:
        """On the loop: swap in what the reload thread read. A reload that
        found nothing changed since the last one does nothing but count
        itself: `methods add` sends SIGHUP and the path unit reloads too,
        for the same files, and the second must not log, render or
        announce anything again."""
        if reading.error is not None:
            log.error("reload failed; keeping what was loaded: %s: %s",
                      type(reading.error).__name__, reading.error)
            self.notifier.ready(self._status_line())
            return
        if reading.unchanged:
            log.debug("reload: nothing changed since the last one")
            self.reloads += 1
            self.save()
            self.notifier.ready(self._status_line())
            return
        self._fingerprint = reading.fingerprint
        log.info("reload: methods and config")
        self._take_config(reading)
        change = reading.change
        self.library = reading.library
        self._note_refused(change.refused)
        for kind in ("added", "changed", "removed"):
            for mid in getattr(change, kind):
                log.info("methods: %s %s", kind, mid)
        for mid, text in reading.texts.items():
            if text is None:
                self._texts.pop(mid, None)
            else:
                self._texts[mid] = text
        self.report.write(self.library.methods, self.library.refused, self._fingerprint)
        device = self.device
        device.methods = self.library.methods
        selected, choices = self._selection()
        if selected in device.methods:
            device.selected = selected
        elif device.selected not in device.methods:
            device.selected = sorted(device.methods)[0] if device.methods else None
        device.preset_choices = choices
        device.participants = setting(self.config, "participants", None)
        # Rendered on the render thread: the session in the room goes on.
        self._prepare_prompts(only=change.added + change.changed, label="reload")
        self.reloads += 1
        if device.session is None:
            # Said at idle only (a session in the room is not interrupted):
            # a refused file, and voice that could not start again.
            refused = change.refused or reading.problems
            notices = [Say((NOTICES[self._language()]["refused"],))] if refused else []
            notices += self.parts.take_voice_notices()
            if notices:
                device.dispatch(with_notices([Hush()], notices))
        self.save()
        self.notifier.ready(self._status_line())

    def _take_config(self, reading: Reading) -> None:
        """The reloaded config, unless it is refused or gone (one line why)."""
        if reading.config_gone:
            log.error("config: %s; keeping the config in use (a reload reads it when it is back)",
                      reading.config_gone)
            return
        if reading.problems:
            for p in reading.problems:
                log.error("config: %s", p)
            log.error("config: refused; keeping the one in use")
            return
        config = reading.config
        self.config, self.config_problems = config, []
        if self.device.session is not None and setting(config, "voice.enabled", False):
            # A model takes seconds to load, on this loop: the session
            # keeps its listener; voice starts again after it.
            self._voice_config = config
            log.info("voice: the new settings take effect when this session ends")
        else:
            self._voice_config = None
            self._reconfigure_voice(config)

    # -------------------------------------------------------------- run

    def _status_line(self) -> str:
        st = self.status()
        if st.get("stage") == "idle":
            return f"idle, selected {st.get('selected')}"
        return f"{st.get('method')} {st.get('stage')} phase {st.get('phase')}"

    def _healthy(self) -> bool:
        """The loop's self-check before each watchdog ping."""
        if self.device is None:
            return False
        return True

    def _unusable_state_dir(self, e: OSError) -> None:
        # Without its state folder the service cannot keep a session safe
        # from a power cut; it says which setting to mend and stops.
        log.error("state_dir %s cannot be used: %s; set state_dir in %s to a folder the "
                  "service may write (the default is /var/lib/intervisor)",
                  self.state_dir, e.strerror or e, self.config_path or DEFAULT_CONFIG)

    def _lock(self) -> bool:
        """One service per state folder: two would overwrite each other's
        state. The lock lives as long as the process, even after kill -9."""
        import fcntl

        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            # Without blocking: a FIFO put there must not hang the start.
            fd = os.open(self.state_dir / LOCK_FILE,
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
            self._lock_file = os.fdopen(fd, "a")
        except OSError as e:
            self._unusable_state_dir(e)
            return False
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = running_pid(self.state_dir)
            log.error("another intervisor serve%s uses %s; not starting",
                      f" (pid {other})" if other else "", self.state_dir)
            return False
        return True

    def run(self) -> int:
        from intervisor.table.runner import CommandQueue, Device

        self._install_signals()
        self._configure()
        if not self._lock():
            return 1
        # Left by a process killed in the middle of a write (the lock says
        # no other one writes here now).
        for folder in (self.state_dir, self.state_dir / RECORDS):
            if remove_stale_temps(folder):
                log.info("state: removed the temporary files a stopped process left in %s", folder)
        error = self._write_pid()
        if error is not None and error.errno not in (errno.ENOSPC, errno.EDQUOT):
            self._unusable_state_dir(error)   # a folder it may open but not write (read-only)
            return 1
        # Before the files are read: a change meanwhile makes the next reload real.
        self._fingerprint = folder_fingerprint(self.config_path, self.methods_dir)
        self.library = self._load_methods()
        selected, choices = self._selection()
        language = setting(self.config, "language", None) or (
            self.library.methods[selected].language if selected in self.library.methods else "nl")
        commands: "queue.Queue[Command]" = CommandQueue()
        self.parts = Parts(self.config, commands.put, language if language in NOTICES else "nl")
        self.parts.start(commands)
        self.device_language = language if language in NOTICES else "nl"
        self.device = Device(
            self.library.methods, self.clock, [self] + self.parts.adapters(),
            selected=selected, choices=choices,
            participants=setting(self.config, "participants", None),
            language=language if language in NOTICES else "nl",
            on_change=self._on_change, on_session_end=self._on_session_end,
            before_sound=self._before_sound,
            explain=lambda lang: gesture_text(lang, setting(self.config, "panel.second_button") is not None),
            lead=self._cue_lead(),
        )
        self.device.queue = commands
        self._start_input()
        self._remember_texts(self.library.methods)
        self._wait_rendered(self._prepare_prompts())
        if self._stop.is_set():
            return self._shutdown()   # before the resume: the saved session stays as it is
        self._note_render_faults()
        # The saved session first: voice asks the device whether it would
        # act on a command, and must not judge one against an idle device.
        self._resume()
        self.parts.start_voice(commands, acts_on=self.device.accepts_by_voice)
        self._up = True
        if self.device.session is not None:
            # (A resumed session's announcement is what the room needs now;
            # a voice fault is on the lights and in the log.)
            self.parts.speak_in(self.device.session.method.language)
        notices = self.parts.take_voice_notices()   # said with the greeting, or the lights and log carry them
        if self.device.session is None and not self._closed_on_resume:
            self.device.dispatch(with_notices(
                self.device.greeting() if self.library.methods
                else [Show(Light.IDLE), Say((NOTICES[self._language()]["no_methods"],))],
                notices))
        self.save()
        self.notifier.ready(self._status_line())
        log.info("ready: %s", self._status_line())
        return self._loop()

    def _start_input(self) -> None:
        """``input:`` (stdin or a FIFO), when it can be a button source."""
        source = setting(self.config, "input", None)
        if not source:
            return
        try:
            LineInput(LineInput.open(str(source)), self.device.put)
        except ValueError as e:
            self.parts.found_fault("input", f"{source} is not taken as input: {e}")

    def _prepare_prompts(self, only: Iterable[str] | None = None, label: str = "start-up") -> RenderJob | None:
        """Every text the device may say, rendered ahead on the render thread
        (nothing is synthesised while the group listens). The job, or
        ``None`` when there is no sound."""
        if self.parts.sound is None:
            return None
        from collections import defaultdict

        from intervisor.core.engine import Engine

        wanted = set(self.library.methods) if only is None else set(only)
        # Ordered sets: the order things will be said, for Piper to follow.
        texts: dict[str, dict[str, None]] = defaultdict(dict)
        second_button = setting(self.config, "panel.second_button") is not None
        voice_on = setting(self.config, "voice.enabled", False)
        if voice_on:
            from intervisor.voice.listen import unavailable_notice
        idle = [self.device.words["ready"]]
        if self.device.selected is not None:
            idle.append(self.device.methods[self.device.selected].title)
        idle += [self.device.words["press_to_start"], *sorted(m.title for m in self.library.methods.values()),
                 *NOTICES[self.device_language].values()]
        texts[self.device_language].update(dict.fromkeys(idle))
        order = [(self.device_language, idle)]
        first = [self.device.selected] if self.device.selected in wanted else []
        for mid in first + sorted(wanted & set(self.library.methods) - set(first)):
            method = self.library.methods[mid]
            said = [gesture_text(method.language, second_button)]   # at a method's first start
            try:
                if mid in first:
                    said += said_in_order(method, self.device.preset_choices, self.device.participants)
                said += sorted(Engine(method, self.clock).phrases_to_render())
            except Exception:
                log.exception("methods: cannot list the prompts of %s", mid)
            if voice_on:
                said.append(unavailable_notice(method.language))    # why voice is off
            texts[method.language].update(dict.fromkeys(said))
            order.append((method.language, said))
        if self.renderer is None:
            # Several espeak-ng processes while no session runs (start-up, an
            # idle reload); one beside a session, which needs its CPU for sound.
            from intervisor.sound.speech import PARALLEL

            self.renderer = Renderer(self.parts.speech_for, self._render_stop,
                                     workers=lambda: PARALLEL if self.device.session is None else 1)
        return self.renderer.submit(texts, label, progress=self._rendering if only is None else None,
                                    said=order)

    def _wait_rendered(self, job: RenderJob | None) -> None:
        """Start-up waits for its prompts (READY means they are there), but
        not past a SIGTERM."""
        while job is not None and not job.done.wait(0.1):
            if self._stop.is_set():
                self._render_stop.set()
                return

    def _note_render_faults(self) -> bool:
        faults = self.renderer.faults() if self.renderer is not None else []
        for part, why in faults:
            self.parts.found_fault(part, why)
        return bool(faults)

    def _rendering(self, language: str) -> None:
        # A cold cache on a slow Pi renders for minutes: each language gets
        # its own time before systemd gives up on the start (or the reload).
        self.notifier.send(extend_timeout_usec=EXTEND_USEC, status=f"rendering the {language} prompts")

    def _loop(self) -> int:
        interval = self.notifier.watchdog_interval
        last_ping = 0.0
        max_wait = MAX_WAIT if interval is None else min(MAX_WAIT, interval / 2)
        while not self._stop.is_set():
            try:
                self.device.step(max_wait)
            except Exception:
                # A bug in one step must not end the session: log, keep going.
                log.exception("loop: a step failed")
            if self.parts.refresh() | self._note_render_faults():
                self.save()
            if self._reload.is_set():
                self._request_reload()
            reading = self.reloader.take()
            if reading is not None:
                try:
                    self._apply_reload(reading)
                except Exception:
                    log.exception("reload failed; keeping what was loaded")
                    self.notifier.ready(self._status_line())
            now = time.monotonic()
            if interval is not None and now - last_ping >= interval / 2 and self._healthy():
                self.notifier.watchdog()
                last_ping = now
        return self._shutdown()

    def _shutdown(self) -> int:
        self.notifier.stopping()
        log.info("stopping")
        if self.renderer is not None:
            self.renderer.close()   # after its batch; nothing waits for it
        self._render_stop.set()
        self.parts.finish(FINISH_CUE)
        if self._up:
            # Not before the resume: that would overwrite the saved session.
            self.save()
        try:
            os.unlink(self.state_dir / PID_FILE)
        except OSError:
            pass
        log.info("stopped")
        return 0


def serve(config_path: str | None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    return Service(config_path).run()
