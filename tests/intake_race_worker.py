"""
One process (or thread) of the intake and merge race: one client's requests against a merge.

Run as ``python intake_race_worker.py URL intake WORKER COUNT`` to take in COUNT requests of
Алмаз Гареев through a `Service` (converting every fourth lead into a deal), or as
``python intake_race_worker.py URL merge 0 SECONDS`` to merge his duplicate contacts until
one is left (giving up after SECONDS). Each prints a JSON report. The test also runs the same
functions in threads against one `InMemoryStore`.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the examples, run as a script

import funnelkit as fk
from funnelkit.qualification import Intake, QualificationPolicy, SpamPattern
from funnelkit.seeds.pipelines import LEADS, SEED_000


MSK = timezone(timedelta(hours=3))
T0 = datetime(2026, 3, 2, 9, tzinfo=MSK)
INTAKE = Intake(
    pipeline=LEADS, qualification=QualificationPolicy(rules=(SpamPattern(patterns=("казино",)),))
)
CONTACT_KEYS = INTAKE.matching.normaliser.keys
PHONES = ("89123456789", "+7 912 345 67 89", "8 (912) 345-67-89")
EMAILS = ("Almaz.Gareev@gmail.com", "almazgareev+site@gmail.com")
NAMES = ("Алмаз Гареев", "Алмаз", "Almaz Gareev", "Гареев Алмаз", None)
COPIES = (
    fk.Contact(id="К-1", created_at=T0, names=("Алмаз Гареев",), phones=(PHONES[0],)),
    fk.Contact(id="К-2", created_at=T0, names=("Алмаз",), phones=(PHONES[1],), emails=(EMAILS[0],)),
    fk.Contact(id="К-3", created_at=T0, names=("Almaz Gareev",), emails=(EMAILS[1],)),
)
"""Three copies of the client imported from old spreadsheets: one person, one cluster."""


def service(store: fk.storage.Store, worker: str) -> fk.Service:
    """A service of one worker: its own ids, many retries."""
    prefixes = {kind: f"{kind.value[0].upper()}-{worker}-" for kind in fk.EntityKind}
    return fk.Service(
        clock=fk.FixedClock(T0),
        ids=fk.SequentialIds(prefixes=prefixes),
        funnel=SEED_000,
        store=store,
        intake=INTAKE,
        retries=1_000,
    )


def seed(store: fk.storage.Store) -> None:
    """Store the three copies of the client."""
    crm = service(store, "seed")
    for contact in COPIES:
        crm.add_contact(contact, actor=fk.Actor(id="import"))


def take_in(store: fk.storage.Store, worker: str, count: int) -> dict[str, list[str]]:
    """Take in `count` requests of the client, converting every fourth; report the ids."""
    crm = service(store, worker)
    actor = fk.Actor(id=f"manager-{worker}", roles=frozenset({"manager"}))
    rng = random.Random(worker)  # noqa: S311 - choosing spellings, not secrets
    leads, deals = [], []
    for n in range(count):
        phones = (rng.choice(PHONES),) if rng.random() < 0.7 else ()
        emails = (rng.choice(EMAILS),) if not phones or rng.random() < 0.3 else ()
        lead = fk.Lead(
            id=f"Л-{worker}-{n}",
            created_at=T0,
            pipeline=LEADS.key,
            stage=LEADS.first_stage.key,
            source=fk.LeadSource(channel="site_form"),
            contact_data=fk.ContactData(name=rng.choice(NAMES), phones=phones, emails=emails),
            message="Нужна кровля",
        )
        leads.append(crm.take_in(lead, actor=actor).lead.id)
        if n % 4 == 3:
            deals.append(crm.convert(lead.ref, actor=actor).deal.id)
    return {"leads": leads, "deals": deals}


def merge_until_one(store: fk.storage.Store, seconds: float) -> dict[str, int]:
    """Merge the client's duplicates until one contact is left; count merges and conflicts."""
    crm = service(store, "merger")
    actor = fk.Actor(id="head")
    merges = conflicts = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        clusters = crm.find_duplicates().clusters
        if not clusters:
            break
        try:
            crm.merge(
                crm.plan_merge(fk.EntityRef.contact(c) for c in sorted(clusters[0])), actor=actor
            )
            merges += 1
        except fk.ConflictError:
            conflicts += 1
    return {"merges": merges, "conflicts": conflicts}


def main() -> None:
    """Play the role named on the command line against the database at the URL."""
    from funnelkit.storage.sql import SqlStore  # noqa: PLC0415 - the extra, for processes only

    url, role, worker, amount = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SqlStore.from_url(url, contact_keys=CONTACT_KEYS)
    report: object = (
        take_in(store, worker, amount) if role == "intake" else merge_until_one(store, amount)
    )
    store.engine.dispose()
    print(json.dumps(report))  # noqa: T201


if __name__ == "__main__":
    main()
