"""The simulator's call script driven frame by frame with a scripted phone (fast; the real calls are in
test_patient_sim_calls.py). The caller's 20 ms frames are the clock, so timings are exact frame numbers."""

from __future__ import annotations

from pathlib import Path

from callcenter.ports import AudioFrame, CallState, CallStateChanged, MediaStarted, PlaybackFinished
from hardware.levels import tone
from softphone.patient_sim import PatientSimulator
from softphone.persona import parse_persona

PERSONA = """
language: zh-CN
think_ms: [400, 400]
end_of_speech_ms: 700
greeting: 喂？
turns: [量过。, 一百三十，八十五。]
hang_up: {after_turn: 2, phrase: 不方便，挂了。}
"""
SILENCE = bytes(320)


class ScriptedPhone:
    def __init__(self) -> None:
        self.actions: list[tuple[str, str, int]] = []
        self.seq = 0

    def play(self, call_id: str, path: str) -> None:
        self.actions.append(("play", Path(path).name, self.seq))

    def hangup(self, call_id: str) -> None:
        self.actions.append(("hangup", call_id, self.seq))


def make_sim(tmp_path: Path) -> tuple[PatientSimulator, ScriptedPhone]:
    sim = PatientSimulator(parse_persona(PERSONA, "p.yaml"), cache_dir=tmp_path)
    sim.audio = {text: tmp_path / f"{i}.wav" for i, text in enumerate(sim.persona.texts())}
    phone = ScriptedPhone()
    sim.phone = phone  # type: ignore[assignment]
    return sim, phone


def feed(sim: PatientSimulator, phone: ScriptedPhone, pcm: bytes, start: int) -> int:
    for i in range(0, len(pcm) - 319, 320):
        phone.seq = start
        sim._on_frame(AudioFrame("c1", start, pcm[i : i + 320]))
        start += 1
    return start


def test_greeting_then_answers_after_silence_and_thinking_then_hang_up(tmp_path: Path) -> None:
    sim, phone = make_sim(tmp_path)
    greeting, answer1, answer2, bye = (sim.audio[t].name for t in ("喂？", "量过。", "一百三十，八十五。", "不方便，挂了。"))
    seq = feed(sim, phone, SILENCE, 0)
    sim._on_event(MediaStarted("c1"))
    seq = feed(sim, phone, SILENCE * 20, seq)  # 300 ms pause before the greeting
    assert phone.actions == [("play", greeting, 15)]
    seq = feed(sim, phone, tone(300, 1.0, 8000, dbfs=-20), seq)  # the caller talks over the greeting: ignored
    sim._on_event(PlaybackFinished("c1", str(tmp_path / greeting)))
    question_start = seq
    seq = feed(sim, phone, tone(300, 1.0, 8000, dbfs=-20) + SILENCE * 60, seq)
    last_voiced = question_start + 49
    # 700 ms of silence ends the question (35 frames), then 400 ms of thinking (20 frames)
    assert phone.actions[-1] == ("play", answer1, last_voiced + 35 + 20)
    seq = feed(sim, phone, tone(300, 0.5, 8000, dbfs=-20), seq)  # while it talks it does not listen
    assert len(phone.actions) == 2
    sim._on_event(PlaybackFinished("c1", str(tmp_path / answer1)))
    seq = feed(sim, phone, tone(300, 1.0, 8000, dbfs=-20) + SILENCE * 60, seq)
    assert phone.actions[-1][:2] == ("play", answer2)
    sim._on_event(PlaybackFinished("c1", str(tmp_path / answer2)))
    finished = seq - 1  # the last frame seen when the playback ended
    seq = feed(sim, phone, SILENCE * 20, seq)
    assert phone.actions[-1] == ("play", bye, finished + 15)
    sim._on_event(PlaybackFinished("c1", str(tmp_path / bye)))
    assert phone.actions[-1][0] == "hangup"
    sim._on_event(CallStateChanged("c1", CallState.disconnected, 200))
    feed(sim, phone, SILENCE, seq)  # a late frame does not open a new call
    assert len(sim.summaries) == 1
    summary = sim.summaries[0]
    assert (summary.answers, summary.hung_up, summary.caller_utterances) == (2, True, 2)
    assert summary.said == ("greeting", "answer", "answer", "hang_up")
    assert sim._calls == {}
