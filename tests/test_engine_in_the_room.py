"""Sessions walked through as a chair would, on a simulated clock: a power
cut during a pause or an offer, say again after a restart, back after taking
the offer, a session ahead of its plan, a training day's clock, how much
time in overtime, the button explained only where its ticks mean what it
says. Each test failed on the code before its fix (two reviews, session 9)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from intervisor.core.clock import FakeClock
from intervisor.core.engine import Engine
from intervisor.core.events import Command, Mark, Say, Show, Light
from intervisor.files.method import load_method
from intervisor.core.model import Choice, Duration, Method, Option, Phase, Question, Rounds
from intervisor.core.phrases import Phrases, gesture_text
from intervisor.table.runner import ActionLog, Device

M = 60.0
METHODS = Path(__file__).resolve().parent.parent / "methods"
NL = Phrases("nl")
EN = Phrases("en")


def shipped(mid):
    return load_method(METHODS / f"{mid}.yaml").method


def said(actions):
    says = [a for a in actions if isinstance(a, Say)]
    assert len(says) <= 1
    return says[0].text if says else None


def marks(actions):
    return [a.kind for a in actions if isinstance(a, Mark)]


def until(engine, clock, t):
    """Advance to t, ticking at every deadline as the service loop does."""
    while True:
        due = engine.next_due()
        if due is None or due > t:
            break
        clock.set(max(due, clock.monotonic()))
        engine.handle(Command.TICK)
    clock.set(t)


def restart(method, engine, clock, away):
    snap = json.loads(json.dumps(engine.snapshot()))
    new_clock = FakeClock(wall=clock.time() + away, mono=0.0)
    return Engine.restore(method, new_clock, snap), new_clock


def started(mid):
    """A shipped method started on a fresh clock, with five participants."""
    m = shipped(mid)
    clock = FakeClock()
    e = Engine(m, clock, participants=5)
    e.start()
    return m, e, clock


def simple(*phases):
    return Method("proef", "Proef", "nl", tuple(phases))


def ph(pid, lo, hi=None, **kw):
    return Phase(pid, pid.capitalize(), Duration(lo * M, (hi or lo) * M), **kw)


# --- 1. a power cut during a pause ---------------------------------------

def test_a_session_restored_while_paused_says_it_is_paused_not_that_it_goes_on():
    # The group takes a coffee break (hold, 3 ticks); the plug is pulled
    # meanwhile. On the way back up the device says "Na de onderbreking
    # gaan we verder waar we waren: ..." and the time left, and nothing
    # else: the group starts talking again while the session stands still
    # (no chimes will come). A chair expects to hear that it is paused
    # and how to go on, as after any pause.
    m, e, clock = started("vijf-stappen")
    clock.set(2 * M)
    e.handle(Command.PAUSE)
    clock.set(12 * M)
    e2, _ = restart(m, e, clock, away=300)
    out = e2.resumed()
    assert e2.paused and Show(Light.PAUSED) in out
    assert NL["paused"] in said(out), said(out)


# --- 2. say again after a restart ---------------------------------------

def test_say_again_after_a_restart_does_not_repeat_a_stale_time_left():
    # After a restart the device says where it picks up, with the time
    # left then ("In deze fase nog, 8 minuten"). That whole sentence
    # becomes what "say again" repeats: four minutes later the chair asks
    # for the question again and hears "nog 8 minuten" with 4 left.
    m, e, clock = started("vijf-stappen")
    clock.set(2 * M)
    e.handle(Command.NEXT)                     # question 2
    e2, c2 = restart(m, e, clock, away=20)
    first = said(e2.resumed())
    assert "8 minuten" in first
    until(e2, c2, 4 * M)
    again = said(e2.handle(Command.REPEAT))
    assert "Waarom is het voor jou een probleem?" in again
    assert NL["left_phase"] not in again and "8 minuten" not in again, again


# --- 3. back after taking the offer ------------------------------------

def test_back_after_taking_the_offer_undoes_the_shortening_not_the_phase():
    # "Back undoes a press." The press that took the offer to shorten (a
    # double press at the phase change does it before the offer is even
    # heard) is undone by going back a whole phase instead: the group is
    # sent back to the previous phase, and the shortening is gone with it.
    m = simple(ph("a", 10), ph("b", 10, questions=(Question("Een?"), Question("Twee?"))), ph("c", 10))
    clock = FakeClock()
    e = Engine(m, clock)
    e.start()
    until(e, clock, 16 * M)                    # six minutes late
    assert "offer" in marks(e.handle(Command.NEXT))
    clock.advance(0.3)
    assert "shorten" in marks(e.handle(Command.NEXT))   # the second half of a double press
    out = e.handle(Command.BACK)
    st = e.status()
    assert st["phase"] == "b", f"back after taking the offer went to phase {st['phase']}: {said(out)}"
    assert e.scale == 1.0 and st["remaining"] == 10 * M - 0.3


# --- 4. the offer to shorten when the session is not behind -------------

def test_no_offer_to_shorten_when_the_session_is_ahead_of_its_plan():
    # vijf-stappen, a normal evening: the case is told in 7 minutes
    # (5-10), the questions take 6 (5-10), the thinking pause its 5, the
    # advice round 17 of its 15. 35 minutes gone where the plan has 40:
    # the session is five minutes ahead. The device opens the next phase
    # with "We lopen achter op het schema: 2 minuten. Wil je de rest
    # inkorten?" (and "hoeveel tijd" says the session runs longer than
    # planned): each phase's time to spare is dropped, only its overrun
    # counts.
    m = shipped("vijf-stappen")
    clock = FakeClock()
    e = Engine(m, clock, participants=5)
    e.start()
    for q in range(4):
        e.handle(Command.NEXT)                 # through the five questions
    for t in (7, 13, 18):                      # into verhelderen, denkpauze, adviesronde
        until(e, clock, t * M)
        e.handle(Command.NEXT)
    until(e, clock, 35 * M)
    out = e.handle(Command.NEXT)               # adviesronde, turn 2 of 4 (pressed late)...
    while e.status()["phase"] == "adviesronde":
        out = e.handle(Command.NEXT)
    assert e.status()["phase"] == "keuze"
    assert "offer" not in marks(out), said(out)
    assert NL["session_over"] not in said(e.handle(Command.TIME))


# --- 5. "hoeveel tijd" in a clock-time programme ------------------------

def _local(h, mi):
    lt = time.localtime(1_767_258_000)
    return time.mktime((lt.tm_year, lt.tm_mon, lt.tm_mday, h, mi, 0, 0, 0, -1))


def training_day_1():
    """begeleiden-van-intervisie, day 1, started at 9:30 on the clock."""
    m = shipped("begeleiden-van-intervisie")
    clock = FakeClock(wall=_local(9, 30))
    e = Engine(m, clock, choices={"dag": "dag-1"})
    e.start()
    return m, e, clock


def test_how_much_time_in_a_programme_counts_the_rest_of_the_day_by_the_clock():
    # Training day 2, morning: 9:30 session, 11:30 break, 11:45 session
    # until 13:45. At 11:40 the first block still runs (the trainer has
    # not pressed yet). The day ends at 13:45, two hours and five minutes
    # from now; the device says "2 uur en 15 minuten": it adds the break's
    # and the last block's planned lengths, though both keep to the clock.
    m = shipped("begeleiden-van-intervisie")
    clock = FakeClock(wall=_local(9, 30))
    e = Engine(m, clock, choices={"dag": "dag-2"})
    e.start()
    until(e, clock, 2 * 3600 + 10 * M)         # 11:40
    text = said(e.handle(Command.TIME))
    assert e.status()["session_remaining"] == 2 * 3600 + 5 * M
    assert text.endswith(NL.duration(2 * 3600 + 5 * M)), text
    # The day's blocks are sessions themselves: the rest is the programme's.
    assert NL["left_programme"] in text and NL["left_session"] not in text


# --- 6. a pause in a programme block ------------------------------------

def test_a_pause_in_a_programme_block_does_not_push_the_block_past_the_next_ones_start():
    # Training day 1: the first block runs until lunch at 12:00. At 11:00
    # the trainer pauses for ten minutes (a phone call, a fire drill). The
    # block's time-up moves to 12:05 and at 11:55 "hoeveel tijd" says
    # "nog 15 minuten": lunch is at 12:00 ("a block of a clock-time
    # programme keeps to the clock"; the next block's start does not move).
    m, e, clock = training_day_1()
    until(e, clock, 90 * M)                    # 11:00
    e.handle(Command.PAUSE)
    clock.set(100 * M)                         # 11:10
    e.handle(Command.RESUME)
    until(e, clock, 145 * M)                   # 11:55
    assert e.status()["remaining"] == 5 * M
    assert e.next_due() == 150 * M             # the time-up at 12:00, when lunch begins


# --- in English (review of the English texts, session 9) ---------------------------

def two_phases(**kw):
    return Method("t", "Test", "en", (
        Phase("a", "First", Duration(5 * M, 5 * M), questions=(Question("One?"), Question("Two?"))),
        Phase("b", "Second", Duration(5 * M, 5 * M), questions=(Question("Three?"), Question("Four?"))),
    ), **kw)


def test_how_much_time_in_the_last_phase_over_time_gives_no_session_time_left():
    # Last phase, two minutes over: "This phase is over time by 2 minutes.
    # For the whole session, less than a minute" -- the session is not
    # ending in under a minute, it is already past its plan.
    clock = FakeClock()
    e = Engine(two_phases(), clock)
    e.start()
    clock.advance(5 * M)
    e.handle(Command.TICK)
    e.handle(Command.NEXT)          # second question
    e.handle(Command.NEXT)          # into the last phase, on time
    clock.advance(7 * M)
    e.handle(Command.TICK)
    text = said(e.handle(Command.TIME))
    assert EN["over_phase"] in text
    assert EN["left_session"] not in text, text


def test_a_session_restored_while_paused_says_that_it_is_paused():
    # After a restart the device says "we pick up where we were" while it
    # is still paused: the group starts talking with the clock stopped, and
    # the chair's next press only resumes ("Let's continue") instead of
    # moving on. The words should say what the lights show.
    clock = FakeClock()
    m = two_phases()
    e = Engine(m, clock)
    e.start()
    clock.advance(2 * M)
    e.handle(Command.PAUSE)
    snap = e.snapshot()
    later = FakeClock(wall=clock.time() + 120, mono=3.0)
    again = Engine.restore(m, later, snap)
    assert again.paused
    text = said(again.resumed())
    assert EN["paused"] in text, text


def test_an_offer_to_shorten_nobody_heard_after_a_restart_is_not_taken_by_a_press():
    # The offer was made, the device restarted within its window; the
    # resumed words do not mention it, yet the chair's next press (meant to
    # move on) silently shortens the rest of the session.
    clock = FakeClock()
    m = Method("t", "Test", "en", (
        Phase("a", "First", Duration(5 * M, 5 * M)),
        Phase("b", "Second", Duration(5 * M, 5 * M), questions=(Question("Three?"), Question("Four?"))),
        Phase("c", "Third", Duration(5 * M, 5 * M)),
    ))
    e = Engine(m, clock)
    e.start()
    clock.advance(5 * M)
    e.handle(Command.TICK)
    clock.advance(3 * M)             # three minutes over
    assert "offer" in marks(e.handle(Command.NEXT))
    clock.advance(3)
    snap = e.snapshot()
    later = FakeClock(wall=clock.time() + 5, mono=2.0)
    again = Engine.restore(m, later, snap)
    words = said(again.resumed())
    later.advance(2)
    answer = again.handle(Command.NEXT)
    if "shorten" in marks(answer):
        assert EN["offer_shorten"] in words, (words, said(answer))


def test_the_gestures_are_not_explained_where_one_tick_means_something_else():
    # The first run of a method with an open choice starts with "one tick
    # repeats, two go back ..." and, in the same breath, "Hold the button to
    # the first tick for the next option": while choosing, one tick steps.
    # The explanation belongs to the session, after the choices.
    m = Method("t", "Test", "en", (Phase("a", "First", Duration(5 * M, 5 * M), from_choice="q"),),
               choices=(Choice("q", "Which questions?", (Option("x", "Set X", questions=(Question("X?"),)),
                                                       Option("y", "Set Y", questions=(Question("Y?"),)))),))
    rec = ActionLog()
    device = Device({"t": m}, FakeClock(), [rec], language="en", explain=gesture_text)
    device.handle(Command.NEXT)
    choosing = " ".join(rec.said())
    assert EN["choose"] in choosing
    assert gesture_text("en") not in choosing
    rec.actions.clear()
    device.handle(Command.NEXT)      # choose: the session begins
    assert gesture_text("en") in " ".join(rec.said())


# --- the last engine change, reviewed (session 9) -----------------------------------


# --- A. a pause in a programme block, then back a question ------------------

def test_back_after_a_pause_in_a_programme_block_keeps_the_block_to_the_clock():
    # Training day 1, block 1 (09:30 until lunch at 12:00) has four parts
    # the trainer steps through. At 10:00 the trainer moves to part 2;
    # at 11:00 a ten-minute pause (the pause now comes off the block, so
    # lunch stays at 12:00). At 11:15 the trainer goes back a part (one
    # press too many). The block's time-up moves to 12:10: lunch is
    # announced ten minutes late, and the warning cue comes at 12:05.
    m, e, clock = training_day_1()
    until(e, clock, 30 * M)                    # 10:00
    e.handle(Command.NEXT)                     # part 2
    until(e, clock, 90 * M)                    # 11:00
    e.handle(Command.PAUSE)
    clock.set(100 * M)                         # 11:10
    e.handle(Command.RESUME)
    assert e.run.start + e.run.hi == 150 * M   # lunch stays at 12:00
    warning = e.next_due()
    until(e, clock, 105 * M)                   # 11:15
    e.handle(Command.BACK)                     # back to part 1
    assert e.status()["phase"] == "sessie-1"
    up = e.run.start + e.run.hi
    assert up == 150 * M, f"the block's time-up moved to {(up - 150 * M) / M:+.0f} min after 12:00"
    assert e.next_due() == warning


# --- B. how much time, asked during a pause in a programme block -------------

def test_how_much_time_during_a_pause_in_a_programme_block_counts_the_pause():
    # A pause now comes off the block (lunch stays at 12:00). During a
    # twenty-minute coffee break at 11:00 the trainer asks "hoeveel tijd"
    # at 11:20: the device says the block has "nog 1 uur" (as at 11:00),
    # while 40 minutes are left before lunch -- as it says a second
    # after the resume.
    m, e, clock = training_day_1()
    until(e, clock, 90 * M)                    # 11:00
    e.handle(Command.PAUSE)
    clock.set(110 * M)                         # 11:20, still paused
    text = said(e.handle(Command.TIME))
    assert NL.duration(40 * M) in text and NL.duration(60 * M) not in text, text


# --- C. the explanation held while choosing, the session ended there ---------

def _with_choice():
    return Method("t", "Test", "en", (Phase("a", "First", Duration(5 * M, 5 * M), from_choice="q"),),
                  choices=(Choice("q", "Which questions?", (Option("x", "Set X", questions=(Question("X?"),)),
                                                          Option("y", "Set Y", questions=(Question("Y?"),)))),))


def test_a_session_ended_while_choosing_still_gets_the_button_explained_next_time():
    # The chair starts the method, hears the choice, and ends ("wrong
    # method", END twice). The explanation waited for the choices and is
    # dropped; the method counts as explained all the same, so the next
    # time it is run (the first real session) the button is never explained.
    m = _with_choice()
    rec = ActionLog()
    device = Device({"t": m}, FakeClock(), [rec], language="en", explain=gesture_text)
    device.handle(Command.NEXT)                # choosing
    device.handle(Command.END)
    device.handle(Command.END)                 # ended while choosing
    assert device.session is None
    rec.actions.clear()
    device.handle(Command.NEXT)                # started again: choosing
    device.handle(Command.NEXT)                # chosen: the session begins
    assert gesture_text("en") in " ".join(rec.said()), rec.said()


# --- D. a pause in a programme block that runs past the block's end -----------

def test_a_pause_past_a_blocks_end_gives_one_time_up_not_every_cue_it_missed():
    # Training day 1, 11:50: the trainer pauses block 1 (lunch at 12:00)
    # and the group goes to lunch; at 13:05 the trainer resumes. The pause
    # now comes off the block, so every deadline of the block stays on the
    # clock -- and all that fell due during the pause fire in the first
    # tick: the warning, the time-up and four overtime reminders (12:05,
    # 12:10, 12:20, 12:40), six cues in a row, each marked in the record at
    # 13:05. Before, a pause froze the block and nothing fell due in it.
    from intervisor.core.events import Play
    m, e, clock = training_day_1()
    until(e, clock, 140 * M)                   # 11:50
    e.handle(Command.PAUSE)
    clock.set(215 * M)                         # 13:05
    out = e.handle(Command.RESUME) + e.handle(Command.TICK)
    cues = [a.cue.value for a in out if isinstance(a, Play)]
    assert cues.count("overtime") + cues.count("warning") == 0 and cues.count("time_up") <= 1, cues


# --- E. a programme that runs past midnight --------------------------------

def test_how_much_time_after_midnight_in_the_last_block_of_an_evening_programme():
    # An evening programme: 22:00 a block, 23:00 the last block of two
    # hours (until 01:00). At 00:30 "hoeveel tijd" counts the day's end by
    # today's date: 01:00 of the next night, 24 hours on ("nog 24 uur en
    # 30 minuten" for the session, with 30 minutes left in the block).
    m = Method("avond", "Avond", "nl", (
        Phase("a", "Eerste blok", Duration(60 * M, 60 * M), at=22 * 3600),
        Phase("b", "Laatste blok", Duration(120 * M, 120 * M), at=23 * 3600),
    ))
    clock = FakeClock(wall=_local(22, 0))
    e = Engine(m, clock)
    e.start()
    until(e, clock, 60 * M)                    # 23:00
    e.handle(Command.NEXT)
    until(e, clock, 150 * M)                   # 00:30
    assert e.status()["remaining"] == 30 * M
    assert e.status()["session_remaining"] == 30 * M, e.status()["session_remaining"] / 3600


# --- F. say again inside the offer's window -------------------------------

def test_a_press_after_say_again_in_the_offers_window_is_not_taken_as_the_offer():
    # Phase b opens five minutes late, with the offer right after its title.
    # Someone missed the question: the chair says "say again" at once; the
    # device repeats the phase without the offer (since 68b7cf6) -- but the
    # offer's window is still open. Twelve seconds later the chair presses
    # for the next question and the rest of the session is shortened: the
    # last words heard asked for no such press.
    m = Method("proef", "Proef", "nl", (
        Phase("a", "A", Duration(10 * M, 10 * M)),
        Phase("b", "B", Duration(10 * M, 10 * M), questions=(Question("Een?"), Question("Twee?"))),
        Phase("c", "C", Duration(10 * M, 10 * M)),
    ))
    clock = FakeClock()
    e = Engine(m, clock)
    e.start()
    until(e, clock, 15 * M)
    out = e.handle(Command.NEXT)
    assert NL["offer_shorten"] in said(out)
    clock.advance(6)
    again = said(e.handle(Command.REPEAT))
    assert NL["offer_shorten"] not in again
    clock.advance(12)
    out = e.handle(Command.NEXT)
    kinds = [a.kind for a in out if isinstance(a, Mark)]
    assert kinds == ["question"], f"the press after say again did {kinds}: {said(out)}"


# --- the device's accepts() against handle(), over the new paths -------------
# (passes before and after the fixes: a guard, not a finding)

def test_device_accepts_agrees_with_handle_over_offers_pauses_restarts_and_choosing():
    import copy
    import json
    import random
    from pathlib import Path

    from intervisor.files.method import load_method

    voice = [c for c in Command if c is not Command.TICK]

    def live(session):
        if session is None:
            return None
        state = session._state()
        if (state.get("confirm_left") or 0) <= 0:
            state["confirm_left"] = None
        return state

    methods = {p.stem: load_method(p).method
               for p in sorted((Path(__file__).resolve().parent.parent / "methods").glob("*.yaml"))}
    rng = random.Random(11)
    checked, offers = 0, 0
    for mid in sorted(methods):
        for _walk in range(2):
            clock = FakeClock(wall=_local(9, 0))
            device = Device(methods, clock, [ActionLog()], selected=mid, explain=gesture_text)
            for _step in range(80):
                for c in voice:
                    probe = copy.copy(device)
                    probe.adapters, probe.on_change, probe.on_session_end = [], None, None
                    probe.explained = set(device.explained)
                    probe.session = copy.deepcopy(device.session)
                    acts = bool(probe.handle(c)) or live(probe.session) != live(device.session)
                    assert device.accepts(c) == acts, (mid, device.session and device.session.stage, c)
                    checked += 1
                r = rng.random()
                s = device.session
                if r < 0.07 and s is not None and s.stage == "running":
                    snap = json.loads(json.dumps(s.snapshot()))
                    clock = FakeClock(wall=clock.time() + rng.choice([2, 40, 400]), mono=0.0)
                    device = Device(methods, clock, [ActionLog()], selected=mid, explain=gesture_text)
                    out = device.resume(snap)
                else:
                    clock.advance(rng.choice([0, 0.3, 1, 20, 200, 700]))
                    device.handle(Command.TICK)
                    out = device.handle(rng.choice(voice + [Command.NEXT] * 4 + [Command.PAUSE]))
                offers += any(isinstance(a, Mark) and a.kind == "offer" for a in out)
    assert checked > 5000 and offers > 10, (checked, offers)
