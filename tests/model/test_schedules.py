"""`warm.schedule`: the EventBridge Scheduler expressions and time zones accepted, and the warning."""

from __future__ import annotations

from datetime import timedelta

import pytest

from components.model.schedules import (
    schedule_expression_problem,
    schedule_expression_warning,
    schedule_recurrence,
    timezone_problem,
)


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 day)",
        "rate(12 hours)",
        "rate(30 minutes)",
        "cron(0 3 * * ? *)",
        "cron(15 2 ? * MON-FRI *)",
        "cron(0/30 * * * ? *)",
        "at(2027-01-31T03:00:00)",
    ],
)
def test_documented_schedule_expressions_are_accepted(expression: str) -> None:
    assert schedule_expression_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(0 days)", "a rate is at least 1 minute"),
        ("rate(1 week)", "is not a schedule expression"),
        ("daily", "is not a schedule expression"),
        ("cron(0 3 * * *)", "has six fields"),
        ("cron(0 3 1 * MON *)", "'?' in exactly one of day-of-month and day-of-week"),
        ("at(2027-02-30T03:00:00)", "is not a date and time"),
        ("", "1 to 256 characters"),
        ("cron(" + "1," * 200 + "1 * * * ? *)", "1 to 256 characters"),
    ],
)
def test_schedule_expressions_scheduler_would_refuse_are_named(expression: str, message: str) -> None:
    problem = schedule_expression_problem(expression)
    assert problem is not None and message in problem


def test_a_schedule_more_often_than_daily_is_warned_about() -> None:
    assert schedule_expression_warning("rate(1 day)") is None
    assert schedule_expression_warning("cron(0 3 * * ? *)") is None
    warning = schedule_expression_warning("rate(6 hours)")
    assert warning is not None and "at most once per 24 hours" in warning


def test_schedule_time_zones_are_iana_names() -> None:
    assert timezone_problem("UTC") is None and timezone_problem("Australia/Sydney") is None
    for bad in ("Mars/Olympus", "", "../../etc/passwd", "x" * 51):
        problem = timezone_problem(bad)
        assert problem is not None and "is not a time zone name" in problem


# AWS's own examples, from the EventBridge cron reference
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html) and the
# Scheduler user guide (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html).
DOCUMENTED_CRON = [
    "cron(0 10 * * ? *)",
    "cron(15 12 * * ? *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 8 1 * ? *)",
    "cron(0/15 * * * ? *)",
    "cron(0/10 * ? * MON-FRI *)",
    "cron(0/5 8-17 ? * MON-FRI *)",
    "cron(0/30 20-2 ? * MON-FRI *)",  # a range that wraps past midnight
    "cron(0 12 * * ? *)",
    "cron(5,35 14 * * ? *)",
    "cron(15 10 ? * 6L 2019-2022)",  # the last Friday of each month
    "cron(0 9 ? * 2#1 *)",  # the first Monday of each month
    "cron(0 3 L * ? *)",  # the last day of the month
    "cron(0 3 3W * ? *)",  # the weekday nearest the 3rd
    "cron(0 3 ? * L *)",  # the last day of the week
    "cron(0 0 1 JAN,FEB,MAR ? *)",
    "cron(59 23 31 12 ? 2199)",
    "cron(0 0 1 1 ? 1970)",
    "cron(0 0 1-15 * ? *)",
    "cron(1/10 * * * ? *)",
    "cron(0 0 ? * SUN,SAT *)",
    "cron(0 0 ? 1-6 7 *)",
    "cron(0 0 1/7 * ? 2030/2)",
]


@pytest.mark.parametrize("expression", DOCUMENTED_CRON)
def test_every_documented_cron_form_is_accepted(expression: str) -> None:
    assert schedule_expression_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 24 * * ? *)", "hours: 24 is outside 0-23"),
        ("cron(61 3 * * ? *)", "minutes: 61 is outside 0-59"),
        ("cron(60 3 * * ? *)", "minutes: 60 is outside 0-59"),
        ("cron(0 3 * 13 ? *)", "month: 13 is outside 1-12"),
        ("cron(0 3 * 0 ? *)", "month: 0 is outside 1-12"),
        ("cron(0 3 * * ? 1969)", "year: 1969 is outside 1970-2199"),
        ("cron(0 3 * * ? 2200)", "year: 2200 is outside 1970-2199"),
        ("cron(0 3 32 * ? *)", "day-of-month: 32 is outside 1-31"),
        ("cron(0 3 0 * ? *)", "day-of-month: 0 is outside 1-31"),
        ("cron(0 3 ? * 8 *)", "day-of-week: 8 is outside 1-7"),
        ("cron(0 3 ? * 0 *)", "day-of-week: 0 is outside 1-7"),
        ("cron(0 3 * JANUARY ? *)", "month: 'JANUARY' is not a value"),
        ("cron(0 3 ? * MON-FRY *)", "day-of-week: 'FRY' is not a value"),
        ("cron(0 3 * jan ? *)", "month: 'jan' is not a value"),
        ("cron(0 3 * * * *)", "'?' in exactly one of day-of-month and day-of-week"),
        ("cron(0 3 ? * ? *)", "'?' in exactly one of day-of-month and day-of-week"),
        ("cron(0 3 1 * MON *)", "'?' in exactly one of day-of-month and day-of-week"),
        ("cron(? 3 * * ? *)", "minutes: '?' is only for day-of-month or day-of-week"),
        ("cron(0 3 * * ? ?)", "year: '?' is only for day-of-month or day-of-week"),
        ("cron(L 3 * * ? *)", "minutes: 'L' is not a value"),
        ("cron(0 3 * * 2#1 *)", "'?' in exactly one"),
        ("cron(0 3 ? * 3#1,6#3 *)", "day-of-week: '#' allows one expression"),
        ("cron(0 3 ? * 3#6 *)", "day-of-week: '3#6' names week 6; a month has weeks 1-5"),
        ("cron(0 3 ? * 8#1 *)", "day-of-week: 8 is outside 1-7"),
        ("cron(0 3 ? * 8L *)", "day-of-week: 8 is outside 1-7"),
        ("cron(0 3 32W * ? *)", "day-of-month: 32 is outside 1-31"),
        ("cron(0 3 1W,15 * ? *)", "day-of-month: 'W' takes one day"),
        ("cron(0 3 L,15 * ? *)", "day-of-month: 'L' stands alone"),
        ("cron(0 3 ? * 1/2 *)", "day-of-week: '/' is not allowed here"),
        ("cron(0 3 W * ? *)", "day-of-month: 'W' is not a value"),
        ("cron(0 3 * * L *)", "'?' in exactly one"),
        ("cron(0/0 3 * * ? *)", "minutes: an increment of 0"),
        ("cron(0/60 3 * * ? *)", "minutes: an increment of 60"),
        ("cron(*/5 3 * * ? *)", "minutes: write '0/5', not '*/5'"),
        ("cron(0-30/5 3 * * ? *)", "minutes: '0-30/5' is not a documented form"),
        ("cron(0 3 * * ? 2030-2020)", "year: the range 2030-2020 runs backwards"),
        ("cron(0 3 1,,2 * ? *)", "day-of-month: '' is not a value"),
        ("cron(0 3 1- * ? *)", "day-of-month: '1-' is not a value"),
        ("cron(0  3 * * ? *)", "six fields"),
        ("cron(0 3 * * ?)", "six fields"),
        ("cron(0 3 * * ? * *)", "six fields"),
    ],
)
def test_cron_fields_are_checked_by_range(expression: str, message: str) -> None:
    problem = schedule_expression_problem(expression)
    assert problem is not None and message in problem, problem


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("rate(1 minute)", None),
        ("rate(5 minutes)", None),
        ("rate(1 hour)", None),
        ("rate(2 days)", None),
        ("rate(1 minutes)", "rate(1 ...) takes a singular unit"),
        ("rate(5 hour)", "rate(5 ...) takes a plural unit"),
        ("rate(0 minutes)", "a rate is at least 1 minute"),
        ("rate(01 day)", "is not a schedule expression"),
        ("rate(1.5 hours)", "is not a schedule expression"),
        ("rate(1 second)", "is not a schedule expression"),
        ("rate(1 week)", "is not a schedule expression"),
        ("at(2027-01-31T03:00:00)", None),
        ("at(2028-02-29T23:59:59)", None),
        ("at(2027-02-29T03:00:00)", "is not a date and time"),
        ("at(2027-01-31T24:00:00)", "is not a date and time"),
        ("at(2027-01-31T03:60:00)", "is not a date and time"),
        ("at(2027-13-01T03:00:00)", "is not a date and time"),
        ("at(2027-01-31 03:00:00)", "is not a schedule expression"),
        ("at(2027-01-31T03:00)", "is not a schedule expression"),
        ("at(2027-01-31T03:00:00Z)", "is not a schedule expression"),
    ],
)
def test_rate_units_and_at_timestamps(expression: str, message: str | None) -> None:
    problem = schedule_expression_problem(expression)
    if message is None:
        assert problem is None, problem
    else:
        assert problem is not None and message in problem, problem


# How long a schedule can leave between runs: what keeps catalogued images recorded as pulled.
@pytest.mark.parametrize(
    ("expression", "timezone", "longest"),
    [
        ("rate(1 day)", "UTC", timedelta(days=1)),
        ("rate(12 hours)", "UTC", timedelta(hours=12)),
        ("rate(7 days)", "Europe/Paris", timedelta(days=7)),
        ("rate(30 minutes)", "UTC", timedelta(minutes=30)),
        ("cron(0 3 * * ? *)", "UTC", timedelta(days=1)),
        ("cron(0 0,23 * * ? *)", "UTC", timedelta(hours=23)),
        ("cron(0 3 ? * MON *)", "UTC", timedelta(days=7)),
        ("cron(0 18 ? * MON-FRI *)", "UTC", timedelta(days=3)),
        ("cron(0 3 1,15 * ? *)", "UTC", timedelta(days=17)),
        ("cron(0 8 1 * ? *)", "UTC", timedelta(days=31)),
        ("cron(0 3 L * ? *)", "UTC", timedelta(days=31)),
        ("cron(0 9 ? * 2#1 *)", "UTC", timedelta(days=35)),
        ("cron(0 0 1 1 ? *)", "UTC", timedelta(days=366)),
        ("cron(0 0 29 2 ? *)", "UTC", timedelta(days=8 * 365 + 1)),  # no Feb 29 in 2100
        ("cron(0/15 * * * ? *)", "UTC", timedelta(minutes=15)),
        ("cron(0 3 * * ? 2026-2199)", "UTC", timedelta(days=1)),  # every year left: as good as *
        ("cron(0 3 * * ? 2026-2100,2102-2199)", "UTC", timedelta(days=366)),  # but for 2101
        # Scheduler skips a run whose local time does not exist when clocks go forward: 02:30 on the
        # Sunday summer time starts in Europe (last Sunday of March) and in the US (second Sunday).
        # (two weeks, or two days, less the hour the clocks moved)
        ("cron(30 2 ? * SUN *)", "Europe/Berlin", timedelta(days=13, hours=23)),
        ("cron(30 2 * * ? *)", "America/New_York", timedelta(days=1, hours=23)),
        ("cron(0 3 * * ? *)", "America/New_York", timedelta(days=1, hours=1)),
    ],
)
def test_the_longest_gap_between_runs(expression: str, timezone: str, longest: timedelta) -> None:
    recurrence = schedule_recurrence(expression, timezone)
    assert recurrence.longest_gap == longest, recurrence


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("at(2027-01-31T03:00:00)", "runs once"),
        ("cron(15 10 ? * 6L 2019-2022)", "its year field ends it: no run after 2022"),
        ("cron(0 3 * * ? 2026-2198)", "its year field ends it: no run after 2198"),
        ("cron(0 0 30 2 ? *)", "it never runs"),
    ],
)
def test_schedules_that_do_not_keep_running(expression: str, reason: str) -> None:
    recurrence = schedule_recurrence(expression, "UTC")
    assert recurrence.longest_gap is None and reason in recurrence.reason
