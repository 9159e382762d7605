"""The drift buffer between a sound card clock and the call's media clock."""

from __future__ import annotations

import pytest

from hardware.drift import DriftBuffer

FRAME = 320  # 20 ms at 8 kHz


def frame(n: int) -> bytes:
    return bytes([n % 256]) * FRAME


def test_frames_come_out_in_order_after_priming_to_the_target_depth() -> None:
    buf = DriftBuffer(FRAME, target_frames=2, max_frames=6)
    buf.write(frame(1))
    assert buf.read() == bytes(FRAME), "not primed yet: silence"
    buf.write(frame(2))
    assert [buf.read(), buf.read()] == [frame(1), frame(2)]
    assert buf.stats().frames_out == 2 and buf.stats().padded == 1


def test_odd_sized_writes_are_reassembled_into_whole_frames() -> None:
    buf = DriftBuffer(FRAME, target_frames=1, max_frames=4)
    data = frame(7) + frame(8)
    buf.write(data[:100])
    buf.write(data[100:500])
    buf.write(data[500:])
    assert [buf.read(), buf.read()] == [frame(7), frame(8)]


def test_fast_writer_is_trimmed_back_to_the_target_depth() -> None:
    buf = DriftBuffer(FRAME, target_frames=2, max_frames=5)
    for i in range(8):
        buf.write(frame(i))
    assert buf.read() == frame(6), "oldest frames dropped, latency back to the target"
    stats = buf.stats()
    assert stats.trimmed == 6 and stats.depth == 1


def test_slow_writer_gets_silence_and_an_underrun_is_counted() -> None:
    buf = DriftBuffer(FRAME, target_frames=2, max_frames=5)
    buf.write(frame(1) + frame(2))
    assert buf.read() == frame(1) and buf.read() == frame(2)
    assert buf.read() == bytes(FRAME)
    buf.write(frame(3))
    assert buf.read() == bytes(FRAME), "re-priming after an underrun"
    buf.write(frame(4))
    assert buf.read() == frame(3)
    assert buf.stats().underruns == 1


def test_clock_drift_of_one_percent_stays_bounded() -> None:
    buf = DriftBuffer(FRAME, target_frames=3, max_frames=10)
    # writer 1 % faster than the reader: 101 frames written per 100 read
    for i in range(10_000):
        buf.write(frame(i))
        if i % 101 != 100:
            buf.read()
    stats = buf.stats()
    assert stats.depth <= 10 and stats.trimmed > 0 and stats.underruns == 0


@pytest.mark.parametrize(("frame_bytes", "target", "maximum"), [(0, 1, 2), (321, 1, 2), (320, 3, 3), (320, 0, 2)])
def test_bad_geometry_is_rejected(frame_bytes: int, target: int, maximum: int) -> None:
    with pytest.raises(ValueError):
        DriftBuffer(frame_bytes, target, maximum)


def test_writer_without_a_reader_keeps_a_bounded_queue() -> None:
    buf = DriftBuffer(FRAME, target_frames=2, max_frames=5)
    for i in range(100):
        buf.write(frame(i))
    stats = buf.stats()
    assert stats.depth == 20 and stats.overflowed == 80
    assert buf.read() == frame(98), "the first read trims the stale backlog to the target depth"
