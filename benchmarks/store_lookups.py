"""
How in-memory store look-ups scale with the number of contacts.

For stores of 1 000 and 100 000 contacts it times, per call:

- ``contacts.get(id)`` and ``contacts.find_by_key("phone:...")`` (indexed look-ups), and
- the baseline: finding the same contact by scanning ``contacts.list()`` for the phone key,
  which is what a caller without the key index would do.

It prints microseconds per call and the ratio 100 000 / 1 000 for each: about 1 means the time
does not grow with the base.
Run it from the repository root with ``.venv/bin/python -m benchmarks.store_lookups``.
"""

from __future__ import annotations

import random
import timeit
from datetime import datetime, timedelta, timezone

import funnelkit as fk


SIZES = (1_000, 100_000)
LOOKUPS = 2_000
AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))


def build_store(size: int) -> fk.InMemoryStore:
    """A store of `size` contacts, each with its own phone, added in one unit of work."""
    store = fk.InMemoryStore()
    with store.unit_of_work() as uow:
        for number in range(size):
            uow.contacts.add(
                fk.Contact(
                    id=f"C-{number}",
                    created_at=AT,
                    names=(f"Клиент {number}",),
                    phones=(f"+7 912 {number:07d}",),
                )
            )
        uow.commit()
    return store


def per_call_us(store: fk.InMemoryStore, size: int, kind: str) -> float:
    """Microseconds per look-up of `kind` (``get``, ``find_by_key`` or ``scan``)."""
    rng = random.Random(size)  # seeded: the same contacts are looked up on every run
    picks = [rng.randrange(size) for _ in range(LOOKUPS if kind != "scan" else 20)]
    with store.unit_of_work() as uow:
        contacts = uow.contacts

        def get() -> None:
            for number in picks:
                contacts.get(f"C-{number}")

        def find_by_key() -> None:
            for number in picks:
                contacts.find_by_key(f"phone:7912{number:07d}")

        def scan() -> None:
            for number in picks:
                key = f"phone:7912{number:07d}"
                [c for c in contacts.list() if key in fk.storage.basic_contact_keys(c)]

        run = {"get": get, "find_by_key": find_by_key, "scan": scan}[kind]
        seconds = min(timeit.repeat(run, number=1, repeat=5))
    return seconds / len(picks) * 1e6


def main() -> None:
    """Measure every look-up at every size and print a table with the growth ratios."""
    stores = {size: build_store(size) for size in SIZES}
    print(f"{'look-up':<14}" + "".join(f"{size:>14,} µs" for size in SIZES) + "   ratio")
    for kind in ("get", "find_by_key", "scan"):
        times = [per_call_us(stores[size], size, kind) for size in SIZES]
        cells = "".join(f"{t:>17.2f}" for t in times)
        print(f"{kind:<14}{cells}   {times[-1] / times[0]:>6.1f}x")


if __name__ == "__main__":
    main()
