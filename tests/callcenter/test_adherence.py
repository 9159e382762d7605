"""Script adherence (pure): mandatory questions reachable but not asked, and confirmed answers the patient's
words contradict (default parser: the script's own phrases; another parser can be injected)."""

from __future__ import annotations

import pytest

from callcenter.adherence import Heard, RecordedAnswer, check, disagreements, missing_items, phrase_parser
from scripts_questionnaires.engine import Engine
from scripts_questionnaires.loader import parse_script

SCRIPT = parse_script("""
key: qa_demo
version: 1
title: 质检示例
locale: zh-CN
items:
  - id: intro
    type: info
    text: 您好，这里是随访中心。
  - id: feeling
    type: single_choice
    text: 出院后感觉怎么样？
    options:
      - {value: better, label: 好多了, say: [好多了, 好很多]}
      - {value: same, label: 差不多, say: [差不多, 没有好多少]}
      - {value: worse, label: 更差了, say: [更差了, 不太好]}
  - id: smoker
    type: yes_no
    text: 您还抽烟吗？
  - id: cigarettes
    type: number
    text: 每天抽几支？
    when: smoker == 'yes'
    min: 1
    max: 80
  - id: remarks
    type: text
    text: 还有什么要告诉医生的吗？
    required: false
""").script
assert SCRIPT is not None


def _run(*answers: tuple[str, object]) -> dict:
    engine = Engine(SCRIPT)
    state = engine.start()
    if answers:
        state = engine.deliver(state, "intro")
    for item_id, value in answers:
        state = engine.answer(state, item_id, value)
    return state.to_dict()


@pytest.mark.parametrize(("text", "value"), [
    ("好多了", "better"),
    ("嗯 好 很多 了", "better"),
    ("没有好多少", "same"),  # the longer phrase wins over 好多 inside it
    ("好多了 又 不太好", None),  # two options: no opinion
    ("今天天气不错", None),
    ("", None),
])
def test_phrase_parser_reads_one_option_or_stays_silent(text, value):
    assert phrase_parser(SCRIPT.item("feeling"), text, "zh-CN") == value


def test_a_complete_run_has_nothing_missing():
    state = _run(("feeling", "better"), ("smoker", "no"))
    assert missing_items(SCRIPT, state) == ()


def test_a_required_question_left_out_is_missing_but_branches_not_taken_are_not():
    # smoker == yes makes "cigarettes" reachable and required; "remarks" is optional; info is not an answer
    state = _run(("feeling", "same"), ("smoker", "yes"))
    assert missing_items(SCRIPT, state) == ("cigarettes",)


def test_a_call_that_never_reached_the_questionnaire_is_not_checked():
    assert missing_items(SCRIPT, None) == ()
    assert missing_items(SCRIPT, _run()) == ()


def test_an_answer_the_patient_contradicted_is_flagged():
    answers = [RecordedAnswer("feeling", "better"), RecordedAnswer("smoker", "no")]
    heard = [Heard("nurse", "出院后感觉怎么样", "feeling"), Heard("patient", "没有好多少", "feeling")]
    found = disagreements(SCRIPT, answers, heard)
    assert [(d.item_id, d.recorded, d.heard, d.heard_value) for d in found] == [
        ("feeling", "better", "没有好多少", "same")]


def test_nurse_lines_and_agreeing_answers_are_not_flagged():
    answers = [RecordedAnswer("feeling", "worse")]
    heard = [Heard("nurse", "好多了吗", "feeling"), Heard("patient", "不太好", "feeling")]
    assert disagreements(SCRIPT, answers, heard) == ()


def test_without_a_transcript_the_recognised_text_of_an_asr_answer_is_compared():
    answers = [RecordedAnswer("feeling", "better", text="更差了", source="asr"),
               RecordedAnswer("smoker", "no", text="抽的", source="nurse")]  # typed notes are not speech
    assert [d.item_id for d in disagreements(SCRIPT, answers, [])] == ["feeling"]


def test_an_injected_parser_checks_numbers_too():
    def numbers(item, text, locale):
        digits = "".join(ch for ch in text if ch.isdigit())
        return int(digits) if item.id == "cigarettes" and digits else None

    answers = [RecordedAnswer("cigarettes", 5)]
    assert disagreements(SCRIPT, answers, [Heard("patient", "一天 5 支", "cigarettes")], numbers) == ()
    flagged = disagreements(SCRIPT, answers, [Heard("patient", "15 支吧", "cigarettes")], numbers)
    assert [(d.recorded, d.heard_value) for d in flagged] == [("5", "15")]


def test_check_flags_a_call_with_either_problem():
    state = _run(("feeling", "better"), ("smoker", "yes"))
    result = check(SCRIPT, state, [RecordedAnswer("feeling", "better")], [Heard("patient", "好多了", "feeling")])
    assert result.flagged and result.missing_items == ("cigarettes",) and result.disagreements == ()
    clean = check(SCRIPT, _run(("feeling", "better"), ("smoker", "no")), [RecordedAnswer("feeling", "better")],
                  [Heard("patient", "好多了", "feeling")])
    assert not clean.flagged
