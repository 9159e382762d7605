"""A real SMPP server for the SMS tests: the npm `smpp` package's server mode, driven by tests/sms/smsc.js.

The package is installed on first use into .cache/node-smpp (git-ignored) from tests/sms/package-lock.json with
`npm ci`, so `make test` on a fresh machine needs only node and npm.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_DIR = ROOT / ".cache" / "node-smpp"
SYSTEM_ID = "hospital"
PASSWORD = "secret1"


def _install_node_smpp() -> Path:
    marker = NODE_DIR / "node_modules" / "smpp" / "package.json"
    lock = HERE / "package-lock.json"
    stamp = NODE_DIR / "installed-lock.json"
    if marker.exists() and stamp.exists() and stamp.read_bytes() == lock.read_bytes():
        return NODE_DIR / "node_modules"
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the SMS tests (the SMPP server is the npm `smpp` package)")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "package.json", NODE_DIR / "package.json")
    shutil.copy(lock, NODE_DIR / "package-lock.json")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True,
                   timeout=240)
    shutil.copy(lock, stamp)
    return NODE_DIR / "node_modules"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    return _install_node_smpp()


class Smsc:
    """The running SMSC: ``port``, ``command({...})``, and ``wait_for(event)`` on its JSON event lines."""

    system_id = SYSTEM_ID
    password = PASSWORD

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, name="smsc-stdout", daemon=True)
        self._reader.start()
        self.port = int(self.wait_for("listening")["port"])

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.events.put(json.loads(line))

    def wait_for(self, name: str, timeout_s: float = 10.0,
                 where: Callable[[dict[str, Any]], bool] = lambda e: True) -> dict[str, Any]:
        for event in self.seen:
            if event["event"] == name and where(event):
                self.seen.remove(event)
                return event
        while True:
            try:
                event = self.events.get(timeout=timeout_s)
            except queue.Empty:
                raise AssertionError(f"the SMSC sent no {name!r} event within {timeout_s} s") from None
            if event["event"] == name and where(event):
                return event
            self.seen.append(event)

    def command(self, cmd: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()


@pytest.fixture
def smsc(node_modules: Path) -> Iterator[Smsc]:
    proc = subprocess.Popen(
        ["node", str(HERE / "smsc.js"), SYSTEM_ID, PASSWORD],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    try:
        yield Smsc(proc)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
