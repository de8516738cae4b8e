"""`intervisor say` and `intervisor chime`: an admin testing the speaker over SSH.

    intervisor say "Welkom bij de intervisie." --lang nl
    intervisor chime time_up
    intervisor chime time_up --out time_up.wav   # no speaker needed
    intervisor chime --list

Without a sound device each says so in one line and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("say", help="speak a text through the device's speaker (tests the voice and the sound)")
    p.add_argument("text", help="what to say")
    p.add_argument("--lang", choices=("nl", "en"), default=None, help="language (default: the config's)")
    p.add_argument("--voice", choices=("espeak", "piper"), default=None,
                   help="espeak-ng, or the language's Piper voice of the config (default: Piper where the "
                        "config names a voice for the language, else espeak-ng)")
    _common(p)
    p.add_argument("--out", metavar="FILE.wav", type=Path, default=None,
                   help="write the speech to this WAV file instead of playing it")
    p.set_defaults(func=_say)

    p = sub.add_parser("chime", help="play one of the device's cues through the speaker")
    p.add_argument("name", nargs="?", help="the cue, e.g. phase_start, warning, time_up (see --list)")
    p.add_argument("--list", action="store_true", help="list the cues")
    _common(p)
    p.add_argument("--out", metavar="FILE.wav", type=Path, default=None,
                   help="write the cue to this WAV file instead of playing it")
    p.set_defaults(func=_chime)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", default=None,
                   help="the device's config file (default: $INTERVISOR_CONFIG or /etc/intervisor/config.yaml)")
    p.add_argument("--device", metavar="NAME", default=None,
                   help="part of the output device's name (default: the config's audio.device)")


def _config(args: argparse.Namespace):
    """The config with the command line's device; ``None`` after printing
    its problems."""
    import dataclasses

    from intervisor.files.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return None
    if args.device:
        config = dataclasses.replace(config, audio=dataclasses.replace(config.audio, device=args.device))
    from intervisor.sound.config import with_writable_cache

    return with_writable_cache(config)


def _open(config, language: str, voice: str | None = None):
    import logging

    from intervisor.sound.config import from_config

    # The adapter's own warning ("running silently, retrying") is for the
    # service, which goes on; this command stops, and says so once below.
    quiet = logging.getLogger("intervisor.sound")
    was, quiet.disabled = quiet.disabled, True
    try:
        sound = from_config(config, language=language, voice=voice)
    finally:
        quiet.disabled = was
    if sound.faulted:
        print(f"intervisor: no sound device to play on ({sound.fault}); "
              "name one with --device or audio.device, or write a file with --out FILE.wav", file=sys.stderr)
        sound.close()
        return None
    return sound


def _say(args: argparse.Namespace) -> int:
    from intervisor.sound.speech import SpeechError

    config = _config(args)
    if config is None:
        return 2
    language = args.lang or config.language
    # Said now, in the voice asked for: not espeak-ng first, as the device does.
    voice = args.voice or ("piper" if config.audio.piper_for(language, config.language) else "espeak")
    try:
        if args.out is not None:
            from intervisor.sound.config import speech_factory_from_config
            from intervisor.sound.speech import write_wav

            speech = speech_factory_from_config(config, voice)(language)
            write_wav(args.out, speech.render(args.text), speech.sample_rate)
            return 0
        sound = _open(config, language, voice)
        if sound is None:
            return 1
        try:
            sound.prepare([args.text])
            sound.say(args.text)
            sound.finish(timeout=120)
        finally:
            sound.close()
    except SpeechError as e:
        print(f"intervisor: {e}", file=sys.stderr)
        return 1
    return 0


def _chime(args: argparse.Namespace) -> int:
    from intervisor.sound.cues import by_name, names

    if args.list or not args.name:
        print("\n".join(names()))
        return 0 if args.list else 2
    try:
        cue = by_name(args.name)
    except ValueError as e:
        print(f"intervisor: {e}", file=sys.stderr)
        return 2
    config = _config(args)
    if config is None:
        return 2
    if args.out is not None:
        from intervisor.sound.cues import Chimes
        from intervisor.sound.speech import write_wav

        rate = config.audio.sample_rate
        write_wav(args.out, Chimes(rate, config.audio.cue_volume)[cue], rate)
        return 0
    sound = _open(config, config.language, "espeak")   # no voice needed for a chime
    if sound is None:
        return 1
    try:
        sound.play(cue)
        sound.finish(timeout=30)
    finally:
        sound.close()
    return 0
