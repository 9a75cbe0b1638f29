"""
Reports a head of sales steers by.

The lead flow, response times, negotiations, bottlenecks, forecasts, velocity, cohorts,
receivables, plan against fact and the task load.

Like the other reports, each takes the events (with ``as_of``) or a `Histories` fold and
returns a frozen, mergeable result with `rows`.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit.analytics._history import Histories, Journey, Outcome
from funnelkit.analytics._reports import (
    _EVERYTHING,
    Counting,
    Filters,
    _fold,
    _keeps,
    _rate,
    _same,
    _select,
)
from funnelkit.analytics._stats import quantile
from funnelkit.events import (
    DealWon,
    MoveEvent,
    PaymentReceived,
)
from funnelkit.model import (
    DocumentKind,
    EntityKind,
    Money,
    Period,
    TaskKind,
    TaskStatus,
)
from funnelkit.model._checks import raise_for
from funnelkit.pipelines._definition import pipelines_given
from funnelkit.plans import Measure, Plan, Target


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from funnelkit.events import Event
    from funnelkit.pipelines import Pipeline


__all__ = [
    "Bottleneck",
    "Bottlenecks",
    "Cohort",
    "Cohorts",
    "DealSteps",
    "Forecast",
    "ForecastStage",
    "LeadFlow",
    "PlanFact",
    "PlanFacts",
    "Receivable",
    "Receivables",
    "ResponseTimes",
    "SlaReport",
    "TaskLoad",
    "Velocity",
    "bottlenecks",
    "cohorts",
    "deal_steps",
    "forecast",
    "lead_flow",
    "plan_vs_fact",
    "receivables",
    "response_times",
    "sla_report",
    "task_load",
    "velocity",
]

_DAY = 86_400.0
_MINUTE = 60.0


def _plus(counter: tuple[tuple[int, int], ...], other: tuple[tuple[int, int], ...]) -> Counter[int]:
    total: Counter[int] = Counter(dict(counter))
    total.update(dict(other))
    return total


def _frozen_counts(counter: Counter[int]) -> tuple[tuple[int, int], ...]:
    return tuple(sorted(counter.items()))


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


# --- negotiations --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class DealSteps:
    """
    The meeting → proposal → contract chain of seed 000, from tasks and documents.

    Counting journeys (the default), a customer's meeting deal, proposal deal, contract deal
    and main sale are one unit: its meetings, proposal versions and contract are gathered
    from all of them, and it is won when the journey ends in a sale (`Journey.sale`).
    Counting deals, each deal is a unit on its own.

    Attributes:
        as_of: The snapshot time.
        counting: What is counted (`Counting`).
        won: Journeys that ended in a sale (or deals won).
        won_without_meeting: Of them, won without a completed meeting.
        bought_at_once: Of them, won without a meeting and with at most one proposal version
            ("how many clients buy at once, without negotiations").
        meetings_before_proposal: ``(meetings, units)``: of those that were sent a proposal,
            how many had 0, 1, 2... meetings completed before the first one.
        versions_before_contract: ``(versions, units)``: of those that were sent a contract,
            how many proposal versions they were sent before it.
        rework_days: For those with a proposal before the contract, days from the first
            proposal version to the last one before the contract, sorted.
        cycle_days: For the won, days from the first request (the journey's start, or the
            deal's creation) to the sale, sorted.
    """

    as_of: datetime
    counting: Counting = Counting.JOURNEY
    won: int
    won_without_meeting: int
    bought_at_once: int
    meetings_before_proposal: tuple[tuple[int, int], ...]
    versions_before_contract: tuple[tuple[int, int], ...]
    rework_days: tuple[float, ...]
    cycle_days: tuple[float, ...] = ()

    @property
    def won_without_meeting_share(self) -> float | None:
        """Won without a meeting, of all won."""
        return _rate(self.won_without_meeting, self.won)

    @property
    def median_cycle_days(self) -> float | None:
        """The median days from the first request to the sale."""
        return quantile(self.cycle_days, 0.5)

    def merge(self, other: DealSteps) -> DealSteps:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        _same("counting", self.counting, other.counting)
        return attrs.evolve(
            self,
            won=self.won + other.won,
            won_without_meeting=self.won_without_meeting + other.won_without_meeting,
            bought_at_once=self.bought_at_once + other.bought_at_once,
            meetings_before_proposal=_frozen_counts(
                _plus(self.meetings_before_proposal, other.meetings_before_proposal)
            ),
            versions_before_contract=_frozen_counts(
                _plus(self.versions_before_contract, other.versions_before_contract)
            ),
            rework_days=tuple(sorted(self.rework_days + other.rework_days)),
            cycle_days=tuple(sorted(self.cycle_days + other.cycle_days)),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per measure (distributions as ``count=units`` pairs)."""
        return [
            {"measure": "won", "value": self.won},
            {"measure": "won_without_meeting", "value": self.won_without_meeting},
            {"measure": "bought_at_once", "value": self.bought_at_once},
            *(
                {"measure": f"meetings_before_proposal={n}", "value": units}
                for n, units in self.meetings_before_proposal
            ),
            *(
                {"measure": f"versions_before_contract={n}", "value": units}
                for n, units in self.versions_before_contract
            ),
            {"measure": "median_rework_days", "value": quantile(self.rework_days, 0.5)},
            {"measure": "median_cycle_days", "value": self.median_cycle_days},
        ]


@attrs.frozen
class _Steps:
    """What `deal_steps` reads of one unit (a journey, or a deal)."""

    started_at: datetime | None
    won_at: datetime | None
    meetings: list[datetime]
    documents: list[tuple[DocumentKind, int, datetime]]


def _units(folded: Histories, filters: Filters, counting: Counting) -> Iterator[_Steps]:
    if counting is Counting.DEAL:
        for deal in _select(folded, EntityKind.DEAL, None, filters):
            yield _Steps(
                deal.created_at,
                deal.closed_at if deal.outcome is Outcome.WON else None,
                [at for kind, at in deal.completed if kind is TaskKind.MEETING],
                list(deal.documents),
            )
        return
    for journey in _journeys(folded, filters):
        if not journey.deals:
            continue
        sale = journey.sale
        yield _Steps(
            journey.started_at,
            sale.closed_at if sale is not None else None,
            [at for kind, at in journey.completed if kind is TaskKind.MEETING],
            journey.documents,
        )


def deal_steps(
    data: Histories | Iterable[Event],
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
    counting: Counting = Counting.JOURNEY,
) -> DealSteps:
    """
    Count meetings before proposals, proposal versions before contracts, sales made at once.

    By customer journey (the default; the filters apply to its request) or by deal.
    """
    if not isinstance(counting, Counting):
        raise_for("counting", counting, "pass Counting.JOURNEY or Counting.DEAL", "type")
    folded = _fold(data, as_of)
    won = without_meeting = at_once = 0
    meetings: Counter[int] = Counter()
    versions: Counter[int] = Counter()
    rework: list[float] = []
    cycle: list[float] = []
    for unit in _units(folded, filters, counting):
        met = unit.meetings
        proposals = sorted(sent for k, _, sent in unit.documents if k is DocumentKind.PROPOSAL)
        if unit.won_at is not None:
            won += 1
            if not any(at <= unit.won_at for at in met):
                without_meeting += 1
                at_once += len(proposals) <= 1
            if unit.started_at is not None:
                cycle.append((unit.won_at - unit.started_at).total_seconds() / _DAY)
        if proposals:
            meetings[sum(at < proposals[0] for at in met)] += 1
        contract = min(
            (sent for k, _, sent in unit.documents if k is DocumentKind.CONTRACT), default=None
        )
        if contract is not None:
            before = [sent for sent in proposals if sent < contract]
            versions[len(before)] += 1
            if before:
                rework.append((before[-1] - before[0]).total_seconds() / _DAY)
    return DealSteps(
        as_of=folded.as_of,
        counting=counting,
        won=won,
        won_without_meeting=without_meeting,
        bought_at_once=at_once,
        meetings_before_proposal=_frozen_counts(meetings),
        versions_before_contract=_frozen_counts(versions),
        rework_days=tuple(sorted(rework)),
        cycle_days=tuple(sorted(cycle)),
    )


# --- bottlenecks ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Bottleneck:
    """
    One open stage seen as a queue.

    Attributes:
        stage: The stage.
        entered: Leads or deals that entered it.
        dropped: Lost or closed as junk from it.
        in_stage: Open ones in it now (work in progress).
        durations: Completed visits in seconds, sorted.
    """

    stage: str
    entered: int
    dropped: int
    in_stage: int
    durations: tuple[float, ...]

    @property
    def drop_rate(self) -> float | None:
        """Dropped from the stage of those that entered it."""
        return _rate(self.dropped, self.entered)

    @property
    def median_days(self) -> float | None:
        """Median completed visit in days."""
        found = quantile(self.durations, 0.5)
        return None if found is None else found / _DAY

    @property
    def queue_days(self) -> float | None:
        """Work in progress × median days: the days of work waiting in the stage."""
        median = self.median_days
        return None if median is None else self.in_stage * median


@attrs.frozen(kw_only=True)
class Bottlenecks:
    """
    Every open stage of a pipeline as a queue, to find where deals stall or drop out.

    Attributes:
        pipeline: The pipeline.
        as_of: The snapshot time.
        stages: One `Bottleneck` per open stage, in order.
    """

    pipeline: str
    as_of: datetime
    stages: tuple[Bottleneck, ...]

    def worst(self, by: str = "dropped") -> Bottleneck:
        """
        The worst stage by ``"dropped"``, ``"drop_rate"``, ``"median_days"`` or ``"queue_days"``.

        Raises:
            ValidationError: If `by` is none of these, or the pipeline has no open stage.
        """
        if by not in {"dropped", "drop_rate", "median_days", "queue_days"}:
            raise_for(
                "by",
                by,
                "rank by 'dropped', 'drop_rate', 'median_days' or 'queue_days'",
                "unknown",
            )
        if not self.stages:
            raise_for("stages", self.stages, "the pipeline has no open stage", "empty")
        return max(self.stages, key=lambda b: getattr(b, by) or 0)

    def merge(self, other: Bottlenecks) -> Bottlenecks:
        """Two parts together."""
        for name in ("pipeline", "as_of"):
            _same(name, getattr(self, name), getattr(other, name))
        _same("stages", [b.stage for b in self.stages], [b.stage for b in other.stages])
        return attrs.evolve(
            self,
            stages=tuple(
                Bottleneck(
                    stage=a.stage,
                    entered=a.entered + b.entered,
                    dropped=a.dropped + b.dropped,
                    in_stage=a.in_stage + b.in_stage,
                    durations=tuple(sorted(a.durations + b.durations)),
                )
                for a, b in zip(self.stages, other.stages, strict=True)
            ),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per open stage."""
        return [
            {
                "stage": b.stage,
                "entered": b.entered,
                "dropped": b.dropped,
                "drop_rate": b.drop_rate,
                "in_stage": b.in_stage,
                "median_days": b.median_days,
                "queue_days": b.queue_days,
            }
            for b in self.stages
        ]


def bottlenecks(
    data: Histories | Iterable[Event],
    pipeline: Pipeline,
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
) -> Bottlenecks:
    """Measure each open stage's entries, drop-outs, work in progress and dwell time."""
    folded = _fold(data, as_of)
    keys = [s.key for s in pipeline.stages if not s.closed]
    entered = dict.fromkeys(keys, 0)
    dropped = dict.fromkeys(keys, 0)
    in_stage = dict.fromkeys(keys, 0)
    durations: dict[str, list[float]] = {key: [] for key in keys}
    for history in _select(folded, None, pipeline.key, filters):
        stages, times = history.stages, history.entered
        for stage in set(stages):
            if stage in entered:
                entered[stage] += 1
        for index in range(len(stages) - 1):
            bucket = durations.get(stages[index])
            if bucket is not None:
                bucket.append((times[index + 1] - times[index]).total_seconds())
        if history.outcome in {Outcome.LOST, Outcome.JUNK} and history.closed_from in dropped:
            dropped[history.closed_from] += 1
        elif history.outcome is None and stages and stages[-1] in in_stage:
            in_stage[stages[-1]] += 1
    return Bottlenecks(
        pipeline=pipeline.key,
        as_of=folded.as_of,
        stages=tuple(
            Bottleneck(
                stage=key,
                entered=entered[key],
                dropped=dropped[key],
                in_stage=in_stage[key],
                durations=tuple(sorted(durations[key])),
            )
            for key in keys
        ),
    )


# --- forecast ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ForecastStage:
    """
    The open deals of one stage and what they are likely worth.

    Attributes:
        stage: The stage.
        deals: Open deals in it with an amount in the forecast's currency.
        amount: Their amounts together.
        entered_closed: Deals that entered the stage and have closed (for the history).
        entered_won: Of them, won.
        stage_probability: The stage's own probability in per cent, if it has one.
    """

    stage: str
    deals: int
    amount: Decimal
    entered_closed: int
    entered_won: int
    stage_probability: int | None


@attrs.frozen(kw_only=True)
class Forecast:
    """
    The weighted pipeline: open amounts × the chance of winning from their stage.

    Attributes:
        pipeline: The pipeline.
        as_of: The snapshot time.
        currency: The currency forecast.
        basis: ``"stage"`` (the stage's probability) or ``"history"`` (the share of deals
            that entered the stage and closed that were won).
        stages: One `ForecastStage` per open stage, in order.
        other_currency: Open deals in another currency, left out.
        without_amount: Open deals without an amount, left out.
    """

    pipeline: str
    as_of: datetime
    currency: str
    basis: str
    stages: tuple[ForecastStage, ...]
    other_currency: int
    without_amount: int

    def probability(self, stage: ForecastStage) -> float | None:
        """The chance of winning used for a stage (0 to 1)."""
        if self.basis == "stage":
            return None if stage.stage_probability is None else stage.stage_probability / 100
        return _rate(stage.entered_won, stage.entered_closed)

    def weighted(self, stage: ForecastStage) -> Money:
        """The stage's amount × its probability (0 when it has none)."""
        chance = self.probability(stage) or 0.0
        amount = (stage.amount * Decimal(str(chance))).quantize(Decimal("0.01"))
        return Money(amount=amount, currency=self.currency)

    @property
    def total(self) -> Money:
        """The weighted amount of every open stage."""
        amount = sum((self.weighted(stage).amount for stage in self.stages), Decimal(0))
        return Money(amount=amount, currency=self.currency)

    def merge(self, other: Forecast) -> Forecast:
        """Two parts together."""
        for name in ("pipeline", "as_of", "currency", "basis"):
            _same(name, getattr(self, name), getattr(other, name))
        _same("stages", [s.stage for s in self.stages], [s.stage for s in other.stages])
        return attrs.evolve(
            self,
            stages=tuple(
                attrs.evolve(
                    a,
                    deals=a.deals + b.deals,
                    amount=a.amount + b.amount,
                    entered_closed=a.entered_closed + b.entered_closed,
                    entered_won=a.entered_won + b.entered_won,
                )
                for a, b in zip(self.stages, other.stages, strict=True)
            ),
            other_currency=self.other_currency + other.other_currency,
            without_amount=self.without_amount + other.without_amount,
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per open stage."""
        return [
            {
                "stage": s.stage,
                "deals": s.deals,
                "amount": str(s.amount),
                "probability": self.probability(s),
                "weighted": str(self.weighted(s).amount),
            }
            for s in self.stages
        ]


def forecast(
    data: Histories | Iterable[Event],
    pipeline: Pipeline,
    *,
    currency: str,
    as_of: datetime | None = None,
    basis: str = "stage",
    filters: Filters = _EVERYTHING,
) -> Forecast:
    """
    Weigh the open deals' amounts by the chance of winning from their stage.

    Args:
        data: The events (then `as_of` is required) or their `Histories`.
        pipeline: The deal pipeline.
        currency: The currency forecast (deals in others are counted apart).
        as_of: The snapshot time.
        basis: ``"stage"``: each stage's `probability`; ``"history"``: of the deals that
            entered the stage and closed, the share won.
        filters: Which deals count.
    """
    if basis not in {"stage", "history"}:
        raise_for("basis", basis, "use 'stage' or 'history'", "unknown")
    folded = _fold(data, as_of)
    opened = [s for s in pipeline.stages if not s.closed]
    deals = Counter[str]()
    amounts = dict.fromkeys((s.key for s in opened), Decimal(0))
    closed = Counter[str]()
    won = Counter[str]()
    other = missing = 0
    for deal in _select(folded, EntityKind.DEAL, pipeline.key, filters):
        if deal.outcome is not None:
            for stage in set(deal.stages).intersection(amounts):
                closed[stage] += 1
                won[stage] += deal.outcome is Outcome.WON
            continue
        stage = deal.stages[-1] if deal.stages else ""
        if stage not in amounts:
            continue
        if deal.amount is None:
            missing += 1
        elif deal.amount.currency != currency:
            other += 1
        else:
            deals[stage] += 1
            amounts[stage] += deal.amount.amount
    return Forecast(
        pipeline=pipeline.key,
        as_of=folded.as_of,
        currency=currency,
        basis=basis,
        stages=tuple(
            ForecastStage(
                stage=s.key,
                deals=deals[s.key],
                amount=amounts[s.key],
                entered_closed=closed[s.key],
                entered_won=won[s.key],
                stage_probability=s.probability,
            )
            for s in opened
        ),
        other_currency=other,
        without_amount=missing,
    )


# --- velocity ------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Velocity:
    """
    Pipeline velocity over a period: open deals × win rate × deal size ÷ cycle, per day.

    Attributes:
        period: The period.
        currency: The currency of the amounts.
        open_at_start: Deals open when the period began.
        won: Deals won in the period (with an amount in the currency).
        lost: Deals lost in the period.
        won_amount: Their amounts together.
        cycle_days: Their days from creation to winning, together.
    """

    period: Period
    currency: str
    open_at_start: int
    won: int
    lost: int
    won_amount: Decimal
    cycle_days: float

    @property
    def win_rate(self) -> float | None:
        """Won of closed in the period."""
        return _rate(self.won, self.won + self.lost)

    @property
    def deal_size(self) -> Decimal | None:
        """The mean amount of the deals won."""
        return self.won_amount / self.won if self.won else None

    @property
    def cycle(self) -> float | None:
        """The mean cycle of the deals won, in days."""
        return self.cycle_days / self.won if self.won else None

    @property
    def per_day(self) -> Money | None:
        """Revenue per day the pipeline moves (``None`` while a lever is unknown)."""
        rate, size, cycle = self.win_rate, self.deal_size, self.cycle
        if rate is None or size is None or not cycle:
            return None
        value = Decimal(self.open_at_start) * Decimal(str(rate)) * size / Decimal(str(cycle))
        return Money(amount=value.quantize(Decimal("0.01")), currency=self.currency)

    def merge(self, other: Velocity) -> Velocity:
        """Two parts together."""
        _same("period", self.period, other.period)
        _same("currency", self.currency, other.currency)
        return attrs.evolve(
            self,
            open_at_start=self.open_at_start + other.open_at_start,
            won=self.won + other.won,
            lost=self.lost + other.lost,
            won_amount=self.won_amount + other.won_amount,
            cycle_days=self.cycle_days + other.cycle_days,
        )

    def rows(self) -> list[dict[str, Any]]:
        """The four levers and the velocity."""
        per_day = self.per_day
        return [
            {
                "period": str(self.period),
                "open_at_start": self.open_at_start,
                "win_rate": self.win_rate,
                "deal_size": None if self.deal_size is None else str(self.deal_size),
                "cycle_days": self.cycle,
                "per_day": None if per_day is None else str(per_day.amount),
            }
        ]


def velocity(
    data: Histories | Iterable[Event],
    period: Period,
    *,
    currency: str,
    as_of: datetime | None = None,
    zone: tzinfo = timezone.utc,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> Velocity:
    """
    Measure the four levers of pipeline velocity over a period, and the velocity.

    Args:
        data: The events (then `as_of` is required) or their `Histories`.
        period: The period: deals open when it began, and deals closed in it.
        currency: The currency of the amounts counted (won deals in another are left out).
        as_of: The snapshot time.
        zone: The time zone of the period's days.
        pipeline: Only this pipeline's deals.
        filters: Which deals count (owner, channel, or a period of their own).
    """
    folded = _fold(data, as_of)
    start, end = period.bounds(zone)
    open_at_start = won = lost = 0
    amount = Decimal(0)
    cycle = 0.0
    for deal in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        if deal.created_at is None:
            continue
        if deal.created_at < start and (deal.closed_at is None or deal.closed_at >= start):
            open_at_start += 1
        if deal.closed_at is None or not start <= deal.closed_at < end:
            continue
        if deal.outcome is Outcome.LOST:
            lost += 1
        elif (
            deal.outcome is Outcome.WON
            and deal.amount is not None
            and deal.amount.currency == currency
        ):
            won += 1
            amount += deal.amount.amount
            cycle += (deal.closed_at - deal.created_at).total_seconds() / _DAY
    return Velocity(
        period=period,
        currency=currency,
        open_at_start=open_at_start,
        won=won,
        lost=lost,
        won_amount=amount,
        cycle_days=cycle,
    )


# --- cohorts -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Cohort:
    """
    The deals created in one week and how many were won within the window.

    Attributes:
        week: The Monday the week starts on.
        created: Deals created that week.
        won: Of them, won within the window after their creation.
        complete: Whether every deal of the week has had the whole window by the snapshot
            (a young cohort's rate is still growing).
    """

    week: date
    created: int
    won: int
    complete: bool

    @property
    def rate(self) -> float | None:
        """Won within the window of created."""
        return _rate(self.won, self.created)


@attrs.frozen(kw_only=True)
class Cohorts:
    """
    ConversionReport by creation week with a conversion window.

    Attributes:
        as_of: The snapshot time.
        window: How long after its creation a deal has to be won.
        zone: The time zone of the weeks.
        cohorts: One `Cohort` per week with deals, in order.
    """

    as_of: datetime
    window: timedelta
    zone: tzinfo
    cohorts: tuple[Cohort, ...]

    def merge(self, other: Cohorts) -> Cohorts:
        """Two parts together."""
        for name in ("as_of", "window", "zone"):
            _same(name, getattr(self, name), getattr(other, name))
        found: dict[date, Cohort] = {c.week: c for c in self.cohorts}
        for cohort in other.cohorts:
            mine = found.get(cohort.week)
            found[cohort.week] = (
                cohort
                if mine is None
                else attrs.evolve(
                    mine, created=mine.created + cohort.created, won=mine.won + cohort.won
                )
            )
        return attrs.evolve(self, cohorts=tuple(found[week] for week in sorted(found)))

    def rows(self) -> list[dict[str, Any]]:
        """One row per week."""
        return [
            {
                "week": c.week.isoformat(),
                "created": c.created,
                "won": c.won,
                "rate": c.rate,
                "complete": c.complete,
            }
            for c in self.cohorts
        ]


def cohorts(
    data: Histories | Iterable[Event],
    *,
    window: timedelta,
    as_of: datetime | None = None,
    zone: tzinfo = timezone.utc,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> Cohorts:
    """
    Group deals by the week they were created and count those won within `window`.

    Args:
        data: The events (then `as_of` is required) or their `Histories`.
        window: How long after its creation a deal has to be won to count.
        as_of: The snapshot time.
        zone: The time zone of the weeks.
        pipeline: Only this pipeline's deals.
        filters: Which deals count (owner, channel, period).

    Raises:
        ValidationError: If `window` is not positive.
    """
    if window <= timedelta(0):
        raise_for("window", window, "the conversion window must be positive", "range")
    folded = _fold(data, as_of)
    counts: dict[date, list[int]] = {}
    for deal in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        if deal.created_at is None:
            continue
        week = Period.week(deal.created_at.astimezone(zone).date()).start
        tally = counts.setdefault(week, [0, 0])
        tally[0] += 1
        if (
            deal.outcome is Outcome.WON
            and deal.closed_at is not None
            and deal.closed_at - deal.created_at <= window
        ):
            tally[1] += 1
    return Cohorts(
        as_of=folded.as_of,
        window=window,
        zone=zone,
        cohorts=tuple(
            Cohort(
                week=week,
                created=counts[week][0],
                won=counts[week][1],
                complete=Period.week(week).bounds(zone)[1] + window <= folded.as_of,
            )
            for week in sorted(counts)
        ),
    )


# --- receivables ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Receivable:
    """
    What one deal is worth, what was paid and what is still due.

    Attributes:
        deal: The deal id.
        owner: Its manager.
        status: ``"won"``, ``"open"`` or ``"lost"``.
        amount: The deal's amount.
        paid: The payments received.
    """

    deal: str
    owner: str | None
    status: str
    amount: Money
    paid: Money

    @property
    def due(self) -> Money:
        """The balance still to be paid (negative if overpaid)."""
        return self.amount - self.paid


@attrs.frozen(kw_only=True)
class Receivables:
    """
    The live report of amounts, payments and debts (seed 000), per deal and per owner.

    Attributes:
        as_of: The snapshot time.
        currency: The currency reported.
        deals: One `Receivable` per deal with an amount or a payment, by deal id.
    """

    as_of: datetime
    currency: str
    deals: tuple[Receivable, ...]

    def by_owner(self) -> list[dict[str, Any]]:
        """Amounts, payments and balances due per owner (won deals only)."""
        totals: dict[str | None, list[Decimal]] = {}
        for item in self.deals:
            if item.status != Outcome.WON.value:
                continue
            total = totals.setdefault(item.owner, [Decimal(0), Decimal(0)])
            total[0] += item.amount.amount
            total[1] += item.paid.amount
        return [
            {"owner": owner, "amount": str(a), "paid": str(p), "due": str(a - p)}
            for owner, (a, p) in sorted(totals.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ]

    def merge(self, other: Receivables) -> Receivables:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        _same("currency", self.currency, other.currency)
        return attrs.evolve(
            self, deals=tuple(sorted((*self.deals, *other.deals), key=lambda r: r.deal))
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per deal."""
        return [
            {
                "deal": r.deal,
                "owner": r.owner,
                "status": r.status,
                "amount": str(r.amount.amount),
                "paid": str(r.paid.amount),
                "due": str(r.due.amount),
            }
            for r in self.deals
        ]


def receivables(
    data: Histories | Iterable[Event],
    *,
    currency: str,
    as_of: datetime | None = None,
    pipeline: Pipeline | None = None,
    filters: Filters = _EVERYTHING,
) -> Receivables:
    """
    Per deal in `currency`: its amount, the payments received, the balance due.

    In a chained funnel the money is due in one pipeline (the main sale): name it, or the won
    meetings and proposals count as debts too.
    """
    folded = _fold(data, as_of)
    zero = Money(amount=Decimal(0), currency=currency)
    found = []
    for deal in _select(folded, EntityKind.DEAL, pipeline.key if pipeline else None, filters):
        paid = sum((m.amount for _, m in deal.payments if m.currency == currency), Decimal(0))
        amount = (
            deal.amount if deal.amount is not None and deal.amount.currency == currency else None
        )
        if amount is None and not paid:
            continue
        found.append(
            Receivable(
                deal=deal.ref.id,
                owner=deal.owner,
                status=deal.outcome.value if deal.outcome is not None else "open",
                amount=amount or zero,
                paid=Money(amount=paid, currency=currency),
            )
        )
    found.sort(key=lambda r: r.deal)
    return Receivables(as_of=folded.as_of, currency=currency, deals=tuple(found))


# --- plan against fact ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class PlanFact:
    """
    One target and what was done.

    Attributes:
        target: The target.
        fact: What was done in its period by its owner (or by everyone for a department
            target): a count, or `Money` for revenue and payments.
    """

    target: Target
    fact: int | Money

    @property
    def done(self) -> float | None:
        """The fact as a share of the target (``None`` for a zero target)."""
        target, fact = self.target.value, self.fact
        if isinstance(target, Money) and isinstance(fact, Money):
            return float(fact.amount / target.amount) if target.amount else None
        return _rate(int(fact), int(target))  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class PlanFacts:
    """
    A plan against the facts, target by target.

    Attributes:
        as_of: The snapshot time.
        zone: The time zone of the plan's periods.
        items: One `PlanFact` per target of the plan, in the plan's order.
    """

    as_of: datetime
    zone: tzinfo
    items: tuple[PlanFact, ...]

    def merge(self, other: PlanFacts) -> PlanFacts:
        """Two parts together (the same plan)."""
        for name in ("as_of", "zone"):
            _same(name, getattr(self, name), getattr(other, name))
        _same("targets", [i.target for i in self.items], [i.target for i in other.items])
        return attrs.evolve(
            self,
            items=tuple(
                attrs.evolve(a, fact=a.fact + b.fact)  # type: ignore[operator]
                for a, b in zip(self.items, other.items, strict=True)
            ),
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per target."""
        return [
            {
                "owner": i.target.owner,
                "measure": i.target.measure.value,
                "pipeline": i.target.pipeline,
                "stage": i.target.stage,
                "period": str(i.target.period),
                "target": str(i.target.value),
                "fact": str(i.fact),
                "done": i.done,
            }
            for i in self.items
        ]


def _money_of(money: Money | None, target: Target) -> Decimal:
    """An amount counted toward a money target: in its currency, else nothing."""
    value = target.value
    if money is None or not isinstance(value, Money) or money.currency != value.currency:
        return Decimal(0)
    return money.amount


def _fact_of(event: Event, target: Target) -> int | Decimal:
    """What one event adds to a target (0 if nothing)."""
    measure = target.measure
    if measure is Measure.PAYMENTS:
        return _money_of(event.payment.amount, target) if isinstance(event, PaymentReceived) else 0
    if not isinstance(event, MoveEvent) or (
        target.pipeline is not None and event.pipeline != target.pipeline
    ):
        return 0
    if measure is Measure.ENTERED:
        return int(event.to_stage == target.stage)
    if not isinstance(event, DealWon):
        return 0
    return 1 if measure is Measure.WON else _money_of(event.amount, target)


def plan_vs_fact(
    data: Histories | Iterable[Event],
    plan: Plan,
    *,
    as_of: datetime | None = None,
    zone: tzinfo = timezone.utc,
) -> PlanFacts:
    """
    Compare every target of a plan with the facts, attributed to who acted at the time.

    A stage entry counts for the person who made the move, a win for who won it, a payment for
    who recorded it (Pipeliner's rule: not the current owner); a department target counts
    everyone. Only events in the target's period (in `zone`) and up to ``as_of`` count.
    """
    folded = _fold(data, as_of)
    totals: list[int | Decimal] = [
        Decimal(0) if target.measure.is_money else 0 for target in plan.targets
    ]
    bounds = [target.period.bounds(zone) for target in plan.targets]
    for event in folded._log:  # noqa: SLF001 - the events as given, for their actors
        if event.at > folded.as_of:
            continue
        for index, target in enumerate(plan.targets):
            start, end = bounds[index]
            if not start <= event.at < end:
                continue
            if target.owner is not None and event.actor != target.owner:
                continue
            totals[index] += _fact_of(event, target)
    items = []
    for target, total in zip(plan.targets, totals, strict=True):
        fact: int | Money
        if isinstance(target.value, Money):
            fact = Money(amount=Decimal(total), currency=target.value.currency)
        else:
            fact = int(total)
        items.append(PlanFact(target=target, fact=fact))
    return PlanFacts(as_of=folded.as_of, zone=zone, items=tuple(items))


# --- the task load -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TaskLoad:
    """
    Open and overdue tasks per manager.

    Attributes:
        as_of: The snapshot time.
        counts: ``(assignee, open, overdue)`` per manager, by assignee.
    """

    as_of: datetime
    counts: tuple[tuple[str, int, int], ...]

    def merge(self, other: TaskLoad) -> TaskLoad:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        totals: dict[str, list[int]] = {}
        for who, opened, overdue in (*self.counts, *other.counts):
            total = totals.setdefault(who, [0, 0])
            total[0] += opened
            total[1] += overdue
        return attrs.evolve(
            self,
            counts=tuple((who, *totals[who]) for who in sorted(totals)),  # type: ignore[misc]
        )

    def rows(self) -> list[dict[str, Any]]:
        """One row per manager."""
        return [{"assignee": w, "open": o, "overdue": d} for w, o, d in self.counts]


def task_load(data: Histories | Iterable[Event], *, as_of: datetime | None = None) -> TaskLoad:
    """Count each manager's open tasks and those overdue at the snapshot."""
    folded = _fold(data, as_of)
    totals: dict[str, list[int]] = {}
    for task in folded.tasks.values():
        if task.status is not TaskStatus.OPEN or task.assignee is None or task.due_at is None:
            continue
        total = totals.setdefault(task.assignee, [0, 0])
        total[0] += 1
        total[1] += task.due_at < folded.as_of
    return TaskLoad(
        as_of=folded.as_of,
        counts=tuple((who, totals[who][0], totals[who][1]) for who in sorted(totals)),
    )


# --- stages held past their SLA ------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SlaReport:
    """
    Open leads and deals held in their stage longer than its SLA, per owner and stage.

    Attributes:
        as_of: The snapshot time.
        counts: ``(owner, pipeline, stage, late)``, sorted; ``owner`` is ``None`` if unassigned.
    """

    as_of: datetime
    counts: tuple[tuple[str | None, str, str, int], ...]

    def merge(self, other: SlaReport) -> SlaReport:
        """Two parts together."""
        _same("as_of", self.as_of, other.as_of)
        total: Counter[tuple[str | None, str, str]] = Counter()
        for owner, pipeline, stage, late in (*self.counts, *other.counts):
            total[owner, pipeline, stage] += late
        return attrs.evolve(self, counts=_sla_counts(total))

    def rows(self) -> list[dict[str, Any]]:
        """One row per owner and stage."""
        return [{"owner": o, "pipeline": p, "stage": s, "late": n} for o, p, s, n in self.counts]


def _sla_counts(
    total: Counter[tuple[str | None, str, str]],
) -> tuple[tuple[str | None, str, str, int], ...]:
    ordered = sorted(total, key=lambda key: (key[0] is None, key[0] or "", key[1], key[2]))
    return tuple((*key, total[key]) for key in ordered)


def sla_report(
    data: Histories | Iterable[Event],
    pipelines: Iterable[Pipeline],
    *,
    as_of: datetime | None = None,
    filters: Filters = _EVERYTHING,
) -> SlaReport:
    """
    Count the open leads and deals held in their current stage past its SLA, per owner.

    Args:
        data: The events (then `as_of` is required) or their `Histories`.
        pipelines: The pipelines whose stages' SLAs apply (others are not counted).
        as_of: The snapshot time.
        filters: Which leads and deals count (owner, channel, period).
    """
    given = pipelines_given(pipelines)
    folded = _fold(data, as_of)
    limits = {(p.key, s.key): s.sla for p in given for s in p.stages if s.sla is not None}
    total: Counter[tuple[str | None, str, str]] = Counter()
    for history in _select(folded, None, None, filters):
        trail = history.trail
        if history.outcome is not None or not trail or history.pipeline is None:
            continue
        limit = limits.get((history.pipeline, trail[-2]))
        if limit is not None and folded.as_of - trail[-1] > limit:
            total[history.owner, history.pipeline, trail[-2]] += 1
    return SlaReport(as_of=folded.as_of, counts=_sla_counts(total))
