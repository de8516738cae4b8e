"""What sits on the table: the button gestures and lights (``panel``,
gpiozero), the loop that holds the engine between and during sessions and
hands actions to the adapters (``runner``: the one queue), and the demo
that plays the table in a terminal (``simulator``).

Uses everything below it: the core, the files, the sound and the voice.
"""

# The package's face: its modules are its rooms; other packages import from
# here, tests may open a room itself.
from .panel import (
    default_pins,
    from_config,
    tick_cues,
    PushButton,
    Pattern,
    TimeLight,
    MicLight,
    Panel,
)
from .runner import Adapter, ActionLog, CommandQueue, Device
from .simulator import (
    mock_factory,
    Finger,
    View,
    clock_text,
    Keyboard,
    WavDevice,
    SpeakIn,
    Simulator,
)

__all__ = [
    "default_pins",
    "from_config",
    "tick_cues",
    "PushButton",
    "Pattern",
    "TimeLight",
    "MicLight",
    "Panel",
    "Adapter",
    "ActionLog",
    "CommandQueue",
    "Device",
    "mock_factory",
    "Finger",
    "View",
    "clock_text",
    "Keyboard",
    "WavDevice",
    "SpeakIn",
    "Simulator",
]
