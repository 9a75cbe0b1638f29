"""Small immutable values that entities are made of: money, sources, payments, documents."""

from __future__ import annotations

import enum
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, fail
from funnelkit.exceptions import ValidationError


if TYPE_CHECKING:
    from collections.abc import Sequence
from funnelkit.model._ids import UserId


__all__ = [
    "Actor",
    "ContactData",
    "Document",
    "DocumentKind",
    "LeadSource",
    "Money",
    "Payment",
    "PaymentKind",
    "Violation",
]

_CURRENCY = re.compile(r"[A-Z]{3}")


def _finite_decimal(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not Decimal:
        hint = f"; pass Decimal({str(value)!r})" if isinstance(value, (int, float, str)) else ""
        fail(instance, attribute, value, f"expected a Decimal, got {describe(value)}{hint}", "type")
    problem = check.decimal_problem(value)
    if problem is not None:
        fail(instance, attribute, value, *problem)


def _currency_code(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str or not _CURRENCY.fullmatch(value):
        fail(
            instance,
            attribute,
            value,
            f"expected a three-letter ISO 4217 code in capitals such as 'RUB' or 'EUR', "
            f"got {describe(value)}",
            "currency",
        )


@attrs.frozen(kw_only=True)
class Money:
    """
    An exact amount of one currency.

    Amounts are below 10**15 in absolute value with at most 12 digits after the point
    (`funnelkit.model.MAX_DECIMAL`, `DECIMAL_PLACES`): within them, adding or subtracting two
    amounts is exact, and a result out of them is refused with a `ValidationError`.

    Attributes:
        amount: The amount as a `Decimal` (floats are refused: they are not exact).
        currency: The ISO 4217 code, e.g. ``"RUB"``.
    """

    amount: Decimal = attrs.field(validator=_finite_decimal)
    currency: str = attrs.field(validator=_currency_code)

    @classmethod
    def of(cls, amount: str | int | Decimal, currency: str) -> Money:
        """
        Build money from a decimal string, an int or a Decimal.

        Raises:
            ValidationError: If `amount` is not a valid decimal number (floats are refused).
        """
        if isinstance(amount, (bool, float)) or not isinstance(amount, (str, int, Decimal)):
            msg = (
                f"Money.amount: expected a decimal string, int or Decimal, got "
                f"{describe(amount)}; write the amount as a string such as '12.50'"
            )
            raise ValidationError(msg, field="Money.amount", value=amount, rule="type")
        problem = check.ascii_digits_problem(amount, "amounts") if type(amount) is str else None
        if problem is not None:
            raise ValidationError(
                f"Money.amount: {problem[0]}", field="Money.amount", value=amount, rule=problem[1]
            )
        try:
            value = Decimal(amount)
        except InvalidOperation:
            msg = f"Money.amount: {amount!r} is not a decimal number; write it like '125000.50'"
            raise ValidationError(msg, field="Money.amount", value=amount, rule="decimal") from None
        return cls(amount=value, currency=currency)

    def _same_currency(self, other: Money, operation: str) -> None:
        if other.currency != self.currency:
            msg = (
                f"Cannot {operation} {other.currency} and {self.currency}: amounts must be in one "
                "currency; convert them first"
            )
            raise ValidationError(msg, field="Money.currency", value=other, rule="currency")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other, "add")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other, "subtract")
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"


_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,15}(?:\.[0-9]{1,12})?")
"""A decimal amount written plainly within `Money`'s bounds (15 digits, 12 after the point)."""


def is_plain_money(amount: str, currency: str) -> bool:
    """Whether `plain_money` takes this amount and currency (checked by their form alone)."""
    return bool(_PLAIN_AMOUNT.fullmatch(amount) and _CURRENCY.fullmatch(currency))


_DIGITS_AS_NINE = bytes.maketrans(b"0123456789", b"9999999999")


def all_plain_money(amounts: Sequence[str], currencies: Sequence[str | None]) -> bool:
    """
    Whether `is_plain_money` takes every (amount, currency) pair, checked in C but for a few.

    Each distinct currency is checked once, and each amount's shape (its digits written ``9``)
    once: a million amounts have a few hundred shapes at most.
    """
    if not all(name is not None and _CURRENCY.fullmatch(name) for name in set(currencies)):
        return False
    joined = "\n".join(amounts)
    if joined.count("\n") != max(len(amounts) - 1, 0) or not joined.isascii():
        return False  # a line break or another script inside one: each is checked apart
    shapes = set(joined.encode("ascii").translate(_DIGITS_AS_NINE).split(b"\n"))
    return not amounts or all(_PLAIN_AMOUNT.fullmatch(shape.decode()) for shape in shapes)


def plain_money(amount: str, currency: str) -> Money | None:
    """
    Money from a plainly written amount that is surely valid, without running the validators.

    For millions of amounts funnelkit wrote itself (``format(amount, "f")``): a text that is
    not plain (or a currency that is not three capitals) gives ``None``, and the caller builds
    it with `Money.of`, which checks it and says what is wrong.
    """
    if not is_plain_money(amount, currency):
        return None
    money = object.__new__(Money)
    object.__setattr__(money, "amount", Decimal(amount))  # frozen: set as attrs' __init__ does
    object.__setattr__(money, "currency", currency)
    return money


@attrs.frozen(kw_only=True)
class LeadSource:
    """
    Where a lead came from.

    Attributes:
        channel: How the client reached out: ``"site_form"``, ``"chat"``, ``"call"``,
            ``"social"``, ``"email"``... (any non-empty key the host uses).
        site: Which of the company's sites or accounts, if known.
        campaign: The advertising campaign (e.g. a UTM campaign), if known.
    """

    channel: str = attrs.field(validator=check.identifier)
    site: str | None = attrs.field(default=None, validator=check.optional_identifier)
    campaign: str | None = attrs.field(default=None, validator=check.optional_identifier)


@attrs.frozen(kw_only=True)
class ContactData:
    """
    Contact details exactly as the client gave them, before any normalisation.

    A lead keeps them untouched, so a normalisation rule can be improved later and re-run.

    Attributes:
        name: The name as typed (``"Алмаз Строитель"``), if any.
        phones: Phone numbers as typed (``"8 (912) 345-67-89"``).
        emails: E-mail addresses as typed.
        company: The company name as typed, if any.
        address: The address as typed, if any (at most 500 characters).
        birth_date: The birth date, if given (a `date`; parse text with
            ``Normaliser().birth_date``).
    """

    name: str | None = attrs.field(default=None, validator=check.optional_nonblank)
    phones: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.nonblank_problem, "strings")
    )
    emails: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.nonblank_problem, "strings")
    )
    company: str | None = attrs.field(default=None, validator=check.optional_nonblank)
    address: str | None = attrs.field(default=None, validator=check.optional_address)
    birth_date: date | None = attrs.field(default=None, validator=check.optional_birth_date)

    @property
    def is_empty(self) -> bool:
        """Whether the client left no way to reach them or to know who they are."""
        return (
            self.name is None
            and not self.phones
            and not self.emails
            and self.company is None
            and self.address is None
            and self.birth_date is None
        )


@attrs.frozen(kw_only=True)
class Actor:
    """
    Who performs an operation: a user id and the roles that user holds.

    Attributes:
        id: The user id, recorded on every event the operation produces.
        roles: The roles, e.g. ``frozenset({"manager"})`` or ``frozenset({"engineer"})``;
            pipelines use them to decide who may move an entity out of a stage.
    """

    id: UserId = attrs.field(validator=check.identifier)
    roles: frozenset[str] = attrs.field(
        default=frozenset(), validator=check.frozenset_of(check.identifier_problem, "role names")
    )


class PaymentKind(str, enum.Enum):
    """What a payment is for (seed: предоплата / доплата)."""

    PREPAYMENT = "prepayment"
    INSTALMENT = "instalment"
    FINAL = "final"


@attrs.frozen(kw_only=True)
class Payment:
    """
    Money received for a deal.

    Attributes:
        id: Unique within the deal (e.g. the host's receipt number).
        amount: A positive amount, in the deal's currency.
        received_at: When the money arrived.
        kind: Prepayment, instalment or final payment.
        note: Free text.
    """

    id: str = attrs.field(validator=check.identifier)
    amount: Money = attrs.field(validator=check.instance_of(Money, "Money"))
    received_at: datetime = attrs.field(validator=check.aware_datetime)
    kind: PaymentKind = attrs.field(
        default=PaymentKind.INSTALMENT, validator=check.is_enum(PaymentKind)
    )
    note: str = attrs.field(default="", validator=check.text)

    @amount.validator
    def _positive(self, attribute: attrs.Attribute[Money], value: Money) -> None:
        if value.amount <= 0:
            fail(
                self,
                attribute,
                value,
                f"a payment must be positive, got {value}; record refunds separately",
                "positive",
            )


class DocumentKind(str, enum.Enum):
    """Documents sent to a client in versions (КП, смета, договор...)."""

    PROPOSAL = "proposal"
    ESTIMATE = "estimate"
    CONTRACT = "contract"
    INVOICE = "invoice"
    OTHER = "other"


@attrs.frozen(kw_only=True)
class Document:
    """
    One version of a document sent to a client.

    Versions of each kind are numbered 1, 2, 3... in the order they were sent; a deal checks that.

    Attributes:
        kind: Proposal, estimate, contract...
        version: The version number, starting at 1.
        sent_at: When this version was sent.
        amount: The total this version quotes, if it quotes one.
        reference: An opaque reference the host understands (a file id, a URL).
        note: What changed in this version.
    """

    kind: DocumentKind = attrs.field(validator=check.is_enum(DocumentKind))
    version: int = attrs.field(validator=check.positive_int)
    sent_at: datetime = attrs.field(validator=check.aware_datetime)
    amount: Money | None = attrs.field(
        default=None, validator=check.instance_of(Money, "Money", optional=True)
    )
    reference: str = attrs.field(default="", validator=check.text)
    note: str = attrs.field(default="", validator=check.text)

    @amount.validator
    def _non_negative(self, attribute: attrs.Attribute[Money | None], value: Money | None) -> None:
        if value is not None and value.amount < 0:
            fail(self, attribute, value, f"must not be negative, got {value}", "non_negative")


@attrs.frozen(kw_only=True)
class Violation:
    """
    One broken rule, as data a host app can show to a user.

    Attributes:
        rule: A short, stable name of the rule (``"unknown_field"``, ``"choice"``...).
        message: A sentence that says what is wrong and what to do.
        field: The field the rule is about, if any.
        allowed: What is allowed instead, when the rule has alternatives (for a refused move,
            the stages the entity may move to now).
    """

    rule: str = attrs.field(validator=check.identifier)
    message: str = attrs.field(validator=check.nonblank)
    field: str | None = attrs.field(default=None, validator=check.optional_identifier)
    allowed: tuple[str, ...] = attrs.field(
        default=(), validator=check.tuple_of(check.identifier_problem, "allowed alternatives")
    )
