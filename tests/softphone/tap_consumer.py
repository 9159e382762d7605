"""An ASR-worker stand-in for tests and the bench: runs in ANOTHER process, reads ``AudioFrame``s from a
``multiprocessing`` connection and writes each call's patient audio to ``<out_dir>/<call_id>.pcm``."""

from __future__ import annotations

import json
from multiprocessing.connection import Connection
from pathlib import Path

from callcenter.ports import AudioFrame


def consume(conn: Connection, out_dir: str, calls: int, busy_loop: bool = False) -> None:
    """Until ``calls`` calls have ended. ``busy_loop``: burn CPU between frames like a loaded recognizer."""
    files: dict[str, list[bytes]] = {}
    summary: dict[str, dict[str, int]] = {}
    ended = 0
    while ended < calls:
        try:
            frame: AudioFrame = conn.recv()
        except EOFError:  # the softphone closed the tap (an end marker may have been dropped when overloaded)
            break
        if busy_loop:
            sum(i * i for i in range(200_000))  # ~10 ms of pure Python per 20 ms frame: saturated
        if frame.end:
            Path(out_dir, f"{frame.call_id}.pcm").write_bytes(b"".join(files.pop(frame.call_id, [])))
            summary[frame.call_id] = {"last_seq": frame.seq, "dropped": frame.dropped}
            ended += 1
            continue
        files.setdefault(frame.call_id, []).append(frame.pcm)
    Path(out_dir, "summary.json").write_text(json.dumps(summary))
