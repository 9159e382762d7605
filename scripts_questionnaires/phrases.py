"""Default options of a yes/no item: what patients actually say for yes and no, per locale.

A script may override them by listing ``options`` with values ``yes`` and ``no`` on the item. The defaults
mix the two ways Chinese answers a yes/no question: by echoing the verb (有/没有, 是/不是, 会/不会) and by
assent words (对/嗯). Options of choice items carry their own phrases; these are only the yes/no defaults.
"""

from __future__ import annotations

from scripts_questionnaires.model import Option

YES_NO_LABELS: dict[str, tuple[str, str]] = {
    "zh-CN": ("是", "否"),
    "ko-KR": ("네", "아니요"),
    "en-US": ("Yes", "No"),
}

YES_NO_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "zh-CN": {
        "yes": ("有", "有的", "有啊", "有一点", "是", "是的", "是啊", "对", "对的", "对对", "嗯", "嗯嗯", "会",
                "会的", "好", "好的", "可以", "行", "按时", "一直有"),
        "no": ("没有", "没", "没得", "没有的", "没有啊", "无", "不是", "不是的", "不", "不对", "不会", "没有了",
               "一点都没有", "从来没有", "不用", "否"),
    },
    "ko-KR": {
        "yes": ("네", "예", "응", "네 맞아요", "맞아요", "그래요", "있어요", "네 있어요"),
        "no": ("아니요", "아니오", "아니", "아니에요", "없어요", "아니요 없어요", "안 했어요"),
    },
    "en-US": {
        "yes": ("yes", "yeah", "yep", "right", "I do", "I have"),
        "no": ("no", "nope", "not really", "I don't", "never"),
    },
}


def default_yes_no_options(locale: str) -> tuple[Option, Option]:
    """The ``yes`` and ``no`` options, labelled in ``locale``, with every locale's default phrases."""
    yes_say = {loc: p["yes"] for loc, p in YES_NO_PHRASES.items()}
    no_say = {loc: p["no"] for loc, p in YES_NO_PHRASES.items()}
    yes_label, no_label = yes_no_labels(locale)
    return (Option("yes", yes_label, yes_say), Option("no", no_label, no_say))


def yes_no_labels(locale: str) -> tuple[str, str]:
    return YES_NO_LABELS.get(locale, YES_NO_LABELS["zh-CN"])
