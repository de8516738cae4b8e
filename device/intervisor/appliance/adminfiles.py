"""The files an administrator changes: the methods folder and the config,
loaded at start and read again on SIGHUP off the loop (the loop answers
the button meanwhile and swaps the result in).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Mapping, TYPE_CHECKING

from intervisor.appliance.reloader import Reading
from intervisor.appliance.settings import (
    DEFAULT_CONFIG, NOTICES, setting, load_settings, read_selection, method_copy,
    folder_fingerprint, with_notices)
from intervisor.core.events import Hush, Say

if TYPE_CHECKING:
    from intervisor.appliance.service import Service

log = logging.getLogger("intervisor.service")


class AdminFiles:
    """The methods folder and the config in use: loaded, selected, reloaded."""

    def __init__(self, service: Service):
        self.service = service
        self.texts: dict[str, dict] = {}   # each method's text as loaded: remember_texts
        self.config_was_there = False   # at start: a config deleted since keeps the one in use

    def selection(self) -> tuple[str | None, dict]:
        chosen = read_selection(self.service.methods_dir)
        if chosen is not None:
            return chosen["method"], dict(chosen.get("choices") or {})
        return setting(self.service.config, "selected", None), dict(setting(self.service.config, "choices", {}) or {})

    def load_methods(self):
        from intervisor.files.method import Library

        library = Library(self.service.methods_dir)
        self._note_refused(library.refused)
        log.info("methods: %d loaded from %s", len(library.methods), self.service.methods_dir)
        self.service.report.write(library.methods, library.refused, self.service.fingerprint)
        return library

    def _note_refused(self, refused: Mapping[str, list]) -> None:
        for path, problems in refused.items():
            log.error("methods: %s refused", Path(path).name)
            for p in problems:
                log.error("%s", p)

    def remember_texts(self, ids: Iterable[str]) -> None:
        """Keep the text each method was loaded from (checked to give that
        very method), so a session's copy is what it started with even if
        the file is edited between the load and the first press."""
        for mid in ids:
            method = self.service.library.methods.get(mid)
            copy = method_copy(method) if method is not None else None
            if copy is None:
                self.texts.pop(mid, None)
            else:
                self.texts[mid] = {**copy, "_method": method}

    def copy_of(self, method) -> dict | None:
        kept = self.texts.get(method.id)
        if kept is not None and kept["_method"] is method:
            return {k: v for k, v in kept.items() if k != "_method"}
        return method_copy(method)

    def read_for_reload(self, library, fingerprint: str | None) -> Reading:
        """On the reload thread: read and check the folder and the config
        against ``library`` (a copy of the one in use) and the last
        ``fingerprint``. Touches nothing the loop uses."""
        now = folder_fingerprint(self.service.config_path, self.service.methods_dir)
        if now == fingerprint:
            return Reading(fingerprint=now, unchanged=True)
        reading = Reading(fingerprint=now, unchanged=False)
        path = self.service.config_path or DEFAULT_CONFIG
        if self.config_was_there and not os.path.lexists(path):
            # Deleted (or being replaced by a tool that removes first): the
            # defaults would switch off what the admin set up.
            reading.config_gone = f"{path} is gone"
        else:
            reading.config, reading.problems = load_settings(self.service.config_path)
        reading.change = library.reload()
        reading.library = library
        for mid in reading.change.added + reading.change.changed:
            method = library.methods.get(mid)
            copy = method_copy(method) if method is not None else None
            reading.texts[mid] = None if copy is None else {**copy, "_method": method}
        return reading

    def request_reload(self) -> None:
        """A SIGHUP: read off the loop; one at a time (a SIGHUP during a
        reload is taken when it is done, and finds what changed since)."""
        if self.service.reloader.busy:
            return
        self.service.reload_asked.clear()
        self.service.notifier.reloading()
        self.service.reloader.request(self.service.library, self.service.fingerprint)

    def apply_reload(self, reading: Reading) -> None:
        """On the loop: swap in what the reload thread read. A reload that
        found nothing changed since the last one does nothing but count
        itself: `methods add` sends SIGHUP and the path unit reloads too,
        for the same files, and the second must not log, render or
        announce anything again."""
        if reading.error is not None:
            log.error("reload failed; keeping what was loaded: %s: %s",
                      type(reading.error).__name__, reading.error)
            self.service.notifier.ready(self.service.status_line())
            return
        if reading.unchanged:
            log.debug("reload: nothing changed since the last one")
            self.service.reloads += 1
            self.service.save()
            self.service.notifier.ready(self.service.status_line())
            return
        self.service.fingerprint = reading.fingerprint
        log.info("reload: methods and config")
        self._take_config(reading)
        change = reading.change
        self.service.library = reading.library
        self._note_refused(change.refused)
        for kind in ("added", "changed", "removed"):
            for mid in getattr(change, kind):
                log.info("methods: %s %s", kind, mid)
        for mid, text in reading.texts.items():
            if text is None:
                self.texts.pop(mid, None)
            else:
                self.texts[mid] = text
        self.service.report.write(self.service.library.methods, self.service.library.refused, self.service.fingerprint)
        device = self.service.device
        device.methods = self.service.library.methods
        selected, choices = self.selection()
        if selected in device.methods:
            device.selected = selected
        elif device.selected not in device.methods:
            device.selected = sorted(device.methods)[0] if device.methods else None
        device.preset_choices = choices
        device.participants = setting(self.service.config, "participants", None)
        # Rendered on the render thread: the session in the room goes on.
        self.service.prompts.prepare(only=change.added + change.changed, label="reload")
        self.service.reloads += 1
        if device.session is None:
            # Said at idle only (a session in the room is not interrupted):
            # a refused file, and voice that could not start again.
            refused = change.refused or reading.problems
            notices = [Say((NOTICES[self.service.notice_language()]["refused"],))] if refused else []
            notices += self.service.parts.take_voice_notices()
            if notices:
                device.dispatch(with_notices([Hush()], notices))
        self.service.save()
        self.service.notifier.ready(self.service.status_line())

    def _take_config(self, reading: Reading) -> None:
        """The reloaded config, unless it is refused or gone (one line why)."""
        if reading.config_gone:
            log.error("config: %s; keeping the config in use (a reload reads it when it is back)",
                      reading.config_gone)
            return
        if reading.problems:
            for p in reading.problems:
                log.error("config: %s", p)
            log.error("config: refused; keeping the one in use")
            return
        config = reading.config
        self.service.config, self.service.config_problems = config, []
        if self.service.device.session is not None and setting(config, "voice.enabled", False):
            # A model takes seconds to load, on this loop: the session
            # keeps its listener; voice starts again after it.
            self.service.deferred_voice = config
            log.info("voice: the new settings take effect when this session ends")
        else:
            self.service.deferred_voice = None
            self.service.reconfigure_voice(config)
