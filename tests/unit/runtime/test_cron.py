"""Five-field cron for scheduled prompts: the dialect the API accepts and what `dexa serve` fires on."""

from __future__ import annotations

import datetime as dt

import pytest

from dexa.core.errors import ConfigError
from dexa.triggers.cron import DOW, parse

# Cron runs in the server's local time zone, so naive local datetimes are the right inputs here.
MON_0900 = dt.datetime(2026, 11, 23, 9, 0)  # a Monday
SUN_0930 = dt.datetime(2026, 11, 29, 9, 30)
MON_30TH = dt.datetime(2026, 11, 30, 0, 0)  # a Monday, on an even day


@pytest.mark.parametrize(
    ("expr", "when", "expected"),
    [
        ("0 9 * * 1-5", MON_0900, True),
        ("0 9 * * 1-5", SUN_0930, False),
        ("*/15 * * * *", SUN_0930, True),
        ("*/20 * * * *", SUN_0930, False),
        ("30 9 * * 0", SUN_0930, True),
        ("30 9 * * 7", SUN_0930, True),  # 7 is Sunday too
        ("0 9 23 * *", MON_0900, True),
        ("0 9 1 * 1", MON_0900, True),  # both day fields restricted: either matches
        ("0 9 1 * 2", MON_0900, False),
        ("0 9 * 12 *", MON_0900, False),
        ("0,30 9 * * *", SUN_0930, True),
        ("5-10/5 9 * * *", dt.datetime(2026, 11, 23, 9, 10), True),
        ("0 9 * * 1-5", MON_0900.replace(second=59), True),  # the whole minute is the firing time
        # Spellings croniter reads otherwise than cron; Dexa keeps cron's reading.
        ("5-5 * * * *", dt.datetime(2026, 11, 23, 9, 5), True),
        ("5-5 * * * *", dt.datetime(2026, 11, 23, 9, 6), False),  # croniter alone: every minute
        ("0 0 */2 * 1", MON_30TH, False),  # a day field starting with * makes the days AND (Vixie cron)
        ("0 0 */2 * 1", dt.datetime(2026, 11, 23, 0, 0), True),
        ("30 9 * * 1/3", SUN_0930, True),  # 1/3 in day-of-week is 1,4,7 and 7 is Sunday
        ("59/15 * * * *", dt.datetime(2026, 11, 23, 9, 59), True),
        ("59/15 * * * *", dt.datetime(2026, 11, 23, 9, 15), False),
    ],
)
def test_cron_expressions_match_like_cron(expr: str, when: dt.datetime, expected: bool) -> None:
    assert parse(expr).matches(when) is expected


@pytest.mark.parametrize(
    ("expr", "named"),
    [
        ("0 9 * *", "expected 5"),
        ("0 9 * * * *", "expected 5"),  # croniter would read a seconds field
        ("61 * * * *", "minute field"),
        ("* 24 * * *", "hour field"),
        ("* * 0 * *", "day-of-month field"),
        ("* * * 13 *", "month field"),
        ("* * * * 8", "day-of-week field"),
        ("* * * * mon", "day-of-week field"),  # names are croniter's, not POSIX's nor EventBridge's as written
        ("0 0 L * *", "day-of-month field"),
        ("0 0 * * 1#2", "day-of-week field"),
        ("H * * * *", "minute field"),
        ("*/0 * * * *", "step must be at least 1"),
        ("5-1 * * * *", "low to high"),  # croniter would wrap around the hour
        ("@daily", "expected 5"),
    ],
)
def test_an_expression_outside_the_dialect_is_refused_naming_the_field(expr: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        parse(expr)


def test_whitespace_is_normalised_and_fields_expand_to_their_numbers() -> None:
    cron = parse(" 0  8-10/2 * 1,6   5-7 ")
    assert cron.text == "0 8-10/2 * 1,6 5-7"
    assert cron.values(1) == [8, 10] and cron.values(3) == [1, 6]
    assert cron.values(DOW) == [0, 5, 6]  # 7 folds into Sunday
    assert parse("0 0 * * 0,7").values(DOW) == [0]
    assert parse("0 0 * * *").values(DOW) == list(range(7))
    assert parse("5-5 * * * *").values(0) == [5]
