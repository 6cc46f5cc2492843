"""Five-field cron matching for local schedules."""

from __future__ import annotations

import datetime as dt

import pytest

# Cron runs in the server's local time zone, so naive local datetimes are the right inputs here.
from dexa.runtime.scheduler import cron_matches

MON_0900 = dt.datetime(2026, 11, 23, 9, 0)  # a Monday
SUN_0930 = dt.datetime(2026, 11, 29, 9, 30)


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
    ],
)
def test_cron_expressions_match_like_cron(expr: str, when: dt.datetime, expected: bool) -> None:
    assert cron_matches(expr, when) is expected
