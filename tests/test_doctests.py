"""The examples in the docstrings run as written: the pure core's, and
the adapters' that need no hardware (a fake or gpiozero's mock pins)."""

import doctest

import pytest

from intervisor import (cli, clock, config, cues, engine, events, method, model, panel, phrases, portaudio,
                        recognise, records, runner, sound, state, voice)
from intervisor import rehearsal as rehearse


@pytest.mark.parametrize("module", [cli, clock, engine, events, model, phrases, rehearse, runner,
                                    config, cues, method, panel, portaudio, recognise, records,
                                    sound, state, voice],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
