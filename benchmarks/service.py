"""
Operations per second of `funnelkit.Service` on the in-memory store and on SQLite: intake, moves.

Each operation is a whole unit of work: read, decide with the policies, write the values and
their events, commit. The same workload runs on each store in one run:

- the in-memory store (the baseline of the SQL store's ratio);
- SQLite in a file (write-ahead log, a commit per operation, the file synced as SQLite does
  by default);
- PostgreSQL, when ``FUNNELKIT_TEST_POSTGRESQL`` names a database the benchmark may wipe.

A second baseline is the same decision without the service — the pure `CompiledPipeline.check`
on values in memory — so the ratio is what the unit of work, the store and the event log cost on
top of the rules.

Run from the repository root: ``.venv/bin/python -m benchmarks.service [operations]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import funnelkit as fk
from funnelkit.pipelines import Funnel
from funnelkit.qualification import Intake, QualificationPolicy, SpamPattern
from funnelkit.seeds.pipelines import LEADS, ROOFING
from funnelkit.storage.sql import SqlStore


MSK = timezone(timedelta(hours=3))
START = datetime(2026, 4, 1, 9, 0, tzinfo=MSK)
ANNA = fk.Actor(id="anna", roles=frozenset({"manager"}))
INTAKE = Intake(
    pipeline=LEADS,
    qualification=QualificationPolicy(rules=(SpamPattern(patterns=("казино",)),)),
)


def run(store: fk.storage.Store, count: int) -> tuple[float, float, float]:
    """Take in `count` requests, convert them, move the deals; return intake, move, bare rates."""
    crm = fk.Service(
        clock=fk.FixedClock(START),
        ids=fk.SequentialIds(),
        funnel=Funnel(key="кровля", leads=LEADS, deals=(ROOFING,), chained=False),
        store=store,
        intake=INTAKE,
    )
    leads = [
        fk.Lead(
            id=f"Л-{n}",
            created_at=START,
            pipeline=LEADS.key,
            stage="Новое обращение",
            source=fk.LeadSource(channel="site_form"),
            contact_data=fk.ContactData(name="Клиент", phones=(f"+7912{n:07d}",)),
            message="Нужна кровля",
        )
        for n in range(count)
    ]
    start = time.perf_counter()
    for lead in leads:
        crm.take_in(lead, actor=ANNA)
    intake_rate = count / (time.perf_counter() - start)
    deals = [crm.convert(lead.ref, actor=ANNA).deal for lead in leads]
    fields = {"product": "КРОВЛЯ", "client_type": "частник"}
    for deal in deals:
        crm.update(deal.ref, actor=ANNA, fields=fields)
    start = time.perf_counter()
    for deal in deals:
        crm.move(deal.ref, "ОП ВЗЯЛ В РАБОТУ", actor=ANNA)
    move_rate = count / (time.perf_counter() - start)
    with crm.store.unit_of_work() as uow:
        taken = uow.deals.list(stage="ОП ВЗЯЛ В РАБОТУ")
    rules = ROOFING.compile()
    start = time.perf_counter()
    for deal in taken:
        rules.check(deal, "ГОРЯЧИЕ", ANNA)
    bare_rate = len(taken) / (time.perf_counter() - start)
    return intake_rate, move_rate, bare_rate


def _postgresql(url: str) -> SqlStore:
    store = SqlStore.from_url(url, contact_keys=INTAKE.matching.normaliser.keys)
    store.create_schema()
    store.clear()
    return store


def main() -> None:
    """Run the workload on each store and print the rates and their ratios."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    keys = INTAKE.matching.normaliser.keys
    results: dict[str, tuple[float, float, float]] = {}
    results["in-memory"] = run(fk.InMemoryStore(contact_keys=keys), count)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = SqlStore.from_url(f"sqlite:///{Path(folder) / 'crm.db'}", contact_keys=keys)
        sqlite.create_schema()
        results["SQLite (file)"] = run(sqlite, count)
        sqlite.engine.dispose()
    url = os.environ.get("FUNNELKIT_TEST_POSTGRESQL")
    if url:
        postgresql = _postgresql(url)
        results["PostgreSQL (loopback)"] = run(postgresql, count)
        postgresql.engine.dispose()
    memory_intake, memory_move, _ = results["in-memory"]
    print(f"{count:,} operations of each kind through fk.Service:")
    print(f"  {'store':<22} {'take_in/s':>10} {'move/s':>8}   vs in-memory   rules alone/s")
    for name, (intake_rate, move_rate, bare_rate) in results.items():
        print(
            f"  {name:<22} {intake_rate:>10,.0f} {move_rate:>8,.0f}   "
            f"{memory_intake / intake_rate:4.1f}x {memory_move / move_rate:4.1f}x slower   "
            f"{bare_rate:,.0f} ({bare_rate / move_rate:.0f}x the service's moves)"
        )


if __name__ == "__main__":
    main()
