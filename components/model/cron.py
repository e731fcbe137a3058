"""EventBridge Scheduler's cron expressions: every field checked by range, and the days an expression fires on.

The grammar is AWS's cron reference
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html), whose six
fields Scheduler takes as they are
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html#cron-based):

    minutes 0-59, hours 0-23, day-of-month 1-31 (also L, nW), month 1-12 or JAN-DEC,
    day-of-week 1-7 or SUN-SAT (also L, nL, n#k), year 1970-2199;
    `,` lists, `-` ranges (a range may wrap: the reference's own `20-2` hours), `n/step`
    increments, `*` every value, and `?` in exactly one of day-of-month and day-of-week.

Forms the reference never shows (`*/5`, `0-30/5`, `LW`, `L-3`, `/` in day-of-week, lower-case
names) are refused with the documented spelling as the fix: Scheduler's parser is not published,
and a refusal here costs one edit, while an expression `CreateSchedule` refuses fails `pulumi up`
after other resources exist.

Semantics of L, W and # follow Quartz's cron, which AWS's reference mirrors: `nW` is the weekday
nearest day n within its month (never crossing into another month), `L` in day-of-week is
Saturday, `nL` the month's last day n of the week, `n#k` its k-th.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

_NUMBER = re.compile(r"[0-9]{1,4}")
_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_NEAREST_WEEKDAY = re.compile(r"([0-9]{1,2})W")
_LAST_WEEKDAY = re.compile(r"([0-9A-Z]+)L")
_NTH_WEEKDAY = re.compile(r"([0-9A-Z]+)#([0-9]+)")
WEEKS_IN_A_MONTH = 5
SATURDAY = 7


class CronError(ValueError):
    """A cron expression Scheduler would refuse; the message names the field and the value."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)
    wraps: bool = True

    @property
    def max_step(self) -> int:
        """Quartz refuses an increment past the field's largest value (59 minutes, 23 hours...)."""
        return min(self.high, self.high - self.low + 1)

    def fail(self, detail: str) -> CronError:
        return CronError(f"{self.name}: {detail}")

    def value(self, text: str) -> int:
        if text in self.names:
            return self.names[text]
        if not _NUMBER.fullmatch(text):
            names = list(self.names)
            hint = f" (or a name, {names[0]} to {names[-1]})" if names else ""
            raise self.fail(f"{text!r} is not a value{hint}")
        number = int(text)
        if not self.low <= number <= self.high:
            raise self.fail(f"{number} is outside {self.low}-{self.high}")
        return number

    def span(self, start: int, end: int) -> list[int]:
        if start <= end:
            return list(range(start, end + 1))
        if not self.wraps:
            raise self.fail(f"the range {start}-{end} runs backwards")
        return [*range(start, self.high + 1), *range(self.low, end + 1)]

    def values(self, text: str) -> frozenset[int]:
        """A list of `*`, values, ranges and `n/step` increments."""
        found: set[int] = set()
        for item in text.split(","):
            if item == "*":
                found.update(range(self.low, self.high + 1))
            elif item == "?":
                raise self.fail("'?' is only for day-of-month or day-of-week")
            elif "/" in item:
                found.update(self._increment(item))
            elif "-" in item and item.count("-") == 1 and all(item.split("-")):
                start, end = item.split("-")
                found.update(self.span(self.value(start), self.value(end)))
            else:
                found.add(self.value(item))
        return frozenset(found)

    def _increment(self, item: str) -> range:
        base, _, step_text = item.partition("/")
        if base == "*":
            raise self.fail(f"write '{self.low}/{step_text}', not '{item}' (the reference's form)")
        if "-" in base:
            raise self.fail(f"{item!r} is not a documented form; list the values, or use start/step")
        start = self.value(base)
        if not _NUMBER.fullmatch(step_text):
            raise self.fail(f"{step_text!r} is not an increment")
        step = int(step_text)
        if not 1 <= step <= self.max_step:
            raise self.fail(f"an increment of {step}; the field allows 1 to {self.max_step}")
        return range(start, self.high + 1, step)


MINUTES = _Field("minutes", 0, 59)
HOURS = _Field("hours", 0, 23)
DAY_OF_MONTH = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, _MONTHS)
DAY_OF_WEEK = _Field("day-of-week", 1, 7, _WEEKDAYS)
YEAR = _Field("year", 1970, 2199, wraps=False)
FIRST_YEAR, LAST_YEAR = YEAR.low, YEAR.high


def aws_weekday(day: date) -> int:
    """1 for Sunday to 7 for Saturday, as the day-of-week field counts."""
    return (day.weekday() + 1) % 7 + 1


@dataclass(frozen=True)
class DaysOfMonth:
    """Day-of-month: listed days, `L` (the last day), or `nW` (the weekday nearest day n)."""

    days: frozenset[int] = frozenset()
    last: bool = False
    nearest_weekday_to: int | None = None

    def in_month(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        if self.last:
            return [length]
        if self.nearest_weekday_to is not None:
            return _nearest_weekday(year, month, self.nearest_weekday_to, length)
        return sorted(day for day in self.days if day <= length)


def _nearest_weekday(year: int, month: int, day: int, length: int) -> list[int]:
    if day > length:
        return []
    weekday = aws_weekday(date(year, month, day))
    if weekday == SATURDAY:
        return [day - 1] if day > 1 else [day + 2]
    if weekday == 1:  # Sunday
        return [day + 1] if day < length else [day - 2]
    return [day]


@dataclass(frozen=True)
class DaysOfWeek:
    """Day-of-week: listed days, `nL` (the month's last day n) or `n#k` (its k-th day n)."""

    days: frozenset[int] = frozenset()
    last_of_month: int | None = None
    nth: tuple[int, int] | None = None

    def in_month(self, year: int, month: int) -> list[int]:
        length = calendar.monthrange(year, month)[1]
        first = aws_weekday(date(year, month, 1))
        weekday_of = [(first - 1 + offset) % 7 + 1 for offset in range(length)]
        if self.last_of_month is not None:
            return [max(day for day in range(1, length + 1) if weekday_of[day - 1] == self.last_of_month)]
        if self.nth is not None:
            weekday, week = self.nth
            matching = [day for day in range(1, length + 1) if weekday_of[day - 1] == weekday]
            return [matching[week - 1]] if week <= len(matching) else []
        return [day for day in range(1, length + 1) if weekday_of[day - 1] in self.days]


@dataclass(frozen=True)
class Cron:
    """A checked cron expression; `days_of_month` or `days_of_week` is None where the field is `?`."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: DaysOfMonth | None
    months: frozenset[int]
    days_of_week: DaysOfWeek | None
    years: frozenset[int]

    def times_of_day(self) -> list[tuple[int, int]]:
        """(hour, minute) pairs it fires at on a day it fires, earliest first."""
        return sorted((hour, minute) for hour in self.hours for minute in self.minutes)

    def days(self, first: date, last: date) -> Iterator[date]:
        """Every day it fires on from `first` to `last`, in order."""
        spec = self.days_of_month if self.days_of_month is not None else self.days_of_week
        assert spec is not None, "parse_cron leaves exactly one of the two day fields set"
        for year in sorted(year for year in self.years if first.year <= year <= last.year):
            for month in sorted(self.months):
                for day in spec.in_month(year, month):
                    when = date(year, month, day)
                    if first <= when <= last:
                        yield when


def _days_of_month(text: str) -> DaysOfMonth:
    if text == "L":
        return DaysOfMonth(last=True)
    if nearest := _NEAREST_WEEKDAY.fullmatch(text):
        return DaysOfMonth(nearest_weekday_to=DAY_OF_MONTH.value(nearest[1]))
    if "L" in text:
        raise DAY_OF_MONTH.fail("'L' stands alone (the last day of the month)")
    if "W" in text and text != "W":
        raise DAY_OF_MONTH.fail("'W' takes one day, alone: for example 15W")
    return DaysOfMonth(days=DAY_OF_MONTH.values(text))


def _days_of_week(text: str) -> DaysOfWeek:
    if text == "L":
        return DaysOfWeek(days=frozenset({SATURDAY}))
    if "#" in text:
        nth = _NTH_WEEKDAY.fullmatch(text)
        if nth is None:
            raise DAY_OF_WEEK.fail("'#' allows one expression, such as 3#2 (the second Tuesday)")
        week = int(nth[2])
        weekday = DAY_OF_WEEK.value(nth[1])
        if not 1 <= week <= WEEKS_IN_A_MONTH:
            raise DAY_OF_WEEK.fail(f"{text!r} names week {week}; a month has weeks 1-{WEEKS_IN_A_MONTH}")
        return DaysOfWeek(nth=(weekday, week))
    if last := _LAST_WEEKDAY.fullmatch(text):
        return DaysOfWeek(last_of_month=DAY_OF_WEEK.value(last[1]))
    if "/" in text:
        raise DAY_OF_WEEK.fail("'/' is not allowed here; list the days instead")
    if "L" in text:
        raise DAY_OF_WEEK.fail("'L' stands alone (Saturday) or after one day, such as 6L (the last Friday)")
    return DaysOfWeek(days=DAY_OF_WEEK.values(text))


def parse_cron(fields_text: str) -> Cron:
    """The six fields of `cron(...)`, checked; CronError names the first field Scheduler would refuse."""
    fields = fields_text.split(" ")
    if len(fields) != 6 or not all(fields):
        raise CronError(
            "a cron expression has six fields, one space apart: minutes hours day-of-month month day-of-week year"
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise CronError(
            "a cron expression takes '?' in exactly one of day-of-month and day-of-week (the other names the days)"
        )
    return Cron(
        minutes=MINUTES.values(minutes),
        hours=HOURS.values(hours),
        days_of_month=None if day_of_month == "?" else _days_of_month(day_of_month),
        months=MONTH.values(month),
        days_of_week=None if day_of_week == "?" else _days_of_week(day_of_week),
        years=YEAR.values(year),
    )
