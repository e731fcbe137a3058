"""`warm.schedule`: the EventBridge Scheduler expressions it accepts, checked before anything is registered.

A domain validator, pure (only the standard library): config/ checks the setting with it.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from components.model.cron import LAST_YEAR, Cron, CronError, parse_cron

# EventBridge Scheduler's expressions (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html).
# botocore's model bounds `ScheduleExpression` to 1..256 characters and gives no pattern, so the
# documented forms are checked here: `rate(value unit)`, `cron(6 fields)` (each field by range, in
# model/cron.py) and `at(yyyy-mm-ddThh:mm:ss)`. A rate's value is a positive whole number, its unit
# singular for 1 and plural otherwise, as EventBridge's rate reference says
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html#eb-rate-expressions):
# the smallest rate is `rate(1 minute)`.
SCHEDULE_EXPRESSION_MAX = 256
_RATE = re.compile(r"rate\(([0-9]|[1-9][0-9]+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((.*)\)")
_AT = re.compile(r"at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)")
SCHEDULE_EXAMPLES = "rate(1 day), rate(12 hours), cron(0 3 * * ? *) or at(2027-01-31T03:00:00)"


def schedule_expression_problem(expression: str) -> str | None:
    """Why EventBridge Scheduler would refuse `expression`, or None; for the `warm.schedule` setting."""
    if not 1 <= len(expression) <= SCHEDULE_EXPRESSION_MAX:
        return f"a schedule expression has 1 to {SCHEDULE_EXPRESSION_MAX} characters"
    if rate := _RATE.fullmatch(expression):
        return _rate_problem(int(rate[1]), rate[2])
    if cron := _CRON.fullmatch(expression):
        try:
            parse_cron(cron[1])
        except CronError as error:
            return f"{expression[:80]}: {error}"
        return None
    if at := _AT.fullmatch(expression):
        try:
            datetime.datetime.fromisoformat(at[1])
        except ValueError:
            return f"{at[1]!r} is not a date and time"
        return None
    return f"{expression[:80]!r} is not a schedule expression; for example {SCHEDULE_EXAMPLES}"


def _rate_problem(value: int, unit: str) -> str | None:
    if value == 0:
        return "a rate is at least 1 minute: rate(1 minute)"
    singular = not unit.endswith("s")
    if value == 1 and not singular:
        return f"rate(1 ...) takes a singular unit: rate(1 {unit.removesuffix('s')})"
    if value > 1 and singular:
        return f"rate({value} ...) takes a plural unit: rate({value} {unit}s)"
    return None


def schedule_expression_warning(expression: str) -> str | None:
    """A rate faster than daily buys nothing: ECR checks the upstream at most once per 24 hours
    (https://docs.aws.amazon.com/AmazonECR/latest/userguide/pull-through-cache.html)."""
    rate = _RATE.fullmatch(expression)
    if rate is None:
        return None
    minutes = int(rate[1]) * {"minute": 1, "hour": 60, "day": 1440}[rate[2].removesuffix("s")]
    if minutes >= 1440:
        return None
    return (
        f"warm.schedule {expression} runs more than once a day; ECR refreshes a cached tag at most once "
        "per 24 hours, so the extra runs cost Lambda time and refresh nothing"
    )


def timezone_problem(timezone: str) -> str | None:
    """Scheduler takes an IANA time zone name (ScheduleExpressionTimezone, 1 to 50 characters)."""
    try:
        if 1 <= len(timezone) <= 50:
            zoneinfo.ZoneInfo(timezone)
            return None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    return f"{timezone[:60]!r} is not a time zone name; for example UTC or Europe/Paris"


# The window whose runs decide a cron expression's longest gap: every day from 2026, before which no
# stack runs this code, to 2199, the last year Scheduler's cron fires in. The gap is measured on the
# runs themselves, not estimated from a sample: the year 2100, which has no 29 February, and every
# daylight-saving change the time zone database knows for those years are in it.
RECURRENCE_WINDOW = (datetime.date(2026, 1, 1), datetime.date(LAST_YEAR, 12, 31))
_UTC_NAMES = frozenset({"UTC", "Etc/UTC"})
_RATE_UNITS = {
    "minute": datetime.timedelta(minutes=1),
    "hour": datetime.timedelta(hours=1),
    "day": datetime.timedelta(days=1),
}


@dataclass(frozen=True)
class Recurrence:
    """How long a schedule can leave between two runs, or, when it does not keep running, why."""

    longest_gap: datetime.timedelta | None
    reason: str = ""


@functools.cache
def schedule_recurrence(expression: str, timezone: str = "UTC") -> Recurrence:
    """The longest time between two runs of a valid `expression` in `timezone`.

    A rate counts in fixed durations (a day is 24 hours, whatever the clocks do). A cron runs at
    local times; Scheduler skips a run whose local time does not exist (clocks going forward) and
    runs a repeated one once (https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst).
    """
    if rate := _RATE.fullmatch(expression):
        return Recurrence(int(rate[1]) * _RATE_UNITS[rate[2].removesuffix("s")])
    if _AT.fullmatch(expression):
        return Recurrence(None, f"{expression} runs once")
    cron = _CRON.fullmatch(expression)
    if cron is None:
        raise ValueError(f"{expression!r} is not a schedule expression")
    parsed = parse_cron(cron[1])
    if (last := max(parsed.years)) < LAST_YEAR:
        return Recurrence(None, f"{expression}: its year field ends it: no run after {last}")
    # UTC has no clock changes: the fixed-offset zone gives the same runs, several times faster.
    zone = datetime.UTC if timezone in _UTC_NAMES else zoneinfo.ZoneInfo(timezone)
    longest = _longest_cron_gap(parsed, zone)
    return Recurrence(longest, "" if longest is not None else f"{expression}: it never runs")


def _first_run(
    day: datetime.date, times: Iterable[tuple[int, int]], zone: datetime.tzinfo
) -> datetime.datetime | None:
    """The first of `times` on `day` that exists in `zone`, in UTC; None when the clocks skip them all."""
    for hour, minute in times:
        utc = datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(
            datetime.UTC
        )
        back = utc.astimezone(zone)  # a local time the clocks skipped comes back an hour off
        if (back.day, back.hour, back.minute) == (day.day, hour, minute):
            return utc
    return None


def _longest_cron_gap(cron: Cron, zone: datetime.tzinfo) -> datetime.timedelta | None:
    """The longest wait between runs over `RECURRENCE_WINDOW`: between a day's last run and the next
    day's first, or between two runs of one day; None when fewer than two runs happen."""
    times = cron.times_of_day()
    minutes = [hour * 60 + minute for hour, minute in times]
    longest = datetime.timedelta(minutes=max((b - a for a, b in itertools.pairwise(minutes)), default=0))
    previous: datetime.datetime | None = None
    runs = 0
    for day in cron.days(*RECURRENCE_WINDOW):
        first = _first_run(day, times, zone)
        if first is None:
            continue
        runs += 1
        if previous is not None:
            longest = max(longest, first - previous)
        previous = _first_run(day, reversed(times), zone)
    return longest if runs > 1 else None
