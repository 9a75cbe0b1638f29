"""
Operations per second of `funnelkit.Service` on the in-memory store: intake and moves.

Each operation is a whole unit of work: read, decide with the policies, write the values and
their events, commit. The baseline is the same decision without the service — the pure
`CompiledPipeline.move` on a value in memory — so the ratio is what the unit of work, the
store and the event log cost on top of the rules. (The SQL adapter, when it lands, is measured
by the same script.)

Run from the repository root: ``.venv/bin/python -m benchmarks.service [requests]``.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

from examples.seed_pipelines import LEADS, ROOFING

import funnelkit as fk
from funnelkit.matching import Intake, QualificationPolicy, SpamPattern
from funnelkit.pipelines import Funnel


MSK = timezone(timedelta(hours=3))
START = datetime(2026, 4, 1, 9, 0, tzinfo=MSK)
ANNA = fk.Actor(id="anna", roles=frozenset({"manager"}))


def main() -> None:
    """Time intake, conversion and moves through the service, and the bare moves."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    intake = Intake(
        pipeline=LEADS,
        qualification=QualificationPolicy(rules=(SpamPattern(patterns=("казино",)),)),
    )
    clock = fk.FixedClock(START)
    crm = fk.Service(
        clock=clock,
        ids=fk.SequentialIds(),
        funnel=Funnel(key="кровля", leads=LEADS, deals=(ROOFING,), chained=False),
        store=fk.InMemoryStore(contact_keys=intake.matching.normaliser.keys),
        intake=intake,
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
        crm.take_in(lead, ANNA)
    intake_rate = count / (time.perf_counter() - start)
    deals = [crm.convert(lead.id, ANNA).deal for lead in leads]
    fields = {"product": "КРОВЛЯ", "client_type": "частник"}
    for deal in deals:
        crm.update(deal.ref, ANNA, fields=fields)
    start = time.perf_counter()
    for deal in deals:
        crm.move(deal.ref, "ОП ВЗЯЛ В РАБОТУ", ANNA)
    move_rate = count / (time.perf_counter() - start)
    with crm.store.unit_of_work() as uow:
        taken = uow.deals.list(stage="ОП ВЗЯЛ В РАБОТУ")
    rules = ROOFING.compile()
    back = list(taken)
    start = time.perf_counter()
    for deal in back:
        rules.check(deal, "ГОРЯЧИЕ", ANNA)
    bare_rate = len(back) / (time.perf_counter() - start)
    print(f"{count:,} operations of each kind on the in-memory store:")
    print(f"  take_in (match, qualify, place, events): {intake_rate:,.0f} per second")
    print(f"  move (read, rules, save, events, entry tasks): {move_rate:,.0f} per second")
    print(
        f"  the same rules without the service (CompiledPipeline.check): {bare_rate:,.0f} per "
        f"second, {bare_rate / move_rate:.0f}x the service's moves"
    )


if __name__ == "__main__":
    main()
