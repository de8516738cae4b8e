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
        "minute_and_half": "anderhalve minuut",
        "hours_minutes": "{h} en {m}",
        "90m": "anderhalf uur",
        "150m": "tweeënhalf uur",
        "range": "{lo} tot {hi}",
        "proposed": "Voorgestelde tijd:",
        "phase": "Fase {n} van {of}.",
        "part": "Onderdeel {n} van {of}.",
        "left_phase": "In deze fase nog,",
        "in_phase": "",
        "left_session": "Voor de hele sessie nog,",
        "left_programme": "Voor de rest van het programma nog,",
        "session_over": "De sessie duurt langer dan gepland.",
        "over_phase": "Deze fase is over tijd:",
        "paused": "Gepauzeerd. Druk om verder te gaan.",
        "resumed": "We gaan verder.",
        "back_at_start": "We zijn al bij het begin.",
        "confirm_end": "Wil je de sessie afronden? Geef het teken dan nog een keer.",
        "ended": "De sessie is afgerond.",
        "programme_ended": "Het programma is afgerond.",
        "running_over": "We lopen achter op het schema:",
        "offer_shorten": "Wil je de rest van de sessie inkorten? Druk dan nu kort op de knop.",
        "shortened": "De rest van de sessie is ingekort.",
        "on_time": "Zo eindigen we op tijd.",
        "choose": "Houd de knop vast tot één tik om verder te bladeren. Druk kort om te kiezen.",
        "participants": "Met hoeveel mensen zijn jullie, jezelf en de inbrenger meegeteld?",
        "count": "{n}",
        "turn": "Beurt {n} van {of}.",
        "picks_up": "Na de onderbreking gaan we verder waar we waren:",
        "rules": "De spelregels.",
        "block_at": "Dit duurt tot",
        "ready": "Gekozen methode:",
        "press_to_start": "Druk kort om te beginnen, of houd vast tot één tik voor een andere methode.",
    },
    "en": {
        "minute": "1 minute",
        "minutes": "{n} minutes",
        "hour": "1 hour",
        "hours": "{n} hours",
        "under_a_minute": "less than a minute",
        "minute_and_half": "a minute and a half",
        "hours_minutes": "{h} and {m}",
        "90m": "an hour and a half",
        "150m": "two and a half hours",
        "range": "{lo} to {hi}",
        "proposed": "Suggested time:",
        "phase": "Phase {n} of {of}.",
        "part": "Part {n} of {of}.",
        "left_phase": "",
        "in_phase": "left in this phase.",
        "left_session": "Until the end of the session:",
        "left_programme": "Until the end of the programme:",
        "session_over": "We are behind schedule.",
        "over_phase": "This phase has run over by",
        "paused": "Paused. Press to continue.",
        "resumed": "Let's continue.",
        "back_at_start": "We are already at the beginning.",
        "confirm_end": "Do you want to end the session? If so, give the end signal again.",
        "ended": "The session has ended.",
        "programme_ended": "The programme has ended.",
        "running_over": "We are behind schedule by",
        "offer_shorten": "To shorten the rest of the session, give a short press now. If not, just carry on.",
        "shortened": "The rest of the session has been shortened.",
        "on_time": "That way we finish on time.",
        "choose": "For the next option, hold the button until one tick. To choose, give a short press.",
        "participants": "How many people are in the group, including you and the case presenter?",
        "count": "{n} people",
        "turn": "Turn {n} of {of}.",
        "picks_up": "After the interruption, we carry on where we left off:",
        "rules": "The ground rules.",
        "block_at": "This block runs until",
        "ready": "Selected method:",
        "press_to_start": "Give a short press to begin, or hold until one tick for another method.",
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

    def _m(self, n: int) -> str:
        return self._t["minute"] if n == 1 else self._t["minutes"].format(n=n)

    def _h(self, h: int) -> str:
        return self._t["hour"] if h == 1 else self._t["hours"].format(n=h)

    def minutes(self, n: int) -> str:
        """A whole number of minutes as spoken; whole hours only beyond
        three hours.

        >>> nl = Phrases("nl")
        >>> [nl.minutes(n) for n in (1, 45, 60, 80, 90, 150, 240)]
        ['1 minuut', '45 minuten', '1 uur', '1 uur en 20 minuten', 'anderhalf uur', 'tweeënhalf uur', '4 uur']
        >>> Phrases("en").minutes(80)
        '1 hour and 20 minutes'
        """
        n = max(1, int(n))
        if n > MAX_MINUTES:
            return self._h(min(MAX_HOURS, int(n / 60 + 0.5)))
        if n < 60:
            return self._m(n)
        if f"{n}m" in self._t:
            return self._t[f"{n}m"]
        h, m = divmod(n, 60)
        return self._h(h) if m == 0 else self._t["hours_minutes"].format(h=self._h(h), m=self._m(m))

    def duration(self, seconds: float) -> str:
        """A span of time as spoken, to the nearest minute (half up, not
        Python's half to even: 150 s is 3 minutes, as 210 s is 4).

        >>> nl = Phrases("nl")
        >>> [nl.duration(s) for s in (30, 60, 90, 150, 210)]
        ['minder dan een minuut', '1 minuut', 'anderhalve minuut', '3 minuten', '4 minuten']
        """
        if seconds < 60:
            return self._t["under_a_minute"]
        if 75 <= seconds < 105:
            return self._t["minute_and_half"]
        return self.minutes(int(seconds / 60 + 0.5))

    def length(self, lo: float, hi: float) -> str:
        """A phase's planned length: '5 minuten' or '5 tot 10 minuten'."""
        if int(lo / 60 + 0.5) == int(hi / 60 + 0.5) or lo < 60 or hi >= 3600:
            return self.duration(hi)
        return self._t["range"].format(lo=int(lo / 60 + 0.5), hi=self.minutes(int(hi / 60 + 0.5)))

    def count(self, n: int) -> str:
        return self._t["count"].format(n=n)

    def turn(self, n: int, of: int) -> str:
        return self._t["turn"].format(n=n, of=of)

    def phase(self, n: int, of: int, programme: bool = False) -> str:
        """'Fase 2 van 5.'; in a clock-time programme (a training day of
        sessions, lunch and breaks) 'Onderdeel 2 van 5.'"""
        return self._t["part" if programme else "phase"].format(n=n, of=of)

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
    parts += [p.duration(0), p.duration(90)]
    parts += [p.count(n) for n in range(2, MAX_COUNT + 1)]
    parts += [p.turn(n, of) for of in range(1, MAX_COUNT + 1) for n in range(1, of + 1)]
    # "Fase 2 van 5" depends on the method: the engine lists those itself.
    return sorted(set(parts))


def fixed_parts(language: str) -> list[str]:
    """Every fixed sentence of the device in one language."""
    return sorted({v for k, v in _TEXT[language].items() if "{" not in v and v})


def gesture_text(language: str, second_button: bool = False) -> str:
    """How the button works (see :mod:`intervisor.table.panel`), said the first
    time a method is run."""
    if language == "nl":
        text = (
            "Druk kort op de knop voor de volgende vraag of fase. "
            "Houd de knop vast en tel de tikken: "
            "één tik is herhalen, twee is terug, drie is pauze, "
            "vier is afronden. Blijf langer vasthouden om te annuleren."
        )
        if second_button:
            text += " Kort op de tweede knop is herhalen, vasthouden is terug."
        return text
    text = (
        "A short press on the button moves on to the next question or phase. "
        "Or hold it down, count the ticks, and let go: "
        "one tick to repeat, two to go back, three to pause or carry on, "
        "four to end the session. Hold on to a sixth tick to cancel."
    )
    if second_button:
        text += " A short press on the second button repeats; holding it until one tick goes back."
    return text


# The word said before every command unless the config turns it off
# (voice.wake_word: off): a short reply alone between silences in a noisy
# room ("Not again." as "pause session") is then no command, since no one
# says the wake word before it. Chosen by bench/wake_words.py on tuning data
# only, among computer, flamingo, jupiter and domino: "flamingo" is an
# ordinary noun in both languages' dictionaries (so surely in the Dutch
# Vosk model's lexicon; that model cannot be fetched here to show it), the
# rarest of them in text (wordfreq Zipf nl 3.15, en 3.06; "computer" 4.68
# and 4.97, and common in Dutch talk; "domino" 3.49 in Dutch, as in
# "domino-effect"), and PocketSphinx heard "flamingo ..." 70 of 70 times
# (five espeak-ng voices, quiet and 20 dB noise; "jupiter" 66 of 70), and
# took 0 false commands from 35 min of tuning replies and talk in 20 dB
# noise where "computer" took 2 (set 8: "Her computer crashed.").
# The Korean Vosk model knows the loanword 플라밍고: with it before each
# test phrase 17 of 21 were heard (13 without a wake word, 12 after 컴퓨터,
# "computer"), 0 false in 3 min of Korean talk (espeak-ng Korean, tuning).
WAKE_WORDS: dict[str, str] = {
    "en": "flamingo",
    "nl": "flamingo",
}
# What the config may say to turn the wake word off (YAML's no and false
# arrive as their text).
WAKE_OFF = frozenset({"off", "false", "no", "none"})


def wake_word_for(language: str, setting: str | None) -> str | None:
    """The wake word to require: the config's own, none when it says off,
    else the language's default.

    >>> wake_word_for("nl", None), wake_word_for("en", "Hey  Computer"), wake_word_for("en", "off")
    ('flamingo', 'hey computer', None)
    """
    if setting is None:
        return WAKE_WORDS.get(language)
    word = " ".join(str(setting).lower().split())
    return None if not word or word in WAKE_OFF else word
