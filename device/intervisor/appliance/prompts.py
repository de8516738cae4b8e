"""Prompts rendered ahead, on a thread of their own (:class:`Renderer`):
start-up waits for them before READY=1, a reload does not, so a session in
the room keeps its ticks and presses while espeak-ng works.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Iterable, Mapping, TYPE_CHECKING

from intervisor.appliance.settings import EXTEND_USEC, NOTICES, setting
from intervisor.core.events import Say
from intervisor.core.phrases import gesture_text

if TYPE_CHECKING:
    from intervisor.appliance.service import Service

log = logging.getLogger("intervisor.service")


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


class Prompts:
    """The service's prompts: which texts, rendered when, and the faults found rendering them."""

    def __init__(self, service: Service):
        self.service = service
        self.renderer: Renderer | None = None
        self._render_stop = threading.Event()

    def close(self) -> None:
        """Stop rendering: after its batch; nothing waits for it."""
        if self.renderer is not None:
            self.renderer.close()
        self._render_stop.set()

    def prepare(self, only: Iterable[str] | None = None, label: str = "start-up") -> RenderJob | None:
        """Every text the device may say, rendered ahead on the render thread
        (nothing is synthesised while the group listens). The job, or
        ``None`` when there is no sound."""
        if self.service.parts.sound is None:
            return None
        from collections import defaultdict

        from intervisor.core.engine import Engine

        wanted = set(self.service.library.methods) if only is None else set(only)
        # Ordered sets: the order things will be said, for Piper to follow.
        texts: dict[str, dict[str, None]] = defaultdict(dict)
        second_button = setting(self.service.config, "panel.second_button") is not None
        voice_on = setting(self.service.config, "voice.enabled", False)
        if voice_on:
            from intervisor.voice.listen import unavailable_notice
        idle = [self.service.device.words["ready"]]
        if self.service.device.selected is not None:
            idle.append(self.service.device.methods[self.service.device.selected].title)
        idle += [self.service.device.words["press_to_start"], *sorted(m.title for m in self.service.library.methods.values()),
                 *NOTICES[self.service.device_language].values()]
        texts[self.service.device_language].update(dict.fromkeys(idle))
        order = [(self.service.device_language, idle)]
        first = [self.service.device.selected] if self.service.device.selected in wanted else []
        for mid in first + sorted(wanted & set(self.service.library.methods) - set(first)):
            method = self.service.library.methods[mid]
            said = [gesture_text(method.language, second_button)]   # at a method's first start
            try:
                if mid in first:
                    said += said_in_order(method, self.service.device.preset_choices, self.service.device.participants)
                said += sorted(Engine(method, self.service.clock).phrases_to_render())
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

            self.renderer = Renderer(self.service.parts.speech_for, self._render_stop,
                                     workers=lambda: PARALLEL if self.service.device.session is None else 1)
        return self.renderer.submit(texts, label, progress=self._rendering if only is None else None,
                                    said=order)

    def wait(self, job: RenderJob | None) -> None:
        """Start-up waits for its prompts (READY means they are there), but
        not past a SIGTERM."""
        while job is not None and not job.done.wait(0.1):
            if self.service.stopping:
                self._render_stop.set()
                return

    def note_faults(self) -> bool:
        faults = self.renderer.faults() if self.renderer is not None else []
        for part, why in faults:
            self.service.parts.found_fault(part, why)
        return bool(faults)

    def _rendering(self, language: str) -> None:
        # A cold cache on a slow Pi renders for minutes: each language gets
        # its own time before systemd gives up on the start (or the reload).
        self.service.notifier.send(extend_timeout_usec=EXTEND_USEC, status=f"rendering the {language} prompts")
