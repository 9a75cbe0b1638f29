"""
What holding a custom field costs `SqlStore.stage_log`: the log read with and without it.

The deals of `benchmarks.analytics` (seed 000's chain, about 4.9 events a deal) are stored
with their JSON, as a store writes them, each deal made with a roofing product (seed 001's:
металлочерепица, мягкая кровля, профнастил, фальц) and one deal in ten changing it once
before its last event. Each database then reads the stage log three times in one run:
without fields, with ``fields=["product"]``, and without again; the figure is the ratio of the
time with the field to the mean of the two without. Loading the rows is not timed.

Custom fields are in the events' JSON only: with a field held, the store reads the
creations' ``fields`` objects (taken out of the JSON by the database) and the field changes'
JSON, and builds only those values.

Run from the repository root: ``.venv/bin/python -m benchmarks.stored_fields [deals]``
(default 100000). PostgreSQL is measured too when ``FUNNELKIT_TEST_POSTGRESQL`` names a
database, which the script empties.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any

import attrs
from benchmarks.analytics import generate, to_events

import funnelkit as fk
from funnelkit.storage._sql_schema import _dump, _event_columns
from funnelkit.storage.sql import EVENTS, LOG, SqlStore


if TYPE_CHECKING:
    from collections.abc import Iterator


PRODUCTS = ("металлочерепица", "мягкая кровля", "профнастил", "фальц")


def with_products(events: list[fk.events.Event]) -> list[fk.events.Event]:
    """The log with a product on every deal, and one deal in ten changing it at its end."""
    out: list[fk.events.Event] = []
    last: dict[str, fk.events.Event] = {}
    for event in events:
        if isinstance(event, fk.events.DealCreated):
            product = PRODUCTS[int(event.deal.id) % len(PRODUCTS)]
            deal = attrs.evolve(event.deal, fields={"product": product})
            event = attrs.evolve(event, deal=deal)  # noqa: PLW2901 - the log's own copy
        out.append(event)
        last[event.entity.id] = event
    for deal_id, event in last.items():
        if int(deal_id) % 10 == 0:
            out.append(
                fk.events.FieldChanged(
                    entity=event.entity,
                    sequence=event.sequence + 1,
                    at=event.at,
                    actor="benchmark",
                    field="product",
                    old=PRODUCTS[int(deal_id) % len(PRODUCTS)],
                    new=PRODUCTS[(int(deal_id) + 1) % len(PRODUCTS)],
                )
            )
    return out


def _rows(events: list[fk.events.Event]) -> Iterator[dict[str, Any]]:
    for position, event in enumerate(events, start=1):
        yield {
            "position": position,
            "entity_kind": event.entity.kind.value,
            "entity_id": event.entity.id,
            "sequence": event.sequence,
            "data": _dump(event),
            **_event_columns(event),
        }


def measure(url: str, events: list[fk.events.Event]) -> tuple[float, float, float]:
    """Seconds to read the log without the field, with it, and without it again."""
    store = SqlStore.from_url(url)
    store.drop_schema()
    store.create_schema()
    with store.engine.begin() as connection:
        connection.execute(EVENTS.insert(), list(_rows(events)))
        connection.execute(LOG.update().values(last_position=len(events)))
    found = []
    for fields in ((), ("product",), ()):
        gc.collect()
        start = time.perf_counter()
        log = store.stage_log(fields=fields)
        found.append(time.perf_counter() - start)
        if len(log) != len(events):
            msg = f"read {len(log)} rows of {len(events)}"
            raise RuntimeError(msg)
    store.drop_schema()
    store.engine.dispose()
    return found[0], found[1], found[2]


def main() -> None:
    """Read the stage log of each database with and without a field, and print the ratios."""
    deals = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    events = with_products(to_events(generate(deals)))
    print(f"{deals:,} deals, {len(events):,} events (a product each, 1 in 10 changed):")
    with tempfile.TemporaryDirectory() as folder:
        urls = {"sqlite": f"sqlite:///{folder}/crm.db"}
        if os.environ.get("FUNNELKIT_TEST_POSTGRESQL"):
            urls["postgresql"] = os.environ["FUNNELKIT_TEST_POSTGRESQL"]
        for name, url in urls.items():
            before, held, after = measure(url, events)
            ratio = held / ((before + after) / 2)
            print(
                f"  {name:11} without {before:6.2f} s  with the field {held:6.2f} s  "
                f"without {after:6.2f} s   {ratio:4.2f}x"
            )


if __name__ == "__main__":
    main()
