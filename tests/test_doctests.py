"""The examples in the pure core's docstrings run as written."""

import doctest

import pytest

from intervisor import clock, engine, events, model, phrases, rehearse, runner


@pytest.mark.parametrize("module", [clock, engine, events, model, phrases, rehearse, runner],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
