"""Choosing the default wake word of each language, on TUNING data only.

For each candidate word:

- how often people say it: wordfreq's Zipf frequency in English and in
  Dutch (general text and subtitles; 3 is once per million words, each
  step ten times more; when wordfreq is installed), and its count in the
  Dutch intervisie handouts (../shared/seeds) and the tuning talk;
- PocketSphinx (English, with the phone loop, shipped gate settings):
  "WORD next step" and the other commands heard, espeak-ng tuning voices,
  45 dB and 20 dB under the speech;
- false commands with the word required, over every TUNING reply set
  (sets 1-8 and the reply turns of voice_data.SETS, two voices each) said
  alone in 20 dB pink noise, and the tuning conversation in that noise.

The held-out sets are not touched here. The naive choice, "computer",
is a candidate beside the others. Prints a table; the LAST LINE is JSON.

    .venv/bin/python bench/wake_words.py [--words computer,flamingo] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "device"))

from intervisor.voice.recognise import PhraseTable, PocketSphinxRecogniser  # noqa: E402
import voice_data as vd  # noqa: E402
from voice import MIC_RATE, listen, score  # noqa: E402

CANDIDATES = ["computer", "flamingo", "jupiter", "domino", "pegasus", "orion"]
SEEDS = ROOT.parent.parent / "shared" / "seeds"


def zipf(word: str, language: str) -> float | None:
    try:
        from wordfreq import zipf_frequency
    except ImportError:
        return None
    return round(zipf_frequency(word, language), 2)


def count_in(texts: list[str], word: str) -> int:
    return sum(len(re.findall(rf"\b{re.escape(word)}", t, re.IGNORECASE)) for t in texts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", default=",".join(CANDIDATES))
    ap.add_argument("--rounds", type=int, default=2, help="voices per reply set")
    ap.add_argument("--seeds", default=str(SEEDS), help="folder of Dutch intervisie text")
    args = ap.parse_args()
    words = args.words.split(",")
    seeds = [p.read_text(errors="replace") for p in sorted(Path(args.seeds).glob("*.txt"))]
    seeds = [" ".join(re.sub(r"(?<=\w) (?=\w )", "", t).split()) for t in seeds]
    tuning = vd.sets(vd.TUNING)
    talk = [t for texts in tuning.values() for t in texts]
    with tempfile.TemporaryDirectory(prefix="intervisor-wake-") as work:
        data = vd.VoiceData(Path(work))
        t0 = time.perf_counter()
        replies = {name: data.conversation(texts, vd.EN_VOICES, rate=MIC_RATE, snr_db=20, rounds=args.rounds)
                   for name, texts in tuning.items() if name != "conversation"}
        conversation = data.conversation(vd.EN_CONVERSATION, vd.EN_VOICES[::-1], rate=MIC_RATE, snr_db=20)
        minutes = (sum(t.seconds for t in replies.values()) + conversation.seconds) / 60
        print(f"tuning recordings made in {time.perf_counter() - t0:.0f} s: {minutes:.1f} min of talk")
        results = {}
        for word in words:
            table = PhraseTable.for_language("en", wake_word=word)
            row = {"zipf_en": zipf(word, "en"), "zipf_nl": zipf(word, "nl"),
                   "in_dutch_handouts": count_in(seeds, word), "in_tuning_talk": count_in(talk, word)}
            heard = {}
            for snr in (45, 20):
                track = data.commands(table.spoken(), vd.EN_VOICES, rate=MIC_RATE, snr_db=snr)
                found = listen(track, PocketSphinxRecogniser(table), table=table)[0]
                heard[snr] = score(found, track.events)[0]
            row["heard"] = f"{heard[45]}+{heard[20]} of {2 * len(table.spoken()) * len(vd.EN_VOICES)}"
            false = {}
            for name, track in (*replies.items(), ("conversation", conversation)):
                found = listen(track, PocketSphinxRecogniser(table), table=table)[0]
                false[name] = len(found)
            row["false"] = sum(false.values())
            row["false_by_set"] = {k: v for k, v in false.items() if v}
            results[word] = row
            print(f"{word:10s} {row}", flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
