"""Commands of the voice path: ``voice recognise`` and ``voice selftest``."""

from __future__ import annotations

import argparse
import sys

# Where scripts/install.sh puts the models (the Dutch one by default).
DEFAULT_MODEL = {
    "nl": "/opt/intervisor/models/vosk-model-small-nl-0.22",
    "en": "/opt/intervisor/models/vosk-model-small-en-us-0.15",
}

ESPEAK_VOICES = {"nl": ["nl", "nl+f3"], "en": ["en-us", "en-gb"]}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("voice", help="voice commands: recognise a recording, self-test",
                       description="Voice commands, offline: try the command gate on a recording, "
                                   "or test the configured recogniser on the device.")
    vsub = p.add_subparsers(dest="voice_command", metavar="ACTION")
    vsub.required = True

    r = vsub.add_parser("recognise", help="print the commands the voice path accepts in a WAV file",
                        description="Runs the live pipeline over a recording and prints one line "
                                    "per accepted command: SECONDS COMMAND. Nothing else.")
    r.add_argument("file", metavar="FILE.wav")
    _recogniser_args(r)
    r.set_defaults(func=_recognise)

    s = vsub.add_parser("selftest", help="speak each command with espeak-ng through the recogniser",
                        description="Speaks each command phrase with espeak-ng, runs it through the "
                                    "recogniser and model, and reports which were understood.")
    _recogniser_args(s)
    s.set_defaults(func=_selftest)


def _recogniser_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["vosk", "pocketsphinx"], default="vosk")
    p.add_argument("--lang", choices=["en", "nl"], default="nl")
    p.add_argument("--model", metavar="DIR", default=None,
                   help=f"model folder (Vosk, Dutch: {DEFAULT_MODEL['nl']})")
    p.add_argument("--wake-word", default=None,
                   help="the word that must come before each command (default: the language's own, "
                        "as the device uses it; off: none)")


def _build(args):
    """The recogniser asked for. Off the device, with no Vosk model where
    the installer puts one and none named, PocketSphinx in English (its
    wheel carries the model) instead, said in one line on stderr."""
    import os

    from intervisor.voice.recognise import RecogniserSpec

    model = args.model
    if model is None and args.backend == "vosk":
        model = DEFAULT_MODEL[args.lang]
        if not os.path.isdir(model):
            print(f"intervisor voice: no Vosk model at {model}; using PocketSphinx, English",
                  file=sys.stderr)
            args.backend, args.lang, model = "pocketsphinx", "en", None
    return RecogniserSpec(args.backend, args.lang, model, args.wake_word).build()


def _recognise(args) -> int:
    from intervisor.voice.recognise import VoiceUnavailable
    from intervisor.voice.listen import commands_in_file

    try:
        rec = _build(args)
        found = commands_in_file(args.file, rec)
    except (VoiceUnavailable, ValueError, OSError) as e:
        print(f"intervisor voice: {e}", file=sys.stderr)
        return 2
    except Exception as e:   # a model broken in a way of its own: one line, no traceback
        print(f"intervisor voice: cannot recognise ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    for seconds, command in found:
        print(f"{seconds:.2f} {command.value}")
    return 0


# Talk for the self-test: the command words inside sentences, as a group
# uses them, and short replies said alone. None of it is a command, so
# every command heard in it is a false one. Our own sentences, spoken by
# espeak-ng: the microphone is not used and nothing of the room is heard.
SELFTEST_TALK = {
    "nl": [
        "De volgende keer wil ik eerst even terug naar wat ze vorige week zei.",
        "Ik moest haar nog een keer vragen hoeveel tijd ze eigenlijk had.",
        "Na een korte pauze ging ze verder met haar verhaal.",
        "Als volgende stap wil ik het gesprek met haar moeder afronden.",
        "Hoeveel tijd hebben we nog voor de pauze?",
        "Oké, dank je wel.",
        "Goed punt. Daar kom ik straks op terug.",
        "Zij wilde niet terug, ze wilde juist verder.",
        "Dat was de volgende stap in haar behandeling.",
        "Prima, ga maar door.",
        "Ik ben er nog lang niet klaar mee.",
    ],
    "en": [
        "Next time I would go back to what she told me the week before.",
        "I had to ask her again how much time she really had.",
        "After a short pause she went on with her story.",
        "As a next step I want to end the talks with her mother.",
        "How much time do we have left before the break?",
        "Okay, thank you.",
        "Good point. I will come back to that later.",
        "She did not want to go back, she wanted to move on.",
        "That was the next step in her treatment.",
        "Fair enough, go on.",
        "I am not done with it yet.",
    ],
}


def as_heard(speech, rate: int, snr_db: float = 45.0):
    """A second of quiet before and after ``speech``, with the faint noise
    floor a microphone in a quiet room always has: digital silence is
    nothing a microphone gives, and it misleads the recogniser's noise and
    level tracking (PocketSphinx missed 5 of 14 commands in it)."""
    import numpy as np

    x = np.concatenate([np.zeros(rate, np.int16), speech, np.zeros(rate, np.int16)]).astype(np.float64)
    level = float(np.sqrt(np.mean(speech.astype(np.float64) ** 2))) or 1.0
    x += np.random.default_rng(1).normal(0.0, level * 10 ** (-snr_db / 20), len(x))
    return np.clip(x, -32768, 32767).astype(np.int16).tobytes()


def _espeak(text: str, voice: str):
    """espeak-ng's samples (22050 Hz mono); raises OSError or
    CalledProcessError when it cannot speak."""
    import subprocess

    import numpy as np

    wav = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text],
                         check=True, capture_output=True).stdout
    # espeak-ng's WAV header is for a stream; the samples follow 44 bytes in.
    return np.frombuffer(wav[44:], np.int16)



def _selftest(args) -> int:
    import subprocess

    import numpy as np

    from intervisor.voice.recognise import VoiceUnavailable
    from intervisor.sound.speech import ESPEAK_RATE
    from intervisor.voice.listen import commands_in_pcm

    try:
        rec = _build(args)
    except Exception as e:
        print(f"intervisor voice: {e}", file=sys.stderr)
        return 2
    rate = ESPEAK_RATE   # what espeak-ng --stdout gives
    voices = ESPEAK_VOICES[rec.table.language]
    failed = 0
    try:
        for voice in voices:
            for phrase, command in rec.table.spoken().items():
                found = commands_in_pcm(as_heard(_espeak(phrase, voice), rate), rate, rec)
                ok = [c for _, c in found] == [command]
                failed += not ok
                heard = ", ".join(c.value for _, c in found) or "nothing"
                print(f"{'ok  ' if ok else 'FAIL'} {voice:8s} {phrase!r:18s} -> {heard}")
        # Then the talk, one voice at a time as one stretch of conversation:
        # a second between turns, as in a group, so the gate judges each
        # turn after the last as it would in the room.
        false = 0
        seconds = 0.0
        for voice in voices:
            gap = np.zeros(rate, np.int16)
            pieces, turns, t = [], [], 0.0
            for text in SELFTEST_TALK[rec.table.language]:
                speech = _espeak(text, voice)
                pieces += [speech, gap]
                turns.append((t + 1.0, t + 1.0 + len(speech) / rate, text))
                t += (len(speech) + len(gap)) / rate
            track = as_heard(np.concatenate(pieces), rate)
            seconds += len(track) / 2 / rate
            for at, command in commands_in_pcm(track, rate, rec):
                false += 1
                said = next((text for a, b, text in turns if a - 0.2 <= at <= b + 1.0), "?")
                print(f"FAIL {voice:8s} talk {said!r} -> {command.value}")
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"intervisor voice: espeak-ng cannot speak ({e})", file=sys.stderr)
        return 2
    total = len(voices) * len(rec.table.spoken())
    print(f"{total - failed} of {total} understood; {false} false in {seconds:.0f} s of talk")
    return 0 if failed == 0 and false == 0 else 1
