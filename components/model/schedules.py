"""`warm.schedule`: the EventBridge Scheduler expressions it accepts, checked before anything is registered.

A domain validator, pure (only the standard library): config/ checks the setting with it.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo

from components.model.cron import CronError, parse_cron

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
