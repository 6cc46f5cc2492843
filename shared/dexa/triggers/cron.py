"""Five-field cron, as scheduled prompts use it: one reading of an expression for the API's check, `dexa serve`'s
scheduler loop and the EventBridge translation, with croniter doing the expanding and matching.

The dialect is POSIX crontab's (numbers, `*`, lists, ranges, steps): no names, `L`, `#`, `H`, `@daily` or
seconds field, because EventBridge Scheduler has to express every schedule the API accepts. croniter reads two
of those spellings otherwise than cron does, so `_for_croniter` rewrites them first:
- an equal range (`5-5`) is croniter's whole cycle ("Jan-Jan"); cron means the one value;
- `N/S` in day-of-week runs up to 7 (Sunday again) in cron and to 6 in croniter.
And when both day fields are restricted, Vixie cron ORs them only if neither starts with `*` (so `*/2` counts as
unrestricted); croniter ORs them whenever neither is exactly `*`. `matches` passes `day_or` accordingly.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from dexa.core.errors import ConfigError

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
DOM, DOW = 2, 4
_PART = re.compile(r"^(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?$")


@dataclass(frozen=True)
class Cron:
    """A checked expression; `text` is what the user wrote, with single spaces."""

    text: str

    @property
    def fields(self) -> list[str]:
        return self.text.split()

    def matches(self, when: dt.datetime) -> bool:
        """Whether `when` (to the minute, in whatever zone the caller's clock is) is a firing time."""
        dom, dow = self.fields[DOM], self.fields[DOW]
        day_or = not (dom.startswith("*") or dow.startswith("*"))
        from croniter import croniter

        return bool(croniter.match(_for_croniter(self.text), when, day_or=day_or))

    def values(self, index: int) -> list[int]:
        """The numbers field `index` selects, ascending; day-of-week as 0-6 from Sunday (7 folds into 0)."""
        from croniter import croniter

        expanded = croniter.expand(_for_croniter(self.text))[0][index]
        if expanded == ["*"]:
            lo, hi = RANGES[index]
            return list(range(lo, min(hi, 6) + 1 if index == DOW else hi + 1))
        return sorted({int(v) for v in expanded})


def parse(expr: str) -> Cron:
    """Check a five-field expression.

    Raises:
        ConfigError: not five fields, a part outside the dialect, a value out of its field's range, a
            reversed range or a zero step; the message names the field.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ConfigError(
            f"cron {expr!r}: expected 5 space-separated fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}"
        )
    for value, (lo, hi), name in zip(fields, RANGES, FIELDS, strict=True):
        for part in value.split(","):
            m = _PART.match(part)
            if m is None:
                raise ConfigError(f"cron {name} field {value!r}: {part!r} is not *, N, N-M or one of those with /STEP")
            base, step = m.group(1), m.group(3)
            nums = [] if base == "*" else [int(n) for n in base.split("-")]
            if any(n < lo or n > hi for n in nums):
                raise ConfigError(f"cron {name} field {value!r}: values must be within {lo}-{hi}")
            if len(nums) == 2 and nums[0] > nums[1]:
                raise ConfigError(f"cron {name} field {value!r}: a range runs from low to high ({part!r})")
            if step is not None and int(step[1:]) == 0:
                raise ConfigError(f"cron {name} field {value!r}: step must be at least 1")
    text = " ".join(fields)
    # Imported here: the API checks crons, but importing croniter (and dateutil) costs its cold start ~30-60 ms.
    from croniter import CroniterError, croniter

    try:
        croniter.expand(_for_croniter(text))
    except CroniterError as exc:  # the checks above should leave croniter nothing to refuse
        raise ConfigError(f"cron {expr!r}: {exc}") from exc
    return Cron(text)


def _for_croniter(text: str) -> str:
    """The same schedule, spelled so that croniter reads it as cron does (see the module docstring)."""
    fields = text.split()
    for index, value in enumerate(fields):
        parts = []
        for part in value.split(","):
            base, slash, step = part.partition("/")
            if index == DOW and slash and base.isdigit():
                base = f"{base}-7"
            first, dash, last = base.partition("-")
            parts.append(first if dash and first == last else f"{base}{slash}{step}")
        fields[index] = ",".join(parts)
    return " ".join(fields)


def _simple(cron: Cron, index: int) -> str:
    """`*` and `*/n` as EventBridge writes them; anything else as the explicit list it means."""
    field = cron.fields[index]
    if field == "*":
        return "*"
    if field.startswith("*/"):
        return f"{RANGES[index][0]}/{field[2:]}"
    return ",".join(str(v) for v in cron.values(index))


def eventbridge_cron(expr: str) -> str:
    """`m h dom mon dow` (Unix cron) -> `cron(m h dom mon dow *)` (EventBridge Scheduler's six fields, with a `?`
    in one day field and weekdays 1-7 from Sunday; dexa.adapters.aws.schedules is handed this).

    Raises:
        ConfigError: not a valid five-field cron, or both day fields restricted (Unix cron ORs them; EventBridge
            cannot).
    """
    cron = parse(expr)
    dom, dow = cron.fields[DOM], cron.fields[DOW]
    if dom != "*" and dow != "*":
        raise ConfigError(
            f"cron {expr!r}: EventBridge Scheduler cannot restrict both day-of-month and day-of-week; "
            "keep one of them `*` (or create two schedules)"
        )
    m, h, mo = _simple(cron, 0), _simple(cron, 1), _simple(cron, 3)
    if dow == "*":
        days, weekdays = _simple(cron, DOM), "?"
    else:
        # Unix 0/7 = Sunday, EventBridge 1 = Sunday ... 7 = Saturday.
        days, weekdays = "?", ",".join(str(d + 1) for d in cron.values(DOW))
    return f"cron({m} {h} {days} {mo} {weekdays} *)"
