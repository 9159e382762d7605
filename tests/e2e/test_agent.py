"""The softphone agent's protocol logic with a scripted phone and recogniser (pure, fast)."""

from __future__ import annotations

from typing import Any

from callcenter.ports import (
    CallFailed,
    CallState,
    CallStateChanged,
    IncomingCall,
    PartialText,
    Proposal,
    RecordingReady,
    SpeechCode,
    SpeechStatus,
    Utterance,
)
from softphone.agent import SoftphoneAgent
from tests.e2e.phones import ScriptedPhone, ScriptedRecognizer

ITEM = {"id": "pain", "type": "yes_no", "text": "지금 아프신 곳이 있으세요?"}


def make(tmp_path: Any) -> tuple[SoftphoneAgent, ScriptedPhone, ScriptedRecognizer, list[dict[str, Any]],
                                  list[tuple[str, object, str]]]:
    phone, recognizer = ScriptedPhone(), ScriptedRecognizer()
    sent: list[dict[str, Any]] = []
    listened: list[tuple[str, object, str]] = []
    agent = SoftphoneAgent(phone, recognizer, emit=lambda event, payload: sent.append({"event": event, **payload}),
                           dial_plan=lambda number: f"sip:patient@127.0.0.1:{number[-4:]}",
                           item_listener=lambda call_id, item, locale: listened.append((call_id, item["id"], locale)),
                           recordings_dir=tmp_path)
    return agent, phone, recognizer, sent, listened


def test_dial_places_the_call_through_the_dial_plan_and_reports_its_states(tmp_path):
    agent, phone, recognizer, sent, _ = make(tmp_path)
    assert agent.handle_command({"command": "dial", "attempt_id": 7, "number": "13800005090",
                                 "locale": "ko-KR"}) == {"ok": True}
    assert phone.actions == [("dial", "c1", "sip:patient@127.0.0.1:5090")]
    assert recognizer.actions == [("open", "c1", "ko-KR")]
    phone.fire(CallStateChanged("c1", CallState.calling))
    phone.fire(CallStateChanged("c1", CallState.confirmed, 200, "OK"))
    assert sent == [
        {"event": "agent_event", "kind": "call_state", "attempt_id": 7, "state": "calling", "sip_status": 0,
         "reason": ""},
        {"event": "agent_event", "kind": "call_state", "attempt_id": 7, "state": "confirmed", "sip_status": 200,
         "reason": "OK"},
    ]
    assert agent.active_attempt == 7


def test_a_repeated_dial_of_the_same_attempt_places_one_call(tmp_path):
    agent, phone, _, _, _ = make(tmp_path)
    for _ in range(2):
        agent.handle_command({"command": "dial", "attempt_id": 7, "number": "13800005090", "locale": "ko-KR"})
    assert [a for a in phone.actions if a[0] == "dial"] == [("dial", "c1", "sip:patient@127.0.0.1:5090")]


def test_call_controls_go_to_the_attempts_call(tmp_path):
    agent, phone, _, _, _ = make(tmp_path)
    agent.handle_command({"command": "dial", "attempt_id": 7, "number": "5090", "locale": "zh-CN"})
    for command in ({"command": "hold"}, {"command": "resume"}, {"command": "mute"}, {"command": "unmute"},
                    {"command": "dtmf", "digits": "12#"}, {"command": "transfer", "target": "8001"},
                    {"command": "hangup"}):
        assert agent.handle_command({**command, "attempt_id": 7}) == {"ok": True}
    assert phone.actions[1:] == [("hold", "c1"), ("resume", "c1"), ("mute", "c1", "True"),
                                 ("mute", "c1", "False"), ("dtmf", "c1", "12#"),
                                 ("transfer", "c1", "sip:patient@127.0.0.1:8001"), ("hangup", "c1")]


def test_a_command_for_a_call_that_is_gone_is_reported_not_raised(tmp_path):
    agent, phone, _, sent, _ = make(tmp_path)
    answer = agent.handle_command({"command": "hangup", "attempt_id": 9})
    assert answer["ok"] is False and "no call" in answer["error"]
    assert sent[-1]["kind"] == "call_state" and sent[-1]["state"] == "failed"
    assert agent.handle_command({"command": "dial"})["ok"] is False  # no attempt id: refused, nothing dialled
    assert phone.actions == []


def test_grammar_before_and_after_dial_reaches_the_recogniser_for_the_right_call(tmp_path):
    agent, _, _, _, listened = make(tmp_path)
    grammar = {"command": "grammar", "attempt_id": 7, "item_id": "pain", "locale": "ko-KR", "item": ITEM}
    agent.handle_command(grammar)  # the server may send it right after dial; it waits for the call
    assert listened == []
    agent.handle_command({"command": "dial", "attempt_id": 7, "number": "5090", "locale": "ko-KR"})
    assert listened == [("c1", "pain", "ko-KR")]
    agent.handle_command({**grammar, "item_id": "fever", "item": {**ITEM, "id": "fever"}})
    assert listened[-1] == ("c1", "fever", "ko-KR")


def test_no_model_for_the_language_means_no_grammar_but_the_call_goes_on(tmp_path):
    agent, phone, recognizer, _, listened = make(tmp_path)
    agent.handle_command({"command": "dial", "attempt_id": 7, "number": "5090", "locale": "zh-CN"})
    agent.handle_command({"command": "grammar", "attempt_id": 7, "item_id": "bp", "locale": "zh-CN", "item": ITEM})
    assert listened == [] and recognizer.actions == [("open", "c1", "zh-CN")]
    assert phone.actions[0][0] == "dial"


def test_speech_results_become_transcript_partial_and_proposal_events(tmp_path):
    agent, _, _, sent, _ = make(tmp_path)
    agent.handle_command({"command": "dial", "attempt_id": 7, "number": "5090", "locale": "ko-KR"})
    sent.clear()
    agent.on_recognizer_event(PartialText("c1", "네"))
    agent.on_recognizer_event(Utterance("c1", "네 아파요", 4.0, 5.2, 0.91, item_id="pain"))
    agent.on_recognizer_event(Utterance("c1", "", 6.0, 6.1, 0.0))  # nothing recognised: not a transcript line
    agent.on_recognizer_event(Proposal("c1", "pain", "yes", 0.91, "네 아파요", 4.0, 5.2, False, ("exact",),
                                       closed_at=1764122400.25))
    agent.on_recognizer_event(Proposal("other-call", "pain", "yes", 0.9, "네", 1.0, 2.0))
    assert [(e["kind"], e.get("text")) for e in sent] == [("partial", "네"), ("transcript", "네 아파요"),
                                                          ("proposal", "네 아파요")]
    assert sent[1] == {"event": "agent_event", "kind": "transcript", "attempt_id": 7, "speaker": "patient",
                       "text": "네 아파요", "t0_s": 4.0, "t1_s": 5.2, "confidence": 0.91, "item_id": "pain"}
    assert sent[2]["value"] == "yes" and sent[2]["needs_confirmation"] is False and sent[2]["reasons"] == ["exact"]
    assert sent[2]["closed_at"] == 1764122400.25  # the browser gets it too: latency from the utterance's end


def test_speech_stopping_and_coming_back_are_reported_for_the_calls_attempt(tmp_path):
    agent, _, _, sent, _ = make(tmp_path)
    agent.handle_command({"command": "dial", "attempt_id": 7, "number": "5090", "locale": "ko-KR"})
    sent.clear()
    agent.on_recognizer_event(SpeechStatus("c1", False, "speech recognition restarting", SpeechCode.restarting))
    agent.on_recognizer_event(SpeechStatus("other-call", False, "restarting", SpeechCode.restarting))
    agent.on_recognizer_event(SpeechStatus("c1", True, "speech recognition is back", SpeechCode.back))
    assert sent == [
        {"event": "agent_event", "kind": "speech", "attempt_id": 7, "available": False, "code": "restarting"},
        {"event": "agent_event", "kind": "speech", "attempt_id": 7, "available": True, "code": "back"},
    ]


def test_the_end_of_a_call_closes_its_stream_and_the_late_recording_is_still_reported(tmp_path):
    agent, phone, recognizer, sent, _ = make(tmp_path)
    agent.handle_command({"command": "dial", "attempt_id": 7, "number": "5090", "locale": "ko-KR"})
    phone.fire(CallStateChanged("c1", CallState.calling))
    phone.fire(CallFailed("c1", "media error"))
    phone.fire(CallStateChanged("c1", CallState.disconnected, 200, "Normal call clearing"))
    assert ("close", "c1") in recognizer.actions and agent.active_attempt is None
    wav = tmp_path / "2026-11-25" / "c1.wav"
    phone.fire(RecordingReady("c1", str(wav), 12.5, "ab" * 32))
    assert sent[-1] == {"event": "agent_event", "kind": "recording", "attempt_id": 7,
                        "path": "2026-11-25/c1.wav", "duration_s": 12.5, "sha256": "ab" * 32}
    assert [e["state"] for e in sent if e["kind"] == "call_state"] == ["calling", "failed", "disconnected"]
    agent.on_recognizer_event(Utterance("c1", "네", 9.0, 9.4, 0.8, item_id="pain"))  # flushed after the hang-up
    assert sent[-1]["kind"] == "transcript" and sent[-1]["attempt_id"] == 7


def test_an_incoming_call_rings_is_bound_to_the_attempt_the_server_filed_and_answered_on_command(tmp_path):
    agent, phone, recognizer, sent, _ = make(tmp_path)
    phone.fire(IncomingCall("in1", "<sip:13700137000@pbx>"))
    assert sent == [{"event": "incoming_call", "call_ref": "in1", "remote_uri": "<sip:13700137000@pbx>"}]
    assert agent.handle_command({"command": "answer", "attempt_id": 9})["ok"] is False  # not bound yet
    assert agent.handle_command({"command": "bind", "attempt_id": 9, "call_ref": "in1", "locale": "ko-KR"}) == {
        "ok": True}
    assert recognizer.actions == [("open", "in1", "ko-KR")]  # listened to like a call she dialled
    assert agent.handle_command({"command": "answer", "attempt_id": 9}) == {"ok": True}
    assert phone.actions == [("answer", "in1")]
    phone.fire(CallStateChanged("in1", CallState.confirmed, 200, "OK"))
    assert sent[-1]["kind"] == "call_state" and sent[-1]["attempt_id"] == 9 and agent.active_attempt == 9


def test_an_unfiled_caller_is_answered_or_declined_by_call_ref_and_giving_up_stops_the_ringing(tmp_path):
    agent, phone, _, sent, _ = make(tmp_path)
    phone.fire(IncomingCall("in1", "sip:13900000000@pbx"))
    phone.fire(IncomingCall("in2", "sip:13900000001@pbx"))
    assert agent.handle_command({"command": "answer", "call_ref": "in1"}) == {"ok": True}
    assert agent.handle_command({"command": "answer", "call_ref": "in1"})["ok"] is False  # rings no more
    assert agent.handle_command({"command": "decline", "call_ref": "nope"})["ok"] is False
    phone.fire(CallStateChanged("in2", CallState.disconnected, 487, "Request Terminated"))  # the caller gave up
    assert phone.actions == [("answer", "in1")]
    assert sent[-1] == {"event": "incoming_call_ended", "call_ref": "in2"}


def test_the_first_questions_grammar_is_applied_whenever_its_command_arrives_during_the_dial(tmp_path):
    """Socket.IO runs the dial and the first grammar command on different threads. The grammar command used to
    slip in after the call was known but before its recogniser stream was: it was dropped, and the first question
    got no proposal at all (the flaky end-to-end test). Here it arrives exactly then."""
    import threading

    agent, _, recognizer, _, listened = make(tmp_path)
    grammar_done = threading.Event()
    opened = recognizer.open_stream

    def open_stream_while_the_grammar_arrives(call_id: str, locale: str) -> bool:
        worker = threading.Thread(target=lambda: (agent.handle_command(
            {"command": "grammar", "attempt_id": 7, "item_id": "pain", "locale": locale, "item": ITEM}),
            grammar_done.set()))
        worker.start()
        # The agent holds its lock here, so the command waits for the dial to finish (the fix); before the fix
        # it ran to its end at once. Either way it is given a moment, bounded, then the dial goes on.
        worker.join(0.5)  # sleep-ok: bounded wait for a thread that must not get past the agent's lock
        return opened(call_id, locale)

    recognizer.open_stream = open_stream_while_the_grammar_arrives
    agent.handle_command({"command": "dial", "attempt_id": 7, "number": "5090", "locale": "ko-KR"})
    assert grammar_done.wait(5), "the grammar command never finished"
    assert listened == [("c1", "pain", "ko-KR")]
