"""
What the reports share: the filters, the fold of what they are given, rates and counts.

Every report takes the events themselves (with ``as_of``) or a `Histories` fold, and returns a
frozen result that holds its sufficient statistics (counts, the sorted durations), so that
`merge` of the results of parts of a log equals the result of the whole log when the parts
hold whole entities (split by entity, as a distributed engine partitions by key). Rates,
quantiles and curves are computed from them; `rows` turns a result into plain dicts.
"""

from __future__ import annotations

import enum
from collections import Counter
from datetime import datetime, timezone, tzinfo
from typing import TYPE_CHECKING

import attrs

from funnelkit._checks import raise_for
from funnelkit.analytics._history import Histories, History, histories
from funnelkit.model import (
    EntityKind,
    FieldValues,
    Period,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from funnelkit.events import Event


__all__ = [
    "Counting",
    "DateBasis",
    "Filters",
]

_DAY = 86_400.0
_HOUR = 3_600.0


class DateBasis(str, enum.Enum):
    """Which date of an entity a period filter looks at."""

    CREATED = "created"
    ENTERED = "entered"
    CLOSED = "closed"


class Counting(str, enum.Enum):
    """
    What a per-customer report counts.

    Members:
        JOURNEY: Customer journeys (`Journey`): a lead and every deal that follows from it
            count once. Seed 000's questions ("how many requests ended in a sale", "how many
            bought at once") are about journeys. Parts of a log merged must then hold whole
            journeys (split by customer, not by entity).
        DEAL: Deals, each on its own: a won meeting deal counts as a win.
    """

    JOURNEY = "journey"
    DEAL = "deal"


@attrs.frozen(kw_only=True)
class Filters:
    """
    Which leads and deals a report counts; every filter given must hold.

    Attributes:
        owner: Only this manager's (the owner as of the snapshot).
        channel: Only those from this source channel.
        period: Only those whose `basis` date falls in the period (in `zone`).
        basis: ``CREATED`` (created in the period, a cohort), ``ENTERED`` (entered any stage
            in the period: the period's activity) or ``CLOSED`` (closed in the period).
        zone: The time zone the period's days are in.
        fields: Only those whose custom fields hold these values as of the snapshot (from
            their events: a deal whose product was changed counts under its new product).
            ``{"product": "металлочерепица"}``.
    """

    owner: str | None = None
    channel: str | None = None
    period: Period | None = None
    basis: DateBasis = DateBasis.CREATED
    zone: tzinfo = timezone.utc
    fields: FieldValues = attrs.field(factory=FieldValues, converter=FieldValues)

    def keeps(self, history: History) -> bool:
        """Whether a history passes every filter."""
        return self._predicate()(history)

    def _predicate(self) -> Callable[[History], bool]:
        """`keeps` with the period's bounds worked out once, for a loop over many histories."""
        owner, channel, period = self.owner, self.channel, self.period
        start, end = period.bounds(self.zone) if period is not None else (None, None)
        basis = self.basis
        wanted = list(self.fields.items())

        def keeps(history: History) -> bool:
            if owner is not None and history.owner != owner:
                return False
            if wanted:
                values = history.fields
                if any(values.get(key, _MISSING) != value for key, value in wanted):
                    return False
            if channel is not None and (
                history.source is None or history.source.channel != channel
            ):
                return False
            if start is None or end is None:
                return True
            if basis is DateBasis.CREATED:
                moments = [history.created_at] if history.created_at is not None else []
            elif basis is DateBasis.CLOSED:
                moments = [history.closed_at] if history.closed_at is not None else []
            else:
                moments = history.entered
            return any(start <= moment < end for moment in moments)

        return keeps


_EVERYTHING = Filters()
_MISSING = object()


def _fold(data: Histories | Iterable[Event], as_of: datetime | None) -> Histories:
    if isinstance(data, Histories):
        if as_of is not None and as_of != data.as_of:
            raise_for(
                "as_of",
                as_of,
                f"the histories were folded as of {data.as_of.isoformat()}; pass the same "
                "as_of or none",
                "as_of",
            )
        return data
    if as_of is None:
        raise_for(
            "as_of",
            as_of,
            "reports over events need the snapshot time: pass as_of=... (an aware datetime)",
            "required",
        )
    return histories(data, as_of=as_of)


def _check_filters(filters: Filters) -> None:
    """Refuse filters that are not a `Filters` (a dict of them, say)."""
    given: object = filters
    if not isinstance(given, Filters):
        raise_for(
            "filters",
            given,
            "pass a funnelkit.analytics.Filters, e.g. Filters(owner=..., channel=...)",
            "type",
        )


def _keeps(filters: Filters) -> Callable[[History], bool] | None:
    """The filters' predicate (``None`` when they keep everything); refuse anything else."""
    _check_filters(filters)
    return None if filters == _EVERYTHING else filters._predicate()  # noqa: SLF001


def _select(
    folded: Histories, kind: EntityKind | None, pipeline: str | None, filters: Filters
) -> Iterator[History]:
    if kind is EntityKind.LEAD:
        pool: Iterable[History] = folded.leads.values()
    elif kind is EntityKind.DEAL:
        pool = folded.deals.values()
    else:
        pool = folded
    keeps = _keeps(filters)
    for history in pool:
        if pipeline is not None and history.pipeline != pipeline:
            continue
        if keeps is None or keeps(history):
            yield history


def _same(kind: str, mine: object, theirs: object) -> None:
    if mine != theirs:
        raise_for(
            kind,
            theirs,
            f"cannot merge results with different {kind} ({mine!r} and {theirs!r}); compute "
            "every part with the same arguments",
            "merge",
        )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


_MINUTE = 60.0


def _plus(counter: tuple[tuple[int, int], ...], other: tuple[tuple[int, int], ...]) -> Counter[int]:
    total: Counter[int] = Counter(dict(counter))
    total.update(dict(other))
    return total


def _frozen_counts(counter: Counter[int]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(counter.items()))
