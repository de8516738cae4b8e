"""What the group hears: the sound adapter (``output``, the face of its
parts: the stream's life in ``stream``, the ``mixer``, the prompts in memory
in ``prompts``; its contract and its fake in ``adapter``; made from a config
in ``config``), spoken prompts rendered to audio (``speech``; Piper's voices
in ``pipervoice``, what both render workers share in ``workers``), the chimes
(``cues``), the process's one PortAudio (``portaudio``) and a rehearsal
rendered to one WAV file (``soundtrack``).

Uses the core and the files; numpy, and PortAudio and the speech engines
when asked.
"""

# The package's face: its modules are its rooms; other packages import from
# here, tests may open a room itself.
from .output import SoundOutput
from .adapter import FakeSound, Sound
from .mixer import Mixer
from .stream import StreamKeeper
from .prompts import Feeder, PromptCache, PromptLibrary, to_float
from .config import from_config, speech_factory_from_config, with_writable_cache
from .speech import (
    spoken_form,
    SpeechError,
    VoiceMissing,
    read_wav,
    resample,
    resolve_voice,
    save_speech,
    Speech,
    close_worker,
    timed_prerender,
)
from .cues import Note, Design, synth, names, by_name, Chimes
from .soundtrack import render, render_rehearsal
from .pipervoice import (
    VoiceProblem,
    piper_version,
    VoiceFile,
    PiperEngine,
    worker_main,
    Filler,
)
from .workers import write_wav, end_worker
from .prosody import (
    trim,
    stretches,
    join,
    loudness_db,
    peak_db,
    normalise,
    sentences,
    assemble,
)

__all__ = [
    "FakeSound",
    "Sound",
    "Mixer",
    "SoundOutput",
    "StreamKeeper",
    "Feeder",
    "PromptCache",
    "PromptLibrary",
    "to_float",
    "from_config",
    "speech_factory_from_config",
    "with_writable_cache",
    "spoken_form",
    "SpeechError",
    "VoiceMissing",
    "read_wav",
    "resample",
    "resolve_voice",
    "save_speech",
    "Speech",
    "close_worker",
    "timed_prerender",
    "Note",
    "Design",
    "synth",
    "names",
    "by_name",
    "Chimes",
    "render",
    "render_rehearsal",
    "VoiceProblem",
    "piper_version",
    "VoiceFile",
    "PiperEngine",
    "worker_main",
    "Filler",
    "write_wav",
    "end_worker",
    "trim",
    "stretches",
    "join",
    "loudness_db",
    "peak_db",
    "normalise",
    "sentences",
    "assemble",
]
