"""
Outcomes: what becomes of deals and leads, and when.

`win_rate` by any grouping (owner, source, a custom field), `lost_reasons` by stage, and
`closing_times` with Kaplan–Meier and Aalen–Johansen curves over open deals.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit._checks import raise_for
from funnelkit.analytics import _kernels
from funnelkit.analytics._columnar import LogEvent, StageLog
from funnelkit.analytics._common import (
    _DAY,
    _EVERYTHING,
    Filters,
    _fold,
    _rate,
    _same,
    _select,
)
from funnelkit.analytics._history import Histories, History, Outcome
from funnelkit.analytics._stats import Curve, aalen_johansen, kaplan_meier, quantile
from funnelkit.model import (
    EntityKind,
)
from funnelkit.pipelines import Pipeline


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from funnelkit.events import Event
    from funnelkit.pipelines import Pipeline


__all__ = [
    "ClosingTimes",
    "GroupOutcomes",
    "LostReasons",
    "WinRate",
    "closing_times",
    "lost_reasons",
    "win_rate",
]

# --- outcomes ------------------------------------------------------------------------------------


_GROUPS: dict[str, Callable[[History], str | None]] = {
    "all": lambda _: "all",
    "channel": lambda h: h.source.channel if h.source is not None else None,
    "site": lambda h: h.source.site if h.source is not None else None,
    "campaign": lambda h: h.source.campaign if h.source is not None else None,
    "owner": lambda h: h.owner,
    "pipeline": lambda h: h.pipeline,
}


def _field_group(key: str) -> Callable[[History], str | None]:
    def group(history: History) -> str | None:
        value = history.fields.get(key)
        return None if value is None else str(value)

    return group


def _grouping(by: str | Callable[[History], str | None]) -> Callable[[History], str | None]:
    if callable(by):
        return by
    given: object = by  # a bad value gets a funnelkit error below, not an AttributeError
    if isinstance(given, str) and given.startswith("fields.") and len(given) > len("fields."):
        return _field_group(by.removeprefix("fields."))
    found = _GROUPS.get(by)
    if found is None:
        raise_for(
            "by",
            by,
            f"unknown grouping; use one of {', '.join(sorted(_GROUPS))}, 'fields.<key>' for a "
            "custom field, or a function of a History",
            "unknown",
        )
    return found


@attrs.frozen(kw_only=True)
class GroupOutcomes:
    """
    The outcomes of the deals of one group.

    Attributes:
        group: The group (``None``: deals without one, e.g. without a source).
        created: Deals counted.
        won: Deals won.
        lost: Deals lost.
    """

    group: str | None
    created: int
    won: int
    lost: int

    @property
    def open(self) -> int:
        """Deals still open."""
        return self.created - self.won - self.lost

    @property
    def win_rate(self) -> float | None:
        """The usual win rate; won of closed (won or lost) deals."""
        return _rate(self.won, self.won + self.lost)

    @property
    def won_of_created(self) -> float | None:
        """Won of every deal counted, open ones included (biased low for young deals)."""
        return _rate(self.won, self.created)


@attrs.frozen(kw_only=True)
class WinRate:
    """
    Win rates per group.

    Attributes:
        by: The grouping's name (``"channel"``, ``"owner"``... or ``"custom"``).
        as_of: The snapshot time.
        groups: One entry per group, sorted by group (``None`` last).
    """

    by: str
    as_of: datetime
    groups: tuple[GroupOutcomes, ...]

    @property
    def total(self) -> GroupOutcomes:
        """Every group together."""
        return GroupOutcomes(
            group=None,
            created=sum(g.created for g in self.groups),
            won=sum(g.won for g in self.groups),
            lost=sum(g.lost for g in self.groups),
        )

    def group(self, key: str | None) -> GroupOutcomes:
        """The outcomes of one group (zeros if it has no deals)."""
        for found in self.groups:
            if found.group == key:
                return found
        return GroupOutcomes(group=key, created=0, won=0, lost=0)

    def merge(self, other: WinRate) -> WinRate:
        """The win rates of two parts together."""
        _same("by", self.by, other.by)
        _same("as_of", self.as_of, other.as_of)
        counts: dict[str | None, list[int]] = {}
        for found in (*self.groups, *other.groups):
            total = counts.setdefault(found.group, [0, 0, 0])
            total[0] += found.created
            total[1] += found.won
            total[2] += found.lost
        return attrs.evolve(self, groups=_groups_from(counts))

    def rows(self) -> list[dict[str, Any]]:
        """One row per group: created, won, lost, open, win rate, won of created."""
        return [
            {
                self.by: found.group,
                "created": found.created,
                "won": found.won,
                "lost": found.lost,
                "open": found.open,
                "win_rate": found.win_rate,
                "won_of_created": found.won_of_created,
            }
            for found in self.groups
        ]


def _groups_from(counts: dict[str | None, list[int]]) -> tuple[GroupOutcomes, ...]:
    ordered = sorted(counts, key=lambda key: (key is None, key or ""))
    return tuple(
        GroupOutcomes(group=key, created=counts[key][0], won=counts[key][1], lost=counts[key][2])
        for key in ordered
    )


def win_rate(
    data: Histories | Iterable[Event] | StageLog,
    *,
    as_of: datetime | None = None,
    by: str | Callable[[History], str | None] = "all",
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> WinRate:
    """
    Count won, lost and open deals per group: win rate = won / (won + lost).

    Args:
        data: The events (then `as_of` is required), their `Histories`, or a `StageLog`
            (then `as_of` is required, and `by` is ``"all"``, ``"channel"``, ``"owner"``,
            ``"pipeline"`` or ``"fields.<key>"`` of a field the log holds).
        as_of: The snapshot time.
        by: ``"all"``, ``"channel"``, ``"site"``, ``"campaign"``, ``"owner"``, ``"pipeline"``,
            ``"fields.<key>"`` (a custom field's value as text) or a function of a `History`
            returning its group.
        pipeline: Only this pipeline's deals.
        filters: Which deals count.
    """
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        if not isinstance(by, str):
            raise_for(
                "by",
                by,
                "a StageLog groups by a column's name (all, channel, owner, pipeline, "
                "fields.<key>); for a function of a History, report on the events",
                "columnar",
            )
        return WinRate(
            by=by,
            as_of=snap.as_of,
            groups=_groups_from(_kernels.outcomes(snap, by, pipeline, filters)),
        )
    folded = _fold(data, as_of)
    key_of = _grouping(by)
    counts: dict[str | None, list[int]] = {}
    won_outcome, lost_outcome = Outcome.WON, Outcome.LOST
    for history in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        key = key_of(history)
        total = counts.get(key)
        if total is None:
            total = counts[key] = [0, 0, 0]
        total[0] += 1
        outcome = history.outcome
        if outcome is won_outcome:
            total[1] += 1
        elif outcome is lost_outcome:
            total[2] += 1
    return WinRate(
        by=by if isinstance(by, str) else "custom",
        as_of=folded.as_of,
        groups=_groups_from(counts),
    )


@attrs.frozen(kw_only=True)
class LostReasons:
    """
    Why deals were lost and leads closed as junk, by the stage they left.

    Attributes:
        as_of: The snapshot time.
        counts: ``(outcome, stage left, reason, how many)``, most frequent first.
    """

    as_of: datetime
    counts: tuple[tuple[Outcome, str, str, int], ...]

    def merge(self, other: LostReasons) -> LostReasons:
        """The reasons of two parts together."""
        _same("as_of", self.as_of, other.as_of)
        total: Counter[tuple[Outcome, str, str]] = Counter()
        for outcome, stage, reason, n in (*self.counts, *other.counts):
            total[outcome, stage, reason] += n
        return attrs.evolve(self, counts=_reason_counts(total))

    def rows(self) -> list[dict[str, Any]]:
        """One row per outcome, stage and reason."""
        return [
            {"outcome": outcome.value, "stage": stage, "reason": reason, "count": n}
            for outcome, stage, reason, n in self.counts
        ]


def _reason_counts(
    total: Counter[tuple[Outcome, str, str]],
) -> tuple[tuple[Outcome, str, str, int], ...]:
    return tuple(
        (*key, n)
        for key, n in sorted(
            total.items(), key=lambda item: (-item[1], item[0][0].value, item[0][1:])
        )
    )


def lost_reasons(
    data: Histories | Iterable[Event] | StageLog,
    *,
    as_of: datetime | None = None,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> LostReasons:
    """
    Count lost deals and junk leads by the stage they were closed from and the reason.

    `data` is the events (then `as_of` is required), their `Histories`, or a `StageLog`.
    """
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        outcomes = {int(LogEvent.LOST): Outcome.LOST, int(LogEvent.JUNK): Outcome.JUNK}
        found: Counter[tuple[Outcome, str, str]] = Counter(
            {
                (outcomes[outcome], stage, reason): count
                for (outcome, stage, reason), count in _kernels.losses(
                    snap, pipeline, filters
                ).items()
            }
        )
        return LostReasons(as_of=snap.as_of, counts=_reason_counts(found))
    folded = _fold(data, as_of)
    total: Counter[tuple[Outcome, str, str]] = Counter()
    for history in _select(folded, None, pipeline.key if pipeline else None, filters):
        if history.outcome in {Outcome.LOST, Outcome.JUNK} and history.reason is not None:
            total[history.outcome, history.closed_from or "", history.reason] += 1
    return LostReasons(as_of=folded.as_of, counts=_reason_counts(total))


# --- closing times -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ClosingTimes:
    """
    How long deals took to close, open deals included as censored times.

    Attributes:
        as_of: The snapshot time.
        times: Per deal, days from creation to closing, or to `as_of` if still open.
        outcomes: Per deal, ``"won"``, ``"lost"`` or ``None`` if still open.
    """

    as_of: datetime
    times: tuple[float, ...]
    outcomes: tuple[str | None, ...]

    @property
    def open(self) -> int:
        """Deals still open (censored)."""
        return self.outcomes.count(None)

    def cycle(self) -> tuple[float, ...]:
        """The sales cycle in days of the won deals, sorted (open deals excluded)."""
        pairs = zip(self.times, self.outcomes, strict=True)
        return tuple(sorted(t for t, o in pairs if o == "won"))

    def cycle_quantile(self, q: float) -> float | None:
        """A quantile of the won deals' cycle in days (type 7); open deals excluded."""
        return quantile(self.cycle(), q)

    def time_to_close(self) -> Curve:
        """Kaplan–Meier: the share of deals still open after each number of days."""
        return kaplan_meier(self.times, [o is not None for o in self.outcomes])

    def win_probability(self) -> Curve:
        """Aalen–Johansen: the probability a deal is won within each number of days."""
        return aalen_johansen(self.times, self.outcomes, "won")

    def merge(self, other: ClosingTimes) -> ClosingTimes:
        """The deals of two parts together."""
        _same("as_of", self.as_of, other.as_of)
        pairs = sorted(
            zip(self.times + other.times, self.outcomes + other.outcomes, strict=True),
            key=lambda pair: (pair[0], pair[1] or ""),
        )
        return attrs.evolve(
            self, times=tuple(t for t, _ in pairs), outcomes=tuple(o for _, o in pairs)
        )


def closing_times(
    data: Histories | Iterable[Event] | StageLog,
    *,
    as_of: datetime | None = None,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> ClosingTimes:
    """
    Collect every deal's days to close (or days open so far) and its outcome.

    `data` is the events (then `as_of` is required), their `Histories`, or a `StageLog`.
    """
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        times, outcomes = _kernels.closings(snap, pipeline, filters)
        return ClosingTimes(as_of=snap.as_of, times=tuple(times), outcomes=tuple(outcomes))
    folded = _fold(data, as_of)
    snapshot = folded.as_of
    pairs: list[tuple[float, str | None]] = []
    for history in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        if history.created_at is None:
            continue
        end = history.closed_at if history.closed_at is not None else snapshot
        outcome = history.outcome.value if history.outcome is not None else None
        pairs.append(((end - history.created_at).total_seconds() / _DAY, outcome))
    pairs.sort(key=lambda pair: (pair[0], pair[1] or ""))
    return ClosingTimes(
        as_of=snapshot, times=tuple(t for t, _ in pairs), outcomes=tuple(o for _, o in pairs)
    )
