"""``callcenter serve --with-softphone USER`` (the one-PC setup) for real: the command runs as a subprocess on a
free port, its in-process softphone seat (pjsua2 phone, ASR worker pool) connects as USER's agent, so her call
screen shows the softphone online; SIGTERM (what systemd and ``kill`` send) stops server, phone and speech
workers in order: exit code 0, no pjsua2 abort, no worker left behind — also when it comes while the seat is
still starting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import Engine

from tests.softphone.peers import free_port
from tests.web.conftest import PASSWORD, web_engine  # noqa: F401 - fixture, registered by being imported here

pytestmark = [pytest.mark.sip, pytest.mark.slow]


@pytest.fixture
def sqlite_engine(web_engine: Engine) -> Engine:  # noqa: F811 - the whole ladder on SQLite and PostgreSQL
    return web_engine


def _until(condition: Any, timeout_s: float) -> Any:
    """Poll ``condition`` every 0.2 s until it returns something truthy (returned) or ``timeout_s`` passes."""
    tick = threading.Event()
    for _ in range(int(timeout_s / 0.2)):
        found = condition()
        if found:
            return found
        tick.wait(0.2)  # sleep-ok: bounded poll of another process's HTTP server and log, no hook to wait on
    return condition()


def _children(pid: int) -> set[int]:
    """The direct children of every thread of ``pid`` (the ASR workers are spawned from the main thread)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _left_behind(pids: set[int]) -> list[str]:
    """Command lines of the processes among ``pids`` still running; multiprocessing's resource tracker ends on
    its own once its parent has gone (it reads EOF), so it gets a moment."""
    def running() -> list[str]:
        out = []
        for pid in pids:
            if _alive(pid):
                try:
                    out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
                except FileNotFoundError:
                    pass
        return out

    _until(lambda: not running(), 10.0)
    return running()


@pytest.fixture
def served(sqlite_engine: Engine, settings: Any, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "CALLCENTER_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False),
           "CALLCENTER_DATA_DIR": settings.data_dir, "CALLCENTER_RECORDINGS_DIR": settings.recordings_dir,
           "CALLCENTER_SECRET_KEY": settings.secret_key, "CALLCENTER_SIP_BIND": "127.0.0.1:0",
           "CALLCENTER_HEADSET": "none", "CALLCENTER_LOG_LEVEL": "INFO", "CALLCENTER_REDIS_URL": ""}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "callcenter"), "serve", "--port", str(port),
                                 "--with-softphone", "nurse"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group: nothing it started survives a failure
    try:
        yield proc, f"http://127.0.0.1:{port}", log
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is gone: serve and everything it started have exited
        proc.wait(30)


def _login(base: str) -> requests.Session:
    def page() -> str:
        try:
            return requests.get(f"{base}/login", timeout=5).text
        except requests.ConnectionError:
            return ""

    assert _until(page, 60.0), "callcenter serve did not answer"
    web = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', web.get(f"{base}/login", timeout=5).text)
    assert token
    web.post(f"{base}/login", data={"username": "nurse", "password": PASSWORD, "csrf_token": token.group(1)},
             timeout=10)
    return web


def test_serve_with_softphone_runs_the_nurses_seat_in_process_and_stops_cleanly_on_sigterm(
        served: tuple[subprocess.Popen[bytes], str, Path], queue_data: Any) -> None:
    proc, base, log = served
    web = _login(base)
    screen = f"{base}/workspace/tasks/{queue_data.due_task_id}"

    def call_screen() -> str:
        response = web.get(screen, timeout=10)
        assert response.status_code == 200 and 'id="dial"' in response.text, "not the nurse's call screen"
        return response.text

    # the seat starts beside the server (speech models load first); until its agent joins, the screen says
    # 软电话未连接 and dialling is off
    online = _until(lambda: (html := call_screen()) and 'id="agent-offline"' not in html and html, 180.0)
    assert online, f"the in-process softphone never came online; log:\n{log.read_text(errors='replace')[-3000:]}"
    assert "softphone seat up" in log.read_text(errors="replace")
    workers = _children(proc.pid)
    assert workers, "no ASR worker process: the seat runs without speech"

    proc.send_signal(signal.SIGTERM)
    code = proc.wait(60)
    output = log.read_text(errors="replace")
    assert code == 0, f"serve exited with {code} on SIGTERM; log:\n{output[-3000:]}"
    assert "Traceback" not in output and "Assertion" not in output, output[-3000:]
    assert _left_behind(workers) == [], "processes of the seat outlived the server"


def test_serve_with_softphone_stopped_while_its_seat_is_still_starting_exits_at_once_and_leaves_nothing(
        served: tuple[subprocess.Popen[bytes], str, Path]) -> None:
    proc, _, log = served
    # the server is up at once; the seat then waits for the speech model (seconds) before its agent connects
    assert _until(lambda: "serving on" in log.read_text(errors="replace"), 60.0), "callcenter serve did not start"
    workers = _children(proc.pid)
    assert workers, "no ASR worker process: the seat runs without speech"

    proc.send_signal(signal.SIGTERM)
    code = proc.wait(20)  # before: the seat kept retrying the stopped server for 30 s, then was abandoned
    output = log.read_text(errors="replace")
    assert "softphone seat up" not in output, "the seat was up before the signal: nothing tested here"
    assert code == 0, f"serve exited with {code} on SIGTERM; log:\n{output[-3000:]}"
    assert "the in-process softphone was stopped while starting" in output, output[-3000:]
    assert "Traceback" not in output and "Assertion" not in output, output[-3000:]
    assert _left_behind(workers) == [], "processes of the seat outlived the server"
