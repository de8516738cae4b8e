"""`intervisor serve`: the device's main process.

It loads the config and the methods folder, starts the parts that are
there (panel, sound, voice; one that fails is logged and lit as a fault,
the rest keeps going), picks up a session that a crash or power cut
interrupted, tells systemd it is ready and then runs the one loop::

    service = Service("/etc/intervisor/config.yaml")
    sys.exit(service.run())

Signals: SIGHUP re-reads methods and config (a running session keeps its
method; a refused file is logged, announced when idle, and the old one
stays); SIGTERM lets the cue that is playing finish, saves the state and
exits 0. The state file is written atomically after every step, so a
``kill -9`` loses nothing.

No network at all: commands reach the service as signals and files
(``intervisor methods add`` writes the methods folder, then sends SIGHUP).
For debugging, ``input: stdin`` (or a FIFO path) in the config reads one
command name per line (``next``, ``pause``...), as if the button gave it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from intervisor.clock import Clock, SystemClock
from intervisor.events import Action, Command, Hush, Light, Mark, Say, Show
from intervisor.notify import Notifier
from intervisor.phrases import gesture_text
from intervisor.records import Recorder, RecordBook
from intervisor.state import StateStore, set_aside, write_atomic

log = logging.getLogger("intervisor.service")

DEFAULT_CONFIG = "/etc/intervisor/config.yaml"
PID_FILE = "intervisor.pid"
LOCK_FILE = ".lock"
EXTEND_USEC = 180_000_000
SELECTION_FILE = ".selection.json"
RECORDS = "records"
#: Longest the loop waits for a command; also bounds how late a flag is seen.
MAX_WAIT = 0.5
#: How long SIGTERM lets the cue that is playing finish.
FINISH_CUE = 1.2

NOTICES = {
    "nl": {"refused": "Een methodebestand is geweigerd. Zie het logboek.",
           "no_methods": "Er zijn geen methodes geïnstalleerd."},
    "en": {"refused": "A method file was refused. See the log.",
           "no_methods": "No methods are installed."},
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


def load_settings(path: str | os.PathLike | None) -> tuple[Any, list[str]]:
    """The validated config and its problems (``FILE:LINE: message``).
    A refused config gives the defaults, so the device still comes up."""
    from intervisor.config import Config, ConfigError, load_config

    try:
        return load_config(path if path is not None else DEFAULT_CONFIG), []
    except ConfigError as e:
        return Config.default(), [str(p) for p in e.problems]
    except OSError as e:
        return Config.default(), [f"{path}:1: cannot read it: {e.strerror or e}"]


def read_selection(methods_dir: str | os.PathLike) -> dict | None:
    """What ``intervisor methods select`` chose: ``{"method", "choices"}``."""
    path = Path(methods_dir) / SELECTION_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
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
    try:
        pid = int((Path(state_dir) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def method_copy(method) -> dict | None:
    """The running method's file as text, kept in the state so that a
    session resumes even when its file is removed or broken meanwhile."""
    if not method.path:
        return None
    try:
        return {"id": method.id, "name": Path(method.path).name,
                "text": Path(method.path).read_text("utf-8")}
    except (OSError, UnicodeDecodeError):
        return None


class StdinInput:
    """Debugging aid: one command name per line (``next``, ``pause``...)
    from stdin or a FIFO, put on the queue as the button would."""

    def __init__(self, source: str, put: Callable[[Command], None]):
        self._source = source
        self._put = put
        self._thread = threading.Thread(target=self._read, name="input", daemon=True)
        self._thread.start()

    def _lines(self):
        if self._source == "stdin":
            yield from sys.stdin
            return
        while True:  # a FIFO ends with each writer; open it again
            with open(self._source, encoding="utf-8", errors="replace") as f:
                yield from f

    def _read(self) -> None:
        try:
            for line in self._lines():
                word = line.strip().lower()
                if not word:
                    continue
                try:
                    command = Command(word)
                except ValueError:
                    log.warning("input: unknown command ignored")
                    continue
                if command is not Command.TICK:
                    self._put(command)
        except OSError as e:
            log.warning("input: %s closed: %s", self._source, e)


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
        self.faults: dict[str, str] = {}

    def start(self, commands: "queue.Queue[Command]") -> None:
        self._start_sound()
        self._start_panel(commands)
        self._start_voice(commands)
        for part, why in self.faults.items():
            self._light_fault(part)

    def adapters(self) -> list:
        return [p for p in (self.sound, self.panel) if p is not None]

    def _fault(self, part: str, why: str) -> None:
        self.faults[part] = why
        log.warning("%s: fault: %s", part, why)

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
            from intervisor import panel

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
            from intervisor import sound

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
        """Follow the sound device coming and going; ``True`` on a change."""
        if self.sound is None:
            return False
        why = getattr(self.sound, "fault", None) if getattr(self.sound, "faulted", False) else None
        if why is not None and "audio" not in self.faults:
            self._fault("audio", str(why))
            self._light_fault("audio")
            return True
        if why is None and "audio" in self.faults:
            del self.faults["audio"]
            log.info("audio: fault cleared")
            if self.panel is not None and hasattr(self.panel, "clear_fault"):
                try:
                    self.panel.clear_fault("audio")
                except Exception:
                    log.exception("panel: cannot clear the audio fault")
            return True
        return False

    def speak_in(self, language: str) -> None:
        """Let the sound speak ``language`` (a method in another language)."""
        if self.sound is not None and hasattr(self.sound, "set_language"):
            try:
                self.sound.set_language(language)
            except Exception:
                log.exception("sound: cannot switch to %s", language)

    def _start_voice(self, commands) -> None:
        if not setting(self.config, "voice.enabled", False):
            return
        try:
            from intervisor import voice

            self.voice = voice.from_config(
                self.config, commands, language=self.language,
                mic_light=getattr(self.panel, "mic_light", None),
                is_device_speaking=getattr(self.sound, "is_busy", None),
                say=self.sound.perform if self.sound is not None else None)
            log.info("voice: up")
        except Exception as e:
            self.voice = None
            self._fault("voice", f"no voice commands ({type(e).__name__}: {e})")

    def prepare(self, texts_by_language: Mapping[str, Iterable[str]], last: str,
                progress: Callable[[str], None] | None = None) -> int:
        """Render to the disk cache, per language, everything that may be
        said, before READY; the sound reads a prompt from the cache when it
        is first said (loading them all into memory here took seconds), and
        ends up speaking ``last``. The number newly rendered."""
        if self.sound is None or not hasattr(self.sound, "prepare"):
            return 0
        rendered = 0
        for language in sorted(texts_by_language, key=lambda lang: lang == last):
            texts = sorted(texts_by_language[language])
            if progress is not None:
                progress(language)
            try:
                self.speak_in(language)
                speech = getattr(self.sound, "speech", None)
                if speech is not None and hasattr(speech, "prerender"):
                    rendered += speech.prerender(texts) or 0
                else:
                    rendered += self.sound.prepare(texts, language=language) or 0
            except Exception as e:
                self._fault("speech", f"cannot render the {language} prompts ({type(e).__name__}: {e})")
                self._light_fault("speech")
        self.speak_in(last)
        return rendered

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

    @property
    def voice_on(self) -> bool:
        return self.voice is not None


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
        self._finished = None
        self.reloads = 0
        self.refused: dict[str, list[str]] = {}
        self.config_problems: list[str] = []
        self._save_failed = False
        self._method_copy: dict | None = None
        self.started = time.time()

    # ------------------------------------------------------------ set-up

    def _configure(self) -> None:
        self.config, self.config_problems = load_settings(self.config_path)
        for problem in self.config_problems:
            log.error("config: %s", problem)
        if self.config_problems:
            log.error("config: refused; running on the defaults")
        self.state_dir = Path(setting(self.config, "state_dir", "/var/lib/intervisor"))
        self.methods_dir = Path(setting(self.config, "methods_dir", self.state_dir / "methods"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = StateStore(self.state_dir)
        self.book = RecordBook(self.state_dir / RECORDS)

    def _selection(self) -> tuple[str | None, dict]:
        chosen = read_selection(self.methods_dir)
        if chosen is not None:
            return chosen["method"], dict(chosen.get("choices") or {})
        return setting(self.config, "selected", None), dict(setting(self.config, "choices", {}) or {})

    def _load_methods(self):
        from intervisor.method import Library

        library = Library(self.methods_dir)
        self._note_refused(library.refused)
        log.info("methods: %d loaded from %s", len(library.methods), self.methods_dir)
        return library

    def _note_refused(self, refused: Mapping[str, list]) -> None:
        self.refused = {path: [str(p) for p in problems] for path, problems in refused.items()}
        for path, problems in self.refused.items():
            log.error("methods: %s refused", Path(path).name)
            for p in problems:
                log.error("%s", p)

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

    def _install_signals(self) -> None:
        signal.signal(signal.SIGHUP, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # ------------------------------------------------------------ adapter

    def perform(self, action: Action) -> None:
        """The service's own adapter, first in line: it keeps the sound in
        the language of what is running, and marks feed the session record."""
        if self.device is not None and self.parts is not None and not isinstance(action, (Mark, Show)):
            session = self.device.session
            self.parts.speak_in(session.method.language if session is not None else self.device_language)
        if not isinstance(action, Mark):
            return
        if self.recorder is None and self.device is not None and self.device.session is not None:
            s = self.device.session
            self.recorder = Recorder.begin(s.method, self.clock, s.choices, s.participants)
            self._method_copy = method_copy(s.method)
        if self.recorder is not None:
            self.recorder.mark(action)

    def _on_session_end(self, engine) -> None:
        self._finished = engine

    def _on_change(self, device) -> None:
        if self._finished is not None:
            engine, self._finished = self._finished, None
            self._close_record(engine)
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
        try:
            path = self.book.save(rec.finish(completed=completed))
            log.info("record: saved %s", path.name)
        except OSError as e:
            log.error("record: cannot save: %s", e)

    # ------------------------------------------------------------- state

    def status(self) -> dict:
        st = self.device.status() if self.device is not None else {"stage": "starting"}
        faults = set(st.get("faults", []))
        if self.parts is not None:
            faults |= set(self.parts.faults)
        if self.config_problems:
            faults.add("config")
        st["faults"] = sorted(faults)
        return st

    def save(self) -> None:
        session = self.device.session if self.device is not None else None
        content = {
            "service": {
                "pid": os.getpid(),
                "started": self.started,
                "config": self.config_path,
                "methods_dir": str(self.methods_dir),
                "methods": sorted(self.library.methods) if hasattr(self, "library") else [],
                "selected": self.device.selected if self.device is not None else None,
                "voice": bool(self.parts and self.parts.voice_on),
                "faults": self.status()["faults"],
                "refused": self.refused,
                "config_problems": self.config_problems,
                "reloads": self.reloads,
            },
            "status": self.status(),
            "session": session.snapshot() if session is not None and not session.ended else None,
            "record": self.recorder.to_dict() if self.recorder is not None else None,
            "method_copy": self._method_copy if session is not None else None,
        }
        try:
            self.store.save(content)
            self._save_failed = False
        except OSError as e:
            # A full or read-only disk must not stop the session in the room.
            if not self._save_failed:
                log.error("state: cannot save: %s", e)
            self._save_failed = True

    def _resume(self) -> None:
        saved = self.store.load()
        if not saved or not saved.get("session"):
            return
        snap = saved["session"]
        self._method_copy = saved.get("method_copy")
        if snap.get("method") not in self.library.methods:
            self._use_copy(snap.get("method"))
        try:
            if saved.get("record"):
                self.recorder = Recorder.from_dict(saved["record"], self.clock)
            self.device.resume(snap)
        except (ValueError, KeyError, TypeError) as e:
            self.recorder = None
            self.device.session = None
            log.warning("state: cannot resume the saved session: %s", e)
            set_aside(self.store.path, f"cannot resume: {e}")
            return
        if self.recorder is not None:
            self.recorder.restarted()
        phase = self.device.session.status().get("phase")
        log.info("session resumed method=%s phase=%s", snap.get("method"), phase)

    def _use_copy(self, mid: str | None) -> None:
        """The running method's file is gone or now refused: the session
        goes on with the copy saved beside it in the state."""
        from intervisor.method import load_method_text

        copy = self._method_copy
        if not copy or copy.get("id") != mid:
            return
        result = load_method_text(copy.get("text", ""), copy.get("name", f"{mid}.yaml"))
        if result.method is None or result.method.id != mid:
            return
        log.warning("methods: %s is not in the folder or refused; the session goes on "
                    "with the copy saved with it", mid)
        self.device.methods = {**self.library.methods, mid: result.method}

    # ------------------------------------------------------------ reload

    def _do_reload(self) -> None:
        self._reload.clear()
        self.notifier.reloading()
        log.info("reload: methods and config")
        config, problems = load_settings(self.config_path)
        if problems:
            for p in problems:
                log.error("config: %s", p)
            log.error("config: refused; keeping the one in use")
        else:
            self.config, self.config_problems = config, []
        change = self.library.reload()
        self._note_refused(change.refused)
        for kind in ("added", "changed", "removed"):
            for mid in getattr(change, kind):
                log.info("methods: %s %s", kind, mid)
        device = self.device
        device.methods = self.library.methods
        selected, choices = self._selection()
        if selected in device.methods:
            device.selected = selected
        elif device.selected not in device.methods:
            device.selected = sorted(device.methods)[0] if device.methods else None
        device.preset_choices = choices
        self._prepare_prompts(only=change.added + change.changed)
        self.reloads += 1
        if (change.refused or problems) and device.session is None:
            device.dispatch([Hush(), Say((NOTICES[self._language()]["refused"],))])
        self.save()
        self.notifier.ready(self._status_line())

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
        if self.device.queue.qsize() > 1000:
            return False  # commands pile up: the loop is not keeping up
        return True

    def _lock(self) -> bool:
        """One service per state folder: two would overwrite each other's
        state. The lock lives as long as the process, even after kill -9."""
        import fcntl

        self._lock_file = open(self.state_dir / LOCK_FILE, "a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = running_pid(self.state_dir)
            log.error("another intervisor serve%s uses %s; not starting",
                      f" (pid {other})" if other else "", self.state_dir)
            return False
        return True

    def run(self) -> int:
        from intervisor.runner import Device

        self._install_signals()
        self._configure()
        if not self._lock():
            return 1
        write_atomic(self.state_dir / PID_FILE, f"{os.getpid()}\n".encode())
        self.library = self._load_methods()
        selected, choices = self._selection()
        language = setting(self.config, "language", None) or (
            self.library.methods[selected].language if selected in self.library.methods else "nl")
        commands: "queue.Queue[Command]" = queue.Queue()
        self.parts = Parts(self.config, commands.put, language if language in NOTICES else "nl")
        self.parts.start(commands)
        self.device_language = language if language in NOTICES else "nl"
        self.device = Device(
            self.library.methods, self.clock, [self] + self.parts.adapters(),
            selected=selected, choices=choices,
            participants=setting(self.config, "participants", None),
            language=language if language in NOTICES else "nl",
            on_change=self._on_change, on_session_end=self._on_session_end,
            explain=lambda lang: gesture_text(lang, setting(self.config, "panel.second_button") is not None),
        )
        self.device.queue = commands
        source = setting(self.config, "input", None)
        if source:
            StdinInput(str(source), self.device.put)
        self._prepare_prompts()
        self._resume()
        if self.device.session is not None:
            self.parts.speak_in(self.device.session.method.language)
        if self.device.session is None:
            self.device.dispatch(self.device.greeting() if self.library.methods
                                 else [Show(Light.IDLE), Say((NOTICES[self._language()]["no_methods"],))])
        self.save()
        self.notifier.ready(self._status_line())
        log.info("ready: %s", self._status_line())
        return self._loop()

    def _prepare_prompts(self, only: Iterable[str] | None = None) -> None:
        """Every text the device may say, rendered ahead (nothing is
        synthesised while the group listens)."""
        if self.parts.sound is None:
            return
        from collections import defaultdict

        from intervisor.engine import Engine

        wanted = set(self.library.methods) if only is None else set(only)
        texts: dict[str, set[str]] = defaultdict(set)
        for mid in sorted(wanted & set(self.library.methods)):
            method = self.library.methods[mid]
            try:
                texts[method.language].update(Engine(method, self.clock).phrases_to_render())
            except Exception:
                log.exception("methods: cannot list the prompts of %s", mid)
        idle = {m.title for m in self.library.methods.values()}
        idle.update(self.device.words[k] for k in ("ready", "press_to_start"))
        idle.update(NOTICES[self.device_language].values())
        texts[self.device_language].update(idle)
        started = time.monotonic()
        n = self.parts.prepare(texts, last=self.device_language, progress=self._rendering)
        log.info("speech: %d prompts rendered, %d in all, in %.1f s", n,
                 sum(len(t) for t in texts.values()), time.monotonic() - started)

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
            if self.parts.refresh():
                self.save()
            if self._reload.is_set():
                try:
                    self._do_reload()
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
        self.parts.finish(FINISH_CUE)
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
