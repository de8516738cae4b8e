"""Intervisor: a table device that keeps the method of an intervisie session.

The folders are the architecture, from the inside out; each package imports
only from the packages before it (tests/test_layout.py checks that):

- :mod:`intervisor.core`: what a session is and how it runs on an injected
  clock: commands in, actions out. Pure: no hardware, no sound.
- :mod:`intervisor.files`: the method files and the config an administrator
  writes, read safely, refused with ``FILE:LINE: message``.
- :mod:`intervisor.sound`: what the group hears (output, speech, chimes).
- :mod:`intervisor.voice`: spoken commands (microphone, recognisers).
- :mod:`intervisor.table`: the button and lights, the loop that holds the
  engine (one queue), the demo.
- :mod:`intervisor.appliance`: ``intervisor serve`` with its state, records
  and systemd notify.
- :mod:`intervisor.cli`: the ``intervisor`` command, one module per
  command group.

Each package's ``__init__`` names what it offers; docs/architecture.md
walks the rooms.
"""

__version__ = "0.1.0"
