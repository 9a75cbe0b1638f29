"""
Hypothesis' entry point: ``st.from_type`` draws valid funnelkit values.

Hypothesis runs `_hypothesis_setup_hook` when it is imported (the ``hypothesis`` entry point
in funnelkit's package metadata), so ``st.from_type(fk.Deal)`` draws from
`funnelkit.testing.strategies.deals` instead of guessing from the type hints, which fails
(an ``EntityRef`` of the wrong kind) or draws values funnelkit refuses (``Money`` of
``Infinity``).
"""

from __future__ import annotations

import functools
import importlib.util
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


@functools.cache  # built once, not each time Hypothesis resolves a type
def strategies_by_type() -> dict[type[Any], SearchStrategy[Any]]:
    """The strategy of each public value type, as `_hypothesis_setup_hook` registers them."""
    from hypothesis import strategies as st  # noqa: PLC0415 - the testing extra

    import funnelkit as fk  # noqa: PLC0415 - loaded when Hypothesis is, not before
    from funnelkit.testing import strategies as fst  # noqa: PLC0415

    found: dict[type[Any], SearchStrategy[Any]] = {
        fk.Contact: fst.contacts(),
        fk.Lead: fst.leads(),
        fk.Deal: fst.deals(),
        fk.Task: fst.tasks(),
        fk.Actor: fst.actors(),
        fk.EntityRef: fst.entity_refs(),
        fk.Money: fst.moneys(),
        fk.Payment: fst.payments(),
        fk.Document: fst.documents(),
        fk.LeadSource: fst.lead_sources(),
        fk.ContactData: fst.contact_data(),
        fk.Period: fst.periods(),
        fk.Plan: fst.plans(),
        fk.model.CustomFieldSchema: fst.custom_field_schemas(),
        fk.model.FieldValues: fst.field_values(),
        fk.Pipeline: fst.pipelines(),
    }
    for wire_name, event_type in fk.events.EVENT_TYPES.items():
        found[event_type] = fst.events(types=st.just(wire_name))
    return found


def _hypothesis_setup_hook() -> None:
    """
    Register funnelkit's strategies with Hypothesis (needs the testing extra).

    Hypothesis calls this while it is being imported, which may be from inside
    `funnelkit.testing.strategies` itself: so each type gets a function that builds its
    strategy when first asked for, and nothing of the kit is imported here.
    """
    if importlib.util.find_spec("pytest") is None:  # pragma: no cover - the kit needs pytest
        return
    from hypothesis import strategies as st  # noqa: PLC0415

    import funnelkit as fk  # noqa: PLC0415 - its core never imports Hypothesis

    types: list[type[Any]] = [
        fk.Contact,
        fk.Lead,
        fk.Deal,
        fk.Task,
        fk.Actor,
        fk.EntityRef,
        fk.Money,
        fk.Payment,
        fk.Document,
        fk.LeadSource,
        fk.ContactData,
        fk.Period,
        fk.Plan,
        fk.model.CustomFieldSchema,
        fk.model.FieldValues,
        fk.Pipeline,
        *fk.events.EVENT_TYPES.values(),
    ]
    for type_ in types:
        st.register_type_strategy(type_, _strategy_of)


def _strategy_of(type_: type[Any]) -> SearchStrategy[Any]:
    """The kit's strategy for `type_`, built when Hypothesis first asks for it."""
    return strategies_by_type()[type_]
