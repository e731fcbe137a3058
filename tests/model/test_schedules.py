"""`warm.schedule`: the EventBridge Scheduler expressions and time zones accepted, and the warning."""

from __future__ import annotations

import pytest

from components.model.schedules import (
    schedule_expression_problem,
    schedule_expression_warning,
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
        ("rate(0 days)", "is not a schedule expression; for example rate(1 day)"),
        ("rate(1 week)", "is not a schedule expression"),
        ("daily", "is not a schedule expression"),
        ("cron(0 3 * * *)", "has six fields"),
        ("cron(0 3 1 * MON *)", "needs '?' in day-of-month or day-of-week"),
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
