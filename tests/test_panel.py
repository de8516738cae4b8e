"""The table panel on gpiozero's own MockFactory: gestures, lights, pins,
and a whole session driven through the mock button pin."""

from __future__ import annotations

import dataclasses
import queue
import threading

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from intervisor.core.clock import FakeClock
from intervisor.core.events import Command, Light, Mark, Show
from intervisor.files.config import load_config_text
from intervisor.table.panel import Panel, from_config, tick_cues
from intervisor.core.phrases import gesture_text

BOUNCE = 0.03
WAIT = 10.0  # bounded waits only; nothing asserts how long anything took


@pytest.fixture
def factory():
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = None


class Hand:
    """Presses the mock button like a chair. gpiozero's own hold thread
    counts the ticks; ``on_tick`` blocks that thread until the hand has let
    go, so a slow machine can never add a tick the hand did not wait for."""

    def __init__(self, factory, pin, clock):
        self.pin = factory.pin(pin)
        self.clock = clock
        self.heard: list[Command | None] = []
        self._tick = threading.Semaphore(0)
        self._go = threading.Event()

    def on_tick(self, command):
        self.heard.append(command)
        self._go.clear()
        self._tick.release()
        self._go.wait(WAIT)

    def press(self):
        self.pin.drive_low()
        self.clock.advance(0.2)
        self.pin.drive_high()
        self.clock.advance(0.2)

    def hold(self, cues: int):
        """Hold until the ``cues``-th cue is heard, then let go."""
        self.pin.drive_low()
        self.clock.advance(0.2)
        for n in range(cues):
            if n:
                self._go.set()  # let the hold thread count on
            assert self._tick.acquire(timeout=WAIT), "no hold cue came"
        self.pin.drive_high()
        self.clock.advance(0.2)
        self._go.set()


def make_panel(factory, pins=None, hold=0.02):
    commands: queue.Queue = queue.Queue()
    clock = FakeClock()
    holder = {}
    panel = Panel(
        commands, pins=pins, hold=hold, bounce=BOUNCE, clock=clock, pin_factory=factory,
        on_tick=lambda c: holder["hand"].on_tick(c),
    )
    hand = Hand(factory, panel.pins["button"], clock)
    holder["hand"] = hand
    return panel, commands, hand


def drain(commands: queue.Queue) -> list[Command]:
    out = []
    while True:
        try:
            out.append(commands.get_nowait())
        except queue.Empty:
            return out


# ----------------------------------------------------------------- gestures

def test_a_press_gives_next_on_release_not_before(factory):
    panel, commands, hand = make_panel(factory)
    hand.pin.drive_low()
    hand.clock.advance(0.2)
    assert drain(commands) == []
    hand.pin.drive_high()
    assert drain(commands) == [Command.NEXT]
    panel.close()


@pytest.mark.parametrize("cues, command", [
    (1, Command.REPEAT), (2, Command.BACK), (3, Command.PAUSE), (4, Command.END),
])
def test_hold_lengths_in_a_session(factory, cues, command):
    panel, commands, hand = make_panel(factory)
    hand.hold(cues)
    assert drain(commands) == [command]
    assert hand.heard == [Command.REPEAT, Command.BACK, Command.PAUSE, Command.END][:cues]
    panel.close()


def test_holding_past_end_cancels_with_its_own_cue(factory):
    panel, commands, hand = make_panel(factory)
    hand.hold(5)
    assert hand.heard == [Command.REPEAT, Command.BACK, Command.PAUSE, Command.END, None]
    assert drain(commands) == []
    hand.press()  # and the button works on as before
    assert drain(commands) == [Command.NEXT]
    panel.close()


def test_choosing_press_takes_one_tick_steps_and_two_go_back(factory):
    panel, commands, hand = make_panel(factory)
    panel.perform(Show(Light.IDLE))
    hand.hold(1)
    hand.press()
    hand.hold(2)
    hand.hold(3)  # past the last choosing gesture: cancelled
    assert drain(commands) == [Command.STEP, Command.NEXT, Command.BACK]
    assert hand.heard == [Command.STEP, Command.STEP, Command.BACK, Command.STEP, Command.BACK, None]
    panel.perform(Show(Light.RUNNING))
    hand.hold(1)
    assert drain(commands) == [Command.REPEAT]
    panel.close()


def test_bounce_on_press_and_release_gives_one_command(factory):
    panel, commands, hand = make_panel(factory)
    pin, clock = hand.pin, hand.clock
    for _ in range(3):
        pin.drive_low(); pin.drive_high()
    pin.drive_low()
    clock.advance(0.15)
    pin.drive_high()
    for _ in range(3):
        pin.drive_low(); pin.drive_high()
    assert drain(commands) == [Command.NEXT]
    clock.advance(0.15)
    hand.press()
    assert drain(commands) == [Command.NEXT]
    panel.close()


def test_a_glitch_shorter_than_bounce_is_no_press(factory):
    panel, commands, hand = make_panel(factory)
    hand.pin.drive_low(); hand.pin.drive_high()
    hand.clock.advance(0.5)
    assert drain(commands) == []
    hand.press()
    assert drain(commands) == [Command.NEXT]
    panel.close()


def test_second_button_repeats_and_goes_back(factory):
    panel, commands, hand = make_panel(factory, pins={"button2": 16})
    second = Hand(factory, 16, hand.clock)
    panel.button2.on_tick = second.on_tick
    second.press()
    second.hold(1)
    assert drain(commands) == [Command.REPEAT, Command.BACK]
    panel.perform(Show(Light.IDLE))
    second.press()
    assert drain(commands) == [Command.STEP]
    panel.close()


def test_gestures_are_explained_in_both_languages():
    assert "vier is afronden" in gesture_text("nl")
    assert "second button" in gesture_text("en", second_button=True)


# ------------------------------------------------------------------- lights

def pin_saw(pin, values, timeout=WAIT):
    """Wait (bounded) until the mock pin has taken each kind of value:
    'on' (1), 'off' (0), 'between' (a PWM level in between)."""
    def kinds():
        seen = set()
        for s in list(pin.states):
            v = float(s.state)
            seen.add("on" if v >= 0.999 else "off" if v <= 0.001 else "between")
        return seen
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not done.is_set():
            if set(values) <= kinds():
                return True
            done.wait(0.01)
        return False
    finally:
        deadline.cancel()


def level(factory, pin):
    return float(factory.pin(pin).state)


@pytest.mark.parametrize("light, colour", [
    (Light.RUNNING, "green"), (Light.WARNING, "amber"), (Light.TIME_UP, "red"),
])
def test_steady_lights(factory, light, colour):
    panel, _, _ = make_panel(factory)
    panel.perform(Show(light))
    for name in ("green", "amber", "red"):
        assert level(factory, panel.pins[name]) == (1.0 if name == colour else 0.0)
    panel.close()


@pytest.mark.parametrize("light, colour, kinds", [
    (Light.IDLE, "green", {"between"}),
    (Light.OVERTIME, "red", {"on", "off"}),
    (Light.FAULT, "red", {"on", "off"}),
])
def test_moving_lights(factory, light, colour, kinds):
    panel, _, _ = make_panel(factory)
    panel.perform(Show(Light.RUNNING))
    for name in ("green", "amber", "red"):
        factory.pin(panel.pins[name]).clear_states()
    panel.perform(Show(light))
    assert pin_saw(factory.pin(panel.pins[colour]), kinds)
    others = [n for n in ("green", "amber", "red") if n != colour]
    assert all(level(factory, panel.pins[n]) == 0.0 for n in others)
    panel.close()


def test_paused_blinks_slowly_in_the_colour_time_stood_at(factory):
    panel, _, _ = make_panel(factory)
    panel.perform(Show(Light.WARNING))
    panel.perform(Show(Light.PAUSED))
    amber = factory.pin(panel.pins["amber"])
    amber.clear_states()
    assert pin_saw(amber, {"on", "off"})
    assert level(factory, panel.pins["green"]) == level(factory, panel.pins["red"]) == 0.0
    slow = panel.time_light._leds["amber"]
    assert panel.time_light.shown is Light.PAUSED
    assert slow._blink_thread is not None  # still blinking: gpiozero's own thread
    panel.close()


def test_fault_blinks_over_the_engine_light_until_cleared(factory):
    panel, _, _ = make_panel(factory)
    panel.perform(Show(Light.RUNNING))
    panel.fault("audio")
    panel.perform(Show(Light.WARNING))  # remembered, not shown yet
    assert panel.time_light.shown is Light.FAULT
    assert pin_saw(factory.pin(panel.pins["red"]), {"on", "off"})
    panel.clear_fault("audio")
    assert panel.time_light.shown is Light.WARNING
    assert level(factory, panel.pins["amber"]) == 1.0
    assert level(factory, panel.pins["red"]) == 0.0
    panel.close()


def test_rgb_led_shows_the_same_states(factory):
    panel, _, _ = make_panel(factory, pins={"rgb": (5, 6, 13)})
    assert "green" not in panel.pins  # the three single LEDs are not claimed
    rgb = lambda: tuple(level(factory, pin) for pin in (5, 6, 13))
    panel.perform(Show(Light.RUNNING))
    assert rgb() == (0.0, 1.0, 0.0)
    panel.perform(Show(Light.WARNING))
    assert rgb() == (1.0, 0.5, 0.0)
    assert panel.time_light.levels()["amber"] > 0.5
    panel.perform(Show(Light.TIME_UP))
    assert rgb() == (1.0, 0.0, 0.0)
    panel.perform(Show(Light.OVERTIME))
    assert pin_saw(factory.pin(5), {"on", "off"})
    panel.close()


def test_mic_light_follows_the_stream(factory):
    panel, _, _ = make_panel(factory)
    mic = factory.pin(panel.pins["mic"])
    panel.mic_light.on()
    assert mic.state
    panel.mic_light(False)
    assert not mic.state
    panel.mic_light(True)
    assert panel.mic_light.is_lit
    panel.close()


def test_perform_ignores_everything_but_show(factory):
    panel, _, _ = make_panel(factory)
    panel.perform(Mark("intro"))
    assert panel.time_light.shown is Light.IDLE
    panel.close()


# ------------------------------------------------------------------- config

def test_built_from_the_config(factory):
    config = load_config_text(
        "panel:\n  lights: rgb\n  rgb: [5, 6, 13]\n  second_button: 16\n  hold: 0.5\n",
        "config.yaml",
    )
    panel = from_config(config, queue.Queue(), pin_factory=factory)
    assert panel.pins["rgb"] == (5, 6, 13) and panel.button2 is not None
    assert panel.button.hold == 0.5
    panel.perform(Show(Light.TIME_UP))
    assert level(factory, 5) == 1.0 and level(factory, 6) == 0.0
    panel.close()


def test_the_mic_light_cannot_be_configured_away_while_voice_is_on(factory):
    from intervisor.files.config import ConfigError

    # The loader refuses it with its line (tests/test_config.py has the rest) ...
    with pytest.raises(ConfigError, match=r"config.yaml:4: panel.mic_light needs a pin while voice.enabled"):
        load_config_text("voice:\n  enabled: true\npanel:\n  mic_light: null\n", "config.yaml")
    # ... and the panel asks again of a config changed after loading.
    config = load_config_text("voice:\n  enabled: true\n", "config.yaml")
    config = dataclasses.replace(config, panel=dataclasses.replace(config.panel, mic_light=None))
    with pytest.raises(ValueError, match="config.yaml: panel.mic_light: .*cannot be switched off while voice is on"):
        from_config(config, queue.Queue(), pin_factory=factory)


def test_active_low_lights_from_the_config(factory):
    config = load_config_text("panel:\n  active_high: false\n", "config.yaml")
    panel = from_config(config, queue.Queue(), pin_factory=factory)
    panel.perform(Show(Light.WARNING))
    # Lit is a low pin: only amber's pin is pulled down.
    assert [level(factory, panel.pins[n]) for n in ("green", "amber", "red")] == [1.0, 0.0, 1.0]
    assert level(factory, panel.pins["mic"]) == 1.0
    panel.mic_light(True)
    assert level(factory, panel.pins["mic"]) == 0.0
    assert panel.time_light.levels() == {"green": 0.0, "amber": 1.0, "red": 0.0}
    panel.close()


def test_a_common_anode_rgb_led_from_the_config(factory):
    config = load_config_text("panel:\n  lights: rgb\n  rgb: [5, 6, 13]\n  active_high: false\n",
                              "config.yaml")
    panel = from_config(config, queue.Queue(), pin_factory=factory)
    legs = lambda: tuple(level(factory, pin) for pin in (5, 6, 13))
    panel.perform(Show(Light.RUNNING))
    assert legs() == (1.0, 0.0, 1.0)  # green's leg low, the others high: green
    panel.perform(Show(Light.WARNING))
    assert legs() == (0.0, 0.5, 1.0)
    assert panel.time_light.levels()["amber"] > 0.5
    panel.perform(Show(Light.TIME_UP))
    assert legs() == (0.0, 1.0, 1.0)
    panel.close()


def test_hold_ticks_are_played_by_the_sound_adapter():
    from intervisor.core.events import Cue, Play
    from intervisor.table.runner import ActionLog

    sound = ActionLog()
    tick = tick_cues(sound)
    tick(Command.BACK)
    tick(None)
    assert sound.actions == [Play(Cue.HEARD), Play(Cue.ERROR)]


# ------------------------------------------------------------ whole session

def test_a_whole_session_through_the_mock_pins(factory):
    from intervisor.core.engine import Engine
    from intervisor.core.model import Choice, Duration, Method, Option, Phase, Question

    method = Method(
        "proef", "Proef", "nl",
        phases=(
            Phase("inbreng", "Inbreng", Duration(120, 120), from_choice="set"),
            Phase("advies", "Advies", Duration(60, 60)),
        ),
        choices=(Choice("set", "Welke set?", (
            Option("a", "Set A", questions=(Question("Wat?"),)),
            Option("b", "Set B", questions=(Question("Hoe?"), Question("Waarom?"))),
        )),),
    )
    panel, commands, hand = make_panel(factory)
    engine = Engine(method, hand.clock, participants=4)
    marks: list[str] = []

    def run(actions):
        for action in actions:
            panel.perform(action)
            if isinstance(action, Mark):
                marks.append(action.kind)

    def settle():
        for command in drain(commands):
            run(engine.handle(command))

    run(engine.start())                 # the choice is asked: idle light, choosing
    assert panel.choosing
    hand.hold(1); settle()              # step to set B
    hand.press(); settle()              # take it: intro and phase 1 start
    assert engine.choices == {"set": "b"}
    assert not panel.choosing and panel.time_light.shown is Light.RUNNING
    first = engine.status()["question"]
    hand.press(); settle()              # the next question
    assert engine.status()["question"] == first + 1
    hand.hold(2); settle()              # back
    assert engine.status()["question"] == first
    hand.hold(3); settle()              # pause
    assert panel.time_light.shown is Light.PAUSED
    hand.hold(3); settle()              # resume
    hand.clock.advance(120); run(engine.handle(Command.TICK))
    assert panel.time_light.shown in (Light.TIME_UP, Light.OVERTIME)
    while engine.status()["phase"] == "inbreng":
        hand.press(); settle()          # through the questions, to phase 2
    assert engine.status()["phase"] == "advies"
    hand.hold(4); settle()              # end ...
    hand.hold(4); settle()              # ... confirmed
    assert engine.ended
    assert panel.time_light.shown is Light.IDLE
    assert marks[0] == "choice" and "pause" in marks and "resume" in marks
    assert marks[-1] == "session_end" and "confirm_end" in marks
    panel.close()


def test_a_session_resumed_paused_flashes_in_the_colour_time_stood_at(factory):
    # Found in review: a panel that has just started flashed green.
    from intervisor.core.engine import Engine
    from intervisor.core.model import Duration, Method, Phase
    from intervisor.table.runner import Device as Runner

    method = Method("m", "M", "nl", (Phase("a", "A", Duration(600, 600)),))
    clock = FakeClock()
    engine = Engine(method, clock)
    engine.start()
    clock.advance(590)
    engine.handle(Command.TICK)
    engine.handle(Command.PAUSE)           # paused in the warning
    snap = engine.snapshot()
    panel = Panel(queue.Queue(), clock=clock, pin_factory=factory)   # the device restarts
    try:
        Runner({"m": method}, clock, [panel]).resume(snap)
        assert panel.time_light.shown is Light.PAUSED
        assert panel.time_light.colour == "amber"
    finally:
        panel.close()
