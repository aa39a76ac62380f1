"""Id numbers outside reports (issue 22, item 7): one masking function for every text halfsky writes out.

halfsky.untrusted_text.mask_id_numbers_in finds 18-character ids with separators inside and 15-digit
first-generation ids (halfsky.id_numbers.id_number_spans); the marts, their dbt test and the retention purge use
reference.mask_id_numbers, built from the same patterns, and must find the very same spans.
"""

from __future__ import annotations

import psycopg
import pytest

from halfsky.id_numbers import id_number_spans
from halfsky.untrusted_text import mask_id_numbers_in

ID = "150102198503150025"  # valid check digit
# (text, the ids in it as typed): every spelling a sender uses, and ordinary numbers that must stay.
CASES = [
    (f"王秀英_{ID}.json", [ID]),
    ("王秀英 身份证 150302 19850315 000X", ["150302 19850315 000X"]),
    ("王秀英 身份证 150302 19850315 000x", ["150302 19850315 000x"]),
    ("150102-1985-0315-0025", ["150102-1985-0315-0025"]),
    ("150102 - 19850315 - 0025 收", ["150102 - 19850315 - 0025"]),
    ("150102\u300019850315\u30000025", ["150102\u300019850315\u30000025"]),  # full-width spaces
    ("１５０１０２１９８５０３１５００２５", ["１５０１０２１９８５０３１５００２５"]),  # full-width digits
    ("150102 1985-0315_0025", ["150102 1985-0315_0025"]),  # mixed
    ("150102198503150029 (check digit mistyped)", ["150102198503150029"]),
    ("老身份证 150302850315001 王秀英", ["150302850315001"]),  # 15 digits: region, YYMMDD, 3
    ("150302 850315 001", ["150302 850315 001"]),
    ("two: 150102198503150025, 150302850315001.", ["150102198503150025", "150302850315001"]),
    ("20260915 150102198503150025", ["150102198503150025"]),
    # ordinary numbers: no province code or no real date where an id has one, or inside a longer run of digits
    ("付-2026-09-000001", []),
    ("1501021985031500251", []),
    ("金额 123456789012345.67 元", []),
    ("区划 150102, 日期 2026-09-15, 凭证 V-2026-09-1", []),
    ("990102198503150025", []),  # 99 is no province
    ("150102198513150025", []),  # month 13
    ("150102190002290025", []),  # 1900 was no leap year
    ("150302851332001", []),  # 15 digits, no real date
    ("6222021234567890123", []),  # a bank card
    ("电话 13800138000 / 0471-1234567", []),
    ("", []),
]


@pytest.mark.parametrize("text,ids", CASES)
def test_the_masking_function_finds_every_spelling_and_leaves_ordinary_numbers(text, ids):
    assert [text[a:b] for a, b in id_number_spans(text)] == ids
    masked = mask_id_numbers_in(text)
    for typed in ids:
        assert typed not in masked
        assert typed[-4:] in masked or typed[-3:] in masked  # the last four characters stay, for the prefecture
    if not ids:
        assert masked == text


def test_the_warehouse_finds_the_same_spans_as_python(warehouse):
    """reference.id_number_spans (the marts, their dbt test, the purge) against id_number_spans, case by case."""
    with psycopg.connect(warehouse) as conn:
        for text, _ in CASES:
            for checked in (True, False):
                spans = conn.execute("select span_start, span_end from reference.id_number_spans(%s, %s)",
                                     (text, checked)).fetchall()
                assert [tuple(s) for s in spans] == id_number_spans(text, checked=checked), (text, checked)
            masked = conn.execute("select reference.mask_id_numbers(%s)", (text,)).fetchone()[0]
            assert not any(text[a:b] in masked for a, b in id_number_spans(text)), text
