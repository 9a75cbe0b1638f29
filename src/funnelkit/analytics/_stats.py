"""
The statistics the reports use, exact and deterministic.

- `quantile`: linear interpolation between order statistics, Hyndman and Fan's type 7 (numpy's
  and pandas' default, duckdb's ``quantile_cont``): for sorted values ``x[0..n-1]`` and
  probability ``q``, ``h = (n - 1) q`` and the quantile is
  ``x[floor(h)] + (h - floor(h)) (x[floor(h) + 1] - x[floor(h)])``. The p90 of 1, 2, 3, 4, 10
  is 7.6.
- `kaplan_meier`: the survival curve of right-censored times. At each distinct time ``t`` with
  ``d`` events and ``n`` still at risk, ``S(t) = S(t-) (1 - d / n)``. Ties are exact: every
  event at ``t`` counts at ``t``, and an entity censored at ``t`` is still at risk at ``t``.
- `aalen_johansen`: the cumulative incidence of one outcome among competing ones (won among
  won or lost): ``F(t) = F(t-) + S(t-) d_k / n``, with the same exact ties.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from funnelkit._checks import raise_for


if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence


__all__ = ["Curve", "aalen_johansen", "kaplan_meier", "quantile"]


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """
    The `q` quantile of already sorted values by linear interpolation (type 7).

    Returns ``None`` for no values.

    Raises:
        ValidationError: If `q` is not between 0 and 1.
    """
    if not 0 <= q <= 1:
        raise_for("q", q, "a quantile's probability is between 0 and 1", "range")
    n = len(ordered)
    if n == 0:
        return None
    h = (n - 1) * q
    low = math.floor(h)
    if low + 1 >= n:
        return float(ordered[-1])
    return float(ordered[low] + (h - low) * (ordered[low + 1] - ordered[low]))


@attrs.frozen(kw_only=True)
class Curve:
    """
    A step function of time: the value holds from each time until the next.

    Attributes:
        times: The distinct times at which the value changes, ascending.
        values: The value from each time on.
        at_risk: How many were still at risk just before each time.
        censored: How many were censored (still open) in all.
    """

    times: tuple[float, ...]
    values: tuple[float, ...]
    at_risk: tuple[int, ...]
    censored: int

    def at(self, t: float) -> float | None:
        """The value at time `t` (``None`` before the first time, for a cumulative curve 0)."""
        index = _bisect_right(self.times, t)
        return self.values[index - 1] if index else None

    def first_time_at_most(self, level: float) -> float | None:
        """The first time the value falls to `level` or below (``None`` if it never does)."""
        for time, value in zip(self.times, self.values, strict=True):
            if value <= level:
                return time
        return None

    @property
    def median(self) -> float | None:
        """For a survival curve; the first time survival is 0.5 or less (``None`` if never)."""
        return self.first_time_at_most(0.5)

    @property
    def final(self) -> float | None:
        """The last value (``None`` for an empty curve)."""
        return self.values[-1] if self.values else None


def _bisect_right(times: tuple[float, ...], t: float) -> int:
    low, high = 0, len(times)
    while low < high:
        middle = (low + high) // 2
        if t < times[middle]:
            high = middle
        else:
            low = middle + 1
    return low


def _grouped(
    times: Sequence[float], outcomes: Sequence[Hashable | None]
) -> list[tuple[float, dict[Hashable, int], int]]:
    """Per distinct time: the events of each outcome and the number censored."""
    if len(times) != len(outcomes):
        raise_for(
            "outcomes", outcomes, "needs one outcome (or None if censored) per time", "length"
        )
    order = sorted(range(len(times)), key=times.__getitem__)
    groups: list[tuple[float, dict[Hashable, int], int]] = []
    for index in order:
        time, outcome = times[index], outcomes[index]
        if time < 0:
            raise_for("times", time, "times are durations and cannot be negative", "range")
        if not groups or groups[-1][0] != time:
            groups.append((time, {}, 0))
        stamp, events, censored = groups[-1]
        if outcome is None:
            groups[-1] = (stamp, events, censored + 1)
        else:
            events[outcome] = events.get(outcome, 0) + 1
    return groups


def kaplan_meier(times: Sequence[float], observed: Sequence[bool]) -> Curve:
    """
    The Kaplan–Meier survival curve of durations, some of them still running (censored).

    Args:
        times: How long each entity has been observed (until its event or until now).
        observed: Whether the event happened (``False``: still open, censored).

    Raises:
        ValidationError: If the lengths differ or a time is negative.
    """
    groups = _grouped(times, [True if seen else None for seen in observed])
    at_risk = len(times)
    survival = 1.0
    out_times: list[float] = []
    values: list[float] = []
    risks: list[int] = []
    censored_total = 0
    for time, events, censored in groups:
        deaths = events.get(True, 0)
        if deaths:
            survival *= 1 - deaths / at_risk
            out_times.append(time)
            values.append(survival)
            risks.append(at_risk)
        at_risk -= deaths + censored
        censored_total += censored
    return Curve(
        times=tuple(out_times), values=tuple(values), at_risk=tuple(risks), censored=censored_total
    )


def aalen_johansen(
    times: Sequence[float], outcomes: Sequence[Hashable | None], outcome: Hashable
) -> Curve:
    """
    The cumulative incidence of `outcome` when other outcomes compete (Aalen–Johansen).

    The probability that a deal is won by time ``t``, counting that a lost deal can no longer
    be won and that open deals may still go either way.

    Args:
        times: How long each entity has been observed (until it closed or until now).
        outcomes: How each closed (any hashable), or ``None`` if it is still open.
        outcome: The outcome whose incidence is wanted.

    Raises:
        ValidationError: If the lengths differ or a time is negative.
    """
    groups = _grouped(times, outcomes)
    at_risk = len(times)
    survival = 1.0
    incidence = 0.0
    out_times: list[float] = []
    values: list[float] = []
    risks: list[int] = []
    censored_total = 0
    for time, events, censored in groups:
        total = sum(events.values())
        if total:
            wanted = events.get(outcome, 0)
            if wanted:
                incidence += survival * wanted / at_risk
                out_times.append(time)
                values.append(incidence)
                risks.append(at_risk)
            survival *= 1 - total / at_risk
        at_risk -= total + censored
        censored_total += censored
    return Curve(
        times=tuple(out_times), values=tuple(values), at_risk=tuple(risks), censored=censored_total
    )
