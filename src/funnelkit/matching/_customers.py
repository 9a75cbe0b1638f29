"""
Returning customers, repeat requests and client categories: pure classifications.

A contact with at least one won deal is a returning customer; a lead linked to one is a repeat
request; a lead linked to a contact who asked before but never bought is a repeat inquiry.
Client categories for repeat and cross sales (seed 000) are configurable rules over a client's
won deals: how many, how much, which products were bought and which were not yet.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe
from funnelkit.events import LeadLinked
from funnelkit.exceptions import ValidationError
from funnelkit.model import (
    Actor,
    Deal,
    DealStatus,
    Lead,
    Money,
)


if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime


__all__ = [
    "ClientCategory",
    "ClientKind",
    "CustomerPolicy",
    "CustomerProfile",
    "RequestKind",
    "link_lead",
]


class ClientKind(str, enum.Enum):
    """Whether a contact has bought before."""

    NEW = "new"
    """No won deal yet."""
    RETURNING = "returning"
    """At least one won deal."""


class RequestKind(str, enum.Enum):
    """What a lead is, given its contact's history."""

    FIRST = "first"
    """The contact's first request."""
    REPEAT_REQUEST = "repeat_request"
    """From a returning customer (a contact with a won deal)."""
    REPEAT_INQUIRY = "repeat_inquiry"
    """From a contact who asked before but never bought."""


@attrs.frozen(kw_only=True)
class ClientCategory:
    """
    A category of clients for repeat and cross sales; a client belongs if every condition holds.

    Attributes:
        key: Stable key (``"regular"``, ``"offer_gutters"``).
        title: What people see (``"Постоянный"``, ``"Предложить водосток"``).
        min_won_deals: At least this many won deals.
        min_revenue: At least this much won, in its currency.
        bought: Products (values of the policy's product field on won deals) all bought.
        not_bought: Products none of which was bought yet (what to offer next).
    """

    key: str = attrs.field(validator=check.identifier)
    title: str = attrs.field(validator=check.nonblank)
    min_won_deals: int = attrs.field(default=0, validator=check.non_negative_int)
    min_revenue: Money | None = attrs.field(
        default=None, validator=check.instance_of(Money, "Money", optional=True)
    )
    bought: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.nonblank_problem, "product names")
    )
    not_bought: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.nonblank_problem, "product names")
    )


@attrs.frozen(kw_only=True)
class CustomerProfile:
    """
    What a contact's deals say about them.

    Attributes:
        contact_id: The contact.
        kind: New or returning.
        won_deals: How many deals they won.
        revenue: The sum of won amounts, one `Money` per currency.
        products: The products of won deals.
        categories: The keys of the categories they belong to, in policy order.
    """

    contact_id: str
    kind: ClientKind
    won_deals: int
    revenue: tuple[Money, ...]
    products: frozenset[str]
    categories: tuple[str, ...]


def _unique_keys(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    keys = [category.key for category in value]  # type: ignore[attr-defined]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            check.fail(
                instance,
                attribute,
                value,
                f"duplicate category key {key!r}; keys must be unique",
                "unique",
            )


@attrs.frozen(kw_only=True)
class CustomerPolicy:
    """
    Classifies contacts, leads and client categories from deals and leads.

    Attributes:
        categories: The client categories, in the order they are reported.
        product_field: The custom field of deals that names the product (``"product"``).
    """

    categories: tuple[ClientCategory, ...] = attrs.field(
        default=(),
        validator=[
            check.tuple_of(
                check.instance_problem(ClientCategory, "a ClientCategory"), "categories"
            ),
            _unique_keys,
        ],
    )
    product_field: str = attrs.field(default="product", validator=check.identifier)

    def profile(self, contact_id: str, deals: Iterable[Deal]) -> CustomerProfile:
        """
        Profile a contact from their deals (deals of other contacts are ignored).

        Raises:
            ValidationError: If `deals` holds something that is not a `Deal`.
        """
        won = [
            deal
            for deal in _deals(deals)
            if deal.contact_id == contact_id and deal.status is DealStatus.WON
        ]
        revenue: dict[str, Decimal] = {}
        for deal in won:
            if deal.amount is not None:
                revenue[deal.amount.currency] = (
                    revenue.get(deal.amount.currency, Decimal(0)) + deal.amount.amount
                )
        products = frozenset(
            str(value) for deal in won if (value := deal.fields.get(self.product_field)) is not None
        )
        totals = tuple(
            Money(amount=amount, currency=currency) for currency, amount in sorted(revenue.items())
        )
        return CustomerProfile(
            contact_id=contact_id,
            kind=ClientKind.RETURNING if won else ClientKind.NEW,
            won_deals=len(won),
            revenue=totals,
            products=products,
            categories=tuple(
                c.key for c in self.categories if _belongs(c, len(won), totals, products)
            ),
        )

    def request_kind(self, lead: Lead, leads: Iterable[Lead], deals: Iterable[Deal]) -> RequestKind:
        """
        Say whether a lead is a first request, a repeat request or a repeat inquiry.

        `leads` and `deals` are the contact's other leads and deals (others are ignored); only
        leads created before this one count as asking before.
        """
        contact_id = lead.contact_id
        if contact_id is None:
            return RequestKind.FIRST
        if self.profile(contact_id, deals).kind is ClientKind.RETURNING:
            return RequestKind.REPEAT_REQUEST
        earlier = any(
            other.contact_id == contact_id
            and other.id != lead.id
            and other.created_at < lead.created_at
            for other in leads
        )
        return RequestKind.REPEAT_INQUIRY if earlier else RequestKind.FIRST


def _deals(deals: Iterable[Deal]) -> list[Deal]:
    found: list[object] = list(deals)
    for index, deal in enumerate(found):
        if not isinstance(deal, Deal):
            msg = f"deals[{index}]: expected a Deal, got {describe(deal)}"
            raise ValidationError(msg, field=f"deals[{index}]", value=deal, rule="type")
    return [deal for deal in found if isinstance(deal, Deal)]


def _belongs(
    category: ClientCategory, won: int, revenue: tuple[Money, ...], products: frozenset[str]
) -> bool:
    if won < category.min_won_deals:
        return False
    if category.min_revenue is not None:
        minimum = category.min_revenue
        total = next((m.amount for m in revenue if m.currency == minimum.currency), Decimal(0))
        if total < minimum.amount:
            return False
    return all(p in products for p in category.bought) and not any(
        p in products for p in category.not_bought
    )


def link_lead(
    lead: Lead,
    contact_id: str,
    actor: Actor,
    at: datetime,
    *,
    sequence: int,
    repeat: bool,
    review: bool = False,
) -> tuple[Lead, LeadLinked]:
    """
    Link a lead to its contact and record it, marking a repeat request.

    Args:
        lead: The lead, as read from the store.
        contact_id: The contact it belongs to (found by `MatchPolicy.who_is`, or new).
        actor: Who links it (``"system"`` for automatic intake).
        at: When.
        sequence: The sequence number of the lead's new event.
        repeat: Whether the contact asked or bought before (see `CustomerPolicy.request_kind`).
        review: Whether the link rests on a review-band match a person should confirm.

    Returns:
        The linked lead and its `LeadLinked` event.

    Raises:
        ValidationError: If the lead is linked to another contact already (unlink it by a
            merge instead), or an argument is malformed.
    """
    if lead.contact_id is not None and lead.contact_id != contact_id:
        msg = (
            f"{lead.ref} is linked to contact {lead.contact_id!r} already; merge the contacts "
            "instead of re-linking the lead"
        )
        raise ValidationError(msg, field="lead.contact_id", value=lead.contact_id, rule="linked")
    linked = attrs.evolve(lead, contact_id=contact_id)
    event = LeadLinked(
        entity=lead.ref,
        sequence=sequence,
        at=at,
        actor=actor.id,
        contact_id=contact_id,
        repeat=repeat,
        review=review,
    )
    return linked, event
