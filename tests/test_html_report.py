"""The HTML report, rendered by a real headless Chromium (Debian's package)
with its network cut off: the page renders, the chart has one bar per
phase, the screenshot shows the bars in their colours, it prints on one A4
page, and the browser's own network log shows nothing was fetched."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from intervisor.core.clock import FakeClock
from intervisor.core.events import Mark
from intervisor.cli.html_report import html_page, pieces
from intervisor.core.model import Duration, Method, Phase
from intervisor.appliance.records import Recorder, RecordBook

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium")
SHOTS = ROOT / "out" / "screenshots"   # kept after the run, to look at

METHOD = Method("casus", "Intervisie <op> eigen casus", "nl", (
    Phase("inbrengen", "Inbrengen", Duration(600, 600)),
    Phase("vragen", "Vragen stellen", Duration(300, 300)),
    Phase("advies", "Adviesronde", Duration(900, 900)),
    Phase("afronden", "Afronden", Duration(300, 300)),
))


def session() -> dict:
    """A session with all the chart shows: 12 minutes in a 10-minute phase
    with a 2-minute pause in it, a restart of the device, a phase ended
    early and one not reached."""
    clock = FakeClock(wall=1_796_000_000.0)
    rec = Recorder.begin(METHOD, clock, choices={}, participants=5)
    steps = [("phase_start", "inbrengen", 180), ("pause", "inbrengen", 120), ("resume", "inbrengen", 540),
             ("phase_start", "vragen", 120), ("restart", None, 120), ("phase_start", "advies", 600)]
    for kind, phase, then in steps:
        if kind == "restart":
            rec.restarted()
        else:
            rec.mark(Mark(kind, phase))
        clock.advance(then)
    return rec.finish(completed=False)


def test_the_pieces_of_a_phase_split_at_its_plan_and_its_pauses():
    r = session()
    kinds = {ph: [(round(b - a), k) for a, b, k in ps] for ph, ps in pieces(r).items()}
    assert kinds == {"inbrengen": [(180, "in"), (120, "paused"), (420, "in"), (120, "over")],
                     "vragen": [(240, "in")], "advies": [(600, "in")]}


def test_the_page_is_self_contained_and_escapes_what_the_method_wrote(tmp_path):
    page = report_html(tmp_path)
    assert page == html_page(session())
    assert not re.search(r"https?:|//|url\(|src=|href=|@import|<script|<link|<img", page, re.I)
    assert "Intervisie &lt;op&gt; eigen casus" in page and "<op>" not in page
    assert page.count('<g class="phase"') == 4


def _chromium(page: Path, *args: str, netlog: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
         f"--user-data-dir={netlog.parent / 'profile'}", f"--log-net-log={netlog}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": str(netlog.parent)})


def _fetched(netlog: Path) -> list[str]:
    """Every URL the page asked for, from the browser's own network log.
    The browser's own services (update checks, time, accounts; all cut off
    by the resolver rules) start their requests from "not an origin"; what
    the page asks for starts from the page."""
    data = json.loads(netlog.read_text() or "{}") if netlog.exists() else {}
    urls = set()
    for event in data.get("events", ()):
        params = event.get("params") or {}
        if params.get("url") and params.get("initiator") not in (None, "not an origin"):
            urls.add(params["url"])
    return sorted(urls)


def render(tmp_path: Path, page_text: str, name: str, *, shot: bool = True, pdf: bool = True) -> dict:
    """What the browser made of the page: its DOM, and on request a
    screenshot at A4 width and the page count printed to PDF."""
    page = tmp_path / f"{name}.html"
    page.write_text(page_text, encoding="utf-8")
    SHOTS.mkdir(parents=True, exist_ok=True)
    runs = {"dom": ["--dump-dom", "--window-size=794,1123"]}  # A4 at 96 dpi: 794 x 1123 CSS pixels
    if shot:
        runs["shot"] = [f"--screenshot={SHOTS / f'{name}.png'}", "--window-size=794,1123", "--hide-scrollbars"]
    if pdf:
        runs["pdf"] = [f"--print-to-pdf={tmp_path / f'{name}.pdf'}", "--no-pdf-header-footer"]
    seen, fetched = {}, set()
    for what, args in runs.items():
        done = _chromium(page, *args, netlog=tmp_path / f"{what}.json")
        assert done.returncode == 0, done.stderr[-2000:]
        seen[what] = done.stdout
        fetched.update(_fetched(tmp_path / f"{what}.json"))
    if shot:
        seen["shot"] = SHOTS / f"{name}.png"
    if pdf:
        seen["pages"] = len(re.findall(rb"/Type\s*/Page[^s]", (tmp_path / f"{name}.pdf").read_bytes()))
    seen["fetched"] = sorted(u for u in fetched if not u.startswith(page.as_uri()))
    return seen


def colours(shot: Path) -> dict[str, int]:
    from PIL import Image

    counts = dict((c, n) for n, c in Image.open(shot).convert("RGB").getcolors(1 << 24))
    wanted = {"in": (0x4a, 0x9a, 0x4a), "over": (0xc8, 0x37, 0x2d), "paused": (0xbb, 0xbb, 0xbb)}
    return {k: counts.get(v, 0) for k, v in wanted.items()}


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by scripts/setup test")


def report_html(tmp_path: Path) -> str:
    """``intervisor report --last --html`` of the session, as an admin runs it."""
    RecordBook(tmp_path / "state" / "records").save(session())
    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\n")
    done = subprocess.run([sys.executable, "-m", "intervisor.cli", "report", "--last", "--html", "--config",
                           str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_chromium
def test_the_session_report_renders_in_chromium_with_one_bar_per_phase(tmp_path):
    seen = render(tmp_path, report_html(tmp_path), "report")
    assert len(re.findall(r'<g class="phase"', seen["dom"])) == len(METHOD.phases)
    assert "restart" in seen["dom"] and "not reached" in seen["dom"]
    painted = colours(seen["shot"])
    # Within plan, over plan and paused are all drawn; over and paused are
    # two minutes each of a 40-minute axis, so hundreds of pixels, not a few.
    assert all(n > 200 for n in painted.values()), painted
    assert seen["pages"] == 1
    assert seen["fetched"] == []


@needs_chromium
def test_a_page_that_would_fetch_something_is_caught(tmp_path):
    """The check itself can fail: a page naming an outside image shows in
    the browser's network log."""
    page = html_page(session()).replace("</body>", '<img src="http://example.invalid/x.png"></body>')
    assert render(tmp_path, page, "fetching", shot=False, pdf=False)["fetched"] == ["http://example.invalid/x.png"]


@needs_chromium
def test_rehearse_html_renders_one_bar_per_phase_of_the_plan(tmp_path):
    out = tmp_path / "rehearsal.html"
    done = subprocess.run([sys.executable, "-m", "intervisor.cli", "rehearse", "vijf-stappen", "--dir",
                           str(ROOT / "methods"), "--html", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = render(tmp_path, out.read_text(encoding="utf-8"), "rehearsal", pdf=False)
    assert len(re.findall(r'<g class="phase"', seen["dom"])) == 6
    assert seen["fetched"] == []
    assert colours(seen["shot"])["in"] > 1000
