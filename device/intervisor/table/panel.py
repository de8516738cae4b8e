"""The table panel: one button (and an optional second one), a time light
and a microphone light, with gpiozero.

The chair steers without looking, so every gesture is either a plain press
or a hold that the device counts out loud with ticks ("what you heard is
what you get")::

    press, release          next (question, turn, phase); taken on RELEASE,
                            never held back to wait for a second press
    hold: 1 tick, release   repeat the last prompt
          2 ticks           back
          3 ticks           pause / resume
          4 ticks           end (the device asks for a spoken confirmation)
          6 ticks           cancel: nothing happens (a different sound)

While choosing (at idle: which method; at the start: question set, story,
number of participants) a press takes what was said last, one tick steps
to the next option and two go back one step (the option before, or at the
start the question before). The optional second button: a press repeats,
one tick goes back (a press steps while choosing).

Each gesture gives exactly one :class:`~intervisor.core.events.Command`, decided
on release; gpiozero's callbacks only put it on the queue. Everything here
runs on any pin factory: the real one on the Pi, gpiozero's
:class:`~gpiozero.pins.mock.MockFactory` in the simulator and the tests.

>>> import queue
>>> from gpiozero.pins.mock import MockFactory, MockPWMPin
>>> factory = MockFactory(pin_class=MockPWMPin)
>>> from intervisor.core.clock import FakeClock
>>> clock, commands = FakeClock(), queue.Queue()
>>> panel = Panel(commands, clock=clock, pin_factory=factory)
>>> pin = factory.pin(panel.pins["button"])
>>> pin.drive_low(); clock.advance(0.15); pin.drive_high()
>>> commands.get_nowait()
<Command.NEXT: 'next'>
>>> panel.perform(Show(Light.WARNING))
>>> panel.time_light.colour
'amber'
>>> panel.close()
"""

from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from gpiozero import LED, PWMLED, Button, RGBLED
from gpiozero.exc import PinPWMUnsupported

from intervisor.core.clock import Clock, SystemClock
from intervisor.core.events import Command, Light, Show

# One entry per tick count; a count past the end cancels the gesture. The
# repeated END leaves a tick's grace between "end" and "cancel", so a chair
# who lets go a little late after the fourth tick still ends.
SESSION = (Command.NEXT, Command.REPEAT, Command.BACK, Command.PAUSE, Command.END, Command.END)
CHOOSING = (Command.NEXT, Command.STEP, Command.BACK)
SECOND_SESSION = (Command.REPEAT, Command.BACK)
SECOND_CHOOSING = (Command.STEP, Command.BACK)


def default_pins() -> dict[str, int | None]:
    """The pins of a panel built without a config: the config's defaults."""
    from intervisor.files.config import Panel as PanelConfig

    c = PanelConfig()
    return {"button": c.button, "button2": c.second_button, "green": c.green,
            "amber": c.amber, "red": c.red, "mic": c.mic_light}


def from_config(config, commands: queue.Queue, *, pin_factory=None, **kwargs) -> "Panel":
    """The panel the config describes (:class:`intervisor.files.config.Config`).
    The config loader has already checked the pins (range, used twice, the
    microphone light while voice is on), each with its line; the light is
    asked again here for a config changed in code after loading.

    >>> import queue
    >>> from intervisor.files.config import Config
    >>> from gpiozero.pins.mock import MockFactory, MockPWMPin
    >>> panel = from_config(Config.default(), queue.Queue(),
    ...                     pin_factory=MockFactory(pin_class=MockPWMPin))
    >>> panel.pins["button"], panel.button.hold
    (17, 0.8)
    >>> panel.close()
    """
    p = config.panel
    if config.voice.enabled and p.mic_light is None:
        where = config.path or "config"
        raise ValueError(f"{where}: panel.mic_light: the microphone light cannot be switched off "
                         "while voice is on (the group must see when the device listens)")
    pins: dict[str, object] = {"button": p.button, "button2": p.second_button, "mic": p.mic_light}
    if p.lights == "rgb":
        pins["rgb"] = tuple(p.rgb)
    else:
        pins.update(green=p.green, amber=p.amber, red=p.red)
    return Panel(commands, pins=pins, hold=p.hold, bounce=p.bounce, active_high=p.active_high,
                 pin_factory=pin_factory, **kwargs)


def tick_cues(sound) -> Callable[[Command | None], None]:
    """Hold ticks played by a sound adapter: a soft tick for each step of
    the gesture, the error cue when holding on has cancelled it.
    ``panel.on_tick = tick_cues(sound)``."""
    from intervisor.core.events import Cue, Play

    def tick(command: Command | None) -> None:
        sound.perform(Play(Cue.HEARD if command is not None else Cue.ERROR))

    return tick


class PushButton:
    """One push button that turns gestures into commands on a queue.

    ``table`` gives the command for each tick count (index 0: a plain
    press); it is a callable so the panel can switch between session and
    choosing, read once at the press so the ticks and the decision agree.
    ``on_tick(command)`` is called at every tick that changes what a
    release would give (``None``: the gesture would be cancelled), so the
    chair hears when to let go. It runs on gpiozero's thread and must only
    hand the cue on (e.g. to the sound adapter's queue).

    >>> import queue
    >>> from gpiozero.pins.mock import MockFactory
    >>> commands = queue.Queue()
    >>> button = PushButton(17, commands, table=lambda: SESSION, pin_factory=MockFactory())
    """

    def __init__(
        self,
        pin: int,
        commands: queue.Queue,
        *,
        table: Callable[[], Sequence[Command]] = lambda: SESSION,
        hold: float = 1.0,
        bounce: float = 0.03,
        on_tick: Callable[[Command | None], None] | None = None,
        clock: Clock | None = None,
        pin_factory=None,
    ):
        self.commands = commands
        self.bounce = bounce
        self.on_tick = on_tick
        self._table = table
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._down = False
        self._last_edge = -math.inf
        self._ticks = 0
        self._current: Sequence[Command] = ()
        # Bounce is filtered here, not by gpiozero: a lock-out filter takes
        # the first edge at once, where the driver's debounce would delay
        # every press and release by the bounce time.
        self.button = Button(
            pin, pull_up=True, bounce_time=None, hold_time=hold,
            hold_repeat=True, pin_factory=pin_factory,
        )
        self.button.when_pressed = self._pressed
        self.button.when_released = self._released
        self.button.when_held = self._held

    @property
    def hold(self) -> float:
        return self.button.hold_time

    def _pressed(self) -> None:
        now = self._clock.monotonic()
        with self._lock:
            if now - self._last_edge < self.bounce:
                return
            # Already down here means a release shorter than the bounce
            # time was filtered as bounce: this press starts afresh.
            self._down = True
            self._last_edge = now
            self._ticks = 0
            self._current = tuple(self._table())
            self._changed.notify_all()

    def _released(self) -> None:
        now = self._clock.monotonic()
        with self._lock:
            if not self._down or now - self._last_edge < self.bounce:
                return
            self._down = False
            self._last_edge = now
            command = self._decide(self._ticks)
            self._changed.notify_all()
        if command is not None:
            self.commands.put(command)

    def _held(self) -> None:
        with self._lock:
            if not self._down:
                return
            before = self._decide(self._ticks)
            self._ticks += 1
            after = self._decide(self._ticks)
            changed = after != before
            self._changed.notify_all()
        if changed and self.on_tick is not None:
            self.on_tick(after)

    def _decide(self, ticks: int) -> Command | None:
        table = self._current
        return table[ticks] if ticks < len(table) else None

    @property
    def pending(self) -> Command | None:
        """What letting go now would give (``None``: nothing, or cancelled)."""
        with self._lock:
            return self._decide(self._ticks) if self._down else None

    @property
    def ticks(self) -> int:
        """Ticks counted in the press going on now (0 when released)."""
        with self._lock:
            return self._ticks if self._down else 0

    def wait_ticks(self, ticks: int, timeout: float | None = None) -> bool:
        """Wait until the press going on has counted ``ticks`` ticks (the
        simulator's finger lets go then). False when it was released first
        or the timeout passed."""
        with self._changed:
            self._changed.wait_for(lambda: not self._down or self._ticks >= ticks, timeout)
            return self._down and self._ticks >= ticks

    def close(self) -> None:
        self.button.close()


# How each state looks. Paused keeps the colour the time was in, so the
# group still sees where it stood; only the rhythm says "paused".
@dataclass(frozen=True)
class Pattern:
    colour: str | None          # None: keep the colour shown before
    kind: str                   # steady | blink | breathe
    on: float = 0.0
    off: float = 0.0


PATTERNS: Mapping[Light, Pattern] = {
    Light.IDLE: Pattern("green", "breathe", 2.0, 2.0),
    Light.RUNNING: Pattern("green", "steady"),
    Light.WARNING: Pattern("amber", "steady"),
    Light.TIME_UP: Pattern("red", "steady"),
    Light.OVERTIME: Pattern("red", "blink", 0.5, 0.5),
    Light.PAUSED: Pattern(None, "blink", 0.25, 1.75),
    Light.FAULT: Pattern("red", "blink", 0.1, 0.1),
}
RGB = {"green": (0.0, 1.0, 0.0), "amber": (1.0, 0.5, 0.0), "red": (1.0, 0.0, 0.0)}


class TimeLight:
    """Where the time stands: three LEDs (``leds=(green, amber, red)``) or
    one RGB LED (``rgb=(red, green, blue)``).

    A fault (no audio device, bad config) blinks fast over whatever the
    engine shows, until :meth:`clear_fault`; then the engine's light is back.

    >>> from gpiozero.pins.mock import MockFactory, MockPWMPin
    >>> light = TimeLight(leds=(22, 23, 24), pin_factory=MockFactory(pin_class=MockPWMPin))
    >>> light.show(Light.TIME_UP); light.colour
    'red'
    >>> light.close()
    """

    def __init__(
        self,
        *,
        leds: tuple[int, int, int] | None = None,
        rgb: tuple[int, int, int] | None = None,
        active_high: bool = True,
        pin_factory=None,
    ):
        if (leds is None) == (rgb is None):
            raise ValueError("a time light is either three LEDs or one RGB LED")
        self._lock = threading.Lock()
        self.light = Light.IDLE
        self.colour = "green"
        self.faults: set[str] = set()
        if rgb is not None:
            self._rgb = RGBLED(*rgb, active_high=active_high, pwm=True, pin_factory=pin_factory)
            self._leds = {}
        else:
            self._rgb = None
            self._leds = {
                name: _dimmable(pin, active_high, pin_factory)
                for name, pin in zip(("green", "amber", "red"), leds)
            }
        self._apply()

    @property
    def shown(self) -> Light:
        """What the light shows now (FAULT while any fault is set)."""
        return Light.FAULT if self.faults else self.light

    def show(self, light: Light) -> None:
        if light is Light.FAULT:
            self.fault("engine")
            return
        with self._lock:
            self.light = light
            self._apply()

    def fault(self, reason: str) -> None:
        """Set a fault, e.g. ``fault("audio")``; several may be set at once."""
        with self._lock:
            self.faults.add(reason)
            self._apply()

    def clear_fault(self, reason: str | None = None) -> None:
        with self._lock:
            if reason is None:
                self.faults.clear()
            else:
                self.faults.discard(reason)
            self._apply()

    def _apply(self) -> None:
        pattern = PATTERNS[self.shown]
        if pattern.colour is not None:
            # A fault borrows red without changing the colour paused keeps.
            if not self.faults:
                self.colour = pattern.colour
            colour = pattern.colour
        else:
            colour = self.colour
        if self._rgb is not None:
            self._show_rgb(pattern, RGB[colour])
        else:
            self._show_leds(pattern, colour)

    def _show_rgb(self, pattern: Pattern, rgb: tuple[float, float, float]) -> None:
        led = self._rgb
        if pattern.kind == "steady":
            led.color = rgb
        elif pattern.kind == "blink":
            led.blink(pattern.on, pattern.off, on_color=rgb)
        else:
            led.pulse(pattern.on, pattern.off, on_color=rgb)

    def _show_leds(self, pattern: Pattern, colour: str) -> None:
        for name, led in self._leds.items():
            if name != colour:
                led.off()
        led = self._leds[colour]
        if pattern.kind == "steady":
            led.on()
        elif pattern.kind == "blink" or not isinstance(led, PWMLED):
            led.blink(pattern.on, pattern.off)
        else:
            led.pulse(pattern.on, pattern.off)

    def levels(self) -> dict[str, float]:
        """Brightness of green, amber and red now, 0..1 (read back from the
        pins; the simulator draws its dots from this)."""
        if self._rgb is not None:
            r, g, b = self._rgb.value
            amber = min(r, g * 2) if r and g else 0.0
            return {"green": 0.0 if amber else g, "amber": amber, "red": 0.0 if amber else r}
        return {name: float(led.value) for name, led in self._leds.items()}

    def close(self) -> None:
        for led in [self._rgb, *self._leds.values()]:
            if led is not None:
                led.close()


def _dimmable(pin: int, active_high: bool, pin_factory):
    # Breathing needs PWM; a pin factory without it still blinks.
    try:
        return PWMLED(pin, active_high=active_high, pin_factory=pin_factory)
    except PinPWMUnsupported:
        return LED(pin, active_high=active_high, pin_factory=pin_factory)


class MicLight:
    """On exactly while the microphone stream is open, so the group always
    knows. The voice adapter calls it as it opens and closes the stream:

    >>> from gpiozero.pins.mock import MockFactory
    >>> mic = MicLight(25, pin_factory=MockFactory())
    >>> mic(True); mic.is_lit
    True
    >>> mic.off(); mic.is_lit
    False
    >>> mic.close()
    """

    def __init__(self, pin: int | None, *, active_high: bool = True, pin_factory=None):
        # No pin: not fitted (allowed only while voice is off, see from_config).
        self._led = None if pin is None else LED(pin, active_high=active_high, pin_factory=pin_factory)
        self._lit = False

    def __call__(self, open_: bool) -> None:
        self.on() if open_ else self.off()

    def on(self) -> None:
        self._lit = True
        if self._led is not None:
            self._led.on()

    def off(self) -> None:
        self._lit = False
        if self._led is not None:
            self._led.off()

    @property
    def is_lit(self) -> bool:
        return self._lit

    def close(self) -> None:
        if self._led is not None:
            self._led.close()


class Panel:
    """Everything on the table: the button(s), the time light, the mic light.

    ``pins`` maps ``button``, ``button2``, ``green``, ``amber``, ``red`` (or
    ``rgb``: the red, green and blue legs of one RGB LED) and ``mic`` to
    BCM numbers; missing keys take the config's defaults (``button2`` and
    ``mic`` may be ``None``: not fitted). ``choosing`` switches the gestures
    between a session and a choice (a :class:`Show` of :attr:`Light.IDLE`
    sets it, as the engine and the runner send while a choice is open or
    the device is idle). The runner hands every engine action to
    :meth:`perform`. On the device, build it with :func:`from_config`.
    """

    def __init__(
        self,
        commands: queue.Queue,
        *,
        pins: Mapping[str, object] | None = None,
        hold: float = 1.0,
        bounce: float = 0.03,
        active_high: bool = True,
        on_tick: Callable[[Command | None], None] | None = None,
        clock: Clock | None = None,
        pin_factory=None,
    ):
        given = dict(pins or {})
        defaults = default_pins()
        if given.get("rgb") is not None:
            # An RGB LED replaces the three single LEDs and their default pins.
            for name in ("green", "amber", "red"):
                defaults.pop(name)
        self.pins = {**defaults, **given}
        self.choosing = False
        self._closed = []
        try:
            self.button = PushButton(
                self.pins["button"], commands, table=self._table, hold=hold,
                bounce=bounce, on_tick=on_tick, clock=clock, pin_factory=pin_factory,
            )
            self._closed.append(self.button)
            self.button2 = None
            if self.pins.get("button2") is not None:
                self.button2 = PushButton(
                    self.pins["button2"], commands, table=self._table2, hold=hold,
                    bounce=bounce, on_tick=on_tick, clock=clock, pin_factory=pin_factory,
                )
                self._closed.append(self.button2)
            if self.pins.get("rgb") is not None:
                self.time_light = TimeLight(
                    rgb=tuple(self.pins["rgb"]), active_high=active_high, pin_factory=pin_factory)
            else:
                self.time_light = TimeLight(
                    leds=(self.pins["green"], self.pins["amber"], self.pins["red"]),
                    active_high=active_high, pin_factory=pin_factory)
            self._closed.append(self.time_light)
            self.mic_light = MicLight(self.pins.get("mic"), active_high=active_high, pin_factory=pin_factory)
            self._closed.append(self.mic_light)
        except BaseException:
            self.close()
            raise

    @property
    def on_tick(self) -> Callable[[Command | None], None] | None:
        return self.button.on_tick

    @on_tick.setter
    def on_tick(self, callback: Callable[[Command | None], None] | None) -> None:
        """Who plays the hold ticks (the sound adapter comes up after the
        panel, so it is wired here later): see :func:`tick_cues`."""
        for button in (self.button, self.button2):
            if button is not None:
                button.on_tick = callback

    def _table(self) -> Sequence[Command]:
        return CHOOSING if self.choosing else SESSION

    def _table2(self) -> Sequence[Command]:
        return SECOND_CHOOSING if self.choosing else SECOND_SESSION

    def perform(self, action) -> None:
        """Carry out an engine action: only :class:`Show` concerns the panel.
        Never blocks (blinking and breathing run on gpiozero's threads)."""
        if isinstance(action, Show):
            if action.light is Light.IDLE:
                self.choosing = True
            elif action.light in (Light.RUNNING, Light.WARNING, Light.TIME_UP, Light.OVERTIME):
                self.choosing = False
            self.time_light.show(action.light)

    def fault(self, reason: str) -> None:
        self.time_light.fault(reason)

    def clear_fault(self, reason: str | None = None) -> None:
        self.time_light.clear_fault(reason)

    def close(self) -> None:
        for part in reversed(self._closed):
            part.close()
        self._closed.clear()

