"""Built-in answer phrases per locale (data): yes / no / don't know, hedges, and Korean numerals.

Scripts add their own spoken words per option; these tables cover what patients say to any yes/no question.
Longer phrases win over the shorter ones inside them (没有 over 有, 不太清楚 over 不), so negations and
"don't know" forms need no special code — add a phrase here when a new pattern shows up.
"""

from __future__ import annotations

from collections.abc import Mapping

YES, NO, UNKNOWN = "yes", "no", "unknown"

ZH_YES_NO: Mapping[str, tuple[str, ...]] = {
    YES: (
        "有", "有的", "有啊", "有呀", "有过", "有一点", "有点", "有些", "是", "是的", "是啊", "对", "对的", "对啊",
        "嗯", "嗯嗯", "好", "好的", "行", "可以", "没错", "当然", "会", "要", "需要", "吃了", "吃过", "在吃",
        "一直在吃", "按时吃", "去了", "去过", "做了", "做过", "测了", "量了", "不是没有", "挺好", "还行",
        "有时候", "偶尔",
    ),
    NO: (
        "没有", "没", "没得", "木有", "无", "不", "不是", "不对", "不会", "不要", "不用", "不需要", "没吃",
        "没去", "没做", "没量", "没测", "从来没有", "一次也没有", "都没有", "没有的", "还没", "还没有", "不行",
        "否", "没呢", "不太", "不怎么", "一点也没有", "一点都没有", "一直没有", "没有过", "没发生",
    ),
    UNKNOWN: (
        "不知道", "不清楚", "不太清楚", "不是很清楚", "不大清楚", "记不清", "记不清楚", "不记得", "记不得",
        "忘了", "忘记了", "说不好", "不好说", "说不清", "说不上来", "搞不清", "不确定", "没注意", "没留意",
        "不一定", "说不定", "不晓得", "不懂",
    ),
}

# Said before an answer to soften it (好像没有 "I don't think so"): the answer stands, the nurse confirms.
ZH_HEDGES: tuple[str, ...] = (
    "好像", "可能", "应该", "大概", "也许", "估计", "似乎", "貌似", "或许", "感觉", "我觉得", "我看", "我想",
    "印象中",
)

KO_YES_NO: Mapping[str, tuple[str, ...]] = {
    YES: ("네", "예", "응", "그래요", "맞아요", "맞습니다", "있어요", "있습니다", "했어요", "먹었어요", "먹었 어요",
          "좋아요", "그렇습니다"),
    NO: ("아니요", "아니오", "아니", "아니에요", "없어요", "없습니다", "안 했어요", "안 먹었어요", "안 먹었 어요",
         "아닙니다"),
    UNKNOWN: ("모르겠어요", "잘 모르겠어요", "몰라요", "모르겠 어요"),
}

KO_HEDGES: tuple[str, ...] = ("아마", "같아요", "같 아요")

# Sino-Korean numerals map one to one onto Chinese numeral characters (then cn2an reads them).
KO_SINO_DIGITS: Mapping[str, str] = {
    "영": "零", "공": "零", "일": "一", "이": "二", "삼": "三", "사": "四", "오": "五", "육": "六", "륙": "六",
    "칠": "七", "팔": "八", "구": "九", "십": "十", "백": "百", "천": "千",
}

# Native Korean numerals (counting things and age): value of each word.
KO_NATIVE_NUMBERS: Mapping[str, int] = {
    "하나": 1, "한": 1, "둘": 2, "두": 2, "셋": 3, "세": 3, "넷": 4, "네": 4, "다섯": 5, "여섯": 6, "일곱": 7,
    "여덟": 8, "아홉": 9, "열": 10, "스물": 20, "스무": 20, "서른": 30, "마흔": 40, "쉰": 50,
}


def yes_no_phrases(locale: str) -> Mapping[str, tuple[str, ...]]:
    return KO_YES_NO if locale.lower().startswith("ko") else ZH_YES_NO


def hedges(locale: str) -> tuple[str, ...]:
    return KO_HEDGES if locale.lower().startswith("ko") else ZH_HEDGES
