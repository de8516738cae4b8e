"""Every text a session of a method may say, rendered before it is needed.

Speech is rendered ahead (the prompt cache), so that no phase opens waiting
for espeak-ng: the method's own texts, the device's fixed phrases, and each
way a length can be said after the offer to shorten.
"""

from __future__ import annotations

import itertools

from intervisor.core.model import Method
from intervisor.core.phrases import Phrases, dynamic_parts, fixed_parts


def phrases_to_render(method: Method, words: Phrases) -> list[str]:
    """Every text part an engine may say for ``method``, whatever is
    chosen: the method's own texts and the device's fixed phrases. The
    parts with numbers are :func:`intervisor.core.phrases.dynamic_parts`."""
    m = method
    w = words
    texts: set[str] = {m.title, m.title + "."}
    texts.update(t for t in (m.intro, m.closing) if t)
    texts.update(m.rules)
    for c in m.choices:
        texts.add(c.title)
        for o in c.options:
            texts.add(o.title)
            if o.say:
                texts.add(o.say)
            texts.update(q.text for q in o.questions)
            texts.update(q.hint for q in o.questions if q.hint)
    for i, p in enumerate(m.phases):
        texts.add(p.title + ".")
        texts.add(p.title)
        if p.say:
            texts.add(p.say)
        texts.update(q.text for q in p.questions)
        texts.update(q.hint for q in p.questions if q.hint)
        if p.rounds is not None and p.rounds.say:
            texts.add(p.rounds.say)
        texts.add(w.length(p.duration.lo, p.duration.hi))
        if p.duration.lo != p.duration.hi:
            # A range said shrunk after the offer to shorten ("7 tot 11
            # minuten"): each one a scale can give (a handful), so that
            # no phase opens waiting for espeak-ng.
            texts.update(_shrunk_lengths(w, p.duration.lo, p.duration.hi))
        if p.at is not None:
            texts.add(w.clock(p.at) + ".")
            texts.add(w.clock(int(p.at + p.duration.hi)) + ".")
    for length in _plan_lengths(m):
        texts.update(w.phase(n, length, m.is_programme) for n in range(1, length + 1))
    texts.update(fixed_parts(m.language))
    texts.update(dynamic_parts(m.language))
    return sorted(t for t in texts if t)


def _shrunk_lengths(words: Phrases, lo: float, hi: float) -> set[str]:
    """How a phase of ``lo`` to ``hi`` seconds is announced at every scale
    in (0, 1] (taking the offer twice compounds it, so below half too).
    The text changes only where a rounded minute does, or a rule of
    :meth:`Phrases.length` switches: each stretch between those points is
    said one way, so a point inside each one gives them all."""
    cuts = {1.0}
    for end in (lo, hi):
        if end > 0:
            cuts.update((k - 0.5) * 60 / end for k in range(1, int(end / 60) + 2))
            cuts.update(seconds / end for seconds in (60, 75, 105, 3600))
    points = sorted(c for c in cuts if 0 < c <= 1)
    scales = points + [(a + b) / 2 for a, b in zip([0.0] + points, points)]
    return {words.length(lo * f, hi * f) for f in scales}


def _plan_lengths(method: Method) -> set[int]:
    """How many phases a session of ``method`` can have, over its choices."""
    gated = [c for c in method.choices if any(c.id in p.when for p in method.phases)]
    combos = itertools.islice(itertools.product(*[[(c.id, o.id) for o in c.options] for c in gated]), 256)
    return {len(method.plan(dict(combo))) for combo in combos} or {len(method.phases)}
