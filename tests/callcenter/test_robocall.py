"""The reminder robot's dialogue (pure state machine): answers by key and by speech, silence, hang-ups,
voicemail at pick-up, and the outcome + follow-up each call ends with."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.robocall import (
    Answered,
    CallResult,
    DialogueConfig,
    DtmfKey,
    FollowUp,
    HangUp,
    Heard,
    Listen,
    Phase,
    Play,
    PromptDone,
    RecordedAnswer,
    ReminderDialogue,
    RemoteHangup,
    StopPrompt,
    Tick,
    TransferToNurse,
    VoiceEnded,
    VoiceStarted,
    outcome_for_unanswered,
)
from callcenter.robocall_prompts import (
    DEFAULT_RATE_WPM,
    OLDER_RATE_WPM,
    OLDEST_RATE_WPM,
    Prompts,
    ReminderFacts,
    RobocallScriptError,
    reminder_script_from,
    speech_rate_wpm,
)
from scripts_questionnaires.loader import load_script
from scripts_questionnaires.model import Script

LIBRARY = Path(__file__).resolve().parents[2] / "scripts_questionnaires" / "library"
FACTS = ReminderFacts(hospital="示例医院", salutation="张先生", department="心内科", date_text="12月3日",
                      time_text="上午9点半", place="门诊楼3楼", age_years=70)


@pytest.fixture(scope="module")
def recall_script() -> Script:
    return load_script(LIBRARY / "recall_reminder.yaml")


class Call:
    """Drives a dialogue like the worker does: plays finish when told, time moves with each event."""

    def __init__(self, script: Script, config: DialogueConfig | None = None, facts: ReminderFacts = FACTS) -> None:
        self.dialogue = ReminderDialogue(Prompts(facts, reminder_script_from(script)), config)
        self.t = 0.0
        self.played: list[str] = []
        self.actions: list[object] = []

    def send(self, event: object) -> list[object]:
        out = self.dialogue.handle(event)  # type: ignore[arg-type]
        self.actions.extend(out)
        self.played.extend(a.prompt.key for a in out if isinstance(a, Play))
        return list(out)

    def at(self, dt: float) -> float:
        self.t += dt
        return self.t

    def answer_and_greet(self) -> None:
        self.send(Answered(self.at(0)))
        self.send(Tick(self.at(2.0)))  # silence at pick-up: a person waiting
        assert self.played[-1] == "greeting"

    def finish_prompt(self) -> list[object]:
        return self.send(PromptDone(self.played[-1], self.at(3.0)))

    def key(self, digit: str) -> list[object]:
        return self.send(DtmfKey(digit, self.at(0.5)))

    def say(self, text: str, value: str | None) -> list[object]:
        t0 = self.at(0.2)
        return self.send(Heard(text, value, 0.9, t0, self.at(0.8)))

    def identity_confirmed(self) -> None:
        self.answer_and_greet()
        self.finish_prompt()
        self.key("1")
        assert self.played[-1] == "reminder"
        self.finish_prompt()

    @property
    def result(self) -> CallResult:
        assert self.dialogue.result is not None, f"the call has not ended (phase {self.dialogue.phase})"
        return self.dialogue.result


def test_greeting_names_the_hospital_and_asks_for_the_patient(recall_script: Script) -> None:
    call = Call(recall_script)
    call.answer_and_greet()
    greeting = next(a.prompt for a in call.actions if isinstance(a, Play))
    assert "这里是示例医院随访中心" in greeting.text and "张先生本人或家属" in greeting.text
    listen = next(a for a in call.actions if isinstance(a, Listen))
    assert listen.item_id == "identity" and listen.dtmf == ("1", "2")


def test_reminder_tells_department_date_time_and_place_slowly_for_older_patients(recall_script: Script) -> None:
    call = Call(recall_script)
    call.answer_and_greet()
    call.finish_prompt()
    actions = call.key("1")
    reminder = next(a.prompt for a in actions if isinstance(a, Play))
    assert "张先生在心内科的复诊时间是12月3日上午9点半，地点在门诊楼3楼" in reminder.text
    assert "确认请说“确认”或按1" in reminder.text  # the script's own question
    assert reminder.rate_wpm == OLDER_RATE_WPM
    listen = next(a for a in actions if isinstance(a, Listen))
    assert listen.dtmf == ("1", "2", "3", "9", "0") and "确认" in listen.phrases


def test_key_1_confirms_and_closes_the_reminder(recall_script: Script) -> None:
    call = Call(recall_script)
    call.identity_confirmed()
    call.key("1")
    assert call.played[-1] == "confirm_notice" and call.dialogue.phase is Phase.closing
    assert call.finish_prompt() == [HangUp()]
    assert call.result.outcome == "completed" and call.result.follow_up is FollowUp.close
    assert call.result.answers == (RecordedAnswer("decision", "confirm", "dtmf", "1"),)


def test_spoken_confirmation_is_recorded_with_asr_provenance(recall_script: Script) -> None:
    call = Call(recall_script)
    call.identity_confirmed()
    call.send(VoiceStarted(call.at(0.1)))
    call.send(VoiceEnded(call.at(0.7)))
    call.say("可以", "confirm")
    call.finish_prompt()
    answer = call.result.answers[0]
    assert (answer.item_id, answer.value, answer.source, answer.text) == ("decision", "confirm", "asr", "可以")
    assert answer.t0_s is not None and answer.t1_s is not None and answer.t0_s < answer.t1_s


def test_key_2_asks_when_and_ends_in_a_nurse_callback_with_the_preference(recall_script: Script) -> None:
    call = Call(recall_script)
    call.identity_confirmed()
    call.key("2")
    assert call.played[-1] == "reschedule_when"
    call.finish_prompt()
    call.key("2")  # two weeks later
    assert call.played[-1] == "reschedule_notice"
    call.finish_prompt()
    result = call.result
    assert (result.outcome, result.follow_up, result.preference) == ("callback_requested", FollowUp.reschedule,
                                                                     "two_weeks")
    assert "两周后" in result.note
    assert [a.item_id for a in result.answers] == ["decision", "reschedule_when"]


def test_key_3_asks_the_reason_and_applies_the_refusal(recall_script: Script) -> None:
    call = Call(recall_script)
    call.identity_confirmed()
    call.key("3")
    call.finish_prompt()
    call.say("太远了", "inconvenient")
    said_at = call.t
    call.finish_prompt()
    assert (call.result.outcome, call.result.follow_up) == ("refused", FollowUp.stop)
    assert "时间或路程不便" in call.result.note
    assert call.result.answers[-1] == RecordedAnswer("decline_reason", "inconvenient", "asr", "太远了", 0.9,
                                                     pytest.approx(said_at - 0.8), pytest.approx(said_at))


def test_silence_at_the_optional_decline_reason_still_records_the_refusal(recall_script: Script) -> None:
    call = Call(recall_script, DialogueConfig(max_reprompts=0))
    call.identity_confirmed()
    call.key("3")
    call.finish_prompt()
    call.send(Tick(call.at(6.0)))
    call.finish_prompt()
    assert call.result.outcome == "refused" and "原因未说明" in call.result.note


def test_key_9_repeats_the_reminder_then_a_nurse_takes_over_after_the_limit(recall_script: Script) -> None:
    call = Call(recall_script, DialogueConfig(max_repeats=1))
    call.identity_confirmed()
    call.key("9")
    assert call.played[-1] == "reminder"
    call.finish_prompt()
    call.key("9")
    assert call.played[-1] == "no_input_goodbye"
    call.finish_prompt()
    assert call.result.follow_up is FollowUp.nurse_callback
    assert [a.value for a in call.result.answers] == ["repeat", "repeat"]
    assert call.result.decision is None


def test_key_0_transfers_to_a_nurse_when_an_extension_is_configured(recall_script: Script) -> None:
    call = Call(recall_script, DialogueConfig(transfer_available=True))
    call.identity_confirmed()
    call.key("0")
    assert call.played[-1] == "transfer"
    assert call.finish_prompt() == [TransferToNurse()]
    assert (call.result.outcome, call.result.follow_up) == ("callback_requested", FollowUp.transfer)


def test_key_0_without_an_extension_queues_a_nurse_callback(recall_script: Script) -> None:
    call = Call(recall_script)
    call.identity_confirmed()
    call.key("0")
    assert call.played[-1] == "nurse_callback"
    assert call.finish_prompt() == [HangUp()]
    assert call.result.follow_up is FollowUp.nurse_callback


def test_silence_reprompts_up_to_the_limit_then_hands_over_to_a_nurse(recall_script: Script) -> None:
    call = Call(recall_script, DialogueConfig(no_input_s=5.0, max_reprompts=2))
    call.identity_confirmed()
    assert call.send(Tick(call.at(4.9))) == []  # not yet
    call.send(Tick(call.at(0.2)))
    assert call.played[-1] == "sorry_decision"
    call.finish_prompt()
    call.send(Tick(call.at(5.0)))
    call.finish_prompt()
    call.send(Tick(call.at(5.0)))
    assert call.played[-3:] == ["sorry_decision", "sorry_decision", "no_input_goodbye"]
    call.finish_prompt()
    assert (call.result.outcome, call.result.follow_up) == ("callback_requested", FollowUp.nurse_callback)


def test_unmatched_speech_and_unknown_keys_reprompt(recall_script: Script) -> None:
    call = Call(recall_script)
    call.identity_confirmed()
    call.say("今天天气不错", None)
    assert call.played[-1] == "sorry_decision"
    call.finish_prompt()
    call.key("7")
    assert call.played[-1] == "sorry_decision"
    call.finish_prompt()
    call.key("1")
    call.finish_prompt()
    assert call.result.outcome == "completed"


def test_key_during_a_prompt_stops_it_barge_in(recall_script: Script) -> None:
    call = Call(recall_script)
    call.identity_confirmed()
    call.key("2")  # reschedule question starts playing
    actions = call.key("1")  # pressed before the question finished
    assert actions[0] == StopPrompt()
    assert call.played[-1] == "reschedule_notice"


def test_speaking_while_waiting_holds_the_silence_timer(recall_script: Script) -> None:
    call = Call(recall_script, DialogueConfig(no_input_s=5.0, result_wait_s=3.0))
    call.identity_confirmed()
    call.send(VoiceStarted(call.at(4.0)))
    assert call.send(Tick(call.at(4.0))) == []  # still speaking after the silence limit
    call.send(VoiceEnded(call.at(1.0)))
    assert call.send(Tick(call.at(2.9))) == []  # waiting for the recogniser
    call.send(Tick(call.at(0.2)))
    assert call.played[-1] == "sorry_decision"


def test_wrong_person_ends_politely_and_tries_the_next_number(recall_script: Script) -> None:
    call = Call(recall_script)
    call.answer_and_greet()
    call.say("不是 你打错了", "no")
    assert call.played[-1] == "wrong_person"
    call.finish_prompt()
    assert (call.result.outcome, call.result.follow_up) == ("wrong_number", FollowUp.next_number)


def test_no_answer_to_the_greeting_is_not_counted_as_contact(recall_script: Script) -> None:
    call = Call(recall_script, DialogueConfig(max_reprompts=1, no_input_s=5.0))
    call.answer_and_greet()
    call.finish_prompt()
    call.send(Tick(call.at(5.0)))
    assert call.played[-1] == "identity_again"
    call.finish_prompt()
    call.send(Tick(call.at(5.0)))
    call.finish_prompt()
    assert call.result.outcome == "no_answer" and call.result.follow_up is FollowUp.retry


def test_long_speech_at_pick_up_is_a_voicemail(recall_script: Script) -> None:
    call = Call(recall_script)
    call.send(Answered(call.at(0)))
    call.send(VoiceStarted(call.at(0.3)))
    assert call.send(Tick(call.at(2.0))) == []  # still talking: wait
    assert call.send(Tick(call.at(1.5))) == [HangUp()]
    assert call.result.outcome == "voicemail" and call.played == []


def test_short_hello_at_pick_up_is_a_person(recall_script: Script) -> None:
    call = Call(recall_script)
    call.send(Answered(call.at(0)))
    call.send(VoiceStarted(call.at(0.4)))
    call.send(VoiceEnded(call.at(0.6)))  # "喂？"
    call.send(Tick(call.at(1.0)))
    assert call.played == ["greeting"]


def test_hello_that_runs_past_the_screening_time_greets_when_it_ends(recall_script: Script) -> None:
    call = Call(recall_script)
    call.send(Answered(call.at(0)))
    call.send(VoiceStarted(call.at(1.5)))
    call.send(Tick(call.at(1.0)))  # screening time over, voice still on
    assert call.played == []
    call.send(VoiceEnded(call.at(1.0)))  # 2 s of speech: below the voicemail limit
    assert call.played == ["greeting"]


@pytest.mark.parametrize(
    ("steps", "outcome", "follow_up"),
    [
        ([], "hung_up", FollowUp.retry),  # during screening
        (["greet"], "hung_up", FollowUp.retry),
        (["greet", "1"], "hung_up", FollowUp.retry),  # during the reminder
        (["greet", "1", "2"], "callback_requested", FollowUp.reschedule),  # decision known
        (["greet", "1", "3"], "refused", FollowUp.stop),
        (["greet", "1", "1"], "completed", FollowUp.close),  # goodbye cut short
    ],
)
def test_hang_up_keeps_what_was_decided(recall_script: Script, steps: list[str], outcome: str,
                                        follow_up: FollowUp) -> None:
    call = Call(recall_script)
    call.send(Answered(call.at(0)))
    for step in steps:
        if step == "greet":
            call.send(Tick(call.at(2.0)))
        else:
            call.key(step)
    assert call.send(RemoteHangup(call.at(1.0))) == []
    assert (call.result.outcome, call.result.follow_up) == (outcome, follow_up)
    assert call.dialogue.handle(DtmfKey("1", call.at(1))) == []  # nothing after the end


def test_prompts_are_faster_for_younger_patients() -> None:
    assert speech_rate_wpm(None) == speech_rate_wpm(40) == DEFAULT_RATE_WPM
    assert speech_rate_wpm(65) == OLDER_RATE_WPM
    assert speech_rate_wpm(85) == OLDEST_RATE_WPM


def test_script_without_dtmf_keys_is_rejected_with_the_option_named(recall_script: Script) -> None:
    data = recall_script.to_dict()
    data["items"][0]["options"][0].pop("dtmf")
    with pytest.raises(RobocallScriptError, match="option 'confirm'.*dtmf"):
        reminder_script_from(Script.from_dict(data))


def test_script_missing_items_is_rejected(recall_script: Script) -> None:
    data = recall_script.to_dict()
    data["items"] = [i for i in data["items"] if i["id"] != "decline_reason"]
    with pytest.raises(RobocallScriptError, match="decline_reason"):
        reminder_script_from(Script.from_dict(data))


@pytest.mark.parametrize(("text", "value"), [("可以", "confirm"), ("嗯 可以的", "confirm"), ("我想改期", "reschedule"),
                                             ("我不来了", "decline"), ("转人工", "nurse"), ("天气", None)])
def test_fallback_matcher_maps_phrases_to_options(recall_script: Script, text: str, value: str | None) -> None:
    assert reminder_script_from(recall_script).decision.match(text) == value


@pytest.mark.parametrize(("status", "outcome"), [(486, "busy"), (480, "no_answer"), (404, "number_invalid"),
                                                 (503, "switched_off"), (999, "no_answer")])
def test_unanswered_calls_map_sip_status_to_outcomes(status: int, outcome: str) -> None:
    assert outcome_for_unanswered(status).outcome == outcome
