"""The device's own words, in Dutch and English.

A method file brings its own texts; everything else the device says comes
from here. Sentences that carry a number are built from a fixed part and a
number part ("Nog" + "7 minuten"), so that every part the device can ever
say is known in advance and can be rendered to audio before a session
starts (:func:`dynamic_parts`).

>>> Phrases("nl").minutes(7)
'7 minuten'
>>> Phrases("en").minutes(1)
'1 minute'
"""

from __future__ import annotations

MAX_MINUTES = 180   # up to three hours, said in minutes; beyond that in hours
MAX_HOURS = 24
MAX_COUNT = 12      # participants and turns

_TEXT = {
    "nl": {
        "minute": "1 minuut",
        "minutes": "{n} minuten",
        "hour": "1 uur",
        "hours": "{n} uur",
        "under_a_minute": "minder dan een minuut",
        "range": "{lo} tot {hi}",
        "phase": "Fase {n} van {of}.",
        "left_phase": "Nog",
        "in_phase": "in deze fase.",
        "left_session": "Voor de hele sessie nog",
        "session_over": "De sessie loopt over de geplande tijd.",
        "over_phase": "Deze fase is over tijd met",
        "paused": "Gepauzeerd. Druk om verder te gaan.",
        "resumed": "We gaan verder.",
        "back_at_start": "We staan aan het begin.",
        "confirm_end": "Wil je de sessie afronden? Geef het teken voor afronden nog een keer om te bevestigen.",
        "end_cancelled": "We gaan door.",
        "ended": "De sessie is afgerond.",
        "running_over": "We lopen uit met",
        "offer_shorten": "Druk nu om de rest van de sessie naar verhouding in te korten.",
        "shortened": "De rest van de sessie is ingekort. We eindigen op tijd.",
        "choose": "Kies met het teken voor verder bladeren, en druk om te kiezen.",
        "participants": "Met hoeveel deelnemers zijn jullie?",
        "count": "{n}",
        "turn": "Beurt {n} van {of}.",
        "picks_up": "Na een onderbreking gaan we verder bij",
        "welcome": "Welkom.",
        "rules": "De spelregels.",
        "last_phase": "Dit is de laatste fase.",
        "no_more": "Er zijn geen vragen meer in deze fase. Druk om naar de volgende fase te gaan.",
        "block_at": "Dit blok loopt tot",
        "ready": "Klaar voor de start met",
        "press_to_start": "Druk op de knop om te beginnen.",
    },
    "en": {
        "minute": "1 minute",
        "minutes": "{n} minutes",
        "hour": "1 hour",
        "hours": "{n} hours",
        "under_a_minute": "less than a minute",
        "range": "{lo} to {hi}",
        "phase": "Phase {n} of {of}.",
        "left_phase": "",
        "in_phase": "left in this phase.",
        "left_session": "For the whole session,",
        "session_over": "The session is running past its planned time.",
        "over_phase": "This phase is over time by",
        "paused": "Paused. Press to continue.",
        "resumed": "Let's continue.",
        "back_at_start": "We are at the beginning.",
        "confirm_end": "Do you want to end the session? Give the end signal once more to confirm.",
        "end_cancelled": "We carry on.",
        "ended": "The session has ended.",
        "running_over": "We are running over by",
        "offer_shorten": "Press now to shorten the rest of the session in proportion.",
        "shortened": "The rest of the session has been shortened. We will finish on time.",
        "choose": "Step through with the browse signal, and press to choose.",
        "participants": "How many participants are you?",
        "count": "{n}",
        "turn": "Turn {n} of {of}.",
        "picks_up": "After an interruption we pick up at",
        "welcome": "Welcome.",
        "rules": "The ground rules.",
        "last_phase": "This is the last phase.",
        "no_more": "There are no more questions in this phase. Press to go to the next phase.",
        "block_at": "This block runs until",
        "ready": "Ready to start with",
        "press_to_start": "Press the button to begin.",
    },
}


class Phrases:
    """The device's words in one language."""

    def __init__(self, language: str):
        if language not in _TEXT:
            raise ValueError(f"no phrases for language {language!r}")
        self.language = language
        self._t = _TEXT[language]

    def __getitem__(self, key: str) -> str:
        return self._t[key]

    def minutes(self, n: int) -> str:
        """A whole number of minutes as spoken; hours beyond three hours."""
        n = max(1, int(n))
        if n > MAX_MINUTES:
            h = min(MAX_HOURS, round(n / 60))
            return self._t["hour"] if h == 1 else self._t["hours"].format(n=h)
        return self._t["minute"] if n == 1 else self._t["minutes"].format(n=n)

    def duration(self, seconds: float) -> str:
        """A span of time as spoken, rounded to whole minutes."""
        if seconds < 60:
            return self._t["under_a_minute"]
        return self.minutes(round(seconds / 60))

    def length(self, lo: float, hi: float) -> str:
        """A phase's planned length: '5 minuten' or '5 tot 10 minuten'."""
        if round(lo / 60) == round(hi / 60) or lo < 60:
            return self.duration(hi)
        return self._t["range"].format(lo=round(lo / 60), hi=self.minutes(round(hi / 60)))

    def count(self, n: int) -> str:
        return self._t["count"].format(n=n)

    def turn(self, n: int, of: int) -> str:
        return self._t["turn"].format(n=n, of=of)

    def phase(self, n: int, of: int) -> str:
        return self._t["phase"].format(n=n, of=of)

    def clock(self, seconds_after_midnight: int) -> str:
        """A time of day as it is said, not as it is written: espeak-ng reads
        "13:00" as "dertien nul nul".

        >>> Phrases("nl").clock(13 * 3600), Phrases("nl").clock(15 * 3600 + 1800)
        ('13 uur', '15 uur 30')
        >>> Phrases("en").clock(13 * 3600), Phrases("en").clock(9 * 3600 + 1800)
        ('1 pm', '9:30 am')
        """
        h, m = divmod(int(seconds_after_midnight) // 60, 60)
        h %= 24
        if self.language == "nl":
            return f"{h} uur" + (f" {m}" if m else "")
        h12 = h % 12 or 12
        return f"{h12}" + (f":{m:02d}" if m else "") + (" am" if h < 12 else " pm")


def dynamic_parts(language: str) -> list[str]:
    """Every part with a number in it that the engine may say."""
    p = Phrases(language)
    parts = [p.minutes(n) for n in range(1, MAX_MINUTES + 1)]
    parts += [p.minutes(h * 60) for h in range(4, MAX_HOURS + 1)]
    parts += [p.duration(0)]
    parts += [p.count(n) for n in range(2, MAX_COUNT + 1)]
    parts += [p.turn(n, of) for of in range(1, MAX_COUNT + 1) for n in range(1, of + 1)]
    # "Fase 2 van 5" depends on the method: the engine lists those itself.
    return sorted(set(parts))


def fixed_parts(language: str) -> list[str]:
    """Every fixed sentence of the device in one language."""
    return sorted({v for k, v in _TEXT[language].items() if "{" not in v and v})


def gesture_text(language: str, second_button: bool = False) -> str:
    """How the button works (see :mod:`intervisor.panel`), said the first
    time a method is run."""
    if language == "nl":
        text = (
            "Druk kort op de knop voor de volgende vraag of fase. "
            "Houd de knop vast en tel de tikken: "
            "één tik herhaalt, twee tikken gaan terug, drie tikken pauzeren, "
            "vier tikken beëindigen de sessie. Blijf vasthouden om te annuleren."
        )
        if second_button:
            text += " De tweede knop herhaalt; vasthouden gaat terug."
        return text
    text = (
        "Press the button briefly for the next question or phase. "
        "Hold it and count the ticks: "
        "one tick repeats, two go back, three pause, four end the session. "
        "Keep holding to cancel."
    )
    if second_button:
        text += " The second button repeats; holding it goes back."
    return text
