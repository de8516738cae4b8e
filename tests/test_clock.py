import pytest

from intervisor.core.clock import FakeClock, SystemClock


def test_fake_clock_moves_only_when_told():
    clock = FakeClock(wall=1000.0)
    assert clock.monotonic() == 0.0
    clock.advance(90)
    assert clock.monotonic() == 90.0
    assert clock.time() == 1090.0


def test_fake_clock_refuses_to_run_backwards():
    clock = FakeClock()
    clock.advance(5)
    with pytest.raises(ValueError):
        clock.set(1)


def test_system_clock_is_monotonic():
    clock = SystemClock()
    a = clock.monotonic()
    assert clock.monotonic() >= a
