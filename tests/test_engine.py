"""The engine's behaviour on a fake clock, to the second."""

from __future__ import annotations

import json
import time

import pytest

from intervisor.core.clock import FakeClock
from intervisor.core.engine import CONFIRM_END_WINDOW, OFFER_WINDOW, Engine
from intervisor.core.events import Command, Cue, Hush, Light, Mark, Play, Say, Show
from intervisor.core.phrases import Phrases
from intervisor.core.model import Choice, Cues, Duration, Method, Option, Phase, Question, Rounds

M = 60.0


def phase(pid, lo, hi=None, **kw):
    return Phase(pid, pid.capitalize(), Duration(lo * M, (hi or lo) * M), **kw)


def method(*phases, **kw):
    return Method("proef", "Proef", kw.pop("language", "nl"), tuple(phases), **kw)


def marks(actions):
    return [a.kind for a in actions if isinstance(a, Mark)]


def cues(actions):
    return [a.cue for a in actions if isinstance(a, Play)]


def lights(actions):
    return [a.light for a in actions if isinstance(a, Show)]


def said(actions):
    says = [a for a in actions if isinstance(a, Say)]
    assert len(says) <= 1, "the engine says at most one thing per answer"
    return says[0].text if says else None


class Driver:
    """Runs an engine the way the service loop does: ticks at each deadline."""

    def __init__(self, engine: Engine, clock: FakeClock):
        self.engine, self.clock = engine, clock
        self.log: list[tuple[float, str, str | None]] = []

    def record(self, actions):
        for a in actions:
            if isinstance(a, Mark):
                self.log.append((round(self.clock.monotonic(), 3), a.kind, a.phase))
        return actions

    def start(self):
        return self.record(self.engine.start())

    def until(self, t):
        """Advance to monotonic time t, ticking at every deadline on the way."""
        out = []
        while True:
            due = self.engine.next_due()
            if due is None or due > t:
                break
            self.clock.set(max(due, self.clock.monotonic()))
            out += self.record(self.engine.handle(Command.TICK))
        self.clock.set(t)
        return out

    def press(self, cmd=Command.NEXT):
        return self.record(self.engine.handle(cmd))

    def kinds(self, kind):
        return [t for t, k, _ in self.log if k == kind]


def run(m, **kw):
    clock = FakeClock()
    d = Driver(Engine(m, clock, **kw), clock)
    return d


def test_start_introduces_the_method_and_announces_phase_one():
    m = method(phase("inbrengen", 5, 10, say="Vertel je casus."), phase("evaluatie", 5),
               intro="We leren van elkaar.", rules=("Alles is vertrouwelijk.",))
    d = run(m)
    actions = d.start()
    text = said(actions)
    for piece in ("Proef", "We leren van elkaar.", "Alles is vertrouwelijk.", "Fase 1 van 2.",
                  "Inbrengen.", "5 tot 10 minuten", "Vertel je casus."):
        assert piece in text
    assert marks(actions) == ["intro", "phase_start"]
    assert cues(actions) == [Cue.PHASE_START]
    assert lights(actions) == [Light.RUNNING]
    assert isinstance(actions[0], Hush)
    # Say again repeats the phase, not the introduction and its rules
    # (a minute and more of them in a shipped method).
    assert said(d.press(Command.REPEAT)) == "Fase 1 van 2. Inbrengen. 5 tot 10 minuten Vertel je casus."
    # Back at the very start answers, and say again still repeats the phase.
    assert said(d.press(Command.BACK)) == "We zijn al bij het begin."
    assert said(d.press(Command.REPEAT)).startswith("Fase 1 van 2.")


def test_cues_come_at_their_deadlines_and_the_light_follows():
    m = method(phase("a", 5, 10, cues=Cues(warn_before=120, overtime_every=180)), phase("b", 5))
    d = run(m)
    d.start()
    out = d.until(20 * M)
    assert d.kinds("min_reached") == [300.0]
    assert d.kinds("warning") == [480.0]
    assert d.kinds("time_up") == [600.0]
    assert d.kinds("overtime") == [780.0, 960.0], "reminders space out: 3, 6, 12 minutes over"
    d.until(60 * M)
    assert d.kinds("overtime") == [780.0, 960.0, 1320.0, 2040.0, 3480.0]
    assert lights(out) == [Light.WARNING, Light.TIME_UP, Light.OVERTIME, Light.OVERTIME]
    assert d.kinds("phase_start") == [0.0], "time-up never forces the group on"


def test_no_warning_when_warn_before_is_zero_or_longer_than_the_phase():
    d = run(method(phase("a", 1, cues=Cues(warn_before=0)), phase("b", 1, cues=Cues(warn_before=120))))
    d.start()
    d.until(60)
    d.press()
    d.until(200)
    assert d.kinds("warning") == []
    assert d.kinds("time_up") == [60.0, 120.0]


def test_questions_one_per_press_then_the_next_phase():
    qs = (Question("Wat wilde je bereiken?"), Question("Is dat gelukt?", hint="Wanneer is het geslaagd?"))
    d = run(method(phase("a", 10, questions=qs), phase("b", 5)))
    assert "Wat wilde je bereiken?" in said(d.start())
    d.until(100)
    out = d.press()
    assert said(out) == "Is dat gelukt?"
    assert marks(out) == ["question"]
    out = d.press()
    assert marks(out) == ["phase_start"]
    assert d.engine.status()["phase"] == "b"


def test_lengths_that_are_only_a_proposal_are_said_as_one():
    m = method(phase("check-in", 10), phase("case", 5, 15), language="en", times="proposal")
    d = run(m)
    assert "Phase 1 of 2. Check-in. Suggested time: 10 minutes" in said(d.start())
    assert said(d.press(Command.NEXT)).startswith("Phase 2 of 2. Case. Suggested time: 5 to 15 minutes")
    fixed = run(method(phase("inbrengen", 10)))
    assert "Fase 1 van 1. Inbrengen. 10 minuten" in said(fixed.start())


def test_repeat_says_the_last_prompt_again_with_its_hint():
    qs = (Question("Is dat gelukt?", hint="Wanneer is het geslaagd?"),)
    d = run(method(phase("a", 10, questions=qs)))
    d.start()
    out = d.press(Command.REPEAT)
    assert "Is dat gelukt?" in said(out) and "Wanneer is het geslaagd?" in said(out)


def test_pause_freezes_every_timer():
    d = run(method(phase("a", 10), phase("b", 5)))
    d.start()
    d.until(100)
    out = d.press(Command.PAUSE)
    assert lights(out) == [Light.PAUSED] and cues(out) == [Cue.PAUSED]
    assert d.engine.next_due() is None
    d.until(100 + 3600)
    assert d.engine.status()["remaining"] == 500
    out = d.press(Command.PAUSE)
    assert cues(out) == [Cue.RESUMED]
    d.until(10_000)
    assert d.kinds("warning") == [3600 + 540.0]
    assert d.kinds("time_up") == [3600 + 600.0]


def test_a_press_while_paused_resumes_instead_of_moving_on():
    d = run(method(phase("a", 10), phase("b", 5)))
    d.start()
    d.press(Command.PAUSE)
    out = d.press()
    assert marks(out) == ["resume"]
    assert d.engine.status()["phase"] == "a"


def test_back_undoes_a_step_and_keeps_the_time_that_had_passed():
    qs = (Question("Een?"), Question("Twee?"))
    d = run(method(phase("a", 10, questions=qs), phase("b", 5)))
    d.start()
    d.until(120)
    d.press()                       # question 2
    d.until(200)
    d.press()                       # phase b
    assert d.engine.status()["phase"] == "b"
    d.until(230)
    out = d.press(Command.BACK)     # an accidental press, taken back
    st = d.engine.status()
    assert st["phase"] == "a" and st["question"] == 2
    assert st["elapsed"] == 230, "the phase goes on from where it was, time included"
    assert "Twee?" in said(out)
    out = d.press(Command.BACK)
    assert d.engine.status()["question"] == 1 and "Een?" in said(out)
    out = d.press(Command.BACK)
    assert said(out) == "We zijn al bij het begin."


def test_how_much_time_answers_for_the_phase_and_the_session():
    d = run(method(phase("a", 10), phase("b", 20)))
    d.start()
    d.until(3 * M)
    text = said(d.press(Command.TIME))
    assert text == "In deze fase nog, 7 minuten Voor de hele sessie nog, 27 minuten"
    d.until(12 * M)
    assert said(d.press(Command.TIME)).startswith("Deze fase is over tijd: 2 minuten")


def test_end_needs_a_confirmation_and_closes_with_the_wrap_up():
    d = run(method(phase("a", 10), phase("b", 5), closing="Dank jullie wel."))
    d.start()
    out = d.press(Command.END)
    assert "nog een keer" in said(out) and not d.engine.ended
    out = d.press(Command.END)
    assert d.engine.ended
    assert "Dank jullie wel." in said(out)
    assert marks(out) == ["session_end"] and lights(out) == [Light.IDLE]


def test_an_unconfirmed_end_lapses():
    d = run(method(phase("a", 10)))
    d.start()
    d.press(Command.END)
    d.until(CONFIRM_END_WINDOW + 1)
    d.press(Command.END)
    assert not d.engine.ended
    d.press(Command.TIME)          # any other command cancels the question too
    d.press(Command.END)
    assert not d.engine.ended


def test_choices_are_asked_first_and_shape_the_session():
    vragen = Choice("vragen", "Welke set vragen?", (
        Option("vijf", "De vijf vragen", questions=(Question("Wat wilde je bereiken?"),)),
        Option("alt", "De alternatieve vragen", say="Over verwachting en praktijk.",
               questions=(Question("Wat heb je gedaan?"),)),
    ))
    m = method(phase("discussie", 30, from_choice="vragen"),
               phase("extra", 5, when={"vragen": "alt"}), choices=(vragen,))
    d = run(m)
    out = d.start()
    assert "Welke set vragen?" in said(out) and "De vijf vragen" in said(out)
    assert d.engine.stage == "choosing"
    assert said(d.press(Command.STEP)) == "De alternatieve vragen"
    out = d.press()
    assert d.engine.choices == {"vragen": "alt"}
    assert "Over verwachting en praktijk." in said(out) and "Wat heb je gedaan?" in said(out)
    assert [p.id for p in d.engine.plan] == ["discussie", "extra"]


def test_preset_choices_skip_the_question():
    vragen = Choice("vragen", "Welke?", (Option("a", "A"), Option("b", "B")))
    d = run(method(phase("x", 5, from_choice="vragen"), choices=(vragen,)), choices={"vragen": "b"})
    assert marks(d.start()) == ["intro", "phase_start"]


def test_rounds_give_each_participant_an_even_share():
    d = run(method(phase("advies", 20, rounds=Rounds(say="Volgende deelnemer.")), phase("b", 5)),
            participants=4)
    assert "Beurt 1 van 4." in said(d.start())
    d.until(20 * M)
    assert d.kinds("turn") == [0.0, 300.0, 600.0, 900.0]


def test_a_turn_is_announced_by_its_number_then_what_is_asked():
    d = run(method(phase("advies", 20, rounds=Rounds(say="Volgende deelnemer.")), phase("b", 5)),
            participants=4)
    d.start()
    assert said(d.press()) == "Beurt 2 van 4. Volgende deelnemer."


def test_an_early_press_in_a_round_shares_the_rest_among_the_turns_left():
    d = run(method(phase("advies", 20, rounds=Rounds()), phase("b", 5)), participants=4)
    d.start()
    d.until(60)
    out = d.press()                  # turn 2 starts at 1 minute
    assert "Beurt 2 van 4." in said(out) and cues(out) == [Cue.TURN]
    d.until(20 * M)
    assert d.kinds("turn") == [0.0, 60.0, 60 + 380.0, 60 + 760.0]


def test_participants_are_asked_when_rounds_need_them():
    d = run(method(phase("advies", 20, rounds=Rounds())))
    out = d.start()
    assert "Met hoeveel mensen" in said(out) and "6" in said(out)
    d.press(Command.STEP)
    d.press()
    assert d.engine.participants == 7


def test_back_while_choosing_undoes_a_step_then_reopens_the_question_before():
    # A count stepped one too far, or a question set taken by a slip of the
    # thumb, is mended at the start without ending and starting again.
    vragen = Choice("vragen", "Welke set vragen?", (
        Option("vijf", "De vijf vragen"), Option("alt", "De alternatieve vragen")))
    d = run(method(phase("advies", 20, rounds=Rounds()), choices=(vragen,)))
    assert "Welke set vragen?" in said(d.start())
    assert said(d.press(Command.BACK)) == "We zijn al bij het begin."
    assert said(d.press(Command.REPEAT)).startswith("Proef Welke set vragen?")   # still the question
    d.press(Command.STEP)
    assert said(d.press(Command.BACK)) == "De vijf vragen"     # the step undone
    d.press(Command.STEP)
    out = d.press()                                            # "alt" taken
    assert "Met hoeveel mensen" in said(out) and d.engine.choices == {"vragen": "alt"}
    d.press(Command.STEP)
    d.press(Command.STEP)                                      # 8 people
    assert said(d.press(Command.BACK)) == "7"
    d.press(Command.BACK)                                      # back to 6, where it began
    out = d.press(Command.BACK)                                # the question before, again
    assert said(out).startswith("Welke set vragen?") and said(out).endswith("De alternatieve vragen")
    assert d.engine.choices == {} and d.engine.stage == "choosing"
    assert said(d.press(Command.STEP)) == "De vijf vragen"
    d.press()                                                  # "vijf" now
    out = d.press()                                            # 6, the method's own count
    assert d.engine.stage == "running"
    assert d.engine.choices == {"vragen": "vijf"} and d.engine.participants == 6
    assert d.engine.accepts(Command.BACK)


def test_back_from_the_first_phase_with_nothing_to_undo_reopens_the_last_choice():
    vragen = Choice("vragen", "Welke set vragen?", (
        Option("vijf", "De vijf vragen"), Option("alt", "De alternatieve vragen")))
    qs = (Question("Een?"), Question("Twee?"))
    d = run(method(phase("advies", 20, rounds=Rounds(), questions=qs), phase("b", 5), choices=(vragen,)))
    d.start()
    d.press()                                   # "vijf"
    d.press(Command.STEP)
    d.press()                                   # 7 people: the session starts
    d.until(1 * M)
    d.press()                                   # the second question
    assert said(d.press(Command.BACK)).endswith("Een?")   # back a question first
    out = d.press(Command.BACK)                 # then the choice before the phase
    assert d.engine.stage == "choosing" and d.engine.participants is None
    assert said(out).startswith("Met hoeveel mensen") and said(out).endswith("7")
    assert Show(Light.IDLE) in out
    assert said(d.press(Command.BACK)) == "6"   # the step to 7 undone
    d.press(Command.BACK)                       # and the question set again
    assert d.engine.choices == {} and d.engine.stage == "choosing"
    d.press(Command.STEP)
    d.press()                                   # "alt"
    d.press()                                   # 6 people
    assert d.engine.stage == "running" and d.engine.participants == 6
    assert d.engine.choices == {"vragen": "alt"}
    st = d.engine.status()
    assert st["phase_number"] == 1 and st["elapsed"] == 0   # the phase starts afresh
    # Once the phase has a step of its own, back undoes that step first.
    d.press()
    d.press(Command.BACK)
    assert d.engine.stage == "running"
    # Two minutes into the phase the start stands: a stray "ga terug" in
    # the case's telling must not undo it.
    d.until(d.clock.monotonic() + 2 * M)
    assert said(d.press(Command.BACK)) == "We zijn al bij het begin." and d.engine.stage == "running"
    # A session without choices at the start has nothing to reopen.
    plain = run(method(phase("a", 5)))
    plain.start()
    assert said(plain.press(Command.BACK)) == "We zijn al bij het begin."


def test_the_start_stands_two_minutes_into_the_session_even_in_a_first_phase_started_over():
    # A first phase that moves on by itself (a silent minute), returned to
    # by back after it ran out, starts over at 0: the window for reopening
    # the start-up question counts the session's time, not that phase's
    # (found in review).
    vragen = Choice("vragen", "Welke?", (Option("a", "A"), Option("b", "B")))
    d = run(method(phase("stil", 1, cues=Cues(auto_advance=True)), phase("b", 10), choices=(vragen,)))
    d.start()
    d.press()                                    # "a": the silent minute runs
    d.until(30)
    d.press()                                    # the chair moves on early; b runs
    d.until(5 * M)
    assert d.engine.status()["phase"] == "b"
    d.press(Command.BACK)                        # back into the silent minute, run out: it starts over
    assert d.engine.status()["phase"] == "stil" and d.engine.status()["elapsed"] < 1
    out = d.press(Command.BACK)
    assert said(out) == "We zijn al bij het begin." and d.engine.stage == "running"


def test_back_while_choosing_takes_back_really_end():
    vragen = Choice("vragen", "Welke?", (Option("a", "A"), Option("b", "B")))
    d = run(method(phase("x", 5), choices=(vragen,)))
    d.start()
    assert d.engine.accepts(Command.BACK)
    d.press(Command.END)
    d.press(Command.BACK)
    d.press(Command.END)
    assert d.engine.stage == "choosing"   # asked again, not ended


def test_running_over_offers_to_shorten_the_rest_in_proportion():
    d = run(method(phase("a", 10), phase("b", 10), phase("c", 10)))
    d.start()
    d.until(15 * M)                  # five minutes over
    out = d.press()
    assert "We lopen achter op het schema: 5 minuten" in said(out)
    d.until(15 * M + 5)
    out = d.press()                  # the chair accepts
    assert marks(out) == ["shorten"]
    assert d.engine.status()["phase"] == "b"
    # 20 planned minutes left must now fit in 15: the session ends at 30 minutes as planned.
    assert d.engine.status()["session_remaining"] == pytest.approx(30 * M - (15 * M + 5))
    factor = (30 * M - (15 * M + 5)) / (20 * M - 5)
    assert d.engine.status()["remaining"] == pytest.approx((10 * M - 5) * factor)
    d.until(60 * M)
    assert d.kinds("time_up")[1] == pytest.approx(15 * M + 5 + (10 * M - 5) * factor)
    d.press()
    assert d.engine.status()["remaining"] == pytest.approx(10 * M * factor)


def test_the_offer_comes_before_the_phases_own_text_which_follows_when_it_is_taken():
    # Found in review: the offer came after the phase's text (33 s of
    # Verhelderen); the window had closed by the time it was heard, and
    # the press meant to take it moved on a phase instead.
    long_text = "Stel nu je verhelderende vragen. " * 20
    d = run(method(phase("a", 10), phase("b", 10, say=long_text, questions=(Question("Een?"),)), phase("c", 10)))
    d.start()
    d.until(15 * M)
    parts = next(a.parts for a in d.press() if isinstance(a, Say))
    offer = parts.index("Wil je de rest van de sessie inkorten? Druk dan nu kort op de knop.")
    assert offer < parts.index(long_text) < parts.index("Een?")
    d.until(15 * M + 20)
    out = d.press()                  # during the phase's text: the offer is taken
    assert marks(out) == ["shorten"] and d.engine.status()["phase"] == "b"
    assert said(out) == "De rest van de sessie is ingekort. Zo eindigen we op tijd. " + long_text + " Een?"
    assert said(d.press(Command.REPEAT)) == long_text + " Een?"


def test_a_shortening_that_cannot_catch_up_does_not_promise_the_end_on_time():
    d = run(method(phase("a", 10), phase("b", 10)))
    d.start()
    d.until(25 * M)                  # 15 minutes over, 10 planned left: at most halved
    d.press()
    out = d.press()
    assert marks(out) == ["shorten"] and said(out) == "De rest van de sessie is ingekort."


def test_an_offer_not_taken_lapses_and_the_press_means_next_again():
    qs = (Question("Een?"), Question("Twee?"))
    d = run(method(phase("a", 10), phase("b", 10, questions=qs)))
    d.start()
    d.until(12 * M)
    d.press()
    d.until(12 * M + OFFER_WINDOW + 1)
    out = d.press()
    assert said(out) == "Twee?"


def test_auto_advance_moves_on_at_time_up():
    d = run(method(phase("a", 2, cues=Cues(auto_advance=True)), phase("b", 2)))
    d.start()
    d.until(10 * M)
    assert d.kinds("phase_start") == [0.0, 120.0]
    assert d.kinds("overtime") == [360.0, 480.0]  # the last phase cannot advance


def test_silent_phase_speaks_only_its_announcement():
    qs = (Question("Niet zeggen?"),)
    d = run(method(phase("denkpauze", 5, silent=True, questions=qs), phase("b", 5)))
    out = d.start()
    assert "Niet zeggen?" not in said(out)
    out = d.press()
    assert marks(out) == ["phase_start"]


def test_clock_time_programme_ends_blocks_at_fixed_times():
    import time

    blocks = (phase("sessie-1", 150, at=9 * 3600 + 30 * 60), phase("lunch", 60, at=12 * 3600),
              phase("sessie-2", 120, at=13 * 3600))
    m = method(*blocks)
    start = time.mktime((2026, 1, 5, 9, 40, 0, 0, 0, -1))  # ten minutes late
    clock = FakeClock(wall=start)
    d = Driver(Engine(m, clock), clock)
    opening = said(d.start())
    assert "tot 12 uur" in opening   # as it is said, not "twaalf nul nul"
    # A training day's blocks are parts (its sessions are blocks of their own).
    assert "Onderdeel 1 van 3." in opening and "Fase" not in opening
    assert d.engine.status()["remaining"] == 140 * M, "a late start shortens the block, not the day"
    d.until(140 * M)
    assert d.kinds("time_up") == [140 * M]
    d.press()
    assert d.engine.status()["remaining"] == 60 * M
    d.press()
    assert said(d.press()) == "Het programma is afgerond."


def test_no_drift_over_a_two_hour_programme_of_short_phases():
    phases = [phase(f"p{i}", 1.5, 2.5, cues=Cues(warn_before=30)) for i in range(48)]
    d = run(method(*phases))
    d.start()
    for i in range(48):
        start = d.engine.run.start
        d.until(start + 150)
        d.press()
    assert d.kinds("time_up") == [i * 150.0 + 150 for i in range(48)]
    assert d.kinds("warning") == [i * 150.0 + 120 for i in range(48)]
    assert d.kinds("min_reached") == [i * 150.0 + 90 for i in range(48)]


def test_snapshot_resumes_with_the_time_that_passed_while_down():
    qs = (Question("Een?"), Question("Twee?"))
    m = method(phase("a", 10, questions=qs), phase("b", 5))
    d = run(m)
    d.start()
    d.until(200)
    d.press()
    snap = json.loads(json.dumps(d.engine.snapshot()))
    # The device is down for two minutes; its monotonic clock restarts at 0.
    clock = FakeClock(wall=d.clock.time() + 120, mono=0)
    e = Engine.restore(m, clock, snap)
    st = e.status()
    assert (st["phase"], st["question"], st["elapsed"]) == ("a", 2, 320)
    out = e.resumed()
    assert "Na de onderbreking gaan we verder waar we waren:" in said(out)
    assert e.next_due() == pytest.approx(600 - 320 - 60 + 0)  # the warning, on the new clock


def test_a_paused_session_stays_paused_across_a_restart():
    m = method(phase("a", 10))
    d = run(m)
    d.start()
    d.until(100)
    d.press(Command.PAUSE)
    snap = d.engine.snapshot()
    e = Engine.restore(m, FakeClock(wall=d.clock.time() + 600), snap)
    assert e.paused and e.status()["remaining"] == 500


@pytest.mark.parametrize("snap", [{}, {"version": 1}, {"version": 1, "method": "proef"},
                                  {"version": 1, "method": "proef", "saved_wall": "x", "state": {}},
                                  {"version": 2, "method": "proef"}, {"version": 1, "method": "other"}])
def test_a_damaged_snapshot_is_a_value_error(snap):
    with pytest.raises(ValueError):
        Engine.restore(method(phase("a", 10)), FakeClock(), snap)


def test_phrases_to_render_cover_everything_said():
    qs = (Question("Een?", hint="Hint."),)
    m = method(phase("a", 5, 10, questions=qs, say="Zeg dit."), phase("b", 5),
               intro="Intro.", closing="Slot.", rules=("Regel.",))
    d = run(m)
    known = set(d.engine.phrases_to_render())
    d.start()
    d.until(8 * M)
    heard = []
    for cmd in (Command.TIME, Command.REPEAT, Command.PAUSE, Command.PAUSE, Command.NEXT,
                Command.TIME, Command.END, Command.END):
        heard += [a for a in d.press(cmd) if isinstance(a, Say)]
    for say in heard:
        for part in say.parts:
            assert part in known, part


def test_phrases_to_render_cover_the_lengths_of_a_shortened_session():
    # "7 tot 11 minuten" after the offer was taken: rendered ahead too, so
    # that no phase opens waiting for espeak-ng (noticed last session).
    m = method(phase("a", 10), phase("b", 10), phase("c", 10, 15), phase("d", 20, 30), phase("e", 8, 12))
    d = run(m)
    known = set(d.engine.phrases_to_render())
    heard = [a for a in d.start() if isinstance(a, Say)]
    d.until(16 * M)
    for step in ("next", "take", "next", "late", "next", "take", "next"):
        if step == "late":
            d.until(d.clock.monotonic() + 25 * M)
            continue
        heard += [a for a in d.press() if isinstance(a, Say)]
    assert len(d.kinds("shorten")) == 2
    lengths = [p for say in heard for p in say.parts if "tot" in p]
    assert any(p not in ("10 tot 15 minuten", "20 tot 30 minuten", "8 tot 12 minuten") for p in lengths), lengths
    for say in heard:
        for part in say.parts:
            assert part in known, part


from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list(Command)), st.floats(0, 400)), max_size=60))
def test_any_sequence_of_commands_keeps_the_session_whole(steps):
    qs = (Question("Een?"), Question("Twee?"))
    vragen = Choice("vragen", "Welke?", (Option("a", "A", questions=qs), Option("b", "B")))
    m = method(phase("a", 1, 3, questions=qs), phase("b", 2, rounds=Rounds(count=3)),
               phase("c", 1, from_choice="vragen", cues=Cues(auto_advance=True)), phase("d", 1),
               choices=(vragen,))
    d = run(m)
    d.start()
    for command, wait in steps:
        d.until(d.clock.monotonic() + wait)
        d.press(command)
        e = d.engine
        if e.stage == "running":
            st_ = e.status()
            assert 1 <= st_["phase_number"] <= len(e.plan)
            assert (e.next_due() is None) == e.paused, "a running session always has a next deadline"
        json.dumps(e.snapshot())
    if d.engine.ended:
        assert d.log[-1][1] == "session_end"


def test_a_plan_with_no_phase_for_the_choice_ends_instead_of_hanging():
    dag = Choice("dag", "Welke dag?", (Option("dag-1", "Dag een"), Option("dag-2", "Dag twee")))
    d = run(method(phase("a", 5, when={"dag": "dag-1"}), choices=(dag,)), choices={"dag": "dag-2"})
    out = d.start()
    assert d.engine.ended and marks(out)[-1] == "session_end"
    assert d.press(Command.END) == []


def test_back_closes_an_open_offer():
    d = run(method(phase("a", 10), phase("b", 10), phase("c", 10)))
    d.start()
    d.until(14 * M)
    d.press()                        # offer made at b's start
    d.press(Command.BACK)
    out = d.press()                  # means "next" again, not "accept"
    assert "shorten" not in marks(out) and d.engine.status()["phase"] == "b"


def test_repeat_after_a_shortening_says_the_prompt_not_the_notice():
    qs = (Question("Een?"),)
    d = run(method(phase("a", 10), phase("b", 10, questions=qs)))
    d.start()
    d.until(14 * M)
    d.press()
    d.press()                        # accepted
    assert said(d.press(Command.REPEAT)).endswith("Een?")


def test_end_while_choosing_needs_a_confirmation():
    c = Choice("vragen", "Welke?", (Option("a", "A"), Option("b", "B")))
    d = run(method(phase("x", 5), choices=(c,)))
    d.start()
    d.press(Command.END)
    assert not d.engine.ended
    out = d.press(Command.END)
    assert d.engine.ended
    assert said(out) == "De sessie is afgerond."      # not a silent stop (found in review)


def test_resuming_after_a_long_outage_is_one_sentence_not_every_missed_cue():
    m = method(phase("advies", 20, rounds=Rounds()), phase("b", 5))
    d = run(m, participants=5)
    d.start()
    d.until(100)
    snap = d.engine.snapshot()
    e = Engine.restore(m, FakeClock(wall=d.clock.time() + 3 * 3600), snap)
    out = e.resumed()
    assert cues(out) == [] and len([a for a in out if isinstance(a, Say)]) == 1
    assert "Beurt 5 van 5." in said(out) and lights(out) == [Light.OVERTIME]
    later = e.handle(Command.TICK)
    assert marks(later) == []


@pytest.mark.parametrize("damage", [
    lambda s: s["state"].update(run=None),
    lambda s: s["state"]["run"].update(hi=float("nan")),
    lambda s: s["state"]["run"].update(question=7),
    lambda s: s["state"]["run"].update(turn=-1),
    lambda s: s["state"]["run"].update(fired=["boom"]),
    lambda s: s["state"].update(scale=0),
    lambda s: s["state"].update(stage="choosing"),
    lambda s: s.update(saved_wall=float("inf")),
])
def test_a_well_formed_but_impossible_snapshot_is_a_value_error(damage):
    m = method(phase("a", 10, questions=(Question("Een?"),)), phase("b", 5))
    d = run(m)
    d.start()
    snap = json.loads(json.dumps(d.engine.snapshot()))
    damage(snap)
    with pytest.raises(ValueError):
        Engine.restore(m, FakeClock(), snap)


def test_accepts_says_exactly_what_handle_would_act_on():
    """Voice drops a heard command the engine would not act on, so the two
    must never disagree: over random walks through every shipped method
    (choices, pauses, back, the end's confirmation, overtime), each
    command's accepts() is checked against handle() on a copy."""
    import copy
    import random
    from pathlib import Path

    from intervisor.files.method import load_method

    voice = [c for c in Command if c is not Command.TICK]

    def live(state):
        if (state.get("confirm_left") or 0) <= 0:
            state["confirm_left"] = None
        return state

    files = sorted((Path(__file__).resolve().parent.parent / "methods").glob("*.yaml"))
    assert files
    rng = random.Random(7)
    checked = 0
    seen = set()
    for path in files:
        m = load_method(path).method
        for _walk in range(3):
            clock = FakeClock()
            e = Engine(m, clock)
            for _step in range(60):
                for c in voice:
                    # The method, the clock and the phrase book (none of them changed
                    # by handle) are shared; the session is copied.
                    probe = copy.deepcopy(e, {id(m): m, id(clock): clock, id(e.words): e.words})
                    # Acting is answering or changing the session silently
                    # (any command takes back the end's question; one whose
                    # time has run out is no question any more).
                    acts = bool(probe.handle(c)) or live(probe._state()) != live(e._state())
                    assert e.accepts(c) == acts, (m.id, e.stage, e.paused, c)
                    seen.add((e.stage, e.paused))
                    checked += 1
                if e.ended:
                    break
                clock.advance(rng.choice([0, 1, 20, 200]))   # 20: past the end's question
                e.handle(Command.TICK)
                e.handle(rng.choice(voice + [Command.NEXT] * 4))
    assert checked > 5000
    assert {("new", False), ("choosing", False), ("running", False), ("running", True)} <= seen, seen


def test_an_end_question_asked_while_choosing_is_taken_back_by_the_choice():
    m = method(phase("a", 10), choices=(Choice("vragen", "Vragen", (Option("een", "Een"), Option("twee", "Twee"))),))
    clock = FakeClock()
    e = Engine(m, clock)
    e.start()
    assert "confirm_end" not in marks(e.handle(Command.END)) and e.confirm_until is not None
    e.handle(Command.NEXT)       # the choice: the session begins
    assert e.stage == "running" and e.confirm_until is None
    out = e.handle(Command.END)  # asks again, does not end at once
    assert not e.ended and "confirm_end" in marks(out)


def test_accepts_forgets_an_end_question_whose_time_ran_out_during_a_pause():
    clock = FakeClock()
    e = Engine(method(phase("a", 10), phase("b", 10)), clock)
    e.start()
    e.handle(Command.PAUSE)
    e.handle(Command.END)
    assert e.accepts(Command.BACK)          # would take the question back
    clock.advance(CONFIRM_END_WINDOW + 1)
    assert not e.accepts(Command.BACK) and e.handle(Command.BACK) == []

# --- found in review (session 8): undo, restarts, choosing -------------------

QS = (Question("Een?", hint="Denk aan gisteren."), Question("Twee?"))


def begun(m, **clock):
    c = FakeClock(**clock)
    e = Engine(m, c)
    e.start()
    return e, c


def restart(m, engine, clock, away, mono=0.0):
    """Snapshot (through JSON, as the state file does), then restore on a
    fresh clock `away` seconds later (monotonic restarts at `mono`)."""
    snap = json.loads(json.dumps(engine.snapshot()))
    new_clock = FakeClock(wall=clock.time() + away, mono=mono)
    return Engine.restore(m, new_clock, snap), new_clock


def test_back_after_a_pause_does_not_count_the_pause_as_phase_time():
    m = method(phase("a", 10, questions=QS), phase("b", 5))
    e, clock = begun(m)
    clock.set(60)
    e.handle(Command.NEXT)                 # question 2, one minute in
    clock.set(120)
    e.handle(Command.PAUSE)                # a 30-minute break
    clock.set(120 + 1800)
    e.handle(Command.PAUSE)                # resumed: 2 active minutes so far
    assert e.status()["elapsed"] == 120
    e.handle(Command.BACK)                 # back to question 1
    assert e.status()["elapsed"] == 120, "the break became phase time after BACK"
    assert e.status()["light"] == Light.RUNNING.value
    assert marks(e.handle(Command.TICK)) == []   # no warning/time-up/overtime burst


def test_back_after_a_restart_on_a_new_boot_keeps_the_phase_time():
    m = method(phase("a", 10, questions=QS), phase("b", 5))
    e, clock = begun(m, mono=100_000.0)    # the first boot had been up a while
    clock.advance(60)
    e.handle(Command.NEXT)                 # question 2
    # Power cut; the Pi is back 60 s later, its monotonic clock from 10 s.
    e2, clock2 = restart(m, e, clock, away=60, mono=10.0)
    e2.resumed()
    assert e2.status()["elapsed"] == 120
    e2.handle(Command.BACK)                # back to question 1
    st = e2.status()
    assert st["question"] == 1
    assert 0 <= st["elapsed"] <= 600, f"elapsed after BACK is {st['elapsed']}"


def test_an_end_question_does_not_survive_a_restart_minutes_later():
    m = method(phase("a", 10), phase("b", 5))
    e, clock = begun(m)
    clock.set(100)
    e.handle(Command.END)                  # "really end?" (15 s to confirm)
    e2, _ = restart(m, e, clock, away=300)  # down for five minutes
    e2.resumed()
    out = e2.handle(Command.END)           # the chair's first END after the restart
    assert not e2.ended, "one END after a 5-minute outage ended the session unasked"
    assert "confirm_end" in marks(out)


def test_an_offer_to_shorten_does_not_survive_a_restart_minutes_later():
    m = method(phase("a", 10), phase("b", 10), phase("c", 10))
    e, clock = begun(m)
    clock.set(14 * M)
    assert "offer" in marks(e.handle(Command.NEXT))   # b starts; offer open 30 s
    e2, _ = restart(m, e, clock, away=600)           # down for ten minutes
    e2.resumed()
    out = e2.handle(Command.NEXT)
    assert "shorten" not in marks(out), "a press 10 minutes later still accepted the offer"
    assert e2.status()["phase"] == "c"


def test_back_one_question_in_overtime_keeps_the_cues_already_given():
    m = method(phase("a", 10, questions=QS), phase("b", 5))
    e, clock = begun(m)
    clock.set(60)
    e.handle(Command.NEXT)                 # question 2
    heard = []
    for t in (9 * M, 10 * M, 12 * M):      # warning, time-up, first overtime reminder
        clock.set(t)
        heard += marks(e.handle(Command.TICK))
    assert heard == ["warning", "time_up", "overtime"]
    clock.set(12 * M + 30)
    e.handle(Command.BACK)                 # back to question 1; the time goes on
    assert e.status()["light"] == Light.OVERTIME.value, "light went back to green"
    assert marks(e.handle(Command.TICK)) == [], "the cues already heard are played again"


def test_a_restart_during_a_pause_does_not_use_up_the_phase():
    m = method(phase("a", 10), phase("b", 5))
    e, clock = begun(m)
    clock.set(100)
    e.handle(Command.PAUSE)                # paused with 500 s to go
    clock.set(100 + 1200)                  # a 20-minute break...
    e2, clock2 = restart(m, e, clock, away=5)   # ...and the service restarts
    e2.resumed()
    clock2.advance(10)
    out = e2.handle(Command.PAUSE)         # resume
    assert e2.status()["remaining"] == 500
    assert Light.RUNNING in [a.light for a in out if hasattr(a, "light")], \
        "light after resuming shows overtime with 500 s left"
    clock2.advance(440)                    # 60 s before time-up
    assert marks(e2.handle(Command.TICK)) == ["warning"]
    clock2.advance(60)
    assert marks(e2.handle(Command.TICK)) == ["time_up"]


def test_an_auto_advance_phase_resumed_after_its_time_up_still_moves_on():
    m = method(phase("a", 10, cues=Cues(auto_advance=True)), phase("b", 5))
    e, clock = begun(m)
    clock.set(599)                         # crash one second before a's time-up
    e2, clock2 = restart(m, e, clock, away=10)
    e2.resumed()
    # Either it has moved on, or it still has a deadline that moves it on.
    assert e2.status()["phase"] == "b" or e2.next_due() is not None, \
        "stuck in a past-time auto-advance phase with nothing due"


def test_repeat_after_a_restart_does_not_say_a_hint_without_its_question():
    m = method(phase("a", 10, questions=QS), phase("b", 5))
    clock = FakeClock()
    e = Engine(m, clock)
    e.start()                              # question 1, with a hint
    clock.set(60)
    e2, _ = restart(m, e, clock, away=30)
    e2.resumed()
    text = said(e2.handle(Command.REPEAT))
    assert "Denk aan gisteren." not in text or "Een?" in text, text


def test_back_into_the_phase_before_counts_what_fell_due_meanwhile_as_given():
    m = method(phase("a", 10), phase("b", 5))
    e, clock = begun(m)
    clock.set(8 * M)
    e.handle(Command.NEXT)                 # b, two minutes early
    clock.set(11 * M)
    out = e.handle(Command.BACK)           # a again: 11 active minutes, past its time-up
    assert e.status()["phase"] == "a" and e.status()["elapsed"] == 11 * M
    assert Light.TIME_UP in lights(out)
    assert marks(e.handle(Command.TICK)) == []          # no warning and time-up in a row
    clock.set(12 * M)
    assert marks(e.handle(Command.TICK)) == ["overtime"]  # two minutes over, as always


def test_back_into_a_silent_phase_that_ran_out_starts_it_over():
    m = method(phase("a", 5), phase("stil", 1, cues=Cues(auto_advance=True)), phase("c", 5))
    e, clock = begun(m)
    clock.set(5 * M)
    e.handle(Command.NEXT)                 # the silent minute
    clock.set(5 * M + 20)
    e.handle(Command.NEXT)                 # c, by mistake
    clock.set(7 * M)
    e.handle(Command.BACK)                 # the silent minute would be over at once
    assert e.status()["phase"] == "stil" and e.status()["elapsed"] == 0
    assert marks(e.handle(Command.TICK)) == []
    clock.set(8 * M)
    assert "phase_start" in marks(e.handle(Command.TICK))   # and moves on after its minute
    assert e.status()["phase"] == "c"


# --- found in the review of those mends ------------------------------------------

def _local(h, mi):
    lt = time.localtime(1_767_258_000)
    return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, h, mi, 0, 0, 0, -1))


def test_back_one_turn_stays_on_that_turn_without_its_chime():
    m = method(phase("ronde", 30, rounds=Rounds(count=3)), phase("b", 5))
    e, clock = begun(m)
    clock.set(2 * M)
    e.handle(Command.NEXT)                 # turn 2, early
    clock.set(12 * M)
    e.handle(Command.BACK)                 # turn 1 again, after its share of the time had gone
    assert e.status()["turn"] == 1
    assert cues(e.handle(Command.TICK)) == [] and e.status()["turn"] == 1
    clock.set(18 * M - 1)                  # what is left (18 min) is shared by the 3 turns to go
    assert marks(e.handle(Command.TICK)) == []
    clock.set(18 * M)
    assert "turn" in marks(e.handle(Command.TICK)) and e.status()["turn"] == 2


def test_a_restart_across_a_block_boundary_keeps_the_next_block_to_its_clock():
    auto = Cues(auto_advance=True)
    m = method(phase("b1", 30, at=9 * 3600, cues=auto), phase("b2", 30, at=9 * 3600 + 1800, cues=auto),
               phase("b3", 30, at=10 * 3600, cues=auto))
    e, clock = begun(m, wall=_local(9, 20))
    e2, _ = restart(m, e, clock, away=20 * M)   # down from 09:20 to 09:40
    e2.resumed()
    assert e2.status()["phase"] == "b2" and e2.status()["remaining"] == 20 * M   # ends at 10:00


def test_a_last_phase_that_ends_by_itself_and_ran_out_while_down_closes_the_session():
    m = method(phase("a", 5), phase("stil", 2, cues=Cues(auto_advance=True)))
    e, clock = begun(m)
    clock.set(5 * M)
    e.handle(Command.NEXT)
    e2, _ = restart(m, e, clock, away=10 * M)
    out = e2.resumed()
    assert e2.ended and "session_end" in marks(out)


def test_the_device_closes_a_session_whose_last_phase_ran_out_while_down():
    from intervisor.table.runner import ActionLog, Device

    m = method(phase("a", 5), phase("stil", 2, cues=Cues(auto_advance=True)))
    e, clock = begun(m)
    clock.set(5 * M)
    e.handle(Command.NEXT)
    snap = json.loads(json.dumps(e.snapshot()))
    ended, changed = [], []
    d = Device({"proef": m}, FakeClock(wall=clock.time() + 600), [ActionLog()],
               on_session_end=ended.append, on_change=changed.append)
    d.resume(snap)
    assert d.session is None and len(ended) == 1 and changed == [d]


def test_back_into_a_programme_block_whose_time_has_passed_does_not_run_it_again():
    auto = Cues(auto_advance=True)
    m = method(phase("lunch", 60, at=12 * 3600, silent=True, cues=auto), phase("s2", 120, at=13 * 3600),
               phase("s3", 60, at=15 * 3600))
    e, clock = begun(m, wall=_local(12, 0))
    clock.advance(55 * M)
    e.handle(Command.NEXT)
    clock.advance(15 * M)
    e.handle(Command.BACK)                 # a stray back at 13:10: lunch is over all the same
    st = e.status()
    assert st["phase"] == "s2" and st["remaining"] == 110 * M


def test_back_after_resuming_a_snapshot_of_the_previous_version_still_undoes():
    m = method(phase("a", 5), phase("b", 10, questions=QS))
    e, clock = begun(m)
    clock.set(4 * M)
    e.handle(Command.NEXT)
    clock.set(6 * M)
    e.handle(Command.NEXT)
    snap = json.loads(json.dumps(e.snapshot()))
    state = snap["state"]
    del state["active"]                    # as the previous version wrote it
    for h in state["history"]:
        h.pop("active", None)
        at = h.pop("active_at")
        h["run_start"], h["turn_anchor"] = at - h["run"]["elapsed"], at - h["run"]["turn_elapsed"]
    e2 = Engine.restore(m, FakeClock(wall=clock.time() + 5), snap)
    e2.resumed()
    e2.handle(Command.BACK)
    assert e2.status()["phase"] == "b" and e2.status()["question"] == 1


@pytest.mark.parametrize("step", [{"active_at": 0.0}, "not a step", {"active_at": "x", "stage": "running"}])
def test_a_damaged_undo_step_is_refused_at_restore_not_at_the_chairs_back(step):
    m = method(phase("a", 5), phase("b", 5))
    e, clock = begun(m)
    clock.set(60)
    e.handle(Command.NEXT)
    snap = json.loads(json.dumps(e.snapshot()))
    snap["state"]["history"] = [step]
    with pytest.raises(ValueError, match="undo step"):
        Engine.restore(m, FakeClock(wall=clock.time()), snap)


def test_rounds_that_leave_out_the_case_bringer_have_a_turn_fewer():
    m = method(phase("advies", 20, rounds=Rounds(leave_out=1)))
    clock = FakeClock()
    e = Engine(m, clock, participants=6)
    e.start()
    assert e.status()["turns"] == 5
    clock.set(4 * M)                       # 20 minutes over five turns
    assert "turn" in marks(e.handle(Command.TICK))


OFFER = Phrases("nl")["offer_shorten"]


# --- the offer to shorten: said again never, taken with the phase's words (review, session 9) ---

@pytest.mark.parametrize("repeat_at", [25.0, OFFER_WINDOW + 60])
def test_say_again_never_asks_for_a_press_it_will_not_take_as_the_answer(repeat_at):
    # Phase b is entered five minutes late: the offer is said, not (yet) taken.
    # Later the chair asks to hear the phase again (for its question).
    d = run(method(phase("a", 10), phase("b", 10, say="Stel je vragen.", questions=(Question("Een?"),)),
                   phase("c", 10)))
    d.start()
    d.until(15 * M)
    assert OFFER in said(d.press())
    d.until(15 * M + repeat_at)
    again = said(d.press(Command.REPEAT))
    if OFFER in again:
        # "...inkorten? Druk dan nu kort op de knop." The chair, who had
        # let it pass, now wants it and presses once the sentence is over.
        d.until(15 * M + repeat_at + 10)
        out = d.press()
        assert marks(out) == ["shorten"], (
            f"say again offered to shorten; the press it asked for did {marks(out)} instead")


def test_say_again_after_taking_the_offer_in_a_phase_with_no_text_of_its_own():
    d = run(method(phase("a", 10), phase("b", 10), phase("c", 10)))
    d.start()
    d.until(15 * M)
    d.press()                                     # into b, five minutes late: the offer
    d.until(15 * M + 5)
    assert marks(d.press()) == ["shorten"]        # taken
    again = said(d.press(Command.REPEAT))
    assert OFFER not in again, again


def test_taking_the_offer_after_a_restart_in_its_window_still_says_the_phases_words():
    # A restart (a power blip, `systemctl restart`) a few seconds into the
    # offer's window: the window survives it (engine.restore keeps what is
    # left of it), so the next press takes the offer. The phase's own words
    # are to follow "shortened", as they do without the restart; they are
    # read back from last_say, which resumed() has replaced.
    m = method(phase("a", 10), phase("b", 10, say="Stel je vragen.", questions=(Question("Een?"),)),
               phase("c", 10))
    d = run(m)
    d.start()
    d.until(15 * M)
    d.press()                                     # into b, with the offer
    d.until(15 * M + 3)
    snap = d.engine.snapshot()
    from intervisor.core.clock import FakeClock
    clock = FakeClock(wall=d.clock.time() + 5)    # back up five seconds later
    e = Engine.restore(m, clock, snap)
    e.resumed()
    assert e.offer_until is not None              # still open
    out = e.handle(Command.NEXT)
    assert marks(out) == ["shorten"]
    assert "Stel je vragen." in said(out) and "Een?" in said(out), said(out)
