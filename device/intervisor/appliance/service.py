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

Prompts are rendered ahead on a thread of their own (:mod:`~intervisor.appliance.prompts`):
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

import errno
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Mapping

from intervisor.appliance.adminfiles import AdminFiles
from intervisor.appliance.keeper import StateKeeper
from intervisor.appliance.lineinput import LineInput
from intervisor.appliance.notify import Notifier
from intervisor.appliance.parts import pin_factory, Parts
from intervisor.appliance.prompts import said_in_order, RenderJob, Renderer, Prompts
from intervisor.appliance.records import Recorder, RecordBook
from intervisor.appliance.reloader import Reloader
from intervisor.appliance.resume import Resumer
from intervisor.appliance.settings import (
    DEFAULT_CONFIG, PID_FILE, LOCK_FILE, EXTEND_USEC, SELECTION_FILE, SELECTION_BYTES, RECORDS,
    MAX_WAIT, MAX_CONFIG_PROBLEMS, FINISH_CUE, STALE_AFTER, NOTICES, setting, FOLDERS,
    load_settings, read_selection, write_selection, pid_alive, running_pid, method_copy,
    method_from_copy, folder_fingerprint, boot_id, with_notices)
from intervisor.appliance.state import StateStore, remove_stale_temps
from intervisor.appliance.storage import LibraryReport, PendingRecords, WriteFaults
from intervisor.core.clock import Clock, SystemClock
from intervisor.core.events import Action, Command, Light, Mark, Play, Say, Show
from intervisor.core.phrases import gesture_text

log = logging.getLogger("intervisor.service")

# Offered here too: the command line and the tests import them from the service.
__all__ = [
    "DEFAULT_CONFIG",
    "EXTEND_USEC",
    "FINISH_CUE",
    "FOLDERS",
    "LOCK_FILE",
    "MAX_CONFIG_PROBLEMS",
    "MAX_WAIT",
    "NOTICES",
    "PID_FILE",
    "Parts",
    "RECORDS",
    "RenderJob",
    "Renderer",
    "SELECTION_BYTES",
    "SELECTION_FILE",
    "STALE_AFTER",
    "Service",
    "boot_id",
    "folder_fingerprint",
    "load_settings",
    "method_copy",
    "method_from_copy",
    "pid_alive",
    "pin_factory",
    "read_selection",
    "running_pid",
    "said_in_order",
    "serve",
    "setting",
    "with_notices",
    "write_selection",
]


class Service:
    """The device's main process. See the module's docstring."""

    def __init__(self, config_path: str | os.PathLike | None = None, *,
                 clock: Clock | None = None, environ: Mapping[str, str] | None = None):
        self.prompts = Prompts(self)
        self.resumer = Resumer(self)
        self.admin = AdminFiles(self)
        self.keeper = StateKeeper(self)
        self.config_path = str(config_path) if config_path else None
        self.clock = clock or SystemClock()
        self.notifier = Notifier(environ)
        self._stop = threading.Event()
        self.reload_asked = threading.Event()   # SIGHUP; cleared when a reload is taken
        self.device = None
        self.parts: Parts | None = None
        self.recorder: Recorder | None = None
        self._finished = None
        self.deferred_voice = None   # a voice section reloaded during a session, for after it
        self.reloads = 0
        self.config_problems: list[str] = []
        self.writes = WriteFaults()
        self.pending: PendingRecords | None = None
        self._recorded: set[int] = set()   # marks recorded ahead of their dispatch
        self.session_copy: dict | None = None
        self.fingerprint: str | None = None
        self.reloader = Reloader(self.admin.read_for_reload, wake=self._wake)
        self.up = False   # ready: set up, the saved session resumed
        self.started = time.time()

    # ------------------------------------------------------------ set-up

    def configure(self) -> None:
        """Read the config (its problems logged; refused: the defaults) and
        set up the folders it names. The first thing :meth:`run` does."""
        self.admin.config_was_there = os.path.lexists(self.config_path or DEFAULT_CONFIG)
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

    def cue_lead(self) -> float:
        """How long before a deadline the loop acts on it: ``audio.cue_lead``,
        but never less than the output buffer and two blocks, or the cue
        would still come late. 0 without sound: nothing to place."""
        lead = float(setting(self.config, "audio.cue_lead", 0.1))
        sound = self.parts.sound
        if sound is None or lead <= 0:
            return 0.0
        blocks = 2 * getattr(sound, "block_size", 256) / getattr(sound, "rate", 48000)
        return max(lead, float(getattr(sound, "output_latency", 0.0)) + blocks)

    def notice_language(self) -> str:
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
        (self.reload_asked if signum == signal.SIGHUP else self._stop).set()
        if self.device is not None:
            threading.Thread(target=self.device.put, args=(Command.TICK,), daemon=True).start()

    def _wake(self) -> None:
        if self.device is not None:
            self.device.put(Command.TICK)

    def stop(self) -> None:
        """What SIGTERM does, from another thread: the loop ends, the cue
        that plays finishes, the state is saved."""
        self._stop.set()
        self._wake()

    def reload(self) -> None:
        """What SIGHUP does, from another thread: methods and config read again."""
        self.reload_asked.set()
        self._wake()

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for (SIGTERM, SIGINT or :meth:`stop`)."""
        return self._stop.is_set()

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
            self.session_copy = self.admin.copy_of(s.method)
        if self.recorder is not None:
            self.recorder.mark(mark)

    def before_sound(self, actions: list[Action]) -> None:
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

    def reconfigure_voice(self, config) -> None:
        if self.parts.reconfigure_voice(config, self.device.queue, acts_on=self.device.accepts_by_voice):
            self._speak_in_current()

    def _speak_in_current(self) -> None:
        """Sound and voice in the language of what is running."""
        session = self.device.session
        self.parts.speak_in(session.method.language if session is not None else self.device_language)

    def on_session_end(self, engine) -> None:
        """The runner's hook: a session ended (its record closes on the next change)."""
        self._finished = engine

    def on_change(self, device) -> None:
        """The runner's hook after every step: the record, the voice set
        aside during the session, the state saved."""
        self._recorded.clear()
        if self._finished is not None:
            engine, self._finished = self._finished, None
            self._close_record(engine)
            if self.deferred_voice is not None:
                config, self.deferred_voice = self.deferred_voice, None
                self.reconfigure_voice(config)
                # Not said over the session's closing words: the voice fault
                # is on the lights and in the log.
                self.parts.take_voice_notices()
            self.session_copy = None
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
            # The storage fault is the writes' own (the light only mirrors
            # it), so a state file written as if written counts it right.
            faults |= set(self.parts.faults) - {"storage"}
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
            self.keeper.write_pid()
        if self.writes.failing("library"):
            self.report.write(self.library.methods, self.library.refused, self.fingerprint)
        self.keeper.show_storage()
        self.keeper.write_state()

    # -------------------------------------------------------------- run

    def status_line(self) -> str:
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
        from intervisor.table.runner import CommandQueue

        self._install_signals()
        self.configure()
        if not self._lock():
            return 1
        # Left by a process killed in the middle of a write (the lock says
        # no other one writes here now).
        for folder in (self.state_dir, self.state_dir / RECORDS):
            if remove_stale_temps(folder):
                log.info("state: removed the temporary files a stopped process left in %s", folder)
        error = self.keeper.write_pid()
        if error is not None and error.errno not in (errno.ENOSPC, errno.EDQUOT):
            self._unusable_state_dir(error)   # a folder it may open but not write (read-only)
            return 1
        # Before the files are read: a change meanwhile makes the next reload real.
        self.fingerprint = folder_fingerprint(self.config_path, self.methods_dir)
        self.library = self.admin.load_methods()
        selected, choices = self.admin.selection()
        language = setting(self.config, "language", None) or (
            self.library.methods[selected].language if selected in self.library.methods else "nl")
        commands: "queue.Queue[Command]" = CommandQueue()
        self.parts = Parts(self.config, commands.put, language if language in NOTICES else "nl")
        self.parts.start(commands)
        self.device_language = language if language in NOTICES else "nl"
        self.device = self._make_device(commands, selected, choices, language)
        self._start_input()
        self.admin.remember_texts(self.library.methods)
        self.prompts.wait(self.prompts.prepare())
        if self._stop.is_set():
            return self._shutdown()   # before the resume: the saved session stays as it is
        self.prompts.note_faults()
        # The saved session first: voice asks the device whether it would
        # act on a command, and must not judge one against an idle device.
        self.resumer.resume()
        self.parts.start_voice(commands, acts_on=self.device.accepts_by_voice)
        self.up = True
        if self.device.session is not None:
            # (A resumed session's announcement is what the room needs now;
            # a voice fault is on the lights and in the log.)
            self.parts.speak_in(self.device.session.method.language)
        notices = self.parts.take_voice_notices()   # said with the greeting, or the lights and log carry them
        if self.device.session is None and not self.resumer.closed_on_resume:
            self.device.dispatch(with_notices(
                self.device.greeting() if self.library.methods
                else [Show(Light.IDLE), Say((NOTICES[self.notice_language()]["no_methods"],))],
                notices))
        self.save()
        self.notifier.ready(self.status_line())
        log.info("ready: %s", self.status_line())
        return self._loop()

    def _make_device(self, commands, selected, choices, language: str):
        """The device: the service first among its adapters, then the parts'."""
        from intervisor.table.runner import Device

        device = Device(
            self.library.methods, self.clock, [self] + self.parts.adapters(),
            selected=selected, choices=choices,
            participants=setting(self.config, "participants", None),
            language=language if language in NOTICES else "nl",
            on_change=self.on_change, on_session_end=self.on_session_end,
            before_sound=self.before_sound,
            explain=lambda lang: gesture_text(lang, setting(self.config, "panel.second_button") is not None),
            lead=self.cue_lead(),
        )
        device.queue = commands
        return device

    def _start_input(self) -> None:
        """``input:`` (stdin or a FIFO), when it can be a button source."""
        source = setting(self.config, "input", None)
        if not source:
            return
        try:
            LineInput(LineInput.open(str(source)), self.device.put)
        except ValueError as e:
            self.parts.found_fault("input", f"{source} is not taken as input: {e}")

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
            if self.parts.refresh() | self.prompts.note_faults():
                self.save()
            if self.reload_asked.is_set():
                self.admin.request_reload()
            reading = self.reloader.take()
            if reading is not None:
                try:
                    self.admin.apply_reload(reading)
                except Exception:
                    log.exception("reload failed; keeping what was loaded")
                    self.notifier.ready(self.status_line())
            now = time.monotonic()
            if interval is not None and now - last_ping >= interval / 2 and self._healthy():
                self.notifier.watchdog()
                last_ping = now
        return self._shutdown()

    def _shutdown(self) -> int:
        self.notifier.stopping()
        log.info("stopping")
        self.prompts.close()
        self.parts.finish(FINISH_CUE)
        if self.up:
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
