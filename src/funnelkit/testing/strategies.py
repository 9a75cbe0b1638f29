"""
Hypothesis strategies for every funnelkit value and event.

They follow Hypothesis' own API style: names are plural nouns, options are keyword-only, options
that vary take strategies (wrap a fixed value in ``st.just``), collections take ``min_size`` /
``max_size``, and bad arguments raise ``hypothesis.errors.InvalidArgument`` when drawn.
Every value drawn is valid: it passes funnelkit's validators and its invariants (a lost deal has
a lost reason, document versions are numbered 1, 2, 3..., a done task has a result...).

Requires the ``testing`` extra (``pip install funnelkit[testing]``).

Example:
    >>> from hypothesis import given, strategies as st
    >>> from funnelkit.testing import strategies as fst
    >>> @given(fst.deals(stages=st.sampled_from(["НОВЫЙ ЛИД", "КП ГОТОВО"])))
    ... def test_deal_round_trip(deal): ...
"""

from funnelkit._public import publish
from funnelkit.testing._drawn_pipelines import (
    DrawnMove,
    field_value_for,
    move_attempts,
    move_sequences,
    pipeline_entities,
    pipelines,
)
from funnelkit.testing._events import (
    events,
)
from funnelkit.testing._values import (
    actors,
    aware_datetimes,
    contact_data,
    contacts,
    custom_field_schemas,
    deals,
    documents,
    entity_refs,
    field_values,
    identifiers,
    lead_sources,
    leads,
    moneys,
    payments,
    periods,
    plans,
    tasks,
    texts,
)


__all__ = [
    "DrawnMove",
    "actors",
    "aware_datetimes",
    "contact_data",
    "contacts",
    "custom_field_schemas",
    "deals",
    "documents",
    "entity_refs",
    "events",
    "field_value_for",
    "field_values",
    "identifiers",
    "lead_sources",
    "leads",
    "moneys",
    "move_attempts",
    "move_sequences",
    "payments",
    "periods",
    "pipeline_entities",
    "pipelines",
    "plans",
    "tasks",
    "texts",
]

publish(__name__, globals())
