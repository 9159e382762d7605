"""Browser copies of call recordings.

Every call is recorded as a two-channel 8 kHz WAV (nurse or robot left, patient right; ``softphone.recording``).
Browsers get a compressed copy next to it: MP3, 32 kbit/s, both channels kept apart (no joint stereo, so the QA
page can still play one side alone), about 1/8 of the WAV. The WAV is never modified: the copy is written to a
hidden temporary file and renamed into place, so a crash leaves either no copy or a whole one.

Copies are made by an ``ffmpeg`` child process (at a lower CPU priority) from a worker thread of the process
that stores the ``Recording`` row — never in a pjsua2 process, whose media thread any Python load stalls:

- the web server (``web.realtime``) hands each recording a softphone agent reports to ``RecordingCopies.submit``,
  which only enqueues (the Socket.IO handler never waits for ffmpeg);
- the scheduler's ``recording_copies`` job (``copy_pending``) sweeps every row still without a copy: robot calls
  (stored by the robocaller), copies that failed (retried with a growing pause) or were dropped because the
  queue was full or the server stopped.

A failure is logged with the recording id only (no patient data); the WAV stays the recording of record and
playback falls back to it (``callcenter.disclosure``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydub.utils import mediainfo
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from callcenter.db import session_scope
from callcenter.errors import CallCenterError
from callcenter.models import Recording

logger = logging.getLogger(__name__)

COPY_FORMAT = "mp3"
COPY_BITRATE = "32k"
MIMETYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".opus": "audio/ogg",
             ".webm": "audio/webm"}
_CODECS = {"mp3": ["-c:a", "libmp3lame", "-joint_stereo", "0"], "ogg": ["-c:a", "libvorbis"]}
SETTLED_S = 10.0  # a WAV written to in the last seconds may still be finishing: the sweep leaves it for later
STALE_PART_S = 600.0  # temporary files of an interrupted copy are removed after this long


class CopyFailed(CallCenterError):
    status = 500


def stored_path(wav: Path, recordings_root: Path) -> str:
    """How a recording's file is stored in ``Recording.path``: relative to the recordings folder when it is
    inside it (the folder may move, or be mounted elsewhere on another machine), absolute otherwise."""
    try:
        return wav.resolve().relative_to(recordings_root.resolve()).as_posix()
    except ValueError:
        return str(wav.resolve())


def resolve(stored: str, recordings_root: Path) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else recordings_root / path


def compress_wav(wav: Path, fmt: str = COPY_FORMAT, bitrate: str = COPY_BITRATE, timeout_s: float = 300.0) -> Path:
    """Write the browser copy next to ``wav`` (``call.wav`` -> ``call.mp3``) and return its path; ``wav`` is only
    read. Raises ``CopyFailed`` with ffmpeg's reason."""
    if fmt not in _CODECS:
        raise ValueError(f"unsupported recording format {fmt!r}: use {' or '.join(_CODECS)}")
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise CopyFailed("ffmpeg is not installed (apt-get install ffmpeg): recordings stay WAV only")
    out = wav.with_suffix("." + fmt)
    _remove_stale_parts(out)
    part = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.part")
    nice = shutil.which("nice")
    command = ([nice, "-n", "10"] if nice else []) + [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav), "-map_metadata", "-1",
        *_CODECS[fmt], "-b:a", bitrate, "-f", fmt, str(part)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)  # noqa: S603
        if done.returncode != 0 or not part.is_file() or part.stat().st_size == 0:
            reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise CopyFailed(f"ffmpeg could not compress {wav.name}: {reason[0][:300]}")
        _check_whole(wav, part)
        os.replace(part, out)
    except subprocess.TimeoutExpired:
        raise CopyFailed(f"ffmpeg took over {timeout_s:.0f} s to compress {wav.name}") from None
    finally:
        part.unlink(missing_ok=True)
    return out


def _check_whole(wav: Path, copy: Path) -> None:
    """The copy must last as long as the recording and keep its two channels: a copy cut short (disk full, a
    killed encoder that still left a file) is never served in its place. An MP3 starts with the encoder's delay
    (``start_time``, 0.138 s at 8 kHz) and ends on a whole frame (72 ms at 8 kHz), so what is compared is its
    duration after the delay, within 0.15 s or 1 %."""
    try:
        with wave.open(str(wav), "rb") as w:
            expected = w.getnframes() / w.getframerate()
    except (OSError, EOFError, wave.Error) as exc:
        raise CopyFailed(f"cannot read {wav.name} to check its copy: {exc}") from None
    info = mediainfo(str(copy))  # pydub: ffprobe's view of the encoded file
    try:
        duration = float(info["duration"]) - float(info.get("start_time") or 0.0)
        channels = int(info["channels"])
    except (KeyError, ValueError):
        raise CopyFailed(f"ffprobe cannot read the copy of {wav.name}") from None
    if abs(duration - expected) > max(0.15, 0.01 * expected) or channels != 2:
        raise CopyFailed(f"the copy of {wav.name} is {duration:.2f} s with {channels} channel(s); "
                         f"the recording is {expected:.2f} s with 2")


def _remove_stale_parts(out: Path) -> None:
    now = time.time()
    for stale in out.parent.glob(f".{out.name}.*.part"):
        try:
            if now - stale.stat().st_mtime > STALE_PART_S:
                stale.unlink()
        except OSError:
            pass


@dataclass
class _Failure:
    count: int
    retry_at: float  # time.monotonic()


class RecordingCopies:
    """Makes the browser copies of recordings (see the module docstring). Thread-safe; one per process."""

    def __init__(self, engine: Engine, recordings_root: Path, *, fmt: str = COPY_FORMAT,
                 retry_after_s: float = 300.0, max_queue: int = 1000, settled_s: float = SETTLED_S) -> None:
        self.engine = engine
        self.recordings_root = recordings_root
        self.fmt = fmt
        self.retry_after_s = retry_after_s
        self.settled_s = settled_s
        self.made = 0
        self.failed = 0
        self._queue: queue.Queue[int] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0  # submitted and not finished
        self._failures: dict[int, _Failure] = {}
        self._sweep_after_id = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- background worker (web server) --------------------------------------------------------------------------
    def submit(self, recording_id: int) -> bool:
        """Queue a copy of this recording; never blocks. False when the queue is full (the sweep catches up)."""
        with self._lock:
            if self._stopping:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="recording-copies", daemon=True)
                self._thread.start()
            try:
                self._queue.put_nowait(recording_id)
            except queue.Full:
                logger.warning("recording copy queue full: recording=%s left to the scheduler's sweep", recording_id)
                return False
            self._busy += 1
            return True

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every submitted copy is done (made or failed); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop taking work; let the copy in progress finish (up to ``timeout_s``). Queued ones go to the sweep."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        if thread is not None:
            with contextlib.suppress(queue.Full):  # full: the worker is not waiting and sees _stopping next
                self._queue.put_nowait(-1)
            thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            recording_id = self._queue.get()
            if recording_id < 0 or self._stopping:
                return
            try:
                self.copy_one(recording_id)
            except Exception:  # never let the worker die: the next recordings still need copies
                logger.exception("recording copy of recording=%s failed", recording_id)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    # -- one copy, on the calling thread -------------------------------------------------------------------------
    def copy_one(self, recording_id: int) -> bool:
        """Make the copy of one recording now and store its path; True when the row has a copy afterwards."""
        with session_scope(self.engine) as session:
            row = session.get(Recording, recording_id)
            if row is None:
                logger.warning("recording=%s to copy does not exist", recording_id)
                return False
            stored, copied = row.path, row.compressed_path
        if copied and resolve(copied, self.recordings_root).is_file():
            return True
        wav = resolve(stored, self.recordings_root)
        if not wav.is_file():
            self._note_failure(recording_id, "its WAV is not in the recordings folder (CALLCENTER_RECORDINGS_DIR)")
            return False
        try:
            out = compress_wav(wav, self.fmt)
        except CopyFailed as exc:
            self._note_failure(recording_id, str(exc))
            return False
        copy_stored = str(Path(stored).with_name(out.name))  # next to the WAV, in the same form (relative or not)
        with session_scope(self.engine) as session:
            session.execute(update(Recording).where(col(Recording.id) == recording_id)
                            .values(compressed_path=copy_stored))
        with self._lock:
            self._failures.pop(recording_id, None)
            self.made += 1
        logger.info("recording=%s browser copy made (%s)", recording_id, self.fmt)
        return True

    def _note_failure(self, recording_id: int, reason: str) -> None:
        with self._lock:
            failure = self._failures.get(recording_id) or _Failure(0, 0.0)
            failure.count += 1
            pause = min(self.retry_after_s * 2 ** (failure.count - 1), 86400.0)
            failure.retry_at = time.monotonic() + pause
            self._failures[recording_id] = failure
            self.failed += 1
        level = logging.ERROR if failure.count == 3 else logging.WARNING
        logger.log(level, "recording=%s no browser copy (try %d, next in %.0f s): %s", recording_id, failure.count,
                   pause, reason)

    # -- sweep (scheduler job) -----------------------------------------------------------------------------------
    def copy_pending(self, *, limit: int = 200, budget_s: float = 30.0) -> int:
        """Copy recordings that have none yet, round-robin over the table from where the last sweep stopped (a
        file that keeps failing or is missing never starves the others). Skips WAVs still being written and
        recordings waiting for their retry; stops after ``budget_s`` of work. Returns how many copies were made."""
        started = time.monotonic()
        after = self._sweep_after_id
        with session_scope(self.engine) as session:
            def batch(*where: Any, n: int) -> list[tuple[int | None, str]]:
                return list(session.exec(select(Recording.id, Recording.path)
                                         .where(Recording.compressed_path == "", *where)
                                         .order_by(col(Recording.id)).limit(n)).all())

            rows = batch(col(Recording.id) > after, n=limit)
            if len(rows) < limit and after:  # the end of the table: carry on from its start
                rows += batch(col(Recording.id) <= after, n=limit - len(rows))
        made = 0
        for recording_id, stored in rows:
            assert recording_id is not None
            self._sweep_after_id = recording_id
            with self._lock:
                failure = self._failures.get(recording_id)
            if failure is not None and failure.retry_at > time.monotonic():
                continue
            wav = resolve(stored, self.recordings_root)
            try:
                if time.time() - wav.stat().st_mtime < self.settled_s:
                    continue  # still being finished by the recorder: next sweep
            except OSError:
                pass  # copy_one reports the missing file
            made += self.copy_one(recording_id)
            if time.monotonic() - started > budget_s:
                break
        return made
