"""The device loop: idle, sessions, and the one queue."""

import threading

from intervisor.core.clock import FakeClock, SystemClock
from intervisor.core.events import Command, Cue, Light, Mark, Play, Say, Show
from intervisor.core.model import Duration, Method, Phase, Question
from intervisor.table.runner import Device, ActionLog


def methods():
    a = Method("alfa", "Alfa", "nl", (Phase("a", "Een", Duration(60, 60),
                                            questions=(Question("Vraag een?"), Question("Vraag twee?"))),))
    b = Method("beta", "Beta", "nl", (Phase("b", "Twee", Duration(60, 60)),))
    return {"alfa": a, "beta": b}


def test_idle_step_speaks_titles_and_a_press_starts_the_selected_method():
    rec = ActionLog()
    device = Device(methods(), FakeClock(), [rec])
    device.handle(Command.STEP)
    assert rec.said()[-1] == "Beta"
    device.handle(Command.NEXT)
    assert device.session is not None and device.session.method.id == "beta"


def test_idle_back_goes_to_the_method_before():
    # One tick too many is mended with two ticks, not by stepping round
    # the whole list.
    three = {**methods(), "gamma": Method("gamma", "Gamma", "nl", (Phase("g", "Drie", Duration(60, 60)),))}
    rec = ActionLog()
    device = Device(three, FakeClock(), [rec])
    device.handle(Command.STEP)
    device.handle(Command.STEP)
    assert rec.said()[-1] == "Gamma"
    device.handle(Command.BACK)
    assert rec.said()[-1] == "Beta" and device.selected == "beta"
    device.handle(Command.BACK)
    device.handle(Command.BACK)
    assert rec.said()[-1] == "Gamma"   # round the list, as a step is


def test_a_finished_session_returns_to_idle_and_is_reported():
    finished = []
    clock = FakeClock()
    device = Device(methods(), clock, [ActionLog()], selected="beta", on_session_end=finished.append)
    device.handle(Command.NEXT)
    clock.advance(60)
    device.handle(Command.TICK)
    device.handle(Command.NEXT)
    assert device.session is None and finished[0].ended


def test_an_adapter_that_fails_does_not_stop_the_others():
    class Broken:
        def perform(self, action):
            raise RuntimeError("no sound card")

    rec = ActionLog()
    device = Device(methods(), FakeClock(), [Broken(), rec])
    device.handle(Command.NEXT)
    assert any(isinstance(a, Show) and a.light is Light.RUNNING for a in rec.actions)


def test_preset_choices_that_do_not_fit_the_method_are_left_out():
    device = Device(methods(), FakeClock(), choices={"vragen": "x"})
    device.handle(Command.NEXT)
    assert device.session.choices == {}


def test_the_loop_takes_commands_from_the_queue_put_by_other_threads():
    rec = ActionLog()
    device = Device(methods(), SystemClock(), [rec], selected="alfa")
    stop = threading.Event()
    loop = threading.Thread(target=device.run, args=(stop, 0.05))
    loop.start()
    try:
        threading.Thread(target=device.put, args=(Command.NEXT,)).start()
        for _ in range(200):
            if device.session is not None:
                break
            stop.wait(0.01)
        device.put(Command.NEXT)
        for _ in range(200):
            if "Vraag twee?" in rec.said():
                break
            stop.wait(0.01)
    finally:
        stop.set()
        loop.join(5)
    assert "Vraag twee?" in rec.said()
    assert [a.kind for a in rec.actions if isinstance(a, Mark)][:3] == ["intro", "phase_start", "question"]


def test_resume_picks_up_a_saved_session():
    clock = FakeClock()
    device = Device(methods(), clock, selected="alfa")
    device.handle(Command.NEXT)
    clock.advance(20)
    snap = device.session.snapshot()
    rec = ActionLog()
    again = Device(methods(), FakeClock(wall=clock.time() + 5), [rec])
    again.resume(snap)
    assert again.session.status()["elapsed"] == 25
    assert any("onderbreking" in s for s in rec.said())


def test_the_gestures_are_explained_the_first_time_a_method_is_run():
    clock = FakeClock()
    rec = ActionLog()
    device = Device(methods(), clock, [rec], selected="beta", explain=lambda lang: f"Uitleg in {lang}.")
    device.handle(Command.NEXT)
    first = rec.said()
    assert len(first) == 1 and first[0].startswith("Uitleg in nl. Beta.")
    device.handle(Command.END)
    device.handle(Command.END)
    rec.actions.clear()
    device.handle(Command.NEXT)
    assert not any("Uitleg" in s for s in rec.said())


def test_the_last_words_are_dispatched_while_the_session_is_still_on():
    seen = []

    class Watcher:
        def perform(self, action):
            if isinstance(action, Say):
                seen.append(device.session is not None)

    clock = FakeClock()
    device = Device(methods(), clock, [Watcher()], selected="beta")
    device.handle(Command.NEXT)
    clock.advance(60)
    device.handle(Command.NEXT)
    assert device.session is None and seen == [True, True]


def test_a_failing_session_is_closed_with_the_error_cue_and_the_device_goes_on():
    from intervisor.core.events import Cue, Play

    rec = ActionLog()
    ended = []
    device = Device(methods(), FakeClock(), [rec], selected="beta", on_session_end=ended.append)
    device.handle(Command.NEXT)

    def boom(command):
        raise RuntimeError("a bug")

    device.session.handle = boom
    device.handle(Command.NEXT)
    assert device.session is None and len(ended) == 1
    assert any(isinstance(a, Play) and a.cue is Cue.ERROR for a in rec.actions)
    device.handle(Command.NEXT)
    assert device.session is not None


def started(method_id: str, lead: float):
    clock, log = FakeClock(), ActionLog()
    device = Device(methods(), clock, [log], selected=method_id, lead=lead)
    device.handle(Command.NEXT)
    return clock, log, device


def test_with_a_lead_the_loop_acts_on_a_deadline_early_and_stamps_its_sounds():
    # The sound output needs a cue a buffer ahead to place it on the
    # deadline's own sample: the loop acts `lead` early, holding the clock.
    clock, log, device = started("beta", lead=0.1)
    clock.set(59.95)
    assert device.step(max_wait=0) is Command.TICK
    timed = [a for a in log.actions if isinstance(a, (Play, Say)) and a.at is not None]
    assert timed and {a.at for a in timed} == {60.0}
    assert Play(Cue.TIME_UP, at=60.0) in timed
    # The engine saw the deadline come; its clock never runs back.
    assert device.session.clock.monotonic() == 60.0
    clock.set(60.5)
    assert device.session.clock.monotonic() == 60.5


def test_without_a_lead_sounds_are_not_stamped():
    clock, log, device = started("beta", lead=0.0)
    clock.set(59.95)
    device.step(max_wait=0)
    assert not any(isinstance(a, Play) and a.cue is Cue.TIME_UP for a in log.actions)
    clock.set(60.0)
    device.step(max_wait=0)
    assert Play(Cue.TIME_UP) in log.actions


def test_a_press_in_the_lead_window_counts_as_a_press_just_after_the_deadline():
    clock, log, device = started("alfa", lead=0.1)
    clock.set(59.93)
    device.step(max_wait=0)             # the time-up, acted on early
    clock.set(59.95)
    device.put(Command.NEXT)            # the chair presses before it sounds
    assert device.step(max_wait=0) is Command.NEXT
    assert device.session.clock.monotonic() == 60.0
    kinds = [a.kind for a in log.actions if isinstance(a, Mark)]
    assert kinds[-2:] == ["time_up", "question"]
    # Answered at the deadline, so it is heard after the time-up cue, not before.
    assert Say(("Vraag twee?",), at=60.0) in log.actions
    clock.set(60.2)
    device.put(Command.BACK)            # once the time has come: at once again
    device.step(max_wait=0)
    assert all(a.at is None for a in log.actions[-3:] if isinstance(a, (Play, Say)))


def test_the_silent_end_of_a_window_is_not_acted_on_early():
    # Only deadlines that sound are worth acting on early; the end of the
    # confirmation window must keep its full length.
    clock, log, device = started("beta", lead=0.1)
    clock.set(30.0)
    device.put(Command.END)
    device.step(max_wait=0)
    window = device.session.confirm_until
    assert window is not None and window < 60.0
    clock.set(window - 0.05)
    device.step(max_wait=0)
    assert device.session.confirm_until == window and device.session.clock.monotonic() == window - 0.05


def test_accepts_says_what_a_command_would_do_now_idle_or_in_session():
    voice = [c for c in Command if c is not Command.TICK]
    for device in (Device(methods(), FakeClock(), [ActionLog()]),
                   Device({}, FakeClock(), [ActionLog()])):
        for c in voice:
            device.session = None   # idle again after a NEXT that started one
            assert device.accepts(c) == bool(device.handle(c)), c
    device = Device(methods(), FakeClock(), [ActionLog()], selected="beta")
    device.handle(Command.NEXT)
    assert device.accepts(Command.PAUSE) and not device.accepts(Command.RESUME)
    device.handle(Command.PAUSE)
    assert device.accepts(Command.RESUME) and not device.accepts(Command.BACK)


def test_end_while_choosing_can_be_confirmed_on_the_device_loop():
    # While choosing nothing is due, so the loop ticks every max_wait; those
    # ticks must not take back "really end?" (found in review).
    from intervisor.core.model import Choice, Option

    c = Choice("vragen", "Welke?", (Option("a", "A"), Option("b", "B")))
    m = Method("proef", "Proef", "nl", (Phase("x", "X", Duration(300, 300)),), choices=(c,))
    clock = FakeClock()
    d = Device({"proef": m}, clock, [ActionLog()])
    d.put(Command.NEXT)
    d.step(0)
    assert d.session.stage == "choosing"
    d.put(Command.END)
    d.step(0)                              # "really end?"
    clock.advance(2)
    d.step(0)                              # nothing pressed: the loop's idle TICK
    d.put(Command.END)                     # the confirmation, 2 s later
    d.step(0)
    assert d.session is None, "the second END asked again instead of ending"


def test_the_readme_names_every_voice_command_an_idle_device_takes():
    # Voice asks Device.accepts before it answers: what the README promises
    # about the talk before a session must be what the device takes.
    import re
    from pathlib import Path

    from intervisor.voice.recognise import PHRASES

    readme = Path(__file__).resolve().parents[1] / "README.md"
    text = " ".join(readme.read_text(encoding="utf-8").split())
    m = re.search(r"anything but (.*?) before a session", text)
    assert m, "the README no longer lists what voice takes at idle"
    named = {PHRASES["nl"][p] for p in re.findall(r"\*([^*]+)\*", m.group(1))}
    device = Device(methods(), FakeClock(), [ActionLog()])
    assert named == {c for c in PHRASES["nl"].values() if device.accepts_by_voice(c)}


def test_a_question_set_taken_by_a_slip_of_the_thumb_is_asked_again():
    # Every shipped method with a choice asks one question, so taking it
    # starts the session at once: back from the first phase, with nothing
    # in it to undo, asks it again (found in review).
    from pathlib import Path

    from intervisor.files.method import load_method

    m = load_method(Path(__file__).resolve().parents[1] / "methods" / "own-cases.yaml").method
    assert len(m.choices) == 1 and not m.needs_participants
    log = ActionLog()
    device = Device({m.id: m}, FakeClock(), [log], selected=m.id)
    device.handle(Command.NEXT)                 # start: which questions?
    assert device.session.stage == "choosing"
    device.handle(Command.NEXT)                 # the slip: the default taken
    assert device.session.stage == "running"
    device.handle(Command.BACK)
    assert device.session.stage == "choosing" and device.session.choices == {}
    assert log.said()[-1].startswith(m.choices[0].title)
    device.handle(Command.STEP)
    device.handle(Command.NEXT)                 # the other set this time
    assert device.session.stage == "running" and device.session.choices != {}


def test_the_architecture_names_what_voice_asks_the_device():
    # 35187a2: voice asks Device.accepts_by_voice (no BACK at idle); the
    # architecture's rule for adapters and voice.py's docstrings still say
    # Device.accepts.
    from pathlib import Path

    MAIN = Path(__file__).resolve().parents[1]
    text = " ".join((MAIN / "docs" / "architecture.md").read_text("utf-8").split())
    assert "accepts_by_voice" in text
    voice = (MAIN / "device" / "intervisor" / "voice" / "listen.py").read_text("utf-8")
    assert "Device.accepts`" not in voice and "e.g. Device.accepts:" not in voice
