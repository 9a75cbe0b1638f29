"""
The sources report over a `StageLog`: each source channel's leads, their verdicts, its deals.

A lead's bucket (`Bucket`) is set by its last verdict as of the snapshot, as the event path's
fold sets it: a qualification (`StageLog.verdict`), closing as junk, conversion, or a move
that reopens a closed lead (its verdict withdrawn). The kernel finds each lead's last such
row with numpy; deals are tallied from the snapshot's outcomes and amounts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from funnelkit.analytics._codes import _CLOSING, LogEvent
from funnelkit.analytics._kernels import _LOST, _WON, _run_ends


if TYPE_CHECKING:
    from funnelkit.analytics._common import Filters
    from funnelkit.analytics._kernels import _Snapshot


__all__: list[str] = []

GOOD, JUNK, WAITING = 0, 1, 2
"""Bucket codes: those of the verdicts that set them (a review waits)."""
_OF_VERDICT = (GOOD, JUNK, WAITING)  # by `StageLog.verdict` code: good, junk, review


def buckets(snap: _Snapshot) -> Any:
    """Per entity, the bucket of its last verdict as of the snapshot (`WAITING` if none)."""
    np, log = snap.np, snap.log
    found = np.full(len(log.ids), WAITING, dtype=np.int8)
    if not len(log):
        return found
    bucket = np.full(len(log), -1, dtype=np.int8)
    verdicts = log.verdict >= 0
    bucket[verdicts] = np.asarray(_OF_VERDICT, dtype=np.int8)[log.verdict[verdicts]]
    bucket[log.event == int(LogEvent.JUNK)] = JUNK
    bucket[log.event == int(LogEvent.CONVERTED)] = GOOD
    # A move out of a closed stage reopens the lead: its verdict is withdrawn.
    staged = np.flatnonzero(log.stage >= 0)
    later, earlier = staged[1:], staged[:-1]
    closing = np.isin(log.event[earlier], [int(event) for event in _CLOSING])
    reopens = (
        (log.entity[later] == log.entity[earlier])
        & closing
        & (log.event[later] == int(LogEvent.MOVED))
    )
    bucket[later[reopens]] = WAITING
    setting = bucket >= 0
    if snap.kept is not None:
        setting &= snap.kept
    rows = np.flatnonzero(setting)
    last = rows[_run_ends(np, log.entity[rows])]
    found[log.entity[last]] = bucket[last]
    return found


def sources(snap: _Snapshot, filters: Filters) -> dict[str | None, dict[str, Any]]:
    """Per source channel: the counts of `SourceRow` (leads, junk, good, deals, won, lost...)."""
    np, log = snap.np, snap.log
    slot = snap.source.astype(np.int64) + 1  # 0: no source
    width = len(log.sources) + 1
    leads = snap.select(0, None, filters)
    deals = snap.select(1, None, filters)
    bucket = buckets(snap)
    won = deals & (snap.outcome == _WON)
    counts = {
        "leads": leads,
        "junk": leads & (bucket == JUNK),
        "good": leads & (bucket == GOOD),
        "deals": deals,
        "won": won,
        "lost": deals & (snap.outcome == _LOST),
    }
    tallies = {
        name: np.bincount(slot[chosen], minlength=width).tolist() for name, chosen in counts.items()
    }
    keys: list[str | None] = [None, *log.sources]
    found: dict[str | None, dict[str, Any]] = {
        keys[at]: {name: tally[at] for name, tally in tallies.items()}
        | {"revenue": {}, "cycle": []}
        for at in range(width)
        if tallies["leads"][at] or tallies["deals"][at]
    }
    _revenue(np, snap, won, slot, keys, found)
    timed = won & snap.has_created
    days = (snap.closed_at[timed] - snap.created_at[timed]) / 1e6 / 86_400.0
    for at, value in zip(slot[timed].tolist(), days.tolist(), strict=True):
        found[keys[at]]["cycle"].append(value)
    return found


def _revenue(  # noqa: PLR0917 - private
    np: Any, snap: _Snapshot, won: Any, slot: Any, keys: list[str | None], found: dict[Any, Any]
) -> None:
    """Each source's won amounts, summed exactly per currency."""
    log = snap.log
    paid = won & (snap.amount >= 0)
    pairs, counts = np.unique(slot[paid] * len(log.amounts) + snap.amount[paid], return_counts=True)
    for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
        at, code = divmod(pair, len(log.amounts))
        money = log.amounts[code]
        revenue = found[keys[at]]["revenue"]
        revenue[money.currency] = revenue.get(money.currency, Decimal(0)) + count * money.amount
