"""``callcenter call`` in a real subprocess: exit codes, JSON report, recording."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.softphone.peers import REPO, Baresip

pytestmark = pytest.mark.sip


def run_call(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from callcenter.cli import main; main()", "call", *args, "--bind", "127.0.0.1:0", "--json"],
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
                               "CALLCENTER_DATA_DIR": str(cwd / "var"),
                               "CALLCENTER_RECORDINGS_DIR": str(cwd / "recordings")})


def test_call_command_talks_records_and_exits_zero(tmp_path: Path, baresip: Baresip, nurse_wav: Path) -> None:
    out = tmp_path / "line-test.wav"
    proc = run_call(baresip.uri, "--seconds", "1", "--play", str(nurse_wav), "--dtmf", "42",
                    "--record", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["connected"] is True and report["codec"] == "PCMU"
    assert report["recording"]["path"] == str(out)
    with wave.open(str(out)) as w:
        assert w.getnchannels() == 2
        assert w.getnframes() / 8000 >= 7.5  # stayed on the line until --play (8 s) ended
    assert "received event: '2' (end=1)" in baresip.log()


def test_call_command_rejects_a_malformed_uri(tmp_path: Path) -> None:
    proc = run_call("not a uri", cwd=tmp_path)
    assert proc.returncode == 1
    assert "sip:USER@HOST" in json.loads(proc.stdout)["error"]
