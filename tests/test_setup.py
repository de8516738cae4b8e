"""scripts/setup on a machine where another process holds the package lock
(unattended-upgrades after a first boot): it waits, it does not fail.
apt-get and dpkg-query are stand-ins here (no root, no network in a test);
they keep the locks the way apt does."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FAKE_APT = r"""#!/bin/bash
# apt-get as far as its locks go: update fails at once while the lists are
# locked; install waits for dpkg's lock only when DPkg::Lock::Timeout says so.
echo "$*" >> "$HERE/apt.log"
timeout=""
for a; do case "$a" in DPkg::Lock::Timeout=*) timeout=${a#*=};; esac; done
if [[ " $* " == *" update "* ]]; then
    if [ -e "$HERE/lists.lock" ]; then
        echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 4242 (apt-get)" >&2
        exit 100
    fi
    exit 0
fi
waited=0
while [ -e "$HERE/dpkg.lock" ]; do
    if [ -z "$timeout" ] || [ "$waited" -ge "$((timeout * 10))" ]; then
        echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)" >&2
        exit 100
    fi
    sleep 0.1
    waited=$((waited + 1))
done
touch "$HERE/installed"
"""


@pytest.fixture
def machine(tmp_path):
    """A copy of the repository's setup with stand-ins for apt on PATH, every
    system package missing, and the virtual environment already there."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup", repo / "scripts" / "setup")
    shutil.copy(REPO / "scripts" / "apt.sh", repo / "scripts" / "apt.sh")
    shutil.copy(REPO / "pyproject.toml", repo / "pyproject.toml")
    venv = repo / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv / "python").chmod(0o755)
    (repo / ".venv" / ".installed-device").touch()
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for name, text in (("apt-get", FAKE_APT), ("dpkg-query", "#!/bin/sh\nexit 1\n"),
                       ("sudo", '#!/bin/sh\nexec "$@"\n')):
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_}:{os.environ['PATH']}", HERE=str(tmp_path))
    return repo, tmp_path, env


def setup(machine, **env) -> subprocess.CompletedProcess:
    repo, _, base = machine
    return subprocess.run(["bash", str(repo / "scripts" / "setup")], capture_output=True, text=True,
                          timeout=60, env={**base, **env})


def release_later(path: Path, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, path.unlink)
    timer.start()
    return timer


def test_setup_waits_for_a_package_lock_held_by_another_process(machine):
    _, here, _ = machine
    (here / "lists.lock").touch()
    (here / "dpkg.lock").touch()
    timers = [release_later(here / "lists.lock", 1.0), release_later(here / "dpkg.lock", 2.5)]
    done = setup(machine)
    for t in timers:
        t.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert (here / "installed").exists()
    assert "waiting for it" in done.stdout


def test_setup_gives_up_on_a_lock_that_stays_and_says_why(machine):
    _, here, _ = machine
    (here / "lists.lock").touch()
    done = setup(machine, APT_LOCK_WAIT="1")
    assert done.returncode != 0 and "Could not get lock" in done.stderr
    assert not (here / "installed").exists()


def test_the_installer_waits_for_the_package_lock_as_setup_does(machine):
    # install.sh on the Pi meets the same unattended-upgrades: its
    # install_packages, run for real (not under --root), goes through
    # apt.sh and waits for both locks.
    repo, here, env = machine
    shutil.copy(REPO / "scripts" / "install.sh", repo / "scripts" / "install.sh")
    (here / "lists.lock").touch()
    (here / "dpkg.lock").touch()
    timers = [release_later(here / "lists.lock", 1.0), release_later(here / "dpkg.lock", 2.5)]
    script = ('eval "$(sed -n \'/^install_packages() {/,/^}/p\' scripts/install.sh)"; '
              'SRC="$PWD" ROOT="" DRY=0 PACKAGES=(espeak-ng); install_packages')
    done = subprocess.run(["bash", "-c", script], cwd=repo, capture_output=True, text=True, timeout=60, env=env)
    for t in timers:
        t.join()
    assert done.returncode == 0, done.stdout + done.stderr
    assert (here / "installed").exists() and "install: another process is installing packages" in done.stdout
