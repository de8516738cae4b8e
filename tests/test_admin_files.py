"""Files an admin handles: `methods add` installs exactly what it checked,
`check` and `methods add` never quote a file that is not ours (a secret
checked with sudo), and a method is bounded in size, so that a press in a
session costs the same small state write whatever the method."""

from __future__ import annotations

import contextlib
import io
import subprocess
import textwrap
import threading
from pathlib import Path

import pytest

from intervisor import cli
from intervisor.files.method import (MAX_CHOICES, MAX_METHOD_BYTES, MAX_OPTIONS, MAX_PHASES, MAX_QUESTIONS, _Reader,
                               load_method, load_method_text)
from test_service import KORT, PROGRAM, Serve, library, running

GOOD = KORT
# The same method, another version: still valid.
GOOD_TOO = KORT.replace("Kort overleg", "Kort overleg, tweede versie")
BROKEN = "id: kort\ntitle: [\n"


def place(tmp_path: Path) -> Path:
    """A config naming a methods folder and a state folder (no service runs)."""
    (tmp_path / "methods").mkdir()
    config = tmp_path / "config.yaml"
    config.write_text(f"methods_dir: {tmp_path / 'methods'}\nstate_dir: {tmp_path / 'state'}\n"
                      f"cache_dir: {tmp_path / 'cache'}\n")
    return config


def add(source: Path, config: Path) -> tuple[int, str]:
    """`intervisor methods add` in this process: its exit code and output."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli.main(["methods", "add", str(source), "--config", str(config), "--wait", "0"])
    return code, out.getvalue()


# --- methods add: one read, the bytes checked are the bytes installed -------------

def test_a_file_rewritten_after_its_check_is_installed_as_it_was_checked(tmp_path, monkeypatch):
    config = place(tmp_path)
    source = tmp_path / "kort.yaml"
    source.write_text(GOOD)
    check = _Reader.read

    def check_then_rewrite(self, root):
        # The seam: the file changes in the very moment after its check.
        result = check(self, root)
        source.write_text(BROKEN)
        return result

    monkeypatch.setattr(_Reader, "read", check_then_rewrite)
    code, said = add(source, config)
    assert code == 0 and "ok (kort" in said, said
    installed = tmp_path / "methods" / "kort.yaml"
    assert installed.read_text() == GOOD
    assert load_method(installed).ok


def test_methods_add_under_a_loop_that_rewrites_the_file_never_installs_a_broken_one(tmp_path):
    config = place(tmp_path)
    source = tmp_path / "kort.yaml"
    source.write_text(GOOD)
    installed = tmp_path / "methods" / "kort.yaml"
    stop = threading.Event()

    def rewrite():
        # In place, as an editor without atomic saves does: a reader may
        # catch the file empty, half written, broken or whole.
        versions = (GOOD, BROKEN, GOOD_TOO)
        i = 0
        while not stop.is_set():
            with open(source, "w") as f:
                f.write(versions[i % 3])
            i += 1

    writer = threading.Thread(target=rewrite)
    writer.start()
    oks = 0
    try:
        for i in range(160):
            if i % 40:
                code, said = add(source, config)
            else:   # one in 40 through the installed command itself
                r = subprocess.run([str(PROGRAM), "methods", "add", str(source), "--config", str(config),
                                    "--wait", "0"], capture_output=True, text=True, timeout=60)
                code, said = r.returncode, r.stdout + r.stderr
            if code == 0:
                oks += 1
                text = installed.read_text()
                assert text in (GOOD, GOOD_TOO), said
                assert load_method(installed).ok
    finally:
        stop.set()
        writer.join()
    assert oks > 0  # some adds were taken, and each installed a whole good version


def test_methods_add_reads_no_more_than_a_method_may_hold(tmp_path):
    config = place(tmp_path)
    big = tmp_path / "kort.yaml"
    big.write_text(GOOD + "# " + "x" * MAX_METHOD_BYTES + "\n")
    code, said = add(big, config)
    assert code == 1 and f"{big}:1: is too big" in said
    # A device or a FIFO given as a method is refused without blocking on it.
    fifo = tmp_path / "fifo.yaml"
    import os
    os.mkfifo(fifo)
    code, said = add(fifo, config)
    assert code == 1 and f"{fifo}:1: is not a regular file" in said
    assert list((tmp_path / "methods").iterdir()) == []


# --- never quote a file that is not ours --------------------------------------------

SHADOW_USERS = ("wdadmin7", "qzoperator", "backupsvc")


def fake_shadow(path: Path) -> list[str]:
    """A file laid out like /etc/shadow (YAML reads each line as a key),
    with made-up users and hashes: the fragments that must never be shown."""
    lines, fragments = [], []
    for i, user in enumerate(SHADOW_USERS):
        salt = f"Sa{i}ltQ9xZkLmN8pR"
        digest = f"Hx{i}" + "Zq7Wv2Yt" * 10 + "uE3."
        lines.append(f"{user}:$6${salt}${digest}:19{i}12:0:99999:7:::")
        fragments += [user, salt, digest[:12], digest[-12:]]
    path.write_text("\n".join(lines) + "\n")
    return fragments


SECRETS = {
    # a private key: YAML reads it as one text
    "key": ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
            "AAAAAAAAAAEAAAGXAAAAB3NzaC1yc2EAAAADAQABAAABgQC7\n-----END OPENSSH PRIVATE KEY-----\n",
            ["b3BlbnNzaC1rZXkt", "AAAAB3NzaC1yc2E", "OPENSSH"]),
    # a list of tokens
    "tokens": ("- ghp_Qw8Er7Ty6Ui5Op4\n- xoxb-1234-5678-AbCdEf\n", ["ghp_Qw8Er7Ty6Ui5Op4", "xoxb-1234"]),
    # settings with secret values: the keys may be named, never the values
    "settings": ("password: hunter2Zeta\napi_token: tk_9f8e7d6c5b\n", ["hunter2Zeta", "tk_9f8e7d6c5b"]),
    # shadow-like lines behind one field a method has
    "mixed": ("title: x\nwdadmin7:$6$Sa0ltQ9xZkLmN8pR$HxZq7Wv2Yt:19012:0:99999:7:::\n",
              ["wdadmin7", "Sa0ltQ9xZkLmN8pR", "HxZq7Wv2Yt"]),
}


def commands_on(link: Path, config: Path) -> str:
    """What `check`, `check --config` and `methods add` print about ``link``."""
    said = []
    for args in (["check", str(link)], ["check", "--config", str(link)],
                 ["methods", "add", str(link), "--config", str(config), "--wait", "0"]):
        r = subprocess.run([str(PROGRAM), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"{link}:" in r.stderr, r.stderr  # still FILE:LINE: message
        said.append(r.stdout + r.stderr)
    return "\n".join(said)


def test_a_link_to_a_shadow_like_file_is_refused_without_quoting_a_byte_of_it(tmp_path):
    secret_dir = tmp_path / "etc"
    secret_dir.mkdir()
    secret = secret_dir / "shadow"
    fragments = fake_shadow(secret)
    link = tmp_path / "kort.yaml"
    link.symlink_to(secret)
    said = commands_on(link, place(tmp_path))
    for fragment in fragments:
        assert fragment not in said, said
    assert "is not a method file" in said and "is not a config file" in said
    assert not (tmp_path / "methods" / "kort.yaml").exists()


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_a_secret_of_any_shape_is_never_quoted(tmp_path, kind):
    text, fragments = SECRETS[kind]
    secret = tmp_path / "secret"
    secret.write_text(text)
    link = tmp_path / "kort.yaml"
    link.symlink_to(secret)
    said = commands_on(link, place(tmp_path))
    for fragment in fragments:
        assert fragment not in said, said


def test_a_mistyped_field_is_still_named_with_its_hint():
    # The other side: a method file's own words are still quoted back.
    result = load_method_text(KORT.replace("title: Kort overleg", "titel: Kort overleg"), "kort.yaml")
    assert any('"titel" is not a field of a method; did you mean "title"?' in str(p) for p in result.errors)
    result = load_method_text("- just a list\n", "kort.yaml")
    assert [str(p) for p in result.errors] == ["kort.yaml:1: is not a method file: it is a list, not a set "
                                               "of fields (id:, title:, language:, phases: ...)"]


# --- limits a real method never reaches ---------------------------------------------

def phases(n: int, extra: str = "") -> str:
    return "".join(f"  - id: p{i}\n    title: Fase {i}\n    duration: 1m\n{extra}" for i in range(n))


HEAD = "id: m\ntitle: M\nlanguage: nl\n"


@pytest.mark.parametrize("text,line,said", [
    (HEAD + "phases:\n" + phases(MAX_PHASES + 1), 5,
     f"the method has {MAX_PHASES + 1} phases; a method may have at most {MAX_PHASES}"),
    (HEAD + "phases:\n" + phases(1, "    questions:\n" + "      - Vraag?\n" * (MAX_QUESTIONS + 1)), 9,
     f'phase "p0" has {MAX_QUESTIONS + 1} questions; at most {MAX_QUESTIONS} fit in one phase'),
    (HEAD + "choices:\n" + "".join(f"  - id: c{i}\n    title: C\n    options: [{{id: a, title: A}}, "
                                   f"{{id: b, title: B}}]\n" for i in range(MAX_CHOICES + 1))
     + "phases:\n" + phases(1), 5, f"the method has {MAX_CHOICES + 1} choices"),
    (HEAD + "choices:\n  - id: c\n    title: C\n    options:\n"
     + "".join(f"      - {{id: o{i}, title: O}}\n" for i in range(MAX_OPTIONS + 1))
     + "phases:\n" + phases(1), 8, f'choice "c" has {MAX_OPTIONS + 1} options; a choice may have at most'),
])
def test_a_method_beyond_the_limits_is_refused_on_its_line(text, line, said):
    errors = [str(p) for p in load_method_text(text, "m.yaml").errors]
    assert any(e.startswith(f"m.yaml:{line}: {said}") for e in errors), errors


def test_the_largest_method_allowed_is_taken():
    text = HEAD + "phases:\n" + phases(MAX_PHASES - 1) + phases(1, "    questions:\n"
                                                                  + "      - Vraag?\n" * MAX_QUESTIONS)
    text = text.replace(f"id: p0\n    title: Fase 0\n    duration: 1m\n    questions",
                        f"id: last\n    title: Fase 0\n    duration: 1m\n    questions")
    result = load_method_text(text, "m.yaml")
    assert result.ok, result.errors
    assert len(result.method.phases) == MAX_PHASES and len(result.method.phases[-1].questions) == MAX_QUESTIONS


def largest_method() -> str:
    """As much as a method may hold where it costs every save: the most
    phases, each title as long as the file's size allows."""
    head = "id: grootst\ntitle: Grootst\nlanguage: nl\nphases:\n"
    per_phase = (MAX_METHOD_BYTES - len(head) - 1) // MAX_PHASES
    title = "t" * (per_phase - len("  - id: p000\n    title: \n    duration: 1m\n"))
    text = head + "".join(f"  - id: p{i:03d}\n    title: {title}\n    duration: 1m\n" for i in range(MAX_PHASES))
    assert MAX_METHOD_BYTES - 400 < len(text.encode()) <= MAX_METHOD_BYTES
    return text


def test_a_press_in_the_largest_method_allowed_writes_a_small_state(tmp_path):
    # Before the limits a method of 7,000 one-line phases (a 240 KB file)
    # was taken and each press wrote an 800 KB state; now the largest
    # method allowed writes at most a sixth of that at each press.
    s = Serve(tmp_path, cache=tmp_path / "cache")
    (s.methods / "grootst.yaml").write_text(largest_method())
    s.start()
    try:
        assert library(s)["methods"] == ["grootst"]
        s.send("next")
        s.wait_state(running)
        sizes = []
        for step in range(1, 4):
            s.send("next")
            s.wait_state(lambda st: st["status"].get("phase") == f"p{step:03d}")
            sizes.append((s.state_dir / "state.json").stat().st_size)
        assert max(sizes) < 160 * 1024, sizes
    finally:
        s.stop()
