"""The ASR worker pool as the softphone uses it: real worker process, real Korean model, real speech.

One worker process for the module (it loads the model itself, ~2 s); the crash test kills it and checks the
pool restarts it while the call goes on.
"""

from __future__ import annotations

import os
import queue
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from speech_audio import say

from asr.pool import AsrPool, GrammarReport
from asr.synth import frames, line_noise, silence
from callcenter.ports import AudioFrame, Proposal, SpeechCode, SpeechStatus, Utterance
from scripts_questionnaires.library import library_script

pytestmark = pytest.mark.speech

SCRIPT = library_script("ko-test")
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def pool(ko_model_path: Path) -> Iterator[AsrPool]:
    with AsrPool({"ko-KR": str(ko_model_path)}) as p:
        yield p


def next_of(pool: AsrPool, kind: type, call_id: str) -> object:
    """The next event of ``kind`` for ``call_id`` (others are skipped), waiting at most TIMEOUT_S."""
    while True:
        event = pool.events.get(timeout=TIMEOUT_S)
        if isinstance(event, kind) and getattr(event, "call_id", None) == call_id:
            return event


def answer_audio(word: str) -> list[bytes]:
    return frames(line_noise(silence(0.6) + say(word) + silence(1.2)))


def drain(pool: AsrPool) -> None:
    while True:
        try:
            pool.events.get_nowait()
        except queue.Empty:
            return


def test_locale_without_a_model_runs_without_proposals_and_says_why(pool: AsrPool) -> None:
    assert pool.open_stream("call-zh", "zh-CN") is False
    assert "no speech model for zh-CN" in pool.reason("call-zh")
    status = next_of(pool, SpeechStatus, "call-zh")
    assert isinstance(status, SpeechStatus) and not status.available and status.code is SpeechCode.no_model


def test_yes_no_answer_becomes_a_proposal_for_the_current_question(pool: AsrPool) -> None:
    drain(pool)
    assert pool.open_stream("call-1", "ko-KR")
    pool.set_item("call-1", SCRIPT.item("fever"), "ko-KR")
    for frame in answer_audio("아니요"):
        pool.feed("call-1", frame)
    utt = next_of(pool, Utterance, "call-1")
    proposal = next_of(pool, Proposal, "call-1")
    assert isinstance(utt, Utterance) and isinstance(proposal, Proposal)
    assert (proposal.item_id, proposal.value) == ("fever", "no")
    assert proposal.t0_s == utt.t0_s and proposal.text == utt.text
    pool.close_stream("call-1")


def test_softphone_tap_frames_are_accepted_and_gaps_keep_call_time(pool: AsrPool) -> None:
    drain(pool)
    sink = pool.tap_sink()
    assert pool.open_stream("call-2", "ko-KR")
    pool.set_item("call-2", SCRIPT.item("medication"), "ko-KR")
    audio = answer_audio("네")
    for seq, frame in enumerate(audio):
        if seq not in (3, 4, 5):  # three frames lost before the answer: replaced by silence
            sink.send(AudioFrame("call-2", seq, frame))
    proposal = next_of(pool, Proposal, "call-2")
    assert isinstance(proposal, Proposal) and proposal.value == "yes"
    assert 0.5 < proposal.t0_s < 1.2  # the answer starts 0.6 s into the call despite the lost frames
    sink.send(AudioFrame("call-2", len(audio), b"", end=True))
    pool.close_stream("call-2")


def test_unknown_words_of_a_grammar_are_reported(pool: AsrPool) -> None:
    drain(pool)
    assert pool.open_stream("call-3", "ko-KR")
    pool.set_grammar("call-3", "q", ["네", "没有"])
    report = next_of(pool, GrammarReport, "call-3")
    assert isinstance(report, GrammarReport) and report.missing_words == ("没有",)
    pool.close_stream("call-3")


def test_worker_crash_is_reported_restarted_and_the_call_continues(pool: AsrPool) -> None:
    drain(pool)
    assert pool.open_stream("call-4", "ko-KR")
    pool.set_item("call-4", SCRIPT.item("pain"), "ko-KR")
    [pid] = pool.worker_pids()
    os.kill(pid, signal.SIGKILL)
    down = next_of(pool, SpeechStatus, "call-4")
    assert isinstance(down, SpeechStatus) and not down.available and "type" in down.reason
    assert down.code is SpeechCode.restarting
    up = next_of(pool, SpeechStatus, "call-4")
    assert isinstance(up, SpeechStatus) and up.available and up.code is SpeechCode.back
    assert pool.worker_pids() != [pid]
    for frame in answer_audio("네"):
        pool.feed("call-4", frame)
    proposal = next_of(pool, Proposal, "call-4")
    assert isinstance(proposal, Proposal) and (proposal.item_id, proposal.value) == ("pain", "yes")
    pool.close_stream("call-4")


# ---- a pool of two workers ----------------------------------------------------------------------------------
def events_until(pool: AsrPool, done: Callable[[list[object]], bool]) -> list[object]:
    """The events, in order, until ``done(events so far)`` (TIMEOUT_S at most per event)."""
    seen: list[object] = []
    while not done(seen):
        seen.append(pool.events.get(timeout=TIMEOUT_S))
    return seen


def by_call(events: list[object], kind: type) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for event in events:
        if isinstance(event, kind):
            out.setdefault(event.call_id, []).append(event)
    return out


def test_two_workers_share_the_calls_and_a_crash_of_one_leaves_the_others_calls_alone(ko_model_path: Path) -> None:
    with AsrPool({"ko-KR": str(ko_model_path)}, workers_per_model=2) as pool:
        first_pids = pool.worker_pids()
        assert len(set(first_pids)) == 2
        calls = ["call-a", "call-b", "call-c", "call-d"]
        for call_id in calls:
            assert pool.open_stream(call_id, "ko-KR")
            pool.set_item(call_id, SCRIPT.item("fever"), "ko-KR")
        on = {call_id: pool.worker_pid(call_id) for call_id in calls}
        assert sorted(on.values()) == sorted(first_pids * 2)  # the least-loaded worker each time: two calls each
        victim = on["call-a"]
        hit = {c for c in calls if on[c] == victim}
        spared = set(calls) - hit
        os.kill(victim, signal.SIGKILL)
        # the spared worker's calls go on while the other restarts: each answer is proposed as usual
        for call_id in sorted(spared):
            for frame in answer_audio("아니요"):
                pool.feed(call_id, frame)
        seen = events_until(pool, lambda ev: len(by_call(ev, Proposal)) == len(spared)
                            and sum(map(len, by_call(ev, SpeechStatus).values())) == 2 * len(hit))
        proposals = by_call(seen, Proposal)
        assert {c: [p.value for p in ps] for c, ps in proposals.items()} == {c: ["no"] for c in spared}
        statuses = by_call(seen, SpeechStatus)
        assert set(statuses) == hit  # no status at all for the spared worker's calls
        assert all([(s.available, s.code) for s in statuses[c]] == [(False, SpeechCode.restarting),
                                                                    (True, SpeechCode.back)] for c in hit)
        assert all(pool.worker_pid(c) == on[c] for c in spared)
        assert all(pool.worker_pid(c) not in (victim, None) for c in hit)
        for call_id in sorted(hit):  # and the crashed worker's calls have speech again
            for frame in answer_audio("네"):
                pool.feed(call_id, frame)
        answered = by_call(events_until(pool, lambda ev: len(by_call(ev, Proposal)) == len(hit)), Proposal)
        assert {c: [p.value for p in ps] for c, ps in answered.items()} == {c: ["yes"] for c in hit}
