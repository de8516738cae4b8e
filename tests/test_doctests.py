"""The examples in the docstrings run as written: the pure core's, and
the adapters' that need no hardware (a fake or gpiozero's mock pins)."""

import doctest

import pytest

from intervisor import cli
from intervisor.core import clock
from intervisor.files import config
from intervisor.sound import cues
from intervisor.core import engine
from intervisor.core import events
from intervisor.files import method
from intervisor.core import model
from intervisor.table import panel
from intervisor.core import phrases
from intervisor.sound import portaudio
from intervisor.voice import recognise
from intervisor.appliance import records
from intervisor.table import runner
from intervisor.sound import output as sound
from intervisor.sound import adapter, mixer, prompts, stream
from intervisor.sound import config as sound_config
from intervisor.appliance import state
from intervisor.voice import listen as voice
from intervisor.core import rehearsal as rehearse


@pytest.mark.parametrize("module", [cli, clock, engine, events, model, phrases, rehearse, runner,
                                    config, cues, method, panel, portaudio, recognise, records,
                                    sound, state, voice, adapter, mixer, prompts, stream, sound_config],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
