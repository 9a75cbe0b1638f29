"""
The money reports over a `StageLog`: numpy kernels over the snapshot's amounts.

A `StageLog` carries each deal's amount as of every row (a code into its table of `Money`),
so the snapshot knows each deal's amount as the event path's fold does: set on creation, by
`AmountChanged` and by a `DealWon` with an amount. Amounts are summed exactly: the codes are
counted with ``bincount`` and each distinct `Money` is multiplied by its count as a
``Decimal``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from funnelkit.analytics._amounts import currencies
from funnelkit.analytics._kernels import _LOST, _WON, _micros


if TYPE_CHECKING:
    from funnelkit.analytics._common import Filters
    from funnelkit.analytics._kernels import _Snapshot


__all__: list[str] = []

_MICROS_PER_SECOND = 1_000_000


def velocity(
    snap: _Snapshot,
    bounds: tuple[datetime, datetime],
    currency: str,
    pipeline: str | None,
    filters: Filters,
) -> dict[str, Any]:
    """The counts of `Velocity`: deals open at the start, won and lost in the period, sums."""
    np, log = snap.np, snap.log
    start, end = (_micros(bound) for bound in bounds)
    chosen = snap.select(1, pipeline, filters) & snap.has_created
    created, closed_at = snap.created_at, snap.closed_at
    closed = snap.outcome >= 0
    open_at_start = chosen & (created < start) & (~closed | (closed_at >= start))
    in_period = chosen & closed & (closed_at >= start) & (closed_at < end)
    in_currency = np.zeros(len(log.amounts) + 1, dtype=bool)  # slot 0: no amount
    in_currency[1:] = [found == currency for found in currencies(log.amounts)]
    won = in_period & (snap.outcome == _WON) & in_currency[snap.amount + 1]
    counts = np.bincount(snap.amount[won] + 1, minlength=len(log.amounts) + 1)[1:].tolist()
    total = sum(  # only the amounts counted are read (a store's are made Money on reading)
        (Decimal(count) * log.amounts[code].amount for code, count in enumerate(counts) if count),
        Decimal(0),
    )
    cycles = closed_at[won] - created[won]  # µs: whole seconds and the rest, summed apart
    seconds, rest = np.divmod(cycles, _MICROS_PER_SECOND)
    return {
        "open_at_start": int(np.count_nonzero(open_at_start)),
        "won": int(np.count_nonzero(won)),
        "lost": int(np.count_nonzero(in_period & (snap.outcome == _LOST))),
        "won_amount": total,
        "cycle_time": timedelta(seconds=int(seconds.sum()), microseconds=int(rest.sum())),
    }
