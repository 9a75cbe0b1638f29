"""
Money ahead and owed: the forecast, the pipeline's velocity and receivables.

`forecast` weighs open deals by their stage's win rate, `velocity` is the money a pipeline
moves per day, `receivables` lists what won deals still owe.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit._checks import raise_for
from funnelkit.analytics import _kernels, _money_kernels
from funnelkit.analytics._columnar import StageLog
from funnelkit.analytics._common import (
    _EVERYTHING,
    Filters,
    _fold,
    _rate,
    _same,
    _select,
)
from funnelkit.analytics._history import Histories, Outcome
from funnelkit.model import (
    EntityKind,
    Money,
    Period,
)
from funnelkit.pipelines import Pipeline


if TYPE_CHECKING:
    from collections.abc import Iterable

    from funnelkit.events import Event
    from funnelkit.pipelines import Pipeline


__all__ = [
    "Forecast",
    "ForecastStage",
    "Receivable",
    "Receivables",
    "Velocity",
    "forecast",
    "receivables",
    "velocity",
]

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

_ONE_DAY = timedelta(days=1)


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
        cycle_time: Their times from creation to winning, together (exact, so parts merge
            exactly).
    """

    period: Period
    currency: str
    open_at_start: int
    won: int
    lost: int
    won_amount: Decimal
    cycle_time: timedelta

    @property
    def cycle_days(self) -> float:
        """`cycle_time` in days."""
        return self.cycle_time / _ONE_DAY

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
        return self.cycle_time / self.won / _ONE_DAY if self.won else None

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
            cycle_time=self.cycle_time + other.cycle_time,
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
    data: Histories | Iterable[Event] | StageLog,
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
        data: The events (then `as_of` is required), their `Histories`, or a `StageLog` with
            amounts (then `as_of` is required).
        period: The period: deals open when it began, and deals closed in it.
        currency: The currency of the amounts counted (won deals in another are left out).
        as_of: The snapshot time.
        zone: The time zone of the period's days.
        pipeline: Only this pipeline's deals.
        filters: Which deals count (owner, channel, or a period of their own).
    """
    if isinstance(data, StageLog):
        snap = _kernels.snapshot(data, as_of)
        counts = _money_kernels.velocity(
            snap, period.bounds(zone), currency, pipeline.key if pipeline else None, filters
        )
        return Velocity(period=period, currency=currency, **counts)
    folded = _fold(data, as_of)
    start, end = period.bounds(zone)
    open_at_start = won = lost = 0
    amount = Decimal(0)
    cycle = timedelta(0)
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
            cycle += deal.closed_at - deal.created_at
    return Velocity(
        period=period,
        currency=currency,
        open_at_start=open_at_start,
        won=won,
        lost=lost,
        won_amount=amount,
        cycle_time=cycle,
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
