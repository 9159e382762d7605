"""What the reminder robot says: prompt texts, the speaking rate for older patients, and the recall script's
questions in the form the dialogue needs (pure; the texts are zh-CN like the script).

The questions, their DTMF keys and spoken phrases come from the recall-reminder script
(``scripts_questionnaires/library/recall_reminder.yaml``): doctors change the wording there, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from scripts_questionnaires.model import Item, Script

DEFAULT_RATE_WPM = 165  # espeak-ng words per minute for a telephone prompt
OLDER_RATE_WPM = 135  # 65 years and older
OLDEST_RATE_WPM = 115  # 80 years and older

# ids of the items the reminder dialogue walks (recall_reminder.yaml)
DECISION, RESCHEDULE_WHEN, DECLINE_REASON = "decision", "reschedule_when", "decline_reason"
CONFIRM_NOTICE, RESCHEDULE_NOTICE = "confirm_notice", "reschedule_notice"
REQUIRED_ITEMS = (DECISION, RESCHEDULE_WHEN, DECLINE_REASON, CONFIRM_NOTICE, RESCHEDULE_NOTICE)
DECISION_VALUES = ("confirm", "reschedule", "decline", "repeat", "nurse")

# prompts that name the patient or the appointment: always synthesised; the others may be staff recordings
PERSONAL_PROMPTS = frozenset({"greeting", "identity_again", "reminder"})

IDENTITY_OPTIONS = (
    # (value, dtmf key): the patient or a family member / someone else; phrases per locale below
    ("yes", "1"),
    ("no", "2"),
)
IDENTITY_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "zh-CN": {"yes": ("是", "是的", "对", "对的", "我是", "是我", "家属", "我是家属", "嗯"),
              "no": ("不是", "打错了", "不认识", "没有这个人", "错了")},
    "ko-KR": {"yes": ("네", "예", "맞아요", "네 맞아요", "가족이에요"), "no": ("아니요", "아니에요", "잘못 거셨어요")},
}


class RobocallScriptError(ValueError):
    """The recall script lacks an item or option the robot needs; the message says which."""


def speech_rate_wpm(age_years: int | None) -> int:
    """Slower prompts for older patients (they ask for repeats far less when spoken to slowly)."""
    if age_years is None or age_years < 65:
        return DEFAULT_RATE_WPM
    return OLDER_RATE_WPM if age_years < 80 else OLDEST_RATE_WPM


@dataclass(frozen=True)
class Prompt:
    key: str  # stable name of the prompt ("greeting", "decision", "sorry" …): recorded WAVs are found by it
    text: str
    rate_wpm: int = DEFAULT_RATE_WPM


@dataclass(frozen=True)
class ChoiceOption:
    value: str
    label: str
    dtmf: str
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class ChoiceQuestion:
    item_id: str
    text: str
    options: tuple[ChoiceOption, ...]
    required: bool = True

    def by_dtmf(self, digit: str) -> ChoiceOption | None:
        return next((o for o in self.options if o.dtmf == digit), None)

    def by_value(self, value: str) -> ChoiceOption | None:
        return next((o for o in self.options if o.value == value), None)

    @property
    def phrases(self) -> tuple[str, ...]:
        """Every phrase of every option (the ASR grammar of this question)."""
        return tuple(dict.fromkeys(p for o in self.options for p in o.phrases))

    def match(self, text: str) -> str | None:
        """The option an utterance means by its phrases: exact first, then the longest phrase it contains.

        A plain fallback; the speech side may map utterances with its own tolerant matcher instead."""
        said = "".join(text.split())
        pairs = sorted(((p.replace(" ", ""), o.value) for o in self.options for p in o.phrases),
                       key=lambda pair: -len(pair[0]))
        for phrase, value in pairs:
            if said == phrase:
                return value
        for phrase, value in pairs:
            if phrase and phrase in said:
                return value
        return None


@dataclass(frozen=True)
class ReminderFacts:
    """What the robot tells one patient. ``salutation`` is 张先生 (never the full name to a stranger)."""

    hospital: str
    salutation: str
    department: str
    date_text: str  # 12月3日
    time_text: str = ""  # 上午9:30
    place: str = ""
    age_years: int | None = None


@dataclass(frozen=True)
class ReminderScript:
    key: str
    version: int
    decision: ChoiceQuestion
    reschedule_when: ChoiceQuestion
    decline_reason: ChoiceQuestion
    confirm_notice: str
    reschedule_notice: str
    closing: str
    locale: str = "zh-CN"


def _question(item: Item, locale: str) -> ChoiceQuestion:
    options = []
    for o in item.options:
        if not o.dtmf:
            raise RobocallScriptError(f"option {o.value!r} of item {item.id!r} needs a dtmf key for robot calls")
        options.append(ChoiceOption(o.value, o.label, o.dtmf, o.phrases(locale)))
    return ChoiceQuestion(item.id, item.text, tuple(options), item.required)


def reminder_script_from(script: Script, locale: str | None = None) -> ReminderScript:
    """The robot's view of the recall-reminder script; raises RobocallScriptError naming what is missing."""
    missing = [i for i in REQUIRED_ITEMS if not script.has_item(i)]
    if missing:
        raise RobocallScriptError(f"script {script.key!r} lacks the items {missing} that robot reminder calls walk")
    loc = locale or script.locale
    decision = _question(script.item(DECISION), loc)
    absent = [v for v in DECISION_VALUES if decision.by_value(v) is None]
    if absent:
        raise RobocallScriptError(f"item 'decision' of script {script.key!r} lacks the options {absent}")
    return ReminderScript(
        key=script.key, version=script.version, decision=decision,
        reschedule_when=_question(script.item(RESCHEDULE_WHEN), loc),
        decline_reason=_question(script.item(DECLINE_REASON), loc),
        confirm_notice=script.item(CONFIRM_NOTICE).text, reschedule_notice=script.item(RESCHEDULE_NOTICE).text,
        closing=script.closing or "感谢您的接听，再见。", locale=loc,
    )


def identity_question(locale: str = "zh-CN") -> ChoiceQuestion:
    phrases = IDENTITY_PHRASES.get(locale, IDENTITY_PHRASES["zh-CN"])
    return ChoiceQuestion("identity", "", tuple(ChoiceOption(v, v, d, phrases[v]) for v, d in IDENTITY_OPTIONS))


class Prompts:
    """The prompt texts of one call, at the patient's speaking rate."""

    def __init__(self, facts: ReminderFacts, script: ReminderScript) -> None:
        self.facts = facts
        self.script = script
        self.rate = speech_rate_wpm(facts.age_years)

    def _p(self, key: str, text: str) -> Prompt:
        return Prompt(key, text, self.rate)

    def greeting(self) -> Prompt:
        f = self.facts
        return self._p("greeting", f"您好，这里是{f.hospital}随访中心的语音助手。请问您是{f.salutation}本人或家属吗？"
                                   "是请按1或说“是”，不是请按2。")

    def identity_again(self) -> Prompt:
        return self._p("identity_again", f"抱歉，没有听清。请问您是{self.facts.salutation}本人或家属吗？"
                                         "是请按1，不是请按2。")

    def reminder(self) -> Prompt:
        f = self.facts
        when = f"{f.date_text}{f.time_text}"
        place = f"，地点在{f.place}" if f.place else ""
        return self._p("reminder", f"提醒您，{f.salutation}在{f.department}的复诊时间是{when}{place}。"
                                   f"{self.script.decision.text}")

    def question(self, question: ChoiceQuestion) -> Prompt:
        return self._p(question.item_id, question.text)

    def sorry(self, question: ChoiceQuestion) -> Prompt:
        return self._p(f"sorry_{question.item_id}", f"抱歉，没有听清。{question.text}")

    def confirm_notice(self) -> Prompt:
        return self._p("confirm_notice", f"{self.script.confirm_notice}{self.script.closing}")

    def reschedule_notice(self) -> Prompt:
        return self._p("reschedule_notice", f"{self.script.reschedule_notice}{self.script.closing}")

    def decline_notice(self) -> Prompt:
        return self._p("decline_notice", f"好的，已为您记录。{self.script.closing}")

    def transfer(self) -> Prompt:
        return self._p("transfer", "正在为您转接护士，请稍候。")

    def nurse_callback(self) -> Prompt:
        return self._p("nurse_callback", f"好的，护士会尽快给您回电。{self.script.closing}")

    def no_input_goodbye(self) -> Prompt:
        return self._p("no_input_goodbye", f"抱歉，没有收到您的回答，稍后护士会与您联系。{self.script.closing}")

    def wrong_person(self) -> Prompt:
        return self._p("wrong_person", "抱歉打扰您了，再见。")

    def all(self) -> tuple[Prompt, ...]:
        """Every prompt this call may play (synthesised ahead, outside the telephony process)."""
        s = self.script
        return (
            self.greeting(), self.identity_again(), self.reminder(), self.question(s.reschedule_when),
            self.question(s.decline_reason), self.sorry(s.decision), self.sorry(s.reschedule_when),
            self.sorry(s.decline_reason), self.confirm_notice(), self.reschedule_notice(), self.decline_notice(),
            self.transfer(), self.nurse_callback(), self.no_input_goodbye(), self.wrong_person(),
        )
