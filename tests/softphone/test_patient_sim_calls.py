"""`callcenter patient-sim` answering real pjsua2 calls on 127.0.0.1.

The simulator runs as its own process (pjsua2 allows one Endpoint per process); the caller is a PjsuaPhone in the
test process. The caller's tap delivers the simulator's speech frame by frame on the call's 20 ms clock, so "the
patient answered after the caller finished" is measured on one timeline, and the two-channel recording (caller
left, patient right) is compared with the WAV the simulator synthesised."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from callcenter.ports import (
    AudioFrame,
    CallState,
    CallStateChanged,
    MediaStarted,
    PlaybackFinished,
    RecordingReady,
)
from softphone.persona import load_persona
from softphone.speech_end import EnergyEndpointer, SpeechEnded
from softphone.tts import TtsCache, Voice
from tests.softphone.audio_check import envelope_correlation, read_channel
from tests.softphone.peers import free_port, sip_options_answered, wait_until

pytestmark = [pytest.mark.sip, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ZH_QUESTIONS = ["最近一周有没有在家量过血压？", "最近一次量的血压是多少？高压多少，低压多少？"]
KO_QUESTION = "지금 아프신 곳이 있으세요?"
QUIET_PERSONA = """
language: zh-CN
think_ms: [400, 400]
voice: {rate_wpm: 150, pitch: 50}
turns:
  - {question: bp_measured, say: 量过，每天早上量一次。}
  - {question: bp, say: 高压一百三十五，低压八十五。}
"""


class SpeechWatcher:
    """TapSink for the caller: detects the patient's utterances (what the simulator says) with their frame seq."""

    def __init__(self) -> None:
        self.endpointer = EnergyEndpointer(end_ms=600, min_speech_ms=100)  # a short 喂？ counts too
        self.seq = 0
        self.utterances: queue.Queue[SpeechEnded] = queue.Queue()
        self.voiced_frames = 0

    def send(self, frame: AudioFrame) -> None:
        if frame.end:
            return
        self.seq = frame.seq
        ended = self.endpointer.push(frame.seq, frame.pcm)
        if self.endpointer.in_speech:
            self.voiced_frames += 1
        if ended is not None:
            self.utterances.put(ended)

    def close(self) -> None:
        pass

    def next_utterance(self, timeout_s: float = 20.0) -> SpeechEnded:
        try:
            return self.utterances.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"the simulated patient said nothing within {timeout_s} s") from None


class SimProcess:
    """`callcenter patient-sim` in a subprocess; ready when it prints its URI."""

    def __init__(self, tmp_path: Path, persona: str, calls: int = 1) -> None:
        self.port = free_port()
        self.speech_log = tmp_path / "speech-log.jsonl"
        env = dict(os.environ, CALLCENTER_DATA_DIR=str(tmp_path / "var"), CALLCENTER_LOG_LEVEL="INFO")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "callcenter"), "patient-sim", "--listen", f"127.0.0.1:{self.port}",
             "--persona", persona, "--calls", str(calls), "--speech-log", str(self.speech_log)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            first = self.lines.get(timeout=60)
        except queue.Empty:
            first = ""
        if "listening on" not in first:
            self.kill()
            raise AssertionError(f"patient-sim did not start: {first}\n{self.proc.stderr.read()[-3000:]}")
        self.uri = first.rsplit(" ", 1)[1]
        wait_until(lambda: sip_options_answered(self.port), 10, "the simulator to answer SIP")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")  # EOF: the process ended

    def finish(self, timeout_s: float = 30) -> tuple[int, str]:
        code = self.proc.wait(timeout=timeout_s)
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        return code, "\n".join(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def questions(tmp_path: Path) -> TtsCache:
    return TtsCache(tmp_path / "questions")


def ask(phone, log, call_id: str, wav: Path) -> None:
    phone.play(call_id, str(wav))
    log.wait_for(PlaybackFinished, timeout_s=30, call_id=call_id, path=str(wav))


def test_patient_answers_each_question_after_the_caller_stops_and_says_the_persona_answer(
        tmp_path: Path, make_phone, questions: TtsCache) -> None:
    persona_file = tmp_path / "quiet.yaml"
    persona_file.write_text(QUIET_PERSONA, encoding="utf-8")
    persona = load_persona(str(persona_file))
    sim = SimProcess(tmp_path, str(persona_file))
    try:
        watcher = SpeechWatcher()
        phone, log = make_phone(tap_sink=watcher)
        call_id = phone.dial(sim.uri)
        log.wait_for(MediaStarted, call_id=call_id)
        gaps_ms, heard = [], []
        for question in ZH_QUESTIONS:
            ask(phone, log, call_id, questions.synthesize(question, Voice("zh-CN")))
            asked_until = watcher.seq
            answer = watcher.next_utterance()
            heard.append(answer)
            assert answer.start_seq > asked_until, "the patient must not talk over the question"
            assert answer.peak_dbfs > -30, "the answer is speech, not line noise"
            gaps_ms.append((answer.start_seq - asked_until) * 20)
        assert all(gap >= 500 for gap in gaps_ms), f"answers came {gaps_ms} ms after the question ended"
        phone.hangup(call_id)
        ready = log.wait_for(RecordingReady, timeout_s=20, call_id=call_id)
        code, out = sim.finish()
    finally:
        sim.kill()
    assert code == 0
    assert "2 answers" in out
    # the speech log (the reference of the latency bench) says how long each answer's speech lasted: as long as
    # the caller heard it, within the caller's endpointer's resolution
    said = [json.loads(line) for line in sim.speech_log.read_text(encoding="utf-8").splitlines()]
    assert [s["kind"] for s in said] == ["answer", "answer"]
    for entry, answer in zip(said, heard, strict=True):
        logged_ms = (entry["speech_end_at"] - entry["started_at"]) * 1000
        # logged: from playback start (espeak's leading silence included) to the last voiced sample
        assert -100 <= logged_ms - answer.duration_ms <= 300, (logged_ms, answer.duration_ms)
    assert said[0]["speech_end_at"] < said[1]["started_at"]
    # what the caller recorded on the patient channel is the simulator's synthesised answers
    answer_cache = TtsCache(tmp_path / "var" / "tts")
    voice = Voice(persona.language, persona.espeak_voice, persona.rate_wpm, persona.pitch)
    first_answer = answer_cache.path_for(persona.turns[0].say, voice)
    assert first_answer.exists(), "synthesised ahead into <data_dir>/tts"
    patient = read_channel(Path(ready.path), 1)
    assert envelope_correlation(read_channel(first_answer), patient, max_lag_frames=600) >= 0.8


def test_hang_up_persona_hangs_up_after_its_second_answer(tmp_path: Path, make_phone,
                                                         questions: TtsCache) -> None:
    sim = SimProcess(tmp_path, "zh-hangs-up")
    try:
        watcher = SpeechWatcher()
        phone, log = make_phone(tap_sink=watcher, record_calls=False)
        call_id = phone.dial(sim.uri)
        log.wait_for(MediaStarted, call_id=call_id)
        watcher.next_utterance()  # 喂？
        ask(phone, log, call_id, questions.synthesize(ZH_QUESTIONS[0], Voice("zh-CN")))
        watcher.next_utterance()
        ask(phone, log, call_id, questions.synthesize(ZH_QUESTIONS[1], Voice("zh-CN")))
        ended = log.wait_for(CallStateChanged, timeout_s=30, call_id=call_id, state=CallState.disconnected)
        code, out = sim.finish()
    finally:
        sim.kill()
    assert ended.sip_status == 200 and watcher.voiced_frames > 50
    assert code == 0
    assert "hung up" in out and out.count("answer") >= 1


def test_korean_persona_answers_the_ko_test_question_and_stops_cleanly_on_sigterm(
        tmp_path: Path, make_phone, questions: TtsCache) -> None:
    sim = SimProcess(tmp_path, "ko-test", calls=0)
    try:
        watcher = SpeechWatcher()
        phone, log = make_phone(tap_sink=watcher, record_calls=False)
        call_id = phone.dial(sim.uri)
        log.wait_for(MediaStarted, call_id=call_id)
        greeting = watcher.next_utterance()  # 여보세요?
        ask(phone, log, call_id, questions.synthesize(KO_QUESTION, Voice("ko-KR")))
        asked_until = watcher.seq
        answer = watcher.next_utterance()
        assert greeting.end_seq < asked_until < answer.start_seq
        phone.hangup(call_id)
        log.wait_for(CallStateChanged, call_id=call_id, state=CallState.disconnected)
        wait_until(lambda: sip_options_answered(sim.port), 5, "the simulator to keep answering after a call")
        sim.proc.send_signal(signal.SIGTERM)
        code, out = sim.finish()
    finally:
        sim.kill()
    assert code == 0, "SIGTERM: clean shutdown, no SIGABRT from pjsua2"
    assert "greeting" in out and "answer" in out
