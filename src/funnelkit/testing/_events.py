"""
Strategies for events of every type, each valid on its own.

Exported by `funnelkit.testing.strategies`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from funnelkit.events import (
    EVENT_TYPES,
    Event,
    Temperature,
    Verdict,
)
from funnelkit.model import (
    EntityRef,
    Violation,
)
from funnelkit.testing._values import (
    _DATETIMES,
    _FIELD_VALUE,
    _IDENTIFIERS,
    _NONBLANK,
    _TEXTS,
    _check_strategy,
    _pick,
    contacts,
    deals,
    documents,
    entity_refs,
    leads,
    moneys,
    payments,
    tasks,
)


if TYPE_CHECKING:
    from collections.abc import Callable

    from hypothesis.strategies import DrawFn, SearchStrategy


__all__ = [
    "events",
]


def _violations() -> SearchStrategy[tuple[Violation, ...]]:
    violation = st.builds(
        Violation, rule=_IDENTIFIERS, message=_NONBLANK, field=st.none() | _IDENTIFIERS
    )
    return st.lists(violation, max_size=2).map(tuple)


def _move_fields(draw: DrawFn) -> dict[str, Any]:
    forced = draw(st.booleans())
    return {
        "pipeline": draw(_IDENTIFIERS),
        "from_stage": draw(_IDENTIFIERS),
        "to_stage": draw(_IDENTIFIERS),
        "forced": forced,
        "overridden": draw(_violations()) if forced else (),
        "note": draw(_TEXTS),
    }


def _ids(draw: DrawFn, max_size: int = 3) -> tuple[str, ...]:
    return tuple(draw(st.lists(_IDENTIFIERS, min_size=1, max_size=max_size, unique=True)))


_PAYLOADS: dict[str, Callable[[DrawFn, EntityRef], dict[str, Any]]] = {
    "contact_created": lambda d, ref: {
        "contact": d(contacts(ids=st.just(ref.id))),
        "near_matches": tuple(d(st.lists(_IDENTIFIERS, max_size=3, unique=True))),
    },
    "contact_updated": lambda d, ref: {"contact": d(contacts(ids=st.just(ref.id)))},
    "contacts_merged": lambda d, _: {"merge_id": d(_IDENTIFIERS), "merged": _ids(d)},
    "contacts_unmerged": lambda d, _: {"merge_id": d(_IDENTIFIERS), "restored": _ids(d)},
    "lead_created": lambda d, ref: {"lead": d(leads(ids=st.just(ref.id)))},
    "lead_linked": lambda d, _: {
        "contact_id": d(_IDENTIFIERS),
        "repeat": d(st.booleans()),
        "review": d(st.booleans()),
    },
    "lead_qualified": lambda d, _: {
        "verdict": d(st.sampled_from(list(Verdict))),
        "score": d(st.none() | st.integers(-100, 100)),
        "temperature": d(st.none() | st.sampled_from(list(Temperature))),
        "reasons": tuple(d(st.lists(_NONBLANK, max_size=3))),
    },
    "lead_converted": lambda d, _: {
        **_move_fields(d),
        "deal_id": d(_IDENTIFIERS),
        "contact_id": d(_IDENTIFIERS),
    },
    "lead_closed_as_junk": lambda d, _: {
        **_move_fields(d),
        "reason": d(_NONBLANK),
    },
    "stage_changed": lambda d, _: _move_fields(d),
    "deal_created": lambda d, ref: {"deal": d(deals(ids=st.just(ref.id)))},
    "deal_won": lambda d, _: {**_move_fields(d), "amount": d(st.none() | moneys())},
    "deal_lost": lambda d, _: {
        **_move_fields(d),
        "reason": d(_NONBLANK),
    },
    "owner_changed": lambda d, _: {
        "old": d(st.none() | _IDENTIFIERS),
        "new": d(st.none() | _IDENTIFIERS),
    },
    "amount_changed": lambda d, _: {"old": d(st.none() | moneys()), "new": d(st.none() | moneys())},
    "field_changed": lambda d, _: {
        "field": d(_IDENTIFIERS),
        "old": d(st.none() | _FIELD_VALUE),
        "new": d(st.none() | _FIELD_VALUE),
    },
    "payment_received": lambda d, _: {"payment": d(payments())},
    "document_version_added": lambda d, _: {"document": d(documents())},
    "task_created": lambda d, ref: {"task": d(tasks(ids=st.just(ref.id)))},
    "task_completed": lambda d, _: {
        "result": d(_NONBLANK),
        "client_reached": d(st.none() | st.booleans()),
    },
    "task_rescheduled": lambda d, _: {
        "old_due": d(_DATETIMES),
        "new_due": d(_DATETIMES),
        "reason": d(_TEXTS),
    },
    "task_reassigned": lambda d, _: {
        "old_assignee": d(_IDENTIFIERS),
        "new_assignee": d(_IDENTIFIERS),
    },
    "task_cancelled": lambda d, _: {"reason": d(_NONBLANK)},
}


def events(
    *,
    types: SearchStrategy[str] | None = None,
    entities: SearchStrategy[EntityRef] | None = None,
    sequences: SearchStrategy[int] | None = None,
) -> SearchStrategy[Event]:
    """
    Draw events of every type (or of the wire names `types` draws).

    Args:
        types: Wire names (keys of `funnelkit.events.EVENT_TYPES`) to draw from.
        entities: The entities events are about; an entity of a kind the event type does not
            accept is replaced by a fresh one of the right kind.
        sequences: Per-entity sequence numbers (1 to 1000 by default).
    """
    type_names = types if types is not None else st.sampled_from(sorted(EVENT_TYPES))

    @st.composite
    def build(draw: DrawFn) -> Event:
        _check_strategy(type_names, "types")
        name = draw(type_names)
        cls = EVENT_TYPES.get(name)
        if cls is None:
            msg = f"types drew {name!r}, which is not an event type; known: {sorted(EVENT_TYPES)}"
            raise InvalidArgument(msg)
        kinds = sorted(cls.ENTITY_KINDS, key=lambda kind: kind.value)
        ref = _pick(draw, entities, entity_refs(kinds=st.sampled_from(kinds)), "entities")
        if ref.kind not in cls.ENTITY_KINDS:
            ref = attrs.evolve(ref, kind=draw(st.sampled_from(kinds)))
        return cls(
            entity=ref,
            sequence=_pick(draw, sequences, st.integers(1, 1000), "sequences"),
            at=draw(_DATETIMES),
            actor=draw(_IDENTIFIERS),
            **_PAYLOADS[name](draw, ref),
        )

    return build()
