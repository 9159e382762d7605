"""Hypothesis strategies: valid answers for any item of any script."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from scripts_questionnaires import Item, ItemType


def valid_value(item: Item) -> st.SearchStrategy[object]:
    kind = item.type
    if kind in (ItemType.yes_no, ItemType.single_choice):
        return st.sampled_from(item.option_values)
    if kind == ItemType.multi_choice:
        exclusive = [o.value for o in item.options if o.exclusive]
        others = [o.value for o in item.options if not o.exclusive]
        subsets = st.lists(st.sampled_from(others), min_size=1, unique=True)
        return st.one_of(subsets, st.sampled_from(exclusive).map(lambda v: [v])) if exclusive else subsets
    if kind in (ItemType.number, ItemType.scale, ItemType.duration):
        assert item.range is not None
        factor = 10 ** item.range.decimals
        lo, hi = round(item.range.minimum * factor), round(item.range.maximum * factor)
        return st.integers(lo, hi).map(lambda n: n / factor if factor > 1 else n)
    if kind == ItemType.blood_pressure:
        assert item.range is not None and item.diastolic is not None
        dia = item.diastolic

        def pair(systolic: int) -> st.SearchStrategy[object]:
            top = min(int(dia.maximum), systolic - 1)
            return st.integers(int(dia.minimum), top).map(lambda d: {"systolic": systolic, "diastolic": d})

        return st.integers(max(int(item.range.minimum), int(dia.minimum) + 1), int(item.range.maximum)).flatmap(pair)
    if kind == ItemType.date:
        return st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat)
    if kind == ItemType.info:
        return st.just(True)
    if kind == ItemType.appointment:
        departments = st.sampled_from(item.departments) if item.departments else st.just("")
        return st.fixed_dictionaries({"department": departments,
                                      "date": st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)).map(str)})
    return st.text(alphabet="有没好不痛三天abc", min_size=1, max_size=8)
