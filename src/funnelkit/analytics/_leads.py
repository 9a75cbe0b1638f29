"""
The inbound flow: where requests come from, what they turn into, and how fast they are taken.

`sources` per channel, `lead_flow` into good, junk and waiting (per journey or per deal), and
`response_times` from a request to its first contact.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit._checks import raise_for
from funnelkit.analytics import _kernels, _source_kernels
from funnelkit.analytics._columnar import StageLog
from funnelkit.analytics._common import (
    _DAY,
    _EVERYTHING,
    _MINUTE,
    Counting,
    Filters,
    _fold,
    _keeps,
    _rate,
    _same,
    _select,
)
from funnelkit.analytics._history import Bucket, Histories, History, Journey, Outcome
from funnelkit.analytics._outcomes import _GROUPS
from funnelkit.analytics._stats import quantile
from funnelkit.model import (
    EntityKind,
    Money,
)


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from funnelkit.events import Event


__all__ = [
    "LeadFlow",
    "ResponseTimes",
    "SourceRow",
    "Sources",
    "lead_flow",
    "response_times",
    "sources",
]

# --- sources -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SourceRow:
    """
    The quality of one source's inbound flow.

    Attributes:
        source: The channel, site or campaign (``None``: unknown).
        leads: Leads from it.
        junk: Of them, those whose last verdict is junk (`Bucket`).
        good: Of them, those whose last verdict is good (qualified good, or converted).
        deals: Deals from it.
        won: Of them won.
        lost: Of them lost.
        revenue: The won deals' amounts, one `Money` per currency.
        cycle_days: The won deals' days from creation to winning, sorted.
    """

    source: str | None
    leads: int
    junk: int
    good: int
    deals: int
    won: int
    lost: int
    revenue: tuple[Money, ...]
    cycle_days: tuple[float, ...]

    @property
    def waiting(self) -> int:
        """Leads still waiting for a verdict; neither junk nor good."""
        return self.leads - self.junk - self.good

    @property
    def junk_share(self) -> float | None:
        """Junk of leads."""
        return _rate(self.junk, self.leads)

    @property
    def win_rate(self) -> float | None:
        """Won of closed deals."""
        return _rate(self.won, self.won + self.lost)

    @property
    def median_cycle_days(self) -> float | None:
        """The median sales cycle of the won deals in days."""
        return quantile(self.cycle_days, 0.5)

    def plus(self, other: SourceRow) -> SourceRow:
        """Two parts' counts of the same source together."""
        amounts: dict[str, Decimal] = {}
        for money in (*self.revenue, *other.revenue):
            amounts[money.currency] = amounts.get(money.currency, Decimal(0)) + money.amount
        return SourceRow(
            source=self.source,
            leads=self.leads + other.leads,
            junk=self.junk + other.junk,
            good=self.good + other.good,
            deals=self.deals + other.deals,
            won=self.won + other.won,
            lost=self.lost + other.lost,
            revenue=tuple(Money(amount=a, currency=c) for c, a in sorted(amounts.items())),
            cycle_days=tuple(sorted(self.cycle_days + other.cycle_days)),
        )


@attrs.frozen(kw_only=True)
class Sources:
    """
    Leads, junk, good leads, deals, wins, revenue and cycle per source.

    Attributes:
        by: ``"channel"``, ``"site"`` or ``"campaign"``.
        as_of: The snapshot time.
        sources: One row per source, sorted (unknown last).
    """

    by: str
    as_of: datetime
    sources: tuple[SourceRow, ...]

    def merge(self, other: Sources) -> Sources:
        """The sources of two parts together."""
        _same("by", self.by, other.by)
        _same("as_of", self.as_of, other.as_of)
        rows: dict[str | None, SourceRow] = {}
        for row in (*self.sources, *other.sources):
            rows[row.source] = rows[row.source].plus(row) if row.source in rows else row
        return attrs.evolve(self, sources=_sorted_sources(rows))

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per source."""
        return [
            {
                self.by: row.source,
                "leads": row.leads,
                "junk": row.junk,
                "junk_share": row.junk_share,
                "good": row.good,
                "waiting": row.waiting,
                "deals": row.deals,
                "won": row.won,
                "lost": row.lost,
                "win_rate": row.win_rate,
                "revenue": ", ".join(str(money) for money in row.revenue),
                "median_cycle_days": row.median_cycle_days,
            }
            for row in self.sources
        ]


def _sorted_sources(rows: dict[str | None, SourceRow]) -> tuple[SourceRow, ...]:
    return tuple(rows[key] for key in sorted(rows, key=lambda key: (key is None, key or "")))


def _tally_lead(counts: dict[str, Any], history: History) -> None:
    counts["leads"] += 1
    if history.bucket is Bucket.JUNK:
        counts["junk"] += 1
    elif history.bucket is Bucket.GOOD:
        counts["good"] += 1


def _tally_deal(counts: dict[str, Any], history: History) -> None:
    counts["deals"] += 1
    if history.outcome is Outcome.LOST:
        counts["lost"] += 1
    if history.outcome is not Outcome.WON:
        return
    counts["won"] += 1
    if history.amount is not None:
        revenue = counts["revenue"]
        currency = history.amount.currency
        revenue[currency] = revenue.get(currency, Decimal(0)) + history.amount.amount
    if history.created_at is not None and history.closed_at is not None:
        counts["cycle"].append((history.closed_at - history.created_at).total_seconds() / _DAY)


def sources(
    data: Histories | Iterable[Event] | StageLog,
    *,
    as_of: datetime | None = None,
    by: str = "channel",
    filters: Filters = _EVERYTHING,
) -> Sources:
    """
    Measure each source's inbound flow: its leads, how many were junk or good, its deals.

    Args:
        data: The events (then `as_of` is required), their `Histories`, or a `StageLog`
            (then `as_of` is required, and `by` is ``"channel"``: the log holds no site or
            campaign).
        as_of: The snapshot time.
        by: ``"channel"``, ``"site"`` or ``"campaign"`` of each lead's and deal's source.
        filters: Which leads and deals count.
    """
    if by not in {"channel", "site", "campaign"}:
        raise_for("by", by, "sources are grouped by 'channel', 'site' or 'campaign'", "unknown")
    if isinstance(data, StageLog):
        if by != "channel":
            raise_for(
                "by",
                by,
                "a StageLog holds the source's channel only; for its site or campaign, report "
                "on the events",
                "columnar",
            )
        snap = _kernels.snapshot(data, as_of)
        return _sources_of(by, snap.as_of, _source_kernels.sources(snap, filters))
    folded = _fold(data, as_of)
    key_of = _GROUPS[by]
    tallies: dict[str | None, dict[str, Any]] = {}

    def tally(key: str | None) -> dict[str, Any]:
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = {
                "leads": 0,
                "junk": 0,
                "good": 0,
                "deals": 0,
                "won": 0,
                "lost": 0,
                "revenue": {},
                "cycle": [],
            }
        return found

    for history in _select(folded, EntityKind.LEAD, None, filters):
        _tally_lead(tally(key_of(history)), history)
    for history in _select(folded, EntityKind.DEAL, None, filters):
        _tally_deal(tally(key_of(history)), history)
    return _sources_of(by, folded.as_of, tallies)


def _sources_of(by: str, as_of: datetime, tallies: dict[str | None, dict[str, Any]]) -> Sources:
    """The report of each source's counts (a tally of either path)."""
    rows = {
        key: SourceRow(
            source=key,
            leads=c["leads"],
            junk=c["junk"],
            good=c["good"],
            deals=c["deals"],
            won=c["won"],
            lost=c["lost"],
            revenue=tuple(Money(amount=a, currency=cur) for cur, a in sorted(c["revenue"].items())),
            cycle_days=tuple(sorted(c["cycle"])),
        )
        for key, c in tallies.items()
    }
    return Sources(by=by, as_of=as_of, sources=_sorted_sources(rows))


# --- the lead flow -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LeadFlow:
    """
    Leads to good leads to deals to sales (seed 000: how many leads become good deals).

    Every lead is in exactly one bucket by its last verdict (`Bucket`): ``junk + good +
    waiting == leads``, the same split `sources` makes.

    Attributes:
        as_of: The snapshot time.
        counting: What `deals_from_leads` and `won_from_leads` count (`Counting`).
        leads: Leads counted.
        junk: Of them, those whose last verdict is junk (closed as junk, or qualified junk).
        good: Of them, those whose last verdict is good (qualified good, or converted).
        waiting: Of them, those waiting for a verdict (never qualified, "review", reopened).
        repeat: Of them repeat requests (linked to a returning customer).
        converted: Of them converted into a deal.
        deals_from_leads: Counting journeys: requests that got at least one deal. Counting
            deals: deals opened from a lead (a chain of four deals counts four).
        won_from_leads: Counting journeys: of those requests, the ones that ended in a sale
            (`Journey.sale`). Counting deals: deals from a lead that were won.
    """

    as_of: datetime
    counting: Counting = Counting.JOURNEY
    leads: int
    junk: int
    good: int
    waiting: int
    repeat: int
    converted: int
    deals_from_leads: int
    won_from_leads: int

    @property
    def good_share(self) -> float | None:
        """Good leads of all leads."""
        return _rate(self.good, self.leads)

    @property
    def repeat_share(self) -> float | None:
        """Repeat requests of all leads."""
        return _rate(self.repeat, self.leads)

    @property
    def won_share(self) -> float | None:
        """Sales of requests that got a deal (or won deals of deals from leads)."""
        return _rate(self.won_from_leads, self.deals_from_leads)

    def merge(self, other: LeadFlow) -> LeadFlow:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        _same("counting", self.counting, other.counting)
        names = [a.name for a in attrs.fields(LeadFlow) if a.name not in ("as_of", "counting")]
        return attrs.evolve(
            self, **{name: getattr(self, name) + getattr(other, name) for name in names}
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per step of the flow."""
        return [
            {"step": "leads", "count": self.leads},
            {"step": "junk", "count": self.junk},
            {"step": "good", "count": self.good},
            {"step": "waiting", "count": self.waiting},
            {"step": "repeat", "count": self.repeat},
            {"step": "converted", "count": self.converted},
            {"step": "deals_from_leads", "count": self.deals_from_leads},
            {"step": "won_from_leads", "count": self.won_from_leads},
        ]


def lead_flow(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
    counting: Counting = Counting.JOURNEY,
) -> LeadFlow:
    """
    Count leads by bucket, repeat requests, conversions, and the requests that ended in a sale.

    With ``counting=Counting.JOURNEY`` (the default) a request and the chain of deals that
    follows it count once, and the filters apply to the request; with `Counting.DEAL`, deals
    are counted on their own side (a deal from a lead carries its ``lead_id``), so parts
    split by entity merge exactly.
    """
    if not isinstance(counting, Counting):
        raise_for("counting", counting, "pass Counting.JOURNEY or Counting.DEAL", "type")
    folded = _fold(data, as_of)
    counts = Counter[str]()
    for lead in _select(folded, EntityKind.LEAD, None, filters):
        counts["leads"] += 1
        counts[lead.bucket.value if lead.bucket is not None else "waiting"] += 1
        counts["repeat"] += lead.repeat is True
        counts["converted"] += lead.outcome is Outcome.CONVERTED
    if counting is Counting.DEAL:
        for deal in _select(folded, EntityKind.DEAL, None, filters):
            if deal.lead_id is not None:
                counts["deals_from_leads"] += 1
                counts["won_from_leads"] += deal.outcome is Outcome.WON
    else:
        for journey in _journeys(folded, filters):
            if journey.key.startswith("lead:") and journey.deals:
                counts["deals_from_leads"] += 1
                counts["won_from_leads"] += journey.sale is not None
    return LeadFlow(
        as_of=folded.as_of,
        counting=counting,
        leads=counts["leads"],
        junk=counts["junk"],
        good=counts["good"],
        waiting=counts["waiting"],
        repeat=counts["repeat"],
        converted=counts["converted"],
        deals_from_leads=counts["deals_from_leads"],
        won_from_leads=counts["won_from_leads"],
    )


def _journeys(folded: Histories, filters: Filters) -> Iterator[Journey]:
    """The journeys whose start (the request, or the first deal) passes the filters."""
    keeps = _keeps(filters)
    for journey in folded.journeys():
        start = journey.start
        if start is not None and (keeps is None or keeps(start)):
            yield journey


# --- response times ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ResponseTimes:
    """
    How fast new leads were taken: minutes from creation to the first touch.

    The first touch is the first task about the lead completed, or the lead leaving the stage
    it was created in, whichever came first. Leads not touched yet are not dropped: they are
    `waiting` (censored), with the minutes they have waited. Leads closed as junk the moment
    they arrived (the intake's spam filter, not a person) were never answered by anyone: they
    are counted apart, as `screened`, and not as answered in 0 minutes.

    Attributes:
        as_of: The snapshot time.
        bands: The upper bounds of the SLA bands in minutes (``(5, 15, 60)``: within 5,
            5 to 15, 15 to 60, over 60).
        minutes: The response times of the touched leads, sorted.
        waiting: The minutes the untouched leads have waited so far, sorted.
        screened: Leads closed as junk on arrival, left out of `minutes` and `waiting`.
    """

    as_of: datetime
    bands: tuple[int, ...]
    minutes: tuple[float, ...]
    waiting: tuple[float, ...]
    screened: int = 0

    def quantile(self, q: float) -> float | None:
        """A quantile of the response times in minutes (type 7)."""
        return quantile(self.minutes, q)

    def band_counts(self) -> list[tuple[str, int]]:
        """How many touched leads fall in each band, labelled ``"≤5"``, ``"5–15"``, ``">60"``."""
        edges = [0, *self.bands]
        counts = []
        for low, high in itertools.pairwise(edges):
            inside = bisect.bisect_right(self.minutes, high) - bisect.bisect_right(
                self.minutes, low
            )
            if low == 0:
                inside += bisect.bisect_right(self.minutes, 0)
            counts.append((f"≤{high}" if low == 0 else f"{low}–{high}", inside))
        last = self.bands[-1] if self.bands else 0
        counts.append((f">{last}", len(self.minutes) - bisect.bisect_right(self.minutes, last)))
        return counts

    def merge(self, other: ResponseTimes) -> ResponseTimes:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        _same("bands", self.bands, other.bands)
        return attrs.evolve(
            self,
            minutes=tuple(sorted(self.minutes + other.minutes)),
            waiting=tuple(sorted(self.waiting + other.waiting)),
            screened=self.screened + other.screened,
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per band, then the leads still waiting, then those screened out as junk."""
        rows: list[dict[str, Any]] = [{"band": band, "leads": n} for band, n in self.band_counts()]
        rows.append({"band": "waiting", "leads": len(self.waiting)})
        rows.append({"band": "screened", "leads": self.screened})
        return rows


def response_times(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    bands: tuple[int, ...] = (5, 15, 60),
    filters: Filters = _EVERYTHING,
) -> ResponseTimes:
    """Measure minutes from each lead's creation to its first touch (seed 001's speed)."""
    if list(bands) != sorted(set(bands)) or any(b <= 0 for b in bands):
        raise_for(
            "bands", bands, "bands are increasing positive minutes, e.g. (5, 15, 60)", "range"
        )
    folded = _fold(data, as_of)
    minutes: list[float] = []
    waiting: list[float] = []
    screened = 0
    for lead in _select(folded, EntityKind.LEAD, None, filters):
        if lead.created_at is None:
            continue
        if lead.outcome is Outcome.JUNK and lead.entered[1:2] == [lead.created_at]:
            screened += 1  # junked on arrival, in the unit that took it in
            continue
        touches = [at for _, at in lead.completed]
        if len(lead.entered) > 1:
            touches.append(lead.entered[1])
        if touches:
            minutes.append((min(touches) - lead.created_at).total_seconds() / _MINUTE)
        else:
            waiting.append((folded.as_of - lead.created_at).total_seconds() / _MINUTE)
    return ResponseTimes(
        as_of=folded.as_of,
        bands=tuple(bands),
        minutes=tuple(sorted(minutes)),
        waiting=tuple(sorted(waiting)),
        screened=screened,
    )
