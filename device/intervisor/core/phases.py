"""The phases of the plan: what each says, and moving from one to the next.

The introduction opens the first phase; each phase opens with its number,
title and length (or the clock time its block ends), the offer to shorten
when the session runs late, its own words, and its first question or turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from intervisor.core.events import Action, Cue, Hush, Light, Mark, Play, Say, Show
from intervisor.core.model import Option, Phase, Question
from intervisor.core.schedule import PhaseRun

if TYPE_CHECKING:
    from intervisor.core.engine import Engine


class Phases:
    """Begins the session, enters each phase, and ends the session."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def begin(self) -> list[Action]:
        e = self.engine
        e.stage = "running"
        e.plan = e.method.plan(e.choices)
        if e.participants is None:
            e.participants = e.method.participants
        now = e.clock.monotonic()
        e.choosing.begun_at = e.schedule.active(now)
        parts: list[str] = [e.method.title + "."]
        if e.method.intro:
            parts.append(e.method.intro)
        if e.method.rules:
            parts.append(e.words["rules"])
            parts.extend(e.method.rules)
        actions: list[Action] = [Hush(), Mark("intro", None, " ".join(parts))]
        if not e.plan:  # the loader refuses such a method; never hang on one
            return actions + self.finish()
        return actions + self.enter(0, now, lead=parts)

    def enter(self, index: int, now: float, lead: Iterable[str] = ()) -> list[Action]:
        e = self.engine
        lead = list(lead)
        phase = e.plan[index]
        lo, hi = e.schedule.effective(phase, index, now)
        e.run = PhaseRun(index=index, start=now, lo=lo, hi=hi, turn_anchor=now)
        head = [e.words.phase(index + 1, len(e.plan), e.method.is_programme), phase.title + "."]
        if phase.at is not None:
            head += [e.words["block_at"], e.words.clock(e.programme.block_end_clock(index)) + "."]
        elif e.method.times == "proposal":
            head += [e.words["proposed"], e.words.length(lo, hi)]
        else:
            head.append(e.words.length(lo, hi))
        actions: list[Action] = [Play(Cue.PHASE_START), Show(Light.RUNNING)]
        marks: list[Action] = [Mark("phase_start", phase.id, " ".join(lead + head + self.own_words(phase)))]
        offer: list[str] = []
        e.offer.until = None
        if e.offer.due(index):
            # Said right after the title and the length, before the phase's
            # own text: after a long text the window had closed, and the
            # press meant for the offer moved on a phase instead.
            offer = e.offer.open(now)
            marks.append(Mark("offer", phase.id))
        questions = self.questions(phase)
        if questions and not phase.silent:
            e.run.question = 0
            marks.append(Mark("question", phase.id, questions[0].text))
        if phase.rounds is not None:
            marks.append(Mark("turn", phase.id, e.words.turn(1, self.turns(phase))))
        words = self.phase_words(phase)
        # "Say again" repeats the phase: not the whole introduction in the
        # first phase, and never the offer, whose window closes.
        e.last_say = Say(tuple(p for p in head + words if p))
        return actions + [Say(tuple(p for p in lead + head + offer + words if p))] + marks

    def advance(self) -> list[Action]:
        """On to the next phase, or the end of the session after the last."""
        e = self.engine
        now = e.clock.monotonic()
        run = e.run
        if e.plan[run.index].at is None:
            e.offer.count(e.schedule.elapsed(now), run.hi)
        e.offer.until = None
        if run.index + 1 >= len(e.plan):
            return self.finish()
        return self.enter(run.index + 1, now)

    def finish(self) -> list[Action]:
        e = self.engine
        e.stage = "ended"
        parts = []
        if e.method.closing:
            parts.append(e.method.closing)
        parts.append(self.ended_word())
        text = " ".join(parts)
        return [Play(Cue.PHASE_START), e.say(parts), Show(Light.IDLE), Mark("session_end", None, text)]

    def ended_word(self) -> str:
        # A training's blocks are themselves called sessions: the end of the
        # day is the programme's.
        e = self.engine
        return e.words["programme_ended" if e.method.is_programme else "ended"]

    def turn_actions(self, phase: Phase, quiet: bool) -> list[Action]:
        e = self.engine
        text = e.words.turn(e.run.turn + 1, self.turns(phase))
        parts = [text, phase.rounds.say] if phase.rounds.say else [text]
        # The mark carries the round's line too: the timeline shows what was said.
        out: list[Action] = [Play(Cue.TURN), Mark("turn", phase.id, " ".join(parts))]
        if not quiet:
            out.append(e.say(parts))
        return out

    # ------------------------------------------------------------- words

    def own_words(self, phase: Phase) -> list[str]:
        """The phase's own text, and its chosen option's."""
        option = self.option(phase)
        return [t for t in (phase.say, option.say if option is not None else None) if t]

    def phase_words(self, phase: Phase) -> list[str]:
        """The phase's own words, and where it stands (question, turn)."""
        return self.own_words(phase) + self.place_words(phase)

    def place_words(self, phase: Phase) -> list[str]:
        """Where the phase stands: its question, its turn."""
        e = self.engine
        words = []
        questions = self.questions(phase)
        if questions and not phase.silent and e.run.question >= 0:
            words.append(questions[e.run.question].text)
        if phase.rounds is not None:
            words.append(e.words.turn(e.run.turn + 1, self.turns(phase)))
        return words

    # ------------------------------------------ the phase and its choices

    def option(self, phase: Phase) -> Option | None:
        e = self.engine
        if phase.from_choice is None or phase.from_choice not in e.choices:
            return None
        return e.method.choice(phase.from_choice).option(e.choices[phase.from_choice])

    def questions(self, phase: Phase) -> tuple[Question, ...]:
        option = self.option(phase)
        return phase.questions + (option.questions if option is not None else ())

    def turns(self, phase: Phase) -> int:
        if phase.rounds is None:
            return 0
        if phase.rounds.count:
            return phase.rounds.count
        e = self.engine
        everyone = e.participants or e.method.participants
        return max(1, everyone - phase.rounds.leave_out)
