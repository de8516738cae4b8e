"""The appliance: ``intervisor serve``, the device's main process
(``service``), with its atomic session state (``state``), the session
records (``records``) and systemd's notify socket (``notify``).

``Service`` is the facade of its parts, each with one job: the adapters it
starts (``parts``), the prompts rendered ahead (``prompts``), the session
picked up after a restart (``resume``), the admin's files loaded and
reloaded (``adminfiles``, read off the loop by ``reloader``), the state and
pid files and the storage fault (``keeper``, ``storage``), its settings and
words (``settings``), and debugging input (``lineinput``).

Uses every package below it; only the command line is above it.
"""

# The package's face: its modules are its rooms; other packages import from
# here, tests may open a room itself.
from .service import (
    setting,
    load_settings,
    read_selection,
    write_selection,
    pid_alive,
    running_pid,
    method_copy,
    method_from_copy,
    folder_fingerprint,
    boot_id,
    pin_factory,
    Parts,
    with_notices,
    said_in_order,
    RenderJob,
    Renderer,
    Service,
    serve,
)
from .state import (
    write_atomic,
    read_regular,
    remove_stale_temps,
    fsync_dir,
    set_aside,
    StateStore,
)
from .records import (
    Recorder,
    summarise,
    RecordBook,
    minutes,
    history_lines,
    timeline_chart,
    markdown,
    csv_sessions,
    csv_phases,
)
from .notify import Notifier
from .lineinput import Source, LineInput
from .reloader import Reading, Reloader
from .storage import WriteFaults, PendingRecords, lock_holder, LibraryReport

__all__ = [
    "setting",
    "load_settings",
    "read_selection",
    "write_selection",
    "pid_alive",
    "running_pid",
    "method_copy",
    "method_from_copy",
    "folder_fingerprint",
    "boot_id",
    "pin_factory",
    "Parts",
    "with_notices",
    "said_in_order",
    "RenderJob",
    "Renderer",
    "Service",
    "serve",
    "write_atomic",
    "read_regular",
    "remove_stale_temps",
    "fsync_dir",
    "set_aside",
    "StateStore",
    "Recorder",
    "summarise",
    "RecordBook",
    "minutes",
    "history_lines",
    "timeline_chart",
    "markdown",
    "csv_sessions",
    "csv_phases",
    "Notifier",
    "Source",
    "LineInput",
    "Reading",
    "Reloader",
    "WriteFaults",
    "PendingRecords",
    "lock_holder",
    "LibraryReport",
]
