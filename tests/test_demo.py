"""`intervisor demo` in a real terminal: tmux types the keys and reads the
screen, through a short method of our own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

INTERVISOR = Path(sys.executable).with_name("intervisor")
WAIT = 20.0  # bounded waits for what the screen shows; nothing is timed

METHOD = textwrap.dedent("""\
    id: kort
    title: Korte proef
    language: nl
    intro: Dit is een korte proef.
    warn_before: 0
    phases:
      - id: een
        title: Eerste fase
        duration: 10m
        questions:
          - Wat speelt er?
          - Wat wil je bereiken?
      - id: twee
        title: Tweede fase
        duration: 2s
    """)


class Terminal:
    """One tmux server of our own with one window running a command."""

    def __init__(self, command: list[str], cwd: Path, env: dict):
        self.socket = f"intervisor-test-{uuid.uuid4().hex[:8]}"
        self.tmux(
            "new-session", "-d", "-s", "demo", "-x", "200", "-y", "40",
            "-c", str(cwd),
            " ".join(_quote(a) for a in ["env", *(f"{k}={v}" for k, v in env.items()), *command])
            + "; echo DEMO-EXITED $?; sleep 60",
        )

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "demo")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "demo", *keys)

    def wait_for(self, pattern: str) -> re.Match:
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            found = re.search(pattern, screen)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {pattern!r}:\n{screen}")
            time.sleep(0.05)  # polling the screen: there is no event to wait on

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


@pytest.fixture
def terminal(tmp_path):
    (tmp_path / "methods").mkdir()
    (tmp_path / "methods" / "kort.yaml").write_text(METHOD, encoding="utf-8")
    made = []

    def start(*args: str) -> Terminal:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TERM": "xterm-256color"}
        for key in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR", "PYTHONPATH"):
            if key in os.environ:
                env[key] = os.environ[key]
        term = Terminal(
            [str(INTERVISOR), "demo", "--config", str(tmp_path / "none.yaml"),
             "--methods", str(tmp_path / "methods"), *args],
            tmp_path, env,
        )
        made.append(term)
        return term

    yield start
    for term in made:
        term.close()


def line(term: Terminal) -> str:
    """The live view: the last line on the screen that shows the lights
    (the caption is under it)."""
    return [l for l in term.screen().splitlines() if re.match(r"[●○◐]{3}", l)][-1]


def caption(term: Terminal) -> str:
    """The caption under the live line, its lines joined."""
    lines = term.screen().splitlines()
    at = max(i for i, l in enumerate(lines) if re.match(r"[●○◐]{3}", l))
    return " ".join(l.strip() for l in lines[at + 1:] if l.strip())


def test_a_short_session_with_the_keyboard_as_the_button(terminal):
    term = terminal("--method", "kort", "--hold", "0.2")
    # (tmux may give the window its width a moment after the start)
    term.wait_for(r"fase 1/2 · Eerste fase · vraag 1/2 .*␣ verder  1 herhaal  2 terug  3 pauze  4 einde  q stop")
    assert line(term).startswith("●○○")            # green: the phase runs
    term.wait_for(r"\n {5}\S")                        # what is said, as a caption under the line
    assert caption(term).endswith("Dit is een korte proef. Fase 1 van 2. Eerste fase. 10 minuten Wat speelt er?")
    term.keys("1")                                  # one tick: said again, and shown so
    term.wait_for(r"\n +↻ herhaald: ")
    term.keys("Space")
    term.wait_for(r"vraag 2/2")
    assert caption(term) == "Wat wil je bereiken?"
    term.keys("2")                                  # hold two ticks: back
    term.wait_for(r"vraag 1/2")
    term.keys("3")                                  # three ticks: pause
    term.wait_for(r"gepauzeerd")
    term.keys("3")                                  # and resume
    term.wait_for(r"vraag 1/2 · \d\d:\d\d   ")
    term.keys("Space")
    term.wait_for(r"vraag 2/2")
    term.keys("Space")
    term.wait_for(r"fase 2/2 · Tweede fase")
    term.wait_for(r"fase 2/2 · Tweede fase · \+00:0\d")  # over time: the clock counts on
    assert re.match(r"○○[●◐]", line(term))          # red (steady or blinking)
    term.keys("4")                                  # end ...
    term.wait_for(r"afronden\? 4 bevestigt")
    term.keys("4")                                  # ... confirmed
    term.wait_for(r"klaar: Korte proef")
    term.wait_for(r"␣ kies  1 volgende  2 terug  q stop")    # idle: the choosing keys
    term.keys("q")
    term.wait_for(r"DEMO-EXITED 0")


def test_idle_steps_through_methods_and_a_press_starts_one(terminal, tmp_path):
    other = METHOD.replace("id: kort", "id: lang").replace("Korte proef", "Lange proef")
    (tmp_path / "methods" / "lang.yaml").write_text(other, encoding="utf-8")
    term = terminal("--method", "kort", "--idle", "--hold", "0.2")
    term.wait_for(r"klaar: Korte proef")
    term.keys("1")                                  # one tick at idle: the next method
    term.wait_for(r"klaar: Lange proef")
    term.keys("Space")
    term.wait_for(r"fase 1/2 · Eerste fase")
    term.keys("q")
    term.wait_for(r"DEMO-EXITED 0")


CHOICE = textwrap.dedent("""\
    id: keus
    title: Met een keuze
    language: nl
    choices:
      - id: set
        title: Welke set?
        options:
          - {id: a, title: Set A, questions: [Wat?]}
          - {id: b, title: Set B, questions: [Hoe?]}
    phases:
      - {id: een, title: Eerste fase, duration: 10m, from_choice: set}
    """)


def test_start_choices_with_the_same_press_and_tick(terminal, tmp_path):
    (tmp_path / "methods" / "keus.yaml").write_text(CHOICE, encoding="utf-8")
    term = terminal("--method", "keus", "--ask", "--hold", "0.2")
    term.wait_for(r"kiezen · Welke set\? → Set A .*␣ kies  1 volgende")
    term.keys("1")
    term.wait_for(r"→ Set B")
    term.keys("Space")
    term.wait_for(r"fase 1/1 · Eerste fase")
    term.keys("q")
    term.wait_for(r"DEMO-EXITED 0")


def test_an_unknown_method_is_a_clear_error(terminal):
    term = terminal("--method", "bestaat-niet")
    term.wait_for(r'there is no method "bestaat-niet" in .* \(known: kort\)')
    term.wait_for(r"DEMO-EXITED 2")


def test_a_refused_config_is_named_and_shown_as_a_fault(terminal, tmp_path):
    (tmp_path / "bad.yaml").write_text("panel:\n  red: 17\n", encoding="utf-8")
    term = terminal("--method", "kort", "--hold", "0.2", "--config", str(tmp_path / "bad.yaml"))
    term.wait_for(r"bad.yaml:2: panel.red: pin 17 is already used by panel.button")
    term.wait_for(r"fase 1/2 · Eerste fase")       # the demo runs on the defaults
    term.keys("q")
    term.wait_for(r"DEMO-EXITED 0")


# ------------------------------------------------------------------- sound

def test_without_a_sound_device_the_sound_goes_into_a_wav_file(terminal, tmp_path):
    import wave

    import numpy as np

    pytest.importorskip("intervisor.sound.output", reason="the sound adapter has not landed yet")
    wav = tmp_path / "demo.wav"
    term = terminal("--method", "kort", "--wav", str(wav))
    term.wait_for(r"Sound: into the file .*demo.wav")
    term.wait_for(r"fase 1/2 · Eerste fase")
    deadline = time.monotonic() + WAIT
    while wav.stat().st_size < 22050 * 2 * 2 and time.monotonic() < deadline:
        time.sleep(0.1)  # the file grows in real time: two seconds of it
    term.keys("q")
    term.wait_for(r"DEMO-EXITED 0")
    with wave.open(str(wav)) as f:
        samples = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    assert np.abs(samples).max() > 3000  # the chime and the introduction, not silence


@pytest.mark.audio
def test_the_introduction_is_heard_through_the_speakers(terminal, request):
    pytest.importorskip("intervisor.sound.output", reason="the sound adapter has not landed yet")
    try:
        server = request.getfixturevalue("pulse_server")
    except pytest.FixtureLookupError:
        pytest.skip("no PulseAudio fixture")
    with server.record() as rec:
        started = time.monotonic()
        term = terminal("--method", "kort")
        onset = rec.wait_for_sound(after=started, timeout=WAIT)
        assert onset is not None, term.screen()
        # Sound goes on after the start chime has rung out (under 4 s):
        # the introduction is being spoken.
        assert rec.wait_for_sound(after=onset.time + 4.5, timeout=WAIT) is not None
    assert "Sound: the speakers" in term.screen()
    print(f"launch to first sound: {onset.time - started:.2f} s")
    term.keys("q")
    term.wait_for(r"DEMO-EXITED 0")


# ------------------------------------------------- the live view, in process

def test_the_view_line_follows_the_session():
    import queue as queue_

    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from intervisor.core.clock import FakeClock
    from intervisor.core.events import Command
    from intervisor.core.model import Duration, Method, Phase, Question
    from intervisor.table.panel import Panel
    from intervisor.table.runner import Device
    from intervisor.table.simulator import View, clock_text

    method = Method("kort", "Korte proef", "nl", (
        Phase("een", "Eerste fase met een hele lange titel die niet past", Duration(600, 600),
              questions=(Question("Wat?"), Question("Hoe?"))),
    ))
    clock = FakeClock()
    device = Device({"kort": method}, clock, [], selected="kort")
    factory = MockFactory(pin_class=MockPWMPin)
    panel = Panel(device.queue, clock=clock, pin_factory=factory)
    device.adapters.append(panel)
    try:
        view = View(device, panel, out=None, colour=False)
        device.dispatch(device.greeting())
        assert view.text().startswith("klaar: Korte proef")
        assert "␣ kies  1 volgende" in view.text()
        device.handle(Command.NEXT)
        assert view.text(200).startswith("fase 1/1 · Eerste fase met een hele lange titel die niet past · vraag 1/2 · 10:00")
        narrow = view.text(60)
        assert len(narrow) <= 60 and "…" in narrow and narrow.endswith("␣ 1 2 3 4 q")
        assert view.dots() == "●○○"
        clock.advance(601)
        device.handle(Command.TICK)
        assert "+00:01" in view.text()
        assert clock_text(59.2) == "01:00" and clock_text(-61) == "+01:01"
    finally:
        panel.close()
        factory.reset()


def test_a_terminal_that_gives_no_size_still_shows_the_line():
    # A pty nobody sized (0 columns) clipped the live line to nothing.
    import pty

    from intervisor.table.simulator import View

    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as out:
            assert os.get_terminal_size(follower).columns == 0
            view = View.__new__(View)
            view.out = out
            assert view.width() >= 40
    finally:
        os.close(leader)
        os.close(follower)


def test_a_key_held_down_is_one_gesture_not_a_burst():
    import io

    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from intervisor.core.clock import FakeClock
    from intervisor.core.model import Duration, Method, Phase
    from intervisor.table.panel import Panel
    from intervisor.table.runner import Device
    from intervisor.table.simulator import Simulator

    method = Method("kort", "Kort", "nl", (Phase("een", "Een", Duration(600, 600)),))
    device = Device({"kort": method}, FakeClock(), [], selected="kort")
    factory = MockFactory(pin_class=MockPWMPin)
    panel = Panel(device.queue, pin_factory=factory)
    keys_at = FakeClock()
    sim = Simulator(device, panel, factory, out=io.StringIO(), now=keys_at.monotonic)
    queued = []
    sim.finger.gesture = queued.append
    try:
        for _ in range(20):        # the terminal's auto-repeat: a key every 33 ms
            sim.key(" ")
            keys_at.advance(0.033)
        keys_at.advance(0.5)
        sim.key(" ")               # a new press
        keys_at.advance(0.2)
        sim.key(" ")               # and a quick second one: a finger can
        sim.key("2")
        assert queued == [0, 0, 0, 2]
        # The terminal's first repeat comes after its delay (here 0.5 s),
        # as late as a quick tap: the repeats after it tell it apart.
        queued.clear()
        keys_at.advance(1.0)
        sim.key(" ")
        keys_at.advance(0.5)
        for _ in range(10):
            sim.key(" ")
            keys_at.advance(0.033)
        sim.settle()
        assert queued == [0]
        # A quick second tap with nothing after it is a tap, once the loop
        # has seen a moment of quiet.
        keys_at.advance(1.0)
        sim.key(" ")
        keys_at.advance(0.3)
        sim.key(" ")
        sim.settle()
        assert queued == [0, 0]
        keys_at.advance(0.15)
        sim.settle()
        assert queued == [0, 0, 0]
    finally:
        sim.finger.close()
        panel.close()
        factory.reset()


def _choosing_view(question: str = "Welke set?"):
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from intervisor.core.clock import FakeClock
    from intervisor.core.model import Choice, Duration, Method, Option, Phase
    from intervisor.table.panel import Panel
    from intervisor.table.runner import Device
    from intervisor.table.simulator import View

    choice = Choice("set", question, (Option("a", "Set A"), Option("b", "Set B")))
    method = Method("keus", "Met een keuze", "nl", (Phase("een", "Eerste", Duration(600, 600)),),
                    choices=(choice,))
    device = Device({"keus": method}, FakeClock(), [], selected="keus")
    factory = MockFactory(pin_class=MockPWMPin)
    panel = Panel(device.queue, clock=device.clock, pin_factory=factory)
    view = View(device, panel, out=None, colour=False)
    device.adapters += [panel, view]
    return device, view, panel, factory


def test_the_live_line_shows_that_two_ticks_go_back_while_choosing():
    from intervisor.core.events import Command

    device, view, panel, factory = _choosing_view()
    try:
        device.dispatch(device.greeting())
        assert "2 terug" in view.text(), view.text()        # idle: the method before
        device.handle(Command.NEXT)
        assert device.session.stage == "choosing"
        assert "2 terug" in view.text(), view.text()        # the option before
    finally:
        panel.close()
        factory.reset()


def test_the_live_line_keeps_the_option_offered_after_the_device_speaks_while_choosing():
    # "We zijn al bij het begin." (back with nothing to undo) or "really
    # end?" are no option: the line still shows the one offered.
    from intervisor.core.events import Command

    device, view, panel, factory = _choosing_view()
    try:
        device.handle(Command.NEXT)
        assert "Welke set? → Set A" in view.text(200)
        device.handle(Command.BACK)
        assert "Welke set? → Set A" in view.text(200), view.text(200)
        device.handle(Command.END)
        assert "Welke set? → Set A" in view.text(200), view.text(200)
    finally:
        panel.close()
        factory.reset()


def test_the_option_on_offer_stays_on_a_narrow_line_and_the_question_gives_way():
    # With --ask in an 80-column terminal the question filled the line and
    # the option a press would take was cut off.
    from intervisor.core.events import Command

    device, view, panel, factory = _choosing_view("Met hoeveel mensen zijn jullie, jezelf en de inbrenger meegeteld?")
    try:
        device.handle(Command.NEXT)
        narrow = view.text(80)
        assert len(narrow) <= 80 and "…" in narrow and "→ Set A   ␣" in narrow, narrow
        device.handle(Command.STEP)
        assert "→ Set B   ␣" in view.text(80)
        assert view.caption() == "Set B"      # and what was said, whole, under the line
    finally:
        panel.close()
        factory.reset()


def test_the_caption_says_what_was_said_and_marks_it_when_said_again():
    import io

    from intervisor.core.events import Command

    device, view, panel, factory = _choosing_view()
    try:
        device.dispatch(device.greeting())
        greeting = view.caption()
        assert "Met een keuze" in greeting, greeting
        device.handle(Command.REPEAT)            # at idle: the same words again
        assert view.caption() == f"↻ herhaald: {greeting}"
        device.handle(Command.REPEAT)
        assert view.caption() == f"↻ herhaald (3×): {greeting}"
        view.out = io.StringIO()
        view.width = lambda: 41
        view.draw()
        drawn = view.out.getvalue()
        # From the line's start: the line, the caption wrapped under it, and
        # back up to the line.
        assert drawn.startswith("\r\x1b[J") and drawn.endswith("\x1b[4A\r")
        line, *under = drawn[len("\r\x1b[J"):-len("\x1b[4A\r")].split("\n")
        assert "Met een keuze" in line and len(under) == 4 and all(len(u) <= 40 for u in under)
        assert " ".join(u.strip() for u in under) == view.caption()
        view.leave()
        assert view.out.getvalue().endswith("\x1b[4A\r" + "\n" * 5)   # below the caption
    finally:
        panel.close()
        factory.reset()


def test_the_readme_names_every_option_of_the_demo_and_that_it_starts_at_once():
    from intervisor.cli import build_parser

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8").split())
    demo = build_parser()._subparsers._group_actions[0].choices["demo"]
    options = {o for a in demo._actions for o in a.option_strings if o.startswith("--")} - {"--help"}
    for option in ("--idle", "--method", "--ask", "--wav"):
        assert option in options
        assert f"./scripts/demo {option}" in readme, option
    assert "The demo starts the method at once" in readme


def test_a_question_said_again_is_counted_once_per_repeat():
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from intervisor.core.clock import FakeClock
    from intervisor.core.events import Command
    from intervisor.core.model import Duration, Method, Phase, Question
    from intervisor.table.panel import Panel
    from intervisor.table.runner import Device
    from intervisor.table.simulator import View

    method = Method("kort", "Kort", "nl", (Phase("een", "Een", Duration(600, 600), questions=(
        Question("Wat speelt er?"), Question("Wat wil je?", hint="Neem de tijd.")),),))
    device = Device({"kort": method}, FakeClock(), [], selected="kort")
    factory = MockFactory(pin_class=MockPWMPin)
    panel = Panel(device.queue, clock=device.clock, pin_factory=factory)
    view = View(device, panel, out=None, colour=False)
    device.adapters += [panel, view]
    try:
        device.handle(Command.NEXT)
        device.handle(Command.REPEAT)
        assert view.caption().startswith("↻ herhaald: ") and view.caption().endswith("Wat speelt er?")
        device.handle(Command.REPEAT)
        assert view.caption().startswith("↻ herhaald (3×): ")
        device.handle(Command.NEXT)
        assert view.caption() == "Wat wil je?"
        device.handle(Command.REPEAT)                # said again with its hint
        assert view.caption() == "↻ herhaald: Wat wil je? Neem de tijd."
        device.handle(Command.REPEAT)
        assert view.caption() == "↻ herhaald (3×): Wat wil je? Neem de tijd."
    finally:
        panel.close()
        factory.reset()
