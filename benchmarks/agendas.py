"""
Every manager's agenda for one day, over 100,000 open deals and 300,000 tasks.

The baseline is the naive way: one `agenda` call per manager over all tasks (a manager × task
step). `agendas` groups the tasks by assignee in one pass; `agendas_in` does the same reading
the tasks, leads and deals from an `InMemoryStore` through its unit of work. All are timed in
the same run on the same data; building the data is not timed.

Run from the repository root: ``.venv/bin/python -m benchmarks.agendas [deals] [tasks]``.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import attrs

import funnelkit as fk
from funnelkit.seeds.pipelines import ROOFING
from funnelkit.tasks import agenda, agendas, agendas_in


MSK = timezone(timedelta(hours=3))
DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
MANAGERS = [f"manager-{n}" for n in range(50)]
OPEN_STAGES = [s.key for s in ROOFING.stages if not s.closed]


def build(deal_count: int, task_count: int) -> tuple[list[fk.Deal], list[fk.Task]]:
    """Open roofing deals over 50 managers, and their tasks due in the past and next days."""
    rng = random.Random(20261122)
    proto = fk.Deal(
        id="D-0", created_at=NOW - timedelta(days=30), pipeline=ROOFING.key, stage="НОВЫЙ ЛИД"
    )
    deals = [
        attrs.evolve(
            proto,
            id=f"D-{n}",
            stage=rng.choice(OPEN_STAGES),
            owner=rng.choice(MANAGERS),
            amount=fk.Money(amount=Decimal(rng.randrange(50_000, 2_000_000)), currency="RUB"),
        )
        for n in range(deal_count)
    ]
    task_proto = fk.Task(
        id="T-0",
        created_at=NOW - timedelta(days=10),
        subject=deals[0].ref,
        kind=fk.TaskKind.CALL,
        assignee=MANAGERS[0],
        due_at=NOW,
    )
    tasks = []
    for n in range(task_count):
        deal = deals[rng.randrange(deal_count)]
        tasks.append(
            attrs.evolve(
                task_proto,
                id=f"T-{n}",
                subject=deal.ref,
                assignee=deal.owner or MANAGERS[0],
                due_at=NOW + timedelta(hours=rng.randrange(-72, 72)),
            )
        )
    return deals, tasks


def main() -> None:
    """Time `agendas` for everyone against one `agenda` per manager."""
    deal_count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    task_count = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    print(f"building {deal_count:,} deals and {task_count:,} tasks...", flush=True)
    deals, tasks = build(deal_count, task_count)
    start = time.perf_counter()
    everyone = agendas(DAY, zone=MSK, as_of=NOW, tasks=tasks, deals=deals, pipelines=[ROOFING])
    grouped = time.perf_counter() - start
    start = time.perf_counter()
    one_by_one = {
        owner: agenda(
            owner, DAY, zone=MSK, as_of=NOW, tasks=tasks, deals=deals, pipelines=[ROOFING]
        )
        for owner in MANAGERS
    }
    naive = time.perf_counter() - start
    items = sum(len(a.items) for a in everyone.values())
    same = all(everyone[o].items == one_by_one[o].items for o in everyone)
    print(
        f"agendas for {len(everyone)} managers ({items:,} items): {grouped:.2f} s; "
        f"one agenda call per manager: {naive:.2f} s ({naive / grouped:.1f}x); same result: {same}"
    )
    store = fk.InMemoryStore()
    with store.unit_of_work() as uow:
        for deal in deals:
            uow.deals.add(deal)
        for task in tasks:
            uow.tasks.add(task)
        uow.commit()
    start = time.perf_counter()
    with store.unit_of_work() as uow:
        stored = agendas_in(uow, DAY, zone=MSK, as_of=NOW, pipelines=[ROOFING])
    through_store = time.perf_counter() - start
    same_lines = all(
        [i.task.id for i in stored[o].items if i.task] == [i.task.id for i in a.items if i.task]
        for o, a in everyone.items()
    )
    print(
        f"agendas_in from an InMemoryStore (listing included): {through_store:.2f} s "
        f"({through_store / grouped:.2f}x the in-memory lists); same lines: {same_lines}"
    )


if __name__ == "__main__":
    main()
