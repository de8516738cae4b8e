"""The hardware-facing adapters ``intervisor serve`` starts (panel, sound,
voice), each optional, and the faults they show: a missing audio device or
GPIO chip is logged and lit, never a reason to stop.
"""

from __future__ import annotations

import logging
import queue
from typing import Any, Callable

from intervisor.appliance.settings import setting
from intervisor.core.events import Command, Say

log = logging.getLogger("intervisor.service")


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
            from intervisor.sound import config as sound

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
