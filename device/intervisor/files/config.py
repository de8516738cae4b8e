"""The device's one config file, ``/etc/intervisor/config.yaml``.

Every key is optional; a missing file means all defaults. The file is
checked like a method file: an unknown key, a bad value or a GPIO pin used
twice is a ``FILE:LINE: message`` error, and all of them are reported at
once::

    try:
        config = load_config("/etc/intervisor/config.yaml")
    except ConfigError as e:
        for problem in e.problems:
            log.error("%s", problem)     # config.yaml:7: panel.red: pin 17 is already used by ...
        config = Config.default()

>>> Config.default().panel.button, Config.default().audio.rate
(17, 150)
>>> Config.default().panel.pins_in_use()["panel.green"]
22

Adding a key is one line in its section: a dataclass field made by
:func:`setting`, with its default and its check::

    wake_word: str | None = setting(None, Text())
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from intervisor.core.model import ID_PATTERN, LANGUAGES
from intervisor.files.yamlsafe import (Checker, Problem, YMap, YNode, YScalar, YSeq, describe, kind_of,
                                 looks_like_fields, parse, read_file)

DEFAULT_PATH = "/etc/intervisor/config.yaml"
BCM_PINS = range(2, 28)

_BAD = object()  # a value that was refused (its problem is already recorded)


# --- checks: each reads one value, or records why not and answers _BAD ----------------------------


class Check:
    """Reads a value of one kind. ``check(checker, node, label)``."""

    def __call__(self, checker: Checker, node: YNode, label: str) -> Any:
        raise NotImplementedError


class Text(Check):
    def __call__(self, checker, node, label):
        value = checker.text(node, label)
        return _BAD if value is None and not isinstance(node, YScalar) else value


class AbsolutePath(Check):
    def __call__(self, checker, node, label):
        value = checker.text(node, label)
        if value is None:
            return _BAD if not isinstance(node, YScalar) else None
        if not value.startswith("/"):
            checker.error(node.line, f'{label} should be a full path starting with /, not "{value}"')
            return _BAD
        return value


class OneOf(Check):
    def __init__(self, *choices: str):
        self.choices = choices

    def __call__(self, checker, node, label):
        value = checker.one_of(node, label, self.choices)
        return _BAD if value is None and not _null(node) else value


class Flag(Check):
    def __call__(self, checker, node, label):
        value = checker.boolean(node, label)
        return _BAD if value is None else value


class Number(Check):
    """A number from ``lo`` to ``hi``; a whole number with ``whole=True``."""

    def __init__(self, lo: float, hi: float, whole: bool = False):
        self.lo, self.hi, self.whole = lo, hi, whole

    def __call__(self, checker, node, label):
        read = checker.integer if self.whole else checker.number
        value = read(node, label, self.lo, self.hi)
        return _BAD if value is None else value


def Int(lo: int, hi: int) -> Number:
    return Number(lo, hi, whole=True)


class Pin(Check):
    """A BCM GPIO number (2..27). Pins take part in the used-twice check."""

    def __call__(self, checker, node, label):
        value = node.value if isinstance(node, YScalar) else None
        if isinstance(value, int) and not isinstance(value, bool) and value in BCM_PINS:
            return value
        checker.error(node.line, f"{label} should be a BCM GPIO pin number from {BCM_PINS.start} to "
                                 f"{BCM_PINS.stop - 1}, not {describe(node)}")
        return _BAD


class Pins(Check):
    """A list of ``n`` pins, e.g. the red, green and blue legs of an RGB LED."""

    def __init__(self, n: int):
        self.n = n

    def __call__(self, checker, node, label):
        if not isinstance(node, YSeq) or len(node.items) != self.n:
            was = f"a list of {len(node.items)}" if isinstance(node, YSeq) else describe(node)
            checker.error(node.line, f"{label} should be a list of {self.n} pin numbers like [5, 6, 13], "
                                     f"not {was}")
            return _BAD
        pins = [Pin()(checker, item, f"{label} item {i}") for i, item in enumerate(node.items, 1)]
        return _BAD if _BAD in pins else tuple(pins)


class Ident(Check):
    """An id as method files write them: small letters, digits, hyphens."""

    def __call__(self, checker, node, label):
        value = checker.text(node, label)
        if value is None:
            return _BAD if not isinstance(node, YScalar) else None
        if not _is_id(value):
            checker.error(node.line, f'{label} should be a method id (small letters a-z, digits and '
                                     f'hyphens), not "{value}"')
            return _BAD
        return value


class Table(Check):
    """A mapping whose keys and values are both checked as text."""

    def __init__(self, key_ok, value_ok, said: str, value_said: str):
        self.key_ok, self.value_ok, self.said, self.value_said = key_ok, value_ok, said, value_said

    def __call__(self, checker, node, label):
        if not isinstance(node, YMap):
            checker.error(node.line, f"{label} should be {self.said}, not {describe(node)}")
            return _BAD
        out, bad = {}, False
        for key, entry in node.entries.items():
            value = checker.text(entry.node, f"{label}.{key}")
            if not self.key_ok(key):
                checker.error(entry.key_line, f'{label}: "{key}" cannot be used here; {label} should be '
                                              f"{self.said}")
                bad = True
            elif value is None or not self.value_ok(value):
                if value is not None or isinstance(entry.node, YScalar):
                    checker.error(entry.node.line, f"{label}.{key} should be {self.value_said}, "
                                                   f"not {describe(entry.node)}")
                bad = True
            else:
                out[key] = value
        return _BAD if bad else out


def _is_id(text: str) -> bool:
    return bool(ID_PATTERN.match(text))


def _null(node: YNode) -> bool:
    return isinstance(node, YScalar) and node.value is None


def setting(default: Any, check: Check, **metadata: Any) -> Any:
    """A config key: its default and how its value is checked."""
    meta = {"check": check, **metadata}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


# --- the sections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audio:
    """What the group hears. ``device`` is part of the output device's name
    (``None``: the system default); ``rate`` is speech in words per minute;
    ``cue_volume`` is relative to the speech. ``latency`` is the output
    buffer asked of the sound device; ``cue_lead`` how long before a
    deadline its cue is handed over, so that it sounds on the deadline
    itself (0: handed over when it comes, a buffer late); after
    ``standby_after`` seconds of silence the stream rests (``None``: never);
    ``quick_start`` restarts a stream that holds only silence when a sound
    comes, so it is heard at once. ``piper`` names a Piper voice per
    language (``piper_model``, the older key, one for the device's own
    language); a language without one speaks espeak-ng."""

    enabled: bool = setting(True, Flag())
    device: str | None = setting(None, Text())
    rate: int = setting(150, Int(80, 450))
    speech_volume: float = setting(1.0, Number(0, 1))
    cue_volume: float = setting(0.6, Number(0, 2))
    voices: dict = setting({}, Table(lambda k: k in LANGUAGES, bool,
                                     "a list of languages (nl, en) with an espeak voice name each",
                                     "an espeak voice name"))
    piper: dict = setting({}, Table(lambda k: k in LANGUAGES, lambda v: v.startswith("/"),
                                    "a list of languages (nl, en) with a Piper voice file each",
                                    "the full path of a Piper voice (MODEL.onnx, its .onnx.json beside it)"))
    piper_model: str | None = setting(None, AbsolutePath())
    sample_rate: int = setting(48000, Int(8000, 192000))
    block_size: int = setting(256, Int(32, 8192))
    latency: float = setting(0.016, Number(0.002, 0.5))
    cue_lead: float = setting(0.1, Number(0, 1))
    standby_after: float | None = setting(10.0, Number(0.1, 3600))
    quick_start: bool = setting(True, Flag())

    def piper_for(self, language: str, device_language: str) -> str | None:
        """The Piper voice file for ``language``: ``piper``'s, or the old
        single ``piper_model`` for the device's own language.

        >>> Audio(piper={"en": "/v/en.onnx"}, piper_model="/v/nl.onnx").piper_for("nl", "nl")
        '/v/nl.onnx'
        """
        return piper_voice_for(self.piper, self.piper_model, language, device_language)


def piper_voice_for(table: dict | None, old: str | None, language: str, device_language: str) -> str | None:
    """See :meth:`Audio.piper_for` (also for a config given as a mapping)."""
    if table and language in table:
        return table[language]
    return old if language == device_language else None


@dataclass(frozen=True)
class Panel:
    """The button and the lights on the device (BCM pin numbers).
    ``lights`` is ``three`` (green, amber and red LEDs) or ``rgb`` (one RGB
    LED on the ``rgb`` pins). ``active_high: false`` for lights that are on
    when their pin is low (a common-anode RGB LED, LEDs wired to 3.3 V).
    Times are in seconds."""

    enabled: bool = setting(True, Flag())
    pin_factory: str | None = setting(None, OneOf("mock", "lgpio", "rpigpio", "pigpio", "native"))
    button: int = setting(17, Pin(), pin=True)
    second_button: int | None = setting(None, Pin(), pin=True)
    lights: str = setting("three", OneOf("three", "rgb"))
    green: int = setting(22, Pin(), pin="three")
    amber: int = setting(27, Pin(), pin="three")
    red: int = setting(23, Pin(), pin="three")
    rgb: tuple | None = setting(None, Pins(3), pin="rgb")
    mic_light: int | None = setting(24, Pin(), pin=True)
    active_high: bool = setting(True, Flag())
    bounce: float = setting(0.03, Number(0, 1))
    hold: float = setting(0.8, Number(0.1, 10))

    def pins_in_use(self) -> dict[str, int]:
        """Every pin the panel drives, by key (``panel.rgb[1]`` for a leg)."""
        out = {}
        for f in dataclasses.fields(self):
            role = f.metadata.get("pin")
            value = getattr(self, f.name)
            if not role or value is None or role not in (True, self.lights):
                continue
            if isinstance(value, tuple):
                out.update({f"panel.{f.name}[{i}]": pin for i, pin in enumerate(value)})
            else:
                out[f"panel.{f.name}"] = value
        return out


@dataclass(frozen=True)
class Voice:
    """Spoken commands, offline. Off unless ``enabled``; on, it needs the
    panel's microphone light. ``language`` unset: the language the device
    speaks. The gate's thresholds (seconds; ``min_confidence`` 0..1) unset
    keep the voice adapter's own tuned values (``intervisor.voice.listen.VoiceSettings``,
    measured by ``bench/voice.py``), so a default here cannot undo a tuning."""

    enabled: bool = setting(False, Flag())
    backend: str = setting("vosk", OneOf("vosk", "pocketsphinx"))
    # Unset: Vosk's usual folder; PocketSphinx needs none for English (its
    # wheel carries the model), and must not be handed Vosk's.
    model: str | None = setting(None, AbsolutePath())
    language: str | None = setting(None, OneOf(*LANGUAGES))
    device: str | None = setting(None, Text())
    wake_word: str | None = setting(None, Text())
    pre_silence: float | None = setting(None, Number(0, 5))
    post_silence: float | None = setting(None, Number(0, 5))
    min_confidence: float | None = setting(None, Number(0, 1))
    deaf_after_speech: float | None = setting(None, Number(0, 10))
    refractory: float | None = setting(None, Number(0, 30))
    min_fit: float | None = setting(None, Number(-50, 0))
    confirm_fit: float | None = setting(None, Number(-50, 0))
    min_wake_fit: float | None = setting(None, Number(-50, 0))
    models: dict = setting({}, Table(lambda k: k in LANGUAGES, lambda v: v.startswith("/"),
                                     "a list of languages (nl, en) with a model folder each",
                                     "a full path starting with /"))


@dataclass(frozen=True)
class Config:
    """The whole config. ``participants`` unset: a method with rounds asks
    the chair at the start (its own ``participants`` offered first)."""

    methods_dir: str = setting("/var/lib/intervisor/methods", AbsolutePath())
    state_dir: str = setting("/var/lib/intervisor", AbsolutePath())
    cache_dir: str = setting("/var/cache/intervisor", AbsolutePath())
    language: str = setting("nl", OneOf(*LANGUAGES))
    selected: str | None = setting(None, Ident())
    choices: dict = setting({}, Table(_is_id, _is_id, "a list of choice ids, each with an option id",
                                      "an option id (small letters a-z, digits and hyphens)"))
    participants: int | None = setting(None, Int(2, 12))
    input: str | None = setting(None, Text())
    audio: Audio = field(default_factory=Audio, metadata={"section": Audio})
    panel: Panel = field(default_factory=Panel, metadata={"section": Panel})
    voice: Voice = field(default_factory=Voice, metadata={"section": Voice})
    path: str | None = field(default=None, compare=False)
    # What the file says that works but costs something (Problem, warning=True).
    warnings: tuple = field(default=(), compare=False)

    @classmethod
    def default(cls) -> "Config":
        return cls()


class ConfigError(Exception):
    """The config file was refused; ``problems`` say why, each with its line."""

    def __init__(self, problems: list[Problem], partial: "Config | None" = None):
        self.problems = problems
        # Every value that was accepted, the defaults for the rest (None when
        # the file is no set of settings at all): the service still finds
        # its folders in a config refused for a typo elsewhere.
        self.partial = partial
        super().__init__("\n".join(str(p) for p in problems))


# --- loading ---------------------------------------------------------------------------------------


def default_path() -> str:
    """The config file to read: ``$INTERVISOR_CONFIG``, else :data:`DEFAULT_PATH`."""
    return os.environ.get("INTERVISOR_CONFIG") or DEFAULT_PATH


def load_config(path: str | os.PathLike | None = None) -> Config:
    """The config in ``path`` (default: :func:`default_path`); all defaults
    when there is no such file."""
    path = default_path() if path is None else path
    if not os.path.lexists(path):
        return Config(path=str(path))
    parsed = read_file(path)
    if parsed.problems:
        raise ConfigError(parsed.problems)
    return _build(parsed.node, str(path))


def load_config_text(data: str | bytes, filename: str) -> Config:
    """The config given as text (tests, ``intervisor check``-like tools)."""
    parsed = parse(data, filename)
    if parsed.problems:
        raise ConfigError(parsed.problems)
    return _build(parsed.node, filename)


def _build(root: YNode | None, filename: str) -> Config:
    check = Checker(filename)
    lines: dict[str, int] = {}
    if root is None or _null(root):
        config = Config(path=filename)
    elif not isinstance(root, YMap):
        check.error(root.line, f"is not a config file: it is {kind_of(root)}, not a set of settings (key: value lines)")
        config = None
    elif not looks_like_fields(root, {f.name for f in dataclasses.fields(Config) if _setting(f)}):
        # Not ours at all (a key file checked with sudo): quote nothing of it.
        check.error(root.line, "is not a config file: none of its keys is a setting name "
                               f"({', '.join(f.name for f in dataclasses.fields(Config) if _setting(f))})")
        config = None
    else:
        config = _section(Config, root, "", check, lines)
        if config is not None:
            config = dataclasses.replace(config, path=filename)
            _check_pins(config.panel, lines, check)
            _check_mic_light(config, lines, check)
            _check_piper(config, lines, check)
            _check_wake_word(config, lines, check)
    errors, warnings = check.finish()
    if errors:
        raise ConfigError(errors, config)
    return dataclasses.replace(config, warnings=tuple(warnings))


def _setting(f: dataclasses.Field) -> bool:
    return "check" in f.metadata or "section" in f.metadata


def _section(cls: type, node: YMap, prefix: str, check: Checker, lines: dict[str, int]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls) if _setting(f)}
    where = f'in "{prefix[:-1]}"' if prefix else "of the config"
    check.keys(node, fields, where)
    values = {}
    for name, entry in node.entries.items():
        f = fields.get(name)
        if f is None:
            continue
        label = prefix + name
        lines[label] = entry.node.line
        if "section" in f.metadata:
            if _null(entry.node):
                continue
            sub = check.mapping(entry.node, label)
            if sub is not None:
                values[name] = _section(f.metadata["section"], sub, label + ".", check, lines)
            continue
        value = None if _null(entry.node) else f.metadata["check"](check, entry.node, label)
        if value is None:
            # Empty (nothing, or blank text) means "none" where none is
            # allowed (no second button), else the default.
            if "None" in str(f.type):
                values[name] = None
            continue
        if value is not _BAD:
            values[name] = value
    return cls(**values)


def _check_pins(panel: Panel, lines: dict[str, int], check: Checker) -> None:
    if panel.lights == "rgb" and panel.rgb is None:
        check.error(lines.get("panel.lights", 1), "panel.lights is rgb, so panel.rgb needs the three pins "
                                                  "of the RGB LED, like rgb: [5, 6, 13]")
    seen: dict[int, str] = {}
    used = panel.pins_in_use()
    # Keys the admin wrote come last, so the complaint lands on a line they wrote.
    for key in sorted(used, key=lambda k: _line(k, lines) or 0):
        pin = used[key]
        if pin in seen:
            other = seen[pin]
            at = f"line {_line(other, lines)}" if _line(other, lines) else "its default"
            check.error(_line(key, lines) or 1, f"{key}: pin {pin} is already used by {other} ({at})")
        else:
            seen[pin] = key


def _check_mic_light(config: Config, lines: dict[str, int], check: Checker) -> None:
    # Issue 4: the group must always see when the device listens, so the
    # light cannot be configured away while voice is on. Both keys can only
    # be off if written, so both lines are known.
    if not config.voice.enabled:
        return
    on = f"voice.enabled is true (line {lines['voice.enabled']})"
    if not config.panel.enabled:
        check.error(lines["panel.enabled"], f"panel.enabled cannot be false while {on}: the panel's "
                                            "microphone light shows the group when the device listens")
    elif config.panel.mic_light is None:
        check.error(lines["panel.mic_light"], f"panel.mic_light needs a pin while {on}: the microphone "
                                              "light shows the group when the device listens")


def _check_piper(config: Config, lines: dict[str, int], check: Checker) -> None:
    # audio.piper_model was the one Piper voice, for the device's language;
    # audio.piper names one per language. Both for one language: which one?
    audio = config.audio
    if audio.piper_model and config.language in audio.piper:
        check.error(lines["audio.piper_model"], f"audio.piper_model is the old way to write "
                                                f"audio.piper.{config.language} (line {lines['audio.piper']}), "
                                                "and both name a voice: keep audio.piper only")


# What voice without a wake word costs, measured with the shipped settings
# on the held-out sets (bench/voice.py --held-out; README, "Voice commands").
NO_WAKE_WORD_COST = ("short replies said alone in a noisy room are taken as commands: {false} false "
                     "commands in {replies} held-out replies without a wake word, {wake_false} with it")
NO_WAKE_WORD_FIGURES = {"false": 20, "replies": 400, "wake_false": 0}


def _check_wake_word(config: Config, lines: dict[str, int], check: Checker) -> None:
    from intervisor.core.phrases import wake_word_for

    voice = config.voice
    if not voice.enabled or voice.wake_word is None:
        return
    if wake_word_for(voice.language or config.language, voice.wake_word) is None:
        check.warn(lines["voice.wake_word"], f"voice.wake_word is {voice.wake_word}: "
                                              + NO_WAKE_WORD_COST.format(**NO_WAKE_WORD_FIGURES))


def _line(key: str, lines: dict[str, int]) -> int | None:
    return lines.get(key.split("[")[0])
