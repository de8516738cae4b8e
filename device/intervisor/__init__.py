"""Intervisor: a table device that keeps the method of an intervisie session.

The architecture, from the inside out:

- :mod:`intervisor.model`, :mod:`intervisor.method`: what a method is, and
  reading one from a YAML file an administrator wrote.
- :mod:`intervisor.engine`: runs a session on an injected clock; commands in,
  actions out (:mod:`intervisor.events`). Pure: no hardware, no sound.
- Adapters around it, each replaceable by a fake: :mod:`intervisor.sound` and
  :mod:`intervisor.speech` (what the group hears), :mod:`intervisor.panel`
  (button and lights), :mod:`intervisor.voice` (spoken commands),
  :mod:`intervisor.service` (the device's main process).
"""

__version__ = "0.1.0"
