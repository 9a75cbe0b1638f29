"""
One process of the coded stage log's race test: appends deals whose values are new to the store.

Run as ``python stage_log_race_worker.py URL WORKER DEALS``; prints ``{"events": N}``, the
events it appended. Each deal is made and lost in one unit of work, with an owner, source,
reason and amount that the other workers use too (deal n of every worker shares them), so
the writers race to add the same new values to the value tables.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone

import funnelkit as fk
from funnelkit.storage.sql import SqlStore


MSK = timezone(timedelta(hours=3))


def main() -> None:
    """Append the deals asked for on the command line and print how many events it wrote."""
    url, worker, deals = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SqlStore.from_url(url)
    written = 0
    for number in range(deals):
        at = datetime(2026, 3, 2, 9, tzinfo=MSK) + timedelta(minutes=number)
        deal = fk.Deal(
            id=f"С-{worker}-{number}",
            created_at=at,
            pipeline="кровля",
            stage="ОП ВЗЯЛ В РАБОТУ",
            owner=f"Менеджер {number % 5}",
            source=fk.LeadSource(channel=f"канал {number}"),
            amount=fk.Money.of(f"{number}000", "RUB"),
        )
        events: list[fk.events.Event] = [
            fk.events.DealCreated(entity=deal.ref, sequence=1, at=at, actor="a", deal=deal),
            fk.events.DealLost(
                entity=deal.ref,
                sequence=2,
                at=at + timedelta(days=1),
                actor="a",
                pipeline="кровля",
                from_stage="ОП ВЗЯЛ В РАБОТУ",
                to_stage="ЗАКРЫТО И НЕ РЕАЛИЗОВАНО",
                reason=f"причина {number}",
            ),
        ]
        with store.unit_of_work() as unit:
            unit.events.append(events)
            unit.commit()
        written += len(events)
    store.engine.dispose()
    print(json.dumps({"events": written}))  # noqa: T201


if __name__ == "__main__":
    main()
