"""End to end in a real headless browser: Debian's chromium, driven by Playwright for Python
(``executable_path``: no browser download, ever). A live pipeline (a worker process whose
handler fails one event permanently, a producer process), the dashboard process; the browser
logs in, sees the dead letter, replays it once the handler is fixed, and sees it processed:
gone from the dead letters, the group's backlog 0.

The test takes the screenshots of the README (``docs/img/*.png``) on the way: into
``tmp_path`` always, and also into ``$WEB_SCREENSHOTS_DIR`` when that is set
(``WEB_SCREENSHOTS_DIR=docs/img ./test.sh tests/web/test_browser.py`` refreshes them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.helpers import wait_for
from tests.web.conftest import GROUP, STREAM, TOKEN

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
POISON = "buoy-17:reading-3"
EVENTS = 20
TIMEOUT_MS = 20_000


def _browser_or_fail() -> Any:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's chromium is missing ({CHROMIUM}): install it with "
            "`apt-get install chromium` (scripts/bootstrap.sh does with BOOTSTRAP_EXTRAS=test; "
            ".ci/run too). This test never downloads a browser."
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install -e '.[test]'")
    return sync_playwright


def _start(cmd: list[str], env: dict[str, str], cwd: Path, name: str) -> subprocess.Popen[str]:
    with (cwd / f"{name}.log").open("w") as log:  # the child keeps its own copy
        return subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=log, text=True
        )


def _stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


@pytest.fixture
def pipeline(
    redis_url: str, subprocess_env: dict[str, str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A worker, the events produced (one poison), and the dashboard; all stopped after."""
    env = dict(subprocess_env, INGEST_REDIS_URL=redis_url, INGEST_STREAM=STREAM,
               INGEST_GROUP=GROUP, INGEST_LOG_FORMAT="json", E2E_POISON=POISON,
               E2E_FIXED=str(tmp_path / "fixed"), E2E_RECORD=str(tmp_path / "record"))  # fmt: skip
    (tmp_path / "token").write_text(TOKEN + "\n")
    events = tmp_path / "events.jsonl"
    events.write_text("".join(
        json.dumps({"id": f"buoy-17:reading-{n}", "temp_c": 14.0 + n / 10}) + "\n"
        for n in range(EVENTS)
    ))  # fmt: skip
    started: list[subprocess.Popen[str]] = []
    try:
        worker = _start([sys.executable, "-m", "workers", "--consumer", "worker-1",
                         "--handler", "tests.web.e2e_handlers:handle", "--block-ms", "300",
                         "--max-deliveries", "1"], env, tmp_path, "worker")  # fmt: skip
        started.append(worker)
        web = _start([sys.executable, "-m", "workers.web", "--port", "0", "--refresh", "0.5",
                      "--token-file", str(tmp_path / "token")], env, tmp_path, "web")  # fmt: skip
        started.append(web)
        assert web.stdout is not None
        url = web.stdout.readline().split(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:"), (tmp_path / "web.log").read_text()
        produced = subprocess.run(
            [sys.executable, "-m", "ingest.produce", "--input", str(events), "--id-field", "id",
             "--raw-ids", "--log-level", "WARNING"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert produced.returncode == 0, produced.stderr
        yield {"url": url, "tmp": tmp_path, "worker": worker}
    finally:
        codes = [_stop(proc) for proc in started]
        assert codes == [0, 0], [
            (tmp_path / f"{n}.log").read_text()[-2000:] for n in ("worker", "web")
        ]


def _shoot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / "screens" / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("WEB_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _record(tmp_path: Path) -> list[str]:
    path = tmp_path / "record"
    return path.read_text().split() if path.exists() else []


def test_see_a_dead_letter_replay_it_and_see_it_processed(pipeline, client: redis.Redis):
    sync_playwright = _browser_or_fail()
    url, tmp_path = pipeline["url"], pipeline["tmp"]
    # The worker handles every event but the poison one, which it dead-letters
    wait_for(lambda: len(_record(tmp_path)) == EVENTS - 1, 30, what="19 events handled")
    wait_for(lambda: client.xlen("{ingest:events}:dead") == 1, 30, what="the dead letter")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        browser_context = browser.new_context(viewport={"width": 1100, "height": 700})
        page = browser_context.new_page()
        problems: list[str] = []  # console errors: a Content-Security-Policy violation, say

        def on_console(message: Any) -> None:
            if message.type == "error":
                problems.append(message.text)

        browser_context.on("console", on_console)
        page.set_default_timeout(TIMEOUT_MS)
        from playwright.sync_api import expect

        # Log in with the token
        page.goto(url + "streams")
        page.fill("input[name=token]", TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url("**/streams")
        expect(page.locator('[data-name="dead-letters"]')).to_have_text("1")
        _shoot(page, tmp_path, "streams")
        # See the dead letter listed
        page.click('[data-name="dead-letters"] a')
        row = page.locator("table.dead tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator(".event-id")).to_have_text(POISON)
        expect(row).to_contain_text("permanent")
        _shoot(page, tmp_path, "dead-letters")
        row.locator("td a").first.click()
        expect(page.locator("table.fields")).to_contain_text("cannot parse reading of")
        _shoot(page, tmp_path, "dead-letter")
        # The groups page and the find page, for the README
        page.goto(url + f"groups?stream={STREAM}")
        expect(page.locator('tr[data-consumer="worker-1"]')).to_contain_text("live")
        _shoot(page, tmp_path, "groups")
        page.goto(url + f"find?stream={STREAM}")
        page.fill("input[name=event_id]", POISON)
        page.click("form.filters button[type=submit]")
        expect(page.locator("#finding")).to_contain_text("dead-lettered")
        _shoot(page, tmp_path, "find")
        # Fix the handler, then replay the dead letter in a second tab, while the first one
        # watches the streams page refresh itself (htmx)
        (tmp_path / "fixed").touch()
        page.goto(url + "streams")
        expect(page.locator('[data-name="dead-letters"]')).to_have_text("1")
        tab = browser_context.new_page()
        tab.goto(url + f"dead?stream={STREAM}")
        tab.check("table.dead tbody input[name=id]")
        tab.click("#replay-selected")
        expect(tab.locator("h1")).to_have_text("Replayed 1 dead letter")
        # See it processed: gone from the dead letters, the group's backlog 0, on the page
        # that was left open
        wait_for(lambda: POISON in _record(tmp_path), 30, what="the replayed event handled")
        expect(page.locator('[data-name="dead-letters"]')).to_have_text("0")
        backlog = page.locator('tr[data-group="workers"] [data-name="group-backlog"]')
        expect(backlog).to_have_text("0")
        _shoot(page, tmp_path, "streams-after-replay")
        tab.goto(url + f"dead?stream={STREAM}")
        expect(tab.locator("#no-dead-letters")).to_be_visible()
        browser.close()
    assert _record(tmp_path).count(POISON) == 1
    assert problems == []
