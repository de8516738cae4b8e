"""The device's config file: defaults, every check, pins used twice."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intervisor.files.config import Audio, Config, ConfigError, Panel, Voice, load_config, load_config_text


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(textwrap.dedent(text), "config.yaml")
    return [str(p) for p in caught.value.problems]


def one_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_defaults():
    c = Config.default()
    assert (c.methods_dir, c.state_dir, c.cache_dir) == (
        "/var/lib/intervisor/methods", "/var/lib/intervisor", "/var/cache/intervisor")
    assert (c.language, c.selected, c.choices, c.participants) == ("nl", None, {}, None)
    assert c.audio == Audio(device=None, rate=150, speech_volume=1.0, cue_volume=0.6, voices={},
                            piper_model=None, sample_rate=48000, block_size=256, latency=0.016,
                            cue_lead=0.1, standby_after=10.0, quick_start=True)
    assert c.panel == Panel(button=17, second_button=None, lights="three", green=22, amber=27, red=23,
                            rgb=None, mic_light=24, active_high=True, bounce=0.03, hold=0.8)
    assert c.voice == Voice(enabled=False, backend="vosk", model=None, language=None,
                            device=None, wake_word=None, pre_silence=None, post_silence=None,
                            min_confidence=None, deaf_after_speech=None, refractory=None,
                            min_fit=None, confirm_fit=None, min_wake_fit=None, models={})


def test_a_missing_file_means_all_defaults(tmp_path):
    assert load_config(tmp_path / "none.yaml") == Config.default()


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "audio:\npanel:\n"])
def test_an_empty_file_or_section_means_defaults(text):
    assert load_config_text(text, "config.yaml") == Config.default()


def test_a_full_config_is_read(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("""\
        methods_dir: /srv/methods
        state_dir: /srv/state
        cache_dir: /srv/cache
        language: en
        selected: vijf-stappen
        choices: {vragen: alternatief}
        participants: 5
        audio:
          device: USB
          rate: 170
          speech_volume: 0.8
          cue_volume: 1.2
          voices: {nl: nl+f3, en: en-gb}
          piper_model: /srv/piper/nl.onnx
          sample_rate: 44100
          block_size: 512
        panel:
          button: 5
          second_button: 6
          lights: rgb
          rgb: [13, 19, 26]
          mic_light: 12
          active_high: false
          bounce: 0.05
          hold: 1
        voice:
          enabled: true
          backend: pocketsphinx
          model: /srv/model
          language: en
          device: ReSpeaker
          wake_word: intervisor
          pre_silence: 0.8
          post_silence: 0.6
          min_confidence: 0.7
          deaf_after_speech: 0.6
          refractory: 2
        """))
    c = load_config(path)
    assert c.path == str(path)
    assert (c.methods_dir, c.language, c.selected, c.choices, c.participants) == (
        "/srv/methods", "en", "vijf-stappen", {"vragen": "alternatief"}, 5)
    assert c.audio.voices == {"nl": "nl+f3", "en": "en-gb"} and c.audio.cue_volume == 1.2
    assert c.panel.rgb == (13, 19, 26) and c.panel.mic_light == 12 and c.panel.hold == 1.0
    assert c.panel.active_high is False
    assert c.panel.pins_in_use() == {"panel.button": 5, "panel.second_button": 6, "panel.rgb[0]": 13,
                                     "panel.rgb[1]": 19, "panel.rgb[2]": 26, "panel.mic_light": 12}
    assert c.voice.backend == "pocketsphinx" and c.voice.language == "en" and c.voice.refractory == 2.0
    assert (c.voice.pre_silence, c.voice.post_silence, c.voice.min_confidence) == (0.8, 0.6, 0.7)


def test_an_empty_optional_key_is_none_and_an_empty_other_key_its_default():
    c = load_config_text("panel:\n  mic_light:\n  button:\n", "config.yaml")
    assert c.panel.mic_light is None and c.panel.button == 17


@pytest.mark.parametrize("text,said", [
    ("langauge: en\n", 'config.yaml:1: "langauge" is not a field of the config; did you mean "language"?'),
    ("audio:\n  volume: 1\n", 'config.yaml:2: "volume" is not a field in "audio"; did you mean "cue_volume"?'),
    ("language: de\n", 'config.yaml:1: language should be "nl" or "en", not "de"'),
    ("methods_dir: methods\n", 'config.yaml:1: methods_dir should be a full path starting with /, not "methods"'),
    ("selected: Vijf Stappen\n", 'config.yaml:1: selected should be a method id (small letters a-z, digits '
                                 'and hyphens), not "Vijf Stappen"'),
    ("participants: 1\n", 'config.yaml:1: participants should be a whole number from 2 to 12, not "1"'),
    ("choices:\n  vragen: Vijf\n", 'config.yaml:2: choices.vragen should be an option id (small letters a-z, '
                                   'digits and hyphens), not "Vijf"'),
    ("choices: [a]\n", "config.yaml:1: choices should be a list of choice ids, each with an option id, "
                       "not a list"),
    ("audio:\n  rate: fast\n", 'config.yaml:2: audio.rate should be a whole number from 80 to 450, not "fast"'),
    ("audio:\n  speech_volume: 1.5\n", 'config.yaml:2: audio.speech_volume should be a number from 0 to 1, '
                                       'not "1.5"'),
    ("audio:\n  cue_volume: true\n", 'config.yaml:2: audio.cue_volume should be a number from 0 to 2, '
                                     'not "true"'),
    ("audio:\n  voices: {de: x}\n", 'config.yaml:2: audio.voices: "de" cannot be used here; audio.voices '
                                    "should be a list of languages (nl, en) with an espeak voice name each"),
    ("audio: loud\n", 'config.yaml:1: audio should be a set of fields (key: value lines), not "loud"'),
    ("panel:\n  button: 40\n", 'config.yaml:2: panel.button should be a BCM GPIO pin number from 2 to 27, '
                               'not "40"'),
    ("panel:\n  lights: four\n", 'config.yaml:2: panel.lights should be "three" or "rgb", not "four"'),
    ("panel:\n  rgb: [1, 2]\n", "config.yaml:2: panel.rgb should be a list of 3 pin numbers like [5, 6, 13], "
                                "not a list of 2"),
    ("panel:\n  lights: rgb\n", "config.yaml:2: panel.lights is rgb, so panel.rgb needs the three pins of the "
                                "RGB LED, like rgb: [5, 6, 13]"),
    ("voice:\n  enabled: maybe\n", 'config.yaml:2: voice.enabled should be true or false, not "maybe"'),
    ("voice:\n  backend: whisper\n", 'config.yaml:2: voice.backend should be "vosk" or "pocketsphinx", '
                                     'not "whisper"'),
    ("voice:\n  language: de\n", 'config.yaml:2: voice.language should be "nl" or "en", not "de"'),
    ("voice:\n  min_confidence: 2\n", 'config.yaml:2: voice.min_confidence should be a number from 0 to 1, '
                                       'not "2"'),
    ("panel:\n  active_high: low\n", 'config.yaml:2: panel.active_high should be true or false, not "low"'),
    # The gestures have no double press: the key went, a file that still has it is told so.
    ("panel:\n  double_press: 0.4\n", 'config.yaml:2: "double_press" is not a field in "panel"; known fields '
                                      'are: enabled, pin_factory, button, second_button, lights, green, amber, '
                                      'red, rgb, mic_light, active_high, bounce, hold'),
    ("- a\n", "config.yaml:1: is not a config file: it is a list, not a set of settings (key: value lines)"),
])
def test_each_bad_value_is_named_on_its_line(text, said):
    assert one_problem(text) == said


def test_a_pin_used_twice_names_both_keys_and_lines():
    text = "panel:\n  button: 5\n  second_button: 6\n  red: 5\n"
    assert one_problem(text) == "config.yaml:4: panel.red: pin 5 is already used by panel.button (line 2)"


def test_a_pin_that_clashes_with_a_default_says_so():
    assert one_problem("panel:\n  second_button: 17\n") == (
        "config.yaml:2: panel.second_button: pin 17 is already used by panel.button (its default)")


def test_only_the_pins_in_use_count():
    # With an RGB LED the three separate lights are not driven.
    c = load_config_text("panel:\n  lights: rgb\n  rgb: [22, 27, 23]\n", "config.yaml")
    assert set(c.panel.pins_in_use()) == {"panel.button", "panel.mic_light", "panel.rgb[0]", "panel.rgb[1]",
                                          "panel.rgb[2]"}
    assert one_problem("panel:\n  lights: rgb\n  rgb: [22, 27, 17]\n") == (
        "config.yaml:3: panel.rgb[2]: pin 17 is already used by panel.button (its default)")


def test_all_problems_are_reported_at_once():
    text = "language: fr\naudio:\n  rate: 5\npanel:\n  red: 17\n"
    assert problems(text) == [
        'config.yaml:1: language should be "nl" or "en", not "fr"',
        'config.yaml:3: audio.rate should be a whole number from 80 to 450, not "5"',
        "config.yaml:5: panel.red: pin 17 is already used by panel.button (its default)",
    ]


# ------------------------------------------------ the microphone light (issue 4)

def test_voice_on_without_a_mic_light_is_refused_on_the_lights_line():
    text = "voice:\n  enabled: true\npanel:\n  button: 5\n  mic_light:\n"
    assert one_problem(text) == ("config.yaml:5: panel.mic_light needs a pin while voice.enabled is true "
                                 "(line 2): the microphone light shows the group when the device listens")
    # The same whichever section comes first, and with null written out.
    text = "panel:\n  mic_light: null\nvoice: {enabled: true}\n"
    assert one_problem(text) == ("config.yaml:2: panel.mic_light needs a pin while voice.enabled is true "
                                 "(line 3): the microphone light shows the group when the device listens")


def test_voice_on_with_the_panel_off_is_refused_on_the_panels_line():
    text = "panel:\n  enabled: false\nvoice:\n  enabled: true\n"
    assert one_problem(text) == ("config.yaml:2: panel.enabled cannot be false while voice.enabled is true "
                                 "(line 4): the panel's microphone light shows the group when the device "
                                 "listens")


def test_the_mic_light_check_comes_with_the_other_problems():
    text = "voice:\n  enabled: true\n  backend: whisper\npanel:\n  mic_light:\n  red: 17\n"
    assert [p.split(":")[1] for p in problems(text)] == ["3", "5", "6"]


@pytest.mark.parametrize("text", [
    "panel:\n  mic_light:\n",                                   # voice off: no light needed
    "panel:\n  enabled: false\n",
    "voice:\n  enabled: false\npanel:\n  mic_light:\n",
    "voice:\n  enabled: true\npanel:\n  mic_light: 12\n",
    "voice:\n  enabled: true\n",                                # the default light
])
def test_a_mic_light_or_voice_off_is_fine(text):
    config = load_config_text(text, "config.yaml")   # raises on a refused file
    assert config.voice.enabled is False or config.panel.mic_light is not None


# ------------------------------------------------------------ the example file

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "config.example.yaml"


def config_keys(cls=Config, prefix=""):
    """Every key the config file may hold, dotted (``panel.hold``)."""
    for f in dataclasses.fields(cls):
        if "section" in f.metadata:
            yield from config_keys(f.metadata["section"], f"{prefix}{f.name}.")
        elif "check" in f.metadata:
            yield prefix + f.name


def test_the_example_config_is_every_default():
    # Loads without a problem, and says nothing but the defaults.
    config = load_config(EXAMPLE)
    assert dataclasses.replace(config, path=None) == Config.default()


def test_the_example_config_lists_every_key_with_a_comment():
    from intervisor.files.yamlsafe import read_file

    root = read_file(EXAMPLE).node
    lines = EXAMPLE.read_text("utf-8").splitlines()
    for key in config_keys():
        node = root
        for name in key.split(".")[:-1]:
            node = node.entries[name].node
        entry = node.entries.get(key.split(".")[-1])
        assert entry is not None, f"{key} is missing from {EXAMPLE.name}"
        comment = lines[entry.key_line - 1].partition(" #")[2].strip()
        assert len(comment) > 10, f"{EXAMPLE.name}:{entry.key_line}: {key} needs a comment"


def test_every_key_the_device_reads_exists():
    # The adapters read keys by dotted name (so that they also take plain
    # mappings); a typo there would read the default for ever, silently.
    import re

    known = set(config_keys()) | {f.name for f in dataclasses.fields(Config) if "section" in f.metadata}
    device = Path(__file__).resolve().parents[1] / "device" / "intervisor"
    read = set()
    for source in device.rglob("*.py"):
        read.update(re.findall(r'\b_?setting\(\s*[\w.]*config\s*,\s*"([\w.]+)"', source.read_text("utf-8")))
    assert {"voice.language", "panel.pin_factory", "audio.enabled"} <= read
    assert read <= known, sorted(read - known)


def test_the_voice_gate_keeps_its_tuned_values_unless_the_config_says():
    from intervisor.voice.listen import VoiceSettings

    assert VoiceSettings.from_mapping(Config.default().voice) == VoiceSettings()
    voice = load_config_text("voice:\n  pre_silence: 0.9\n  post_silence: 0.4\n  min_confidence: 0.8\n"
                             "  refractory: 2\n", "config.yaml").voice
    tuned = VoiceSettings.from_mapping(voice)
    assert (tuned.pre_silence, tuned.post_silence, tuned.min_confidence, tuned.refractory) == (0.9, 0.4, 0.8, 2.0)


def test_hostile_files_are_refused_cleanly(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"audio: !!python/object/apply:os.system [id]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:1: the tag !!python/object/apply:os.system is not allowed")
    path.write_bytes(b"language: \xe9n\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config.default().language = "en"


def test_adding_a_key_is_one_line():
    from intervisor.files.config import Flag, setting

    @dataclasses.dataclass(frozen=True)
    class Extra(Voice):
        noise_gate: bool = setting(False, Flag())

    from intervisor.files import config as module
    from intervisor.files.yamlsafe import Checker, parse

    node = parse("noise_gate: true\nenabled: true\n", "config.yaml").node
    check = Checker("config.yaml")
    extra = module._section(Extra, node, "voice.", check, {})
    assert check.errors == [] and extra.noise_gate is True and extra.enabled is True


def test_the_config_path_comes_from_the_environment(tmp_path, monkeypatch):
    from intervisor.files.config import DEFAULT_PATH, default_path

    monkeypatch.delenv("INTERVISOR_CONFIG", raising=False)
    assert default_path() == DEFAULT_PATH
    path = tmp_path / "c.yaml"
    path.write_text("language: en\n")
    monkeypatch.setenv("INTERVISOR_CONFIG", str(path))
    assert load_config().language == "en" and load_config().path == str(path)


def _config_or_problems(data) -> None:
    try:
        assert isinstance(load_config_text(data, "config.yaml"), Config)
    except ConfigError as e:
        assert e.problems and all(str(p).startswith(f"config.yaml:{p.line}: ") for p in e.problems)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 50000), st.floats(allow_nan=False),
                                st.text(max_size=12), st.sampled_from(["/a", "nl", "rgb", "mock", "vosk"])),
                      lambda inner: st.one_of(st.lists(inner, max_size=3),
                                              st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)),
                      max_leaves=10)
section_keys = {s: [f.name for f in dataclasses.fields(c)] for s, c in (("audio", Audio), ("panel", Panel),
                                                                         ("voice", Voice))}
configs = st.fixed_dictionaries({}, optional={
    **{k: values for k in ("methods_dir", "language", "selected", "choices", "participants", "input")},
    **{s: st.dictionaries(st.sampled_from(keys), values, max_size=5) for s, keys in section_keys.items()}})


@FUZZ
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_text_or_bytes_give_a_config_or_problems(data):
    _config_or_problems(data)


@FUZZ
@given(configs)
def test_any_config_shaped_structure_gives_a_config_or_problems(value):
    _config_or_problems(yaml.safe_dump(value, allow_unicode=True))
