"""The session saved as JSON-able data, and restored after a restart.

Times are kept "since then, until now" with the wall time the snapshot was
taken, so a restart (even after a power cut, when the monotonic clock
starts again from zero) resumes with the time that passed. A snapshot that
is well-formed and still makes no session is refused (``ValueError``).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any, Mapping

from intervisor.core.clock import Clock
from intervisor.core.events import Say
from intervisor.core.model import Method
from intervisor.core.schedule import PhaseRun

if TYPE_CHECKING:
    from intervisor.core.engine import Engine

SNAPSHOT_VERSION = 1
# What a damaged snapshot raises while it is read.
DAMAGED = (KeyError, TypeError, AttributeError, IndexError, OverflowError)


def snapshot(engine: Engine) -> dict:
    """The whole session, with the wall time it was taken."""
    return {
        "version": SNAPSHOT_VERSION,
        "method": engine.method.id,
        "language": engine.method.language,
        "saved_wall": engine.clock.time(),
        "state": state(engine),
    }


def state(engine: Engine, include_history: bool = True) -> dict:
    """The session's facts, each time as seconds until now."""
    e = engine
    now = e.clock.monotonic()
    run = e.run
    out: dict[str, Any] = {
        "stage": e.stage,
        "choices": dict(e.choices),
        "participants": e.participants,
        "scale": e.offer.scale,
        "overrun": e.offer.overrun,
        "paused_for": (now - e.paused_at) if e.paused else None,
        "last_say": list(e.last_say.parts) if e.last_say else None,
        "offer_left": (e.offer.until - now) if e.offer.until is not None else None,
        "confirm_left": (e.confirm_until - now) if e.confirm_until is not None else None,
        "active": now - e.schedule.active_anchor,   # includes a pause that is still on
    }
    if run is not None:
        out["run"] = {
            "index": run.index,
            "elapsed": now - run.start,   # includes a pause that is still on
            "lo": run.lo,
            "hi": run.hi,
            "question": run.question,
            "turn": run.turn,
            "turn_elapsed": now - run.turn_anchor,
            "fired": sorted(run.fired),
            "overtime_count": run.overtime_count,
            "paused_total": run.paused_total,
        }
    if include_history:
        out["history"] = copy.deepcopy(e.history.steps)
    return out


def load_state(engine: Engine, state: dict, now: float) -> None:
    """Set the session to ``state`` (from :func:`state`) at the instant ``now``."""
    e = engine
    e.stage = state["stage"]
    e.choices = dict(state["choices"])
    e.participants = state["participants"]
    e.offer.scale = state["scale"]
    e.offer.overrun = state["overrun"]
    e.plan = e.method.plan(e.choices)
    e.paused_at = None if state["paused_for"] is None else now - state["paused_for"]
    e.last_say = Say(tuple(state["last_say"])) if state.get("last_say") else None
    e.offer.until = now + state["offer_left"] if state.get("offer_left") is not None else None
    e.confirm_until = now + state["confirm_left"] if state.get("confirm_left") is not None else None
    r = state.get("run")
    # A snapshot from before the session clock: its run's time stands in.
    e.schedule.active_anchor = now - state.get("active", r["elapsed"] if r is not None else 0.0)
    if r is None:
        e.run = None
        return
    e.run = PhaseRun(
        index=r["index"], start=now - r["elapsed"], lo=r["lo"], hi=r["hi"],
        question=r["question"], turn=r["turn"], turn_anchor=now - r["turn_elapsed"],
        fired=set(r["fired"]), overtime_count=r["overtime_count"],
        paused_total=r["paused_total"],
    )
    if "history" in state:
        e.history.steps = copy.deepcopy(state["history"])
        for h in e.history.steps:
            # A step saved before the session clock (its instants are of
            # another boot's clock): undone as if taken at the restore.
            if isinstance(h, dict) and "active_at" not in h:
                h["active_at"] = now - e.schedule.active_anchor


def restore(cls: type[Engine], method: Method, clock: Clock, snapshot: Mapping) -> Engine:
    """Rebuild a session of ``cls`` from :func:`snapshot`. Raises
    ``ValueError`` when the snapshot does not belong to this method or is
    not one."""
    try:
        if snapshot.get("version") != SNAPSHOT_VERSION or snapshot.get("method") != method.id:
            raise ValueError("the saved session is for another method or version")
        engine = cls(method, clock, choices=snapshot["state"]["choices"],
                     participants=snapshot["state"]["participants"])
        # Time went on while the device was down, unless it was paused.
        saved = float(snapshot["saved_wall"])
        if not math.isfinite(saved):
            raise ValueError("the saved session has no time it was saved")
        away = max(0.0, clock.time() - saved)
        engine._load_state(_moved_on(dict(snapshot["state"]), away), clock.monotonic())
        engine._check_restored()
        return engine
    except DAMAGED as exc:
        raise ValueError(f"the saved session is damaged ({exc.__class__.__name__}: {exc})") from exc


def _moved_on(saved: dict, away: float) -> dict:
    """The saved state as it stands ``away`` seconds later."""
    state = copy.deepcopy(saved)
    # Times are kept "since then, until now": all move on by `away`;
    # a pause still on simply lasted longer.
    if state.get("run") is not None:
        state["run"]["elapsed"] += away
        state["run"]["turn_elapsed"] += away
    if state.get("active") is not None:
        state["active"] += away
    if state.get("paused_for") is not None:
        state["paused_for"] += away
    # The windows ran out while the device was down as they would
    # have in the room: "really end?" and the offer to shorten are
    # not answered minutes later by a press meant for something else.
    # (An offer open when the session was paused is made again at the resume.)
    for window in ("confirm_left", "offer_left"):
        if state.get(window) is not None:
            state[window] -= away
            if state[window] <= 0 and (window == "confirm_left" or state.get("paused_for") is None):
                state[window] = None
    return state


def _finite(numbers) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers)


def check_restored(engine: Engine) -> None:
    """A state file may be well-formed and still not make sense."""
    e = engine
    if e.stage != "running":
        raise ValueError(f"cannot resume a session in stage {e.stage!r}")
    run = e.run
    if run is None or not (0 <= run.index < len(e.plan)):
        raise ValueError("the saved phase is not in this method")
    numbers = [run.start, run.lo, run.hi, run.turn_anchor, run.paused_total, e.offer.scale, e.offer.overrun,
               e.schedule.active_anchor]
    if not _finite(numbers) or run.hi < 0 or not 0 < e.offer.scale <= 1:
        raise ValueError("the saved times are not numbers a session can have")
    phase = e.plan[run.index]
    if not -1 <= run.question < max(1, len(e.phases.questions(phase))):
        raise ValueError("the saved question is not in this phase")
    if not 0 <= run.turn < max(1, e.phases.turns(phase)):
        raise ValueError("the saved turn is not in this phase")
    if not set(run.fired) <= {"min_reached", "warning", "time_up"}:
        raise ValueError("the saved cues are not ones a phase has")
    for step in e.history.steps:
        _check_step(e, step)


def _check_step(engine: Engine, step: Any) -> None:
    """Each undo step must make a session too, or the chair's BACK would
    fail in the room instead of the file failing here."""
    probe = type(engine)(engine.method, engine.clock)
    try:
        probe._load_state({k: v for k, v in step.items() if k != "history"}, 0.0)
        probe._check_restored()
        times = [step["active_at"], step["run"]["elapsed"], step["run"]["turn_elapsed"]]
    except DAMAGED + (ValueError,) as exc:
        raise ValueError(f"a saved undo step is damaged ({exc.__class__.__name__}: {exc})") from exc
    if not _finite(times):
        raise ValueError("a saved undo step's times are not numbers")
