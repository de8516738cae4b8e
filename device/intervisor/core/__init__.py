"""The core: what a session is and how it runs, on any clock.

The engine takes commands (:class:`Command`) and answers each with actions
(:class:`Say`, :class:`Play`, :class:`Show`, :class:`Hush`, :class:`Mark`);
time comes from an injected clock. Pure: nothing here imports another
package of intervisor, nor any hardware, audio or speech library (a test
checks that: tests/test_layout.py).

- ``model``: the frozen dataclasses of a method (Method, Phase, Choice, ...)
- ``events``: the commands in and the actions out
- ``clock``: SystemClock, FakeClock, LeadClock
- ``phrases``: the device's own words, nl and en
- ``engine``: runs one session of one method; ``Engine`` is the facade of
  its parts, each with one job: ``choosing`` (the questions at the start),
  ``phases`` (what a phase says, moving through the plan), ``commands``
  (the chair's commands while it runs), ``schedule`` (the phase's time and
  deadlines), ``programme`` (clock-time blocks), ``shorten`` (the offer to
  shorten), ``undo`` (what back undoes), ``snapshot`` (saved and restored),
  ``texts`` (every text it may say)
- ``rehearsal``: a whole session on a fake clock with a punctual chair (the
  timeline; ``intervisor rehearse``, the HTML report and the prompts
  rendered first use it)
"""

# The package's face: its modules are its rooms; other packages import from
# here, tests may open a room itself.
from .model import Duration, Question, Option, Choice, Cues, Rounds, Phase, Method
from .events import Command, Light, Cue, Say, Play, Show, Hush, Mark
from .clock import Clock, SystemClock, LeadClock, FakeClock
from .phrases import Phrases, dynamic_parts, fixed_parts, gesture_text, wake_word_for
from .engine import Engine
from .rehearsal import Rehearsal, default_choices, rehearse

__all__ = [
    "Duration",
    "Question",
    "Option",
    "Choice",
    "Cues",
    "Rounds",
    "Phase",
    "Method",
    "Command",
    "Light",
    "Cue",
    "Say",
    "Play",
    "Show",
    "Hush",
    "Mark",
    "Clock",
    "SystemClock",
    "LeadClock",
    "FakeClock",
    "Phrases",
    "dynamic_parts",
    "fixed_parts",
    "gesture_text",
    "wake_word_for",
    "Engine",
    "Rehearsal",
    "default_choices",
    "rehearse",
]
