"""A span of calendar days: the period of a plan or a report."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import attrs

from funnelkit import _checks as check


_MONTHS = 12
_QUARTERS = 4


def _after_start(instance: Period, attribute: attrs.Attribute[Any], value: date) -> None:
    if value <= instance.start:
        check.fail(
            instance,
            attribute,
            value,
            f"must be after start ({instance.start.isoformat()}); the end day is not included, "
            "so a one-day period ends the next day",
            "range",
        )


@attrs.frozen(order=True)
class Period:
    """
    The calendar days from `start` up to, not including, `end`.

    Half-open periods tile without overlap: March is ``Period(date(2026, 3, 1),
    date(2026, 4, 1))``, or ``Period.month(2026, 3)``. A period is a span of days, not of
    instants: `bounds` places it in a time zone.

    Attributes:
        start: The first day.
        end: The day after the last day.
    """

    start: date = attrs.field(validator=check.field(check.date_problem))
    end: date = attrs.field(validator=[check.field(check.date_problem), _after_start])

    @classmethod
    def day(cls, day: date) -> Period:
        """The one day `day`."""
        return cls(day, day + timedelta(days=1))

    @classmethod
    def week(cls, day: date) -> Period:
        """The ISO week (Monday to Sunday) that holds `day`."""
        monday = day - timedelta(days=day.weekday())
        return cls(monday, monday + timedelta(days=7))

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        """
        A calendar month.

        Raises:
            ValidationError: If `month` is not 1 to 12.
        """
        if type(month) is not int or not 1 <= month <= _MONTHS:
            check.raise_for("Period.month", month, "expected a month number 1 to 12", "range")
        last = calendar.monthrange(year, month)[1]
        return cls(date(year, month, 1), date(year, month, last) + timedelta(days=1))

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        """
        A calendar quarter (1: January to March).

        Raises:
            ValidationError: If `quarter` is not 1 to 4.
        """
        if type(quarter) is not int or not 1 <= quarter <= _QUARTERS:
            check.raise_for("Period.quarter", quarter, "expected a quarter 1 to 4", "range")
        first = 3 * (quarter - 1) + 1
        end = date(year + 1, 1, 1) if quarter == _QUARTERS else date(year, first + 3, 1)
        return cls(date(year, first, 1), end)

    @property
    def days(self) -> int:
        """How many days the period has."""
        return (self.end - self.start).days

    def __contains__(self, day: object) -> bool:
        """Whether a `date` is one of the period's days."""
        if isinstance(day, datetime) or not isinstance(day, date):
            return False
        return self.start <= day < self.end

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """The first instant and the instant after the last, at midnight in `zone`."""
        return (
            datetime.combine(self.start, time(0), tzinfo=zone),
            datetime.combine(self.end, time(0), tzinfo=zone),
        )

    def holds(self, moment: datetime, zone: tzinfo) -> bool:
        """
        Whether an aware instant falls on one of the period's days in `zone`.

        Raises:
            ValidationError: If `moment` is naive.
        """
        problem = check.aware_datetime_problem(moment)
        if problem is not None:
            check.raise_for("moment", moment, *problem)
        return moment.astimezone(zone).date() in self

    def __str__(self) -> str:
        last = self.end - timedelta(days=1)
        if last == self.start:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{last.isoformat()}"
