"""Long operations tell a `Progress` how they are going: matching, folding, rebuilding keys."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.model import PROGRESS_EVERY
from funnelkit.storage.sql import SqlStore


if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int | None]] = []

    def __call__(self, step: str, done: int, total: int | None) -> None:
        self.calls.append((step, done, total))


def _contacts(count: int) -> list[fk.Contact]:
    return [
        fk.Contact(
            id=f"К-{n:06d}",
            created_at=T0,
            names=("Алмаз Строитель" if n % 2 else "Ирина Петрова",),
            phones=(f"+7912{n:07d}",),
        )
        for n in range(count)
    ]


def test_matching_a_base_reports_its_records_then_its_pairs():
    contacts = _contacts(PROGRESS_EVERY + 5)
    twins = [
        fk.Contact(id=f"{c.id}-2", created_at=T0, names=c.names, phones=c.phones)
        for c in contacts[:3]
    ]
    told = Recorder()
    found = fk.MatchPolicy().match([*contacts, *twins], progress=told)
    records = [call for call in told.calls if call[0] == "records"]
    pairs = [call for call in told.calls if call[0] == "pairs"]
    total = len(contacts) + len(twins)
    assert records == [("records", PROGRESS_EVERY, total), ("records", total, total)]
    assert pairs[-1] == ("pairs", len(found.pairs), len(found.pairs))
    assert told.calls.index(records[-1]) < told.calls.index(pairs[0])  # records first
    assert found == fk.MatchPolicy().match([*contacts, *twins])  # told or not, the same result


def test_folding_a_log_reports_its_events_and_gives_the_same_fold():
    deal = fk.Deal(id="С-1", created_at=T0, pipeline="кровля", stage="НОВЫЙ ЛИД")
    events = [
        fk.events.StageChanged(
            entity=deal.ref,
            sequence=n + 2,
            at=T0 + timedelta(minutes=n),
            actor="anna",
            pipeline="кровля",
            from_stage="НОВЫЙ ЛИД" if n % 2 == 0 else "ГОРЯЧИЕ",
            to_stage="ГОРЯЧИЕ" if n % 2 == 0 else "НОВЫЙ ЛИД",
        )
        for n in range(2 * PROGRESS_EVERY + 1)
    ]
    told = Recorder()
    as_of = T0 + timedelta(days=30)
    folded = fa.histories(events, as_of=as_of, progress=told)
    total = len(events)
    assert told.calls == [
        ("events", PROGRESS_EVERY, total),
        ("events", 2 * PROGRESS_EVERY, total),
        ("events", total, total),
    ]
    assert folded.deals["С-1"].trail == fa.histories(events, as_of=as_of).deals["С-1"].trail
    empty = Recorder()
    fa.histories([], as_of=as_of, progress=empty)
    assert empty.calls == [("events", 0, 0)]


def test_rebuilding_contact_keys_reports_each_batch(tmp_path: Path):
    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}")
    store.create_schema()
    with store.unit_of_work() as uow:
        for contact in _contacts(25):
            uow.contacts.add(contact)
        uow.commit()
    told = Recorder()
    report = store.rebuild_contact_keys(batch_size=10, progress=told)
    assert report.done
    assert told.calls == [
        ("contacts", 10, 25),
        ("contacts", 20, 25),
        ("contacts", 25, 25),
        ("contacts", 25, 25),
    ]
    store.engine.dispose()
