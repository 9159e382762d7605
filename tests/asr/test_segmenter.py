"""Endpointing rules on scripted VAD decisions (pure: no audio library, no model)."""

from __future__ import annotations

import numpy as np

from asr.segmenter import Segmenter, SegmenterConfig, SpeechAudio, SpeechEnded, SpeechStarted, frame_energy_db

QUIET = (np.random.default_rng(1).standard_normal(160) * 30).astype("<i2").tobytes()  # ≈ -60 dBFS
LOUD = (np.random.default_rng(2).standard_normal(160) * 3000).astype("<i2").tobytes()  # ≈ -20 dBFS


def run(pattern: str, config: SegmenterConfig | None = None) -> list[object]:
    """'#' = a loud frame the VAD calls speech, '.' = a quiet non-speech frame, 'n' = a quiet frame the VAD
    wrongly calls speech (noise); 20 ms each."""
    seg = Segmenter(config)
    events: list[object] = []
    for ch in pattern:
        events += seg.push(LOUD if ch == "#" else QUIET, ch in "#n")
    return events + seg.flush()


def starts_and_ends(events: list[object]) -> list[object]:
    return [e for e in events if not isinstance(e, SpeechAudio)]


def test_energy_of_full_scale_and_silence() -> None:
    assert frame_energy_db(b"\x00\x00" * 160) == -100.0
    assert -23 < frame_energy_db(LOUD) < -19


def test_speech_starts_when_seven_of_ten_frames_are_voiced() -> None:
    events = starts_and_ends(run("." * 50 + "######" + "." * 60))
    assert events == []  # 6 voiced frames (120 ms) are not enough
    events = starts_and_ends(run("." * 50 + "#######" + "." * 60))
    assert isinstance(events[0], SpeechStarted)


def test_preroll_of_300_ms_is_sent_at_the_start() -> None:
    events = run("." * 50 + "#" * 20 + "." * 60)
    start = next(i for i, e in enumerate(events) if isinstance(e, SpeechStarted))
    preroll = events[start + 1:start + 16]
    assert len(preroll) == 15 and all(isinstance(e, SpeechAudio) for e in preroll)
    assert isinstance(events[0], SpeechStarted) and events[0].t_s == (50 + 7 - 15) * 0.02
    assert events[0].speech_s == 50 * 0.02  # the first voiced frame: where the speaking began


def test_speech_onset_is_the_first_voiced_frame_of_the_start_window() -> None:
    [start] = [e for e in run("." * 50 + "#.######" + "." * 60) if isinstance(e, SpeechStarted)]
    assert start.speech_s == 50 * 0.02 and start.t_s == round((50 + 8 - 15) * 0.02, 3)


def test_hesitation_of_half_a_second_does_not_split_a_turn() -> None:
    events = starts_and_ends(run("." * 50 + "#" * 20 + "." * 25 + "#" * 20 + "." * 60))
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]


def test_a_second_of_silence_ends_the_turn() -> None:
    events = starts_and_ends(run("." * 50 + "#" * 20 + "." * 50 + "#" * 20 + "." * 60))
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded, SpeechStarted, SpeechEnded]


def test_end_is_decided_after_700_ms_and_reports_the_last_voiced_frame() -> None:
    events = starts_and_ends(run("." * 50 + "#" * 20 + "." * 60))
    end = events[1]
    assert isinstance(end, SpeechEnded)
    assert end.last_voiced_s == round(70 * 0.02, 3)
    assert round(end.t_s - end.last_voiced_s, 2) == 0.64  # 32 of 35 frames unvoiced


def test_quiet_noise_the_vad_calls_speech_is_gated_by_the_noise_floor() -> None:
    assert starts_and_ends(run("." * 100 + "n" * 100)) == []
    ungated = SegmenterConfig(snr_gate_db=0)
    assert starts_and_ends(run("." * 100 + "n" * 100, ungated)) != []


def test_endless_speech_is_cut_at_the_maximum_length() -> None:
    events = starts_and_ends(run("." * 20 + "#" * 200, SegmenterConfig(max_utterance_s=2.0)))
    assert isinstance(events[1], SpeechEnded) and events[1].forced


def test_flush_ends_an_utterance_in_progress() -> None:
    seg = Segmenter()
    for _ in range(20):
        seg.push(LOUD, True)
    assert seg.in_speech
    assert isinstance(seg.flush()[0], SpeechEnded)
    assert not seg.in_speech
