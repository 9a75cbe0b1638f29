"""
One process of the SQL race test: moves shared deals back and forth between two stages.

Run as ``python sql_race_worker.py URL WORKER MOVES``; prints a JSON list of the ids of the deals
it moved, one entry per committed move. Each move is read, checked by the pipeline's rules,
saved and recorded in one unit of work; a `ConflictError` (another process got there first)
is retried from a fresh read.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import datetime, timedelta, timezone

import funnelkit as fk
from funnelkit.storage.sql import SqlStore


MSK = timezone(timedelta(hours=3))
BACK_AND_FORTH = fk.Pipeline(
    key="кровля",
    title="Кровля",
    stages=(
        fk.Stage(key="ОП ВЗЯЛ В РАБОТУ", title="ОП взял в работу"),
        fk.Stage(key="ЗАМЕР НАЗНАЧЕН", title="Замер назначен"),
        fk.Stage(key="УСПЕШНО РЕАЛИЗОВАНО", title="Успешно", kind=fk.StageKind.WON),
        fk.Stage(key="ЗАКРЫТО И НЕ РЕАЛИЗОВАНО", title="Не реализовано", kind=fk.StageKind.LOST),
    ),
    policy=fk.pipelines.MovePolicy(allow_back=True),
    reasons=(fk.Reason(key="expensive", title="Дорого"),),
).compile()
DEALS = tuple(f"С-{n}" for n in range(1, 6))
OTHER = {"ОП ВЗЯЛ В РАБОТУ": "ЗАМЕР НАЗНАЧЕН", "ЗАМЕР НАЗНАЧЕН": "ОП ВЗЯЛ В РАБОТУ"}


def move_once(store: SqlStore, deal_id: str, actor: fk.Actor) -> int:
    """Move one deal to its other stage; return how many conflicts it took."""
    conflicts = 0
    while True:
        try:
            with store.unit_of_work() as uow:
                deal = uow.deals.get(deal_id)
                sequence = uow.events.last_sequence(deal.ref) + 1
                at = datetime(2026, 3, 2, 9, tzinfo=MSK) + timedelta(minutes=sequence)
                moved = BACK_AND_FORTH.move(deal, OTHER[deal.stage], actor, at, sequence=sequence)
                uow.deals.save(moved.entity)
                uow.events.append(moved.events)
                uow.commit()
                return conflicts
        except fk.ConflictError:
            conflicts += 1


def main() -> None:
    """Make the moves asked for on the command line and print what was committed."""
    url, worker, moves = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SqlStore.from_url(url)
    actor = fk.Actor(id=f"manager-{worker}", roles=frozenset({"manager"}))
    rng = random.Random(worker)  # noqa: S311 - choosing deals, not secrets
    moved, conflicts = [], 0
    for _ in range(moves):
        deal_id = rng.choice(DEALS)
        conflicts += move_once(store, deal_id, actor)
        moved.append(deal_id)
    store.engine.dispose()
    print(json.dumps({"moved": moved, "conflicts": conflicts}))  # noqa: T201


if __name__ == "__main__":
    main()
