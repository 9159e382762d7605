"""The dialogue of one robot reminder call, as a pure state machine (sans-I/O).

The robocaller worker feeds it events — the call was answered, a prompt finished, a DTMF key, voice activity,
an utterance already mapped to an option by the speech side, a timer tick, the patient hung up — and carries
out the actions it returns (play a prompt, listen for a question, stop the prompt on barge-in, transfer, hang
up). Times are seconds since the call started, taken from the events: no clock is read here.

Flow: screening (long uninterrupted speech at pick-up is a voicemail) → greeting + identity (patient or family?)
→ reminder (department/date/place) + decision (1 confirm, 2 reschedule, 3 decline, 9 repeat, 0 nurse) →
reschedule preference or decline reason → closing prompt → hang up. Silence and no-match re-prompt up to a
limit. The ``CallResult`` names the outcome code (the outcome table) and the follow-up action."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callcenter.robocall_prompts import ChoiceOption, ChoiceQuestion, Prompt, Prompts, identity_question

# ---- events -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    at_s: float


@dataclass(frozen=True)
class PromptDone:
    key: str
    at_s: float


@dataclass(frozen=True)
class DtmfKey:
    digit: str
    at_s: float


@dataclass(frozen=True)
class VoiceStarted:
    at_s: float


@dataclass(frozen=True)
class VoiceEnded:
    at_s: float


@dataclass(frozen=True)
class Heard:
    """A final utterance; ``value`` is the option of the current question it means, None when none matched."""

    text: str
    value: str | None
    confidence: float
    t0_s: float
    t1_s: float


@dataclass(frozen=True)
class RemoteHangup:
    at_s: float


@dataclass(frozen=True)
class Tick:
    at_s: float


Event = Answered | PromptDone | DtmfKey | VoiceStarted | VoiceEnded | Heard | RemoteHangup | Tick

# ---- actions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Play:
    prompt: Prompt


@dataclass(frozen=True)
class StopPrompt:
    """Barge-in: the patient answered before the prompt ended."""


@dataclass(frozen=True)
class Listen:
    """Answers to this question are expected now: switch the speech grammar to its phrases."""

    question: ChoiceQuestion

    @property
    def item_id(self) -> str:
        return self.question.item_id

    @property
    def phrases(self) -> tuple[str, ...]:
        return self.question.phrases

    @property
    def dtmf(self) -> tuple[str, ...]:
        return tuple(o.dtmf for o in self.question.options)


@dataclass(frozen=True)
class TransferToNurse:
    """Blind-transfer the call to the nurses' extension."""


@dataclass(frozen=True)
class HangUp:
    """End the call."""


Action = Play | StopPrompt | Listen | TransferToNurse | HangUp

# ---- result -----------------------------------------------------------------------------------------------------


class Phase(enum.StrEnum):
    ringing = "ringing"
    screening = "screening"
    asking = "asking"
    closing = "closing"
    ended = "ended"


class FollowUp(enum.StrEnum):
    close = "close"  # reminder confirmed: the task is done
    reschedule = "reschedule"  # a nurse calls back to book a new date (with the patient's preference)
    stop = "stop"  # declined: the plan's stop rule for a refusal applies
    nurse_callback = "nurse_callback"  # the patient asked for a nurse, or the robot got no answer it understood
    transfer = "transfer"  # handed to a nurse's extension during the call
    retry = "retry"  # not reached (hang-up, voicemail, silence): the outcome's retry rule applies
    next_number = "next_number"  # wrong person: try the patient's next number


@dataclass(frozen=True)
class RecordedAnswer:
    item_id: str
    value: str
    source: str  # "dtmf" | "asr" (AnswerSource)
    text: str = ""
    confidence: float | None = None
    t0_s: float | None = None
    t1_s: float | None = None


@dataclass(frozen=True)
class CallResult:
    outcome: str  # a code of the outcome table
    follow_up: FollowUp
    answers: tuple[RecordedAnswer, ...] = ()
    note: str = ""
    preference: str = ""  # reschedule: when the patient would like to come (an option value)

    @property
    def decision(self) -> str | None:
        values = [a.value for a in self.answers if a.item_id == "decision" and a.value != "repeat"]
        return values[-1] if values else None


@dataclass(frozen=True)
class DialogueConfig:
    screening_s: float = 2.0  # listen this long after pick-up before greeting
    voicemail_speech_s: float = 3.5  # uninterrupted speech this long at pick-up = a voicemail greeting
    no_input_s: float = 6.0  # silence after a question before it is asked again
    result_wait_s: float = 3.0  # after the end of speech, wait this long for the recogniser's result
    max_reprompts: int = 2  # silence / no-match re-prompts per question
    max_repeats: int = 2  # "9 repeat" replays of the reminder
    transfer_available: bool = False  # a nurse extension is configured for "0"


_GIVE_UP_NOTE = "机器人外呼：未收到可识别的回答"


class ReminderDialogue:
    """One call. ``handle(event)`` returns the actions to carry out; ``result`` is set once the call ended."""

    def __init__(self, prompts: Prompts, config: DialogueConfig | None = None) -> None:
        self.prompts = prompts
        self.config = config or DialogueConfig()
        self.phase = Phase.ringing
        self.result: CallResult | None = None
        self.answers: list[RecordedAnswer] = []
        self.question: ChoiceQuestion | None = None
        self._pending: CallResult | None = None  # decided, waiting for the closing prompt to finish
        self._closing_key = ""
        self._then_transfer = False
        self._prompt_key: str | None = None
        self._deadline: float | None = None
        self._voice_since: float | None = None
        self._screen_until = 0.0
        self._reprompts = 0
        self._repeats = 0

    # -- entry --------------------------------------------------------------------------------------------------
    def handle(self, event: Event) -> list[Action]:
        if self.phase is Phase.ended:
            return []
        if isinstance(event, RemoteHangup):
            return self._remote_hangup()
        if self.phase is Phase.ringing:
            if isinstance(event, Answered):
                self.phase, self._screen_until = Phase.screening, event.at_s + self.config.screening_s
            return []
        if self.phase is Phase.screening:
            return self._screen(event)
        if self.phase is Phase.closing:
            if isinstance(event, PromptDone) and event.key == self._closing_key:
                return self._finish()
            return []
        return self._ask(event)

    # -- screening: voicemail or a person ------------------------------------------------------------------------
    def _screen(self, event: Event) -> list[Action]:
        limit = self.config.voicemail_speech_s
        if isinstance(event, VoiceStarted):
            self._voice_since = event.at_s
        elif isinstance(event, VoiceEnded) and self._voice_since is not None:
            spoke = event.at_s - self._voice_since
            self._voice_since = None
            if spoke >= limit:
                return self._end(CallResult("voicemail", FollowUp.retry, note="接通后为语音信箱或录音"))
            if event.at_s >= self._screen_until:
                return self._greet()
        elif isinstance(event, Tick):
            if self._voice_since is not None and event.at_s - self._voice_since >= limit:
                return self._end(CallResult("voicemail", FollowUp.retry, note="接通后为语音信箱或录音"))
            if self._voice_since is None and event.at_s >= self._screen_until:
                return self._greet()
        elif isinstance(event, DtmfKey):
            return self._greet()  # a key at pick-up: a person is there
        return []

    def _greet(self) -> list[Action]:
        self.phase = Phase.asking
        return self._put(identity_question(self.prompts.script.locale), self.prompts.greeting())

    # -- asking a question ---------------------------------------------------------------------------------------
    def _put(self, question: ChoiceQuestion, prompt: Prompt) -> list[Action]:
        self.question, self._reprompts = question, 0
        return self._play_question(prompt)

    def _play_question(self, prompt: Prompt) -> list[Action]:
        assert self.question is not None
        self._prompt_key, self._deadline, self._voice_since = prompt.key, None, None
        return [Play(prompt), Listen(self.question)]

    def _ask(self, event: Event) -> list[Action]:
        q = self.question
        assert q is not None
        if isinstance(event, PromptDone):
            if event.key == self._prompt_key:
                self._prompt_key, self._deadline = None, event.at_s + self.config.no_input_s
            return []
        if isinstance(event, VoiceStarted):
            self._voice_since, self._deadline = event.at_s, None
            return []
        if isinstance(event, VoiceEnded):
            self._voice_since = None
            if self._prompt_key is None:
                self._deadline = event.at_s + self.config.result_wait_s
            return []
        if isinstance(event, Tick):
            if self._deadline is not None and event.at_s >= self._deadline:
                return self._no_answer()
            return []
        barge = [StopPrompt()] if self._prompt_key is not None else []
        if isinstance(event, DtmfKey):
            option = q.by_dtmf(event.digit)
            if option is None:
                return barge + self._no_answer()
            return barge + self._answer(option, RecordedAnswer(q.item_id, option.value, "dtmf", event.digit))
        if isinstance(event, Heard):
            option = q.by_value(event.value) if event.value is not None else None
            if option is None:
                if self._prompt_key is not None:
                    return []  # speech over the prompt that meant nothing: let the prompt go on
                return self._no_answer()
            recorded = RecordedAnswer(q.item_id, option.value, "asr", event.text, event.confidence,
                                      event.t0_s, event.t1_s)
            return barge + self._answer(option, recorded)
        return []

    def _no_answer(self) -> list[Action]:
        q = self.question
        assert q is not None
        self._reprompts += 1
        if self._reprompts <= self.config.max_reprompts:
            again = self.prompts.identity_again() if q.item_id == "identity" else self.prompts.sorry(q)
            return self._play_question(again)
        # give up on this question
        if q.item_id == "identity":
            return self._close_with(self.prompts.wrong_person(),
                                    CallResult("no_answer", FollowUp.retry, note="接通后无有效应答"))
        if q.item_id == "reschedule_when":
            return self._close_with(self.prompts.reschedule_notice(), self._reschedule(""))
        if q.item_id == "decline_reason":
            return self._close_with(self.prompts.decline_notice(), self._declined())
        return self._close_with(self.prompts.no_input_goodbye(),
                                CallResult("callback_requested", FollowUp.nurse_callback, note=_GIVE_UP_NOTE))

    def _answer(self, option: ChoiceOption, recorded: RecordedAnswer) -> list[Action]:
        q = self.question
        assert q is not None
        script = self.prompts.script
        if q.item_id == "identity":
            if option.value == "no":
                return self._close_with(self.prompts.wrong_person(),
                                        CallResult("wrong_number", FollowUp.next_number, note="接听者表示不是患者本人或家属"))
            return self._put(script.decision, self.prompts.reminder())
        self.answers.append(recorded)
        if q.item_id == "decision":
            return self._decide(option.value)
        if q.item_id == "reschedule_when":
            return self._close_with(self.prompts.reschedule_notice(), self._reschedule(option.value))
        return self._close_with(self.prompts.decline_notice(), self._declined(option.label))

    def _decide(self, value: str) -> list[Action]:
        script = self.prompts.script
        if value == "confirm":
            return self._close_with(self.prompts.confirm_notice(),
                                    CallResult("completed", FollowUp.close, note="机器人外呼：患者确认按时复诊"))
        if value == "reschedule":
            return self._put(script.reschedule_when, self.prompts.question(script.reschedule_when))
        if value == "decline":
            return self._put(script.decline_reason, self.prompts.question(script.decline_reason))
        if value == "repeat":
            self._repeats += 1
            if self._repeats > self.config.max_repeats:
                return self._close_with(self.prompts.no_input_goodbye(),
                                        CallResult("callback_requested", FollowUp.nurse_callback,
                                                   note="机器人外呼：患者多次要求重听"))
            self._reprompts = 0
            return self._play_question(self.prompts.reminder())
        # "nurse"
        if self.config.transfer_available:
            self._then_transfer = True
            return self._close_with(self.prompts.transfer(),
                                    CallResult("callback_requested", FollowUp.transfer, note="机器人外呼：患者要求转人工"))
        return self._close_with(self.prompts.nurse_callback(),
                                CallResult("callback_requested", FollowUp.nurse_callback, note="机器人外呼：患者要求转人工"))

    def _reschedule(self, preference: str) -> CallResult:
        label = self.prompts.script.reschedule_when.by_value(preference)
        note = f"机器人外呼：患者要求改期（{label.label if label else '时间未说明'}）"
        return CallResult("callback_requested", FollowUp.reschedule, note=note, preference=preference)

    def _declined(self, reason: str = "") -> CallResult:
        return CallResult("refused", FollowUp.stop, note=f"机器人外呼：患者表示不再复诊（{reason or '原因未说明'}）")

    # -- endings -------------------------------------------------------------------------------------------------
    def _close_with(self, prompt: Prompt, result: CallResult) -> list[Action]:
        self.phase, self._pending, self._closing_key = Phase.closing, result, prompt.key
        self._deadline = None
        return [Play(prompt)]

    def _finish(self) -> list[Action]:
        assert self._pending is not None
        last: Action = TransferToNurse() if self._then_transfer else HangUp()
        return self._end(self._pending, last)

    def _end(self, result: CallResult, last: Action | None = None) -> list[Action]:
        self.phase = Phase.ended
        self.result = CallResult(result.outcome, result.follow_up, tuple(self.answers), result.note,
                                 result.preference)
        return [last or HangUp()]

    def _remote_hangup(self) -> list[Action]:
        if self._pending is not None:  # decided already; the goodbye was cut short
            self._end(self._pending)
            return []
        decision = next((a.value for a in reversed(self.answers) if a.item_id == "decision"), None)
        if decision == "reschedule":
            self._end(self._reschedule(""))
        elif decision == "decline":
            self._end(self._declined())
        else:
            self._end(CallResult("hung_up", FollowUp.retry, note=f"患者在{self._where()}挂断"))
        return []

    def _where(self) -> str:
        if self.phase is Phase.screening:
            return "接通后问候前"
        return "确认身份时" if self.question and self.question.item_id == "identity" else "提醒过程中"


# ---- calls that were not answered ------------------------------------------------------------------------------

_SIP_OUTCOMES = {486: "busy", 600: "busy", 603: "busy", 408: "no_answer", 480: "no_answer", 487: "no_answer",
                 404: "number_invalid", 410: "number_invalid", 484: "number_invalid", 604: "number_invalid",
                 500: "switched_off", 502: "switched_off", 503: "switched_off", 504: "switched_off"}


def outcome_for_unanswered(sip_status: int) -> CallResult:
    """The outcome of a call that never connected, from the final SIP status."""
    code = _SIP_OUTCOMES.get(sip_status, "no_answer")
    follow = FollowUp.next_number if code == "number_invalid" else FollowUp.retry
    return CallResult(code, follow, note=f"SIP {sip_status}")
