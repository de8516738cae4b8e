"""Spoken commands: the microphone, resampling and the gate that never
fires on conversation (``listen``), and the recognisers, Vosk and
PocketSphinx, with the command phrases (``recognise``).

Uses the core, the files and the sound (for its one PortAudio).
"""

# The package's face: its modules are its rooms; other packages import from
# here, tests may open a room itself.
from .listen import (
    VoiceSettings,
    wake_allowance,
    Dither,
    EnergyDetector,
    CommandGate,
    Resampler,
    read_wav,
    commands_in_pcm,
    commands_in_file,
    Microphone,
    Listener,
    heard_cue,
    unavailable_notice,
    recogniser_factory,
    from_config,
)
from .recognise import (
    VoiceUnavailable,
    PhraseTable,
    Word,
    Hearing,
    Recogniser,
    VoskRecogniser,
    approximate_phones,
    load_vosk_model,
    PocketSphinxRecogniser,
    nats,
    segments,
    window_score,
    PhoneLoop,
    model_phones,
    RecogniserSpec,
)

__all__ = [
    "VoiceSettings",
    "wake_allowance",
    "Dither",
    "EnergyDetector",
    "CommandGate",
    "Resampler",
    "read_wav",
    "commands_in_pcm",
    "commands_in_file",
    "Microphone",
    "Listener",
    "heard_cue",
    "unavailable_notice",
    "recogniser_factory",
    "from_config",
    "VoiceUnavailable",
    "PhraseTable",
    "Word",
    "Hearing",
    "Recogniser",
    "VoskRecogniser",
    "approximate_phones",
    "load_vosk_model",
    "PocketSphinxRecogniser",
    "nats",
    "segments",
    "window_score",
    "PhoneLoop",
    "model_phones",
    "RecogniserSpec",
]
