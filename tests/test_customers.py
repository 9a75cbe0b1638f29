"""Returning customers, repeat requests, client categories and linking leads."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

import funnelkit as fk
from funnelkit.matching import (
    ClientCategory,
    ClientKind,
    CustomerPolicy,
    RequestKind,
    link_lead,
)
from funnelkit.testing.contracts import T0, make_deal, make_lead


SYSTEM = fk.Actor(id="system")
POLICY = CustomerPolicy(
    categories=(
        ClientCategory(key="regular", title="Постоянный", min_won_deals=2),
        ClientCategory(key="large", title="Крупный", min_revenue=fk.Money.of("1000000", "RUB")),
        ClientCategory(
            key="offer_gutters",
            title="Предложить водосток",
            bought=("КРОВЛЯ",),
            not_bought=("ВОДОСТОК",),
        ),
    )
)


def won(deal_id, amount="480000", product="КРОВЛЯ", contact_id="К-1"):
    return make_deal(
        deal_id,
        contact_id=contact_id,
        status=fk.DealStatus.WON,
        closed_at=T0,
        stage="УСПЕШНО РЕАЛИЗОВАНО",
        amount=fk.Money.of(amount, "RUB"),
        fields={"product": product},
    )


def test_a_contact_with_a_won_deal_is_a_returning_customer():
    """One won deal makes a returning customer; open and lost deals do not."""
    lost = make_deal(
        "С-2", contact_id="К-1", status=fk.DealStatus.LOST, lost_reason="дорого", closed_at=T0
    )
    assert ClientKind.NEW == POLICY.profile("К-1", [lost, make_deal("С-3", contact_id="К-1")]).kind
    profile = POLICY.profile("К-1", [won("С-1"), lost, won("С-9", contact_id="К-2")])
    assert (ClientKind.RETURNING, 1, (fk.Money.of("480000", "RUB"),)) == (
        profile.kind,
        profile.won_deals,
        profile.revenue,
    )


def test_client_categories_follow_their_rules():
    """Categories count won deals, sum revenue and look at what was and was not bought."""
    roof_only = POLICY.profile("К-1", [won("С-1", amount="700000"), won("С-2", amount="400000")])
    assert ("regular", "large", "offer_gutters") == roof_only.categories
    with_gutters = POLICY.profile("К-1", [won("С-1"), won("С-2", product="ВОДОСТОК")])
    assert ("regular",) == with_gutters.categories


def test_request_kinds():
    """A lead from a returning customer is a repeat request; one after unbought leads an inquiry."""
    earlier = make_lead("Л-1", contact_id="К-1")
    lead = make_lead("Л-2", contact_id="К-1", created_at=T0 + timedelta(days=30))
    assert RequestKind.REPEAT_REQUEST == POLICY.request_kind(lead, [earlier], [won("С-1")])
    assert RequestKind.REPEAT_INQUIRY == POLICY.request_kind(lead, [earlier, lead], [])
    assert RequestKind.FIRST == POLICY.request_kind(lead, [lead], [])
    assert RequestKind.FIRST == POLICY.request_kind(make_lead("Л-3"), [earlier], [won("С-1")])


def test_category_keys_must_be_unique_and_deals_must_be_deals():
    """Malformed policies and inputs are refused with the field named."""
    with pytest.raises(fk.ValidationError, match="duplicate category key 'regular'"):
        CustomerPolicy(categories=(POLICY.categories[0], POLICY.categories[0]))
    with pytest.raises(fk.ValidationError, match=r"deals\[0\]"):
        POLICY.profile("К-1", [make_lead()])  # type: ignore[list-item]


def test_link_lead_records_the_link_and_the_repeat_mark():
    """Linking sets the lead's contact and records a LeadLinked event with the repeat mark."""
    lead = make_lead("Л-2")
    linked, event = link_lead(lead, "К-1", SYSTEM, T0, sequence=2, repeat=True)
    assert "К-1" == linked.contact_id
    expected = fk.events.LeadLinked(
        entity=lead.ref, sequence=2, at=T0, actor="system", contact_id="К-1", repeat=True
    )
    assert expected == event
    with pytest.raises(fk.ValidationError, match="merge the contacts"):
        link_lead(attrs.evolve(lead, contact_id="К-7"), "К-1", SYSTEM, T0, sequence=2, repeat=False)
