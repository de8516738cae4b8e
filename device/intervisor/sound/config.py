"""The sound adapter and its speech as a config describes them: the
``audio`` settings, the prompt cache's folder, the Piper voice of each
language.

>>> sound = from_config(Config.load(path), language="nl")   # doctest: +SKIP
>>> factory = speech_factory_from_config(config, voice="espeak")  # doctest: +SKIP
>>> factory("en").language                                  # doctest: +SKIP
'en'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from intervisor.sound.output import SoundOutput

_ABSENT = object()


def _audio_raw(config: Any, name: str, default: Any) -> Any:
    """The audio setting as written, ``None`` included; ``default`` if absent
    (:func:`_audio_setting` takes ``None`` for absent too).

    >>> config = {"audio": {"standby_after": None}}
    >>> _audio_raw(config, "standby_after", 10.0), _audio_setting(config, "standby_after", 10.0)
    (None, 10.0)
    """
    audio = config.get("audio") if isinstance(config, dict) else getattr(config, "audio", None)
    if not audio:
        return default
    value = audio.get(name, _ABSENT) if isinstance(audio, dict) else getattr(audio, name, _ABSENT)
    return default if value is _ABSENT else value


def _audio_setting(config: Any, name: str, default: Any) -> Any:
    value = _audio_raw(config, name, None)
    return default if value is None else value


def speech_factory_from_config(config: Any, voice: str | None = None) -> Callable[[str], Any]:
    """``factory(language) -> Speech`` with the config's rate, volume, voices,
    Piper voices and cache folder. ``voice``: ``None`` as on the device
    (espeak-ng at once, Piper filled in behind it where the language has a
    voice), ``espeak`` never Piper, ``piper`` Piper rendering everything
    itself (a voice that cannot be used raises)."""
    from intervisor.sound.speech import Speech

    def get(name: str, default: Any) -> Any:
        return _audio_setting(config, name, default)

    root = config.get("cache_dir") if isinstance(config, dict) else getattr(config, "cache_dir", None)
    cache = Path(root or "/var/cache/intervisor") / "speech"
    device_language = (config.get("language") if isinstance(config, dict)
                       else getattr(config, "language", None)) or "nl"

    def piper_for(language: str) -> str | None:
        from intervisor.files.config import piper_voice_for

        if voice == "espeak":
            return None
        return piper_voice_for(get("piper", {}), get("piper_model", None), language, device_language)

    def factory(language: str):
        model = piper_for(language)
        if voice == "piper" and not model:
            from intervisor.sound.speech import SpeechError

            raise SpeechError(f"no Piper voice for {language} in the config (audio.piper.{language})")
        return Speech(language, rate=get("rate", 150), volume=get("speech_volume", 1.0), cache_dir=cache,
                      voice=(get("voices", {}) or {}).get(language), piper_model=model,
                      piper_background=voice is None)

    return factory


def with_writable_cache(config: Any) -> Any:
    """The config, with a prompt cache this user can write: an admin's or an
    author's own shell may not write the service's /var/cache/intervisor."""
    import dataclasses
    import os

    probe = Path(config.cache_dir)
    while not probe.exists():
        probe = probe.parent
    if os.access(probe, os.W_OK):
        return config
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "intervisor"
    return dataclasses.replace(config, cache_dir=str(home))


def from_config(config: Any, language: str = "nl", voice: str | None = None, **kwargs: Any) -> SoundOutput:
    """The service's sound adapter, as the config describes it (``voice``:
    see :func:`speech_factory_from_config`)."""

    def get(name: str, default: Any) -> Any:
        return _audio_setting(config, name, default)

    factory = speech_factory_from_config(config, voice)
    options = dict(device=get("device", None), sample_rate=get("sample_rate", 48000),
                   block_size=get("block_size", 256), cue_volume=get("cue_volume", 0.6),
                   latency=get("latency", 0.016), quick_start=get("quick_start", True),
                   standby_after=_audio_raw(config, "standby_after", 10.0))  # None: never rest
    options.update(kwargs)
    return SoundOutput(factory(language), speech_factory=factory, **options)


__all__ = ["from_config", "speech_factory_from_config", "with_writable_cache"]
