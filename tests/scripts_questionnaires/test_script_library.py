"""Guard tests over the shipped library: every script passes the checker; the API the ASR and robot calls use."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts_questionnaires import ItemType, check_file, errors, library_paths, load_library

PATHS = library_paths()
EXPECTED_KEYS = {"discharge-general", "oncology-interval", "hypertension-chronic", "diabetes-chronic",
                 "post-surgical", "phq9", "gad7", "tumour-risk", "recall-reminder", "ko-test"}


def test_library_has_every_expected_script() -> None:
    assert set(load_library()) == EXPECTED_KEYS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_shipped_script_passes_the_checker(path: Path) -> None:
    assert errors(check_file(path)) == []


@pytest.mark.parametrize("key", sorted(EXPECTED_KEYS))
def test_every_option_has_spoken_phrases_in_the_script_locale(key: str) -> None:
    script = load_library()[key]
    for item in script.items:
        for value, phrases in item.phrases(script.locale).items():
            assert phrases, f"{key}/{item.id}/{value}"


def test_recall_reminder_options_carry_the_agreed_dtmf_keys() -> None:
    decision = load_library()["recall-reminder"].item("decision")
    assert decision.dtmf_map() == {"1": "confirm", "2": "reschedule", "3": "decline", "9": "repeat", "0": "nurse"}


def test_korean_test_script_has_yes_no_items_and_one_small_number_item() -> None:
    script = load_library()["ko-test"]
    assert script.locale == "ko-KR"
    types = [i.type for i in script.items]
    assert types.count(ItemType.yes_no) >= 2 and types.count(ItemType.number) == 1
    number = next(i for i in script.items if i.type == ItemType.number)
    assert number.range is not None and number.range.maximum <= 10
    yes_no = script.items[0].phrases("ko-KR")
    assert "네" in yes_no["yes"] and "아니요" in yes_no["no"]


def test_chinese_yes_no_defaults_include_colloquial_negatives() -> None:
    fever = load_library()["post-surgical"].item("fever")
    no = fever.phrases("zh-CN")["no"]
    assert {"没有", "没", "没得"} <= set(no)
    assert "有的" in fever.phrases("zh-CN")["yes"]
