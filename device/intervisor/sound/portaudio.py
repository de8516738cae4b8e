"""The one PortAudio of this process, shared by the sound output and the
microphone.

PortAudio lists the devices only when it starts, so a USB speaker plugged
in later, or a sound server that was not up yet, is seen only after a
restart (``sd._terminate(); sd._initialize()``). A restart frees every
stream of the process, the microphone's too, while its owner still holds
it; stopping, closing or even asking whether that stream is active then
reads freed memory in C. So every restart goes through :func:`restart`
and is counted, and the owner of a stream that was opened before the
count moved drops it untouched::

    with portaudio.LOCK:
        if portaudio.restarts() != opened_at:
            stream = None             # freed by PortAudio; never touch it
        else:
            stream.close()

>>> class FakeSoundDevice:
...     def _terminate(self): print("terminate")
...     def _initialize(self): print("initialize")
>>> before = restarts()
>>> restart(FakeSoundDevice())
terminate
initialize
True
>>> restarts() - before
1
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
from typing import Any, Iterator

# Held around a restart, and by the microphone while it opens, closes or
# queries its stream, so none of that runs while PortAudio frees and
# starts again under another thread. The sound output does not take it:
# its own thread is the only one that restarts.
LOCK = threading.RLock()
_restarts = 0


def restart(sd: Any, timeout: float = 5.0) -> bool:
    """Restart PortAudio (``sd``: the sounddevice module) so it lists the
    devices again; every stream of the process is gone afterwards. False,
    and nothing done, if another thread held PortAudio for ``timeout``
    seconds (a microphone opening that hangs): the caller tries later."""
    global _restarts
    with held(timeout) as got:
        if not got:
            return False
        sd._terminate()
        _restarts += 1   # the streams are freed now (not if it raised)
        sd._initialize()
        return True


@contextlib.contextmanager
def held(timeout: float = -1) -> Iterator[bool]:
    """:data:`LOCK`, waited for at most ``timeout`` seconds (-1: as long as
    it takes); yields whether it was got."""
    got = LOCK.acquire(timeout=timeout)
    try:
        yield got
    finally:
        if got:
            LOCK.release()


def restarts() -> int:
    """How many times this process has restarted PortAudio."""
    return _restarts


# ALSA's C library writes its complaints ("underrun occurred", a card it
# cannot open) straight to the process's stderr: in the demo they scroll
# the live line off the terminal, on the device they fill the journal with
# a line per underrun of a busy Pi. Faults that matter are seen by the
# sound adapter and the microphone themselves and said once. The handler
# object must outlive every call into ALSA, so it is kept here.
_ALSA_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                 ctypes.c_int, ctypes.c_char_p)
_alsa_quiet: Any = None


def quiet_alsa() -> bool:
    """Stop ALSA's library from writing to stderr (once per process); False
    where there is no ALSA (not Linux, or libasound missing)."""
    global _alsa_quiet
    if _alsa_quiet is not None:
        return True
    name = ctypes.util.find_library("asound")
    if name is None:
        return False
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return False
    handler = _ALSA_HANDLER(lambda *_: None)
    lib.snd_lib_error_set_handler(handler)
    _alsa_quiet = handler
    return True


def sounddevice() -> Any:
    """The sounddevice module, imported now (PortAudio reads ALSA's config
    when it starts, and `intervisor check` never needs it), with ALSA's
    stderr chatter silenced first."""
    quiet_alsa()
    import sounddevice as sd

    return sd
