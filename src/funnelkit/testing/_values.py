"""
Strategies for values and entities: ids, texts, times, money, contacts, leads, deals, tasks.

Every value drawn is valid, and text holds only what every store keeps; they are exported
by `funnelkit.testing.strategies`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, TypeVar

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from funnelkit.model import (
    Actor,
    Contact,
    ContactData,
    CustomFieldSchema,
    Deal,
    DealStatus,
    Document,
    DocumentKind,
    EntityKind,
    EntityRef,
    FieldDef,
    FieldType,
    FieldValue,
    FieldValues,
    Lead,
    LeadSource,
    LeadStatus,
    Money,
    Payment,
    PaymentKind,
    Period,
    Task,
    TaskKind,
    TaskStatus,
)
from funnelkit.plans import Measure, Plan, Target


if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy


__all__ = [
    "actors",
    "aware_datetimes",
    "contact_data",
    "contacts",
    "custom_field_schemas",
    "deals",
    "documents",
    "entity_refs",
    "field_values",
    "identifiers",
    "lead_sources",
    "leads",
    "moneys",
    "payments",
    "periods",
    "plans",
    "tasks",
    "texts",
]

T = TypeVar("T")


_EPOCH = datetime(2015, 1, 1, tzinfo=timezone.utc)


_END = datetime(2035, 1, 1, tzinfo=timezone.utc)


_MAX_OFFSET_MINUTES = 14 * 60


_ID_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ0123456789-_ "
)


def _trimmed(text: str) -> str:
    """`text` without surrounding spaces, or ``"0"`` if nothing is left."""
    return text.strip() or "0"


def _check_sizes(min_size: int, max_size: int | None, name: str = "") -> None:
    prefix = f"{name}_" if name else ""
    if type(min_size) is not int or min_size < 0:
        msg = f"{prefix}min_size={min_size!r} must be a non-negative integer"
        raise InvalidArgument(msg)
    if max_size is not None and (type(max_size) is not int or max_size < min_size):
        msg = f"Cannot have {prefix}max_size={max_size!r} < {prefix}min_size={min_size!r}"
        raise InvalidArgument(msg)


def _check_strategy(value: object, name: str) -> None:
    if not isinstance(value, st.SearchStrategy):
        msg = (
            f"{name}={value!r} must be a strategy; to always use one value, pass st.just({value!r})"
        )
        raise InvalidArgument(msg)


def identifiers(*, max_size: int = 16) -> SearchStrategy[str]:
    """
    Draw ids and keys: non-empty, unpadded; Latin, Cyrillic, digits, ``-``, ``_`` and spaces.

    Args:
        max_size: The longest id to draw.
    """
    if type(max_size) is not int or max_size < 1:
        msg = f"max_size={max_size!r} must be a positive integer"
        raise InvalidArgument(msg)
    return st.text(alphabet=_ID_ALPHABET, min_size=1, max_size=max_size).map(_trimmed)


_STORABLE = st.characters(codec="utf-8", exclude_characters="\x00")  # what every store keeps


def texts(*, min_size: int = 0, max_size: int = 40) -> SearchStrategy[str]:
    """
    Draw free text with at least `min_size` non-space characters (Unicode included).

    Every character is one a store keeps: no lone surrogate and no NUL (see
    `funnelkit.model` on text).
    """

    @st.composite
    def build(draw: DrawFn) -> str:
        _check_sizes(min_size, max_size)
        core = draw(st.text(alphabet=_STORABLE, min_size=min_size, max_size=max_size))
        if len(core.strip()) < min_size:
            core = core + "x" * min_size
        return core

    return build()


def aware_datetimes(
    *,
    min_value: datetime = _EPOCH,
    max_value: datetime = _END,
) -> SearchStrategy[datetime]:
    """
    Draw timezone-aware datetimes with fixed UTC offsets between `min_value` and `max_value`.

    Args:
        min_value: The earliest instant (aware).
        max_value: The latest instant (aware).
    """

    @st.composite
    def build(draw: DrawFn) -> datetime:
        bounds: tuple[tuple[str, object], ...] = (
            ("min_value", min_value),
            ("max_value", max_value),
        )
        for name, bound in bounds:
            if not isinstance(bound, datetime) or bound.utcoffset() is None:
                msg = f"{name}={bound!r} must be a timezone-aware datetime"
                raise InvalidArgument(msg)
        if max_value < min_value:
            msg = f"Cannot have max_value={max_value!r} < min_value={min_value!r}"
            raise InvalidArgument(msg)
        span = int((max_value - min_value).total_seconds() * 1_000_000)
        instant = min_value + timedelta(microseconds=draw(st.integers(0, span)))
        minutes = draw(st.integers(-_MAX_OFFSET_MINUTES, _MAX_OFFSET_MINUTES))
        return instant.astimezone(timezone(timedelta(minutes=minutes)))

    return build()


_IDENTIFIERS = identifiers()


_TEXTS = texts()


_NONBLANK = texts(min_size=1)


_DATETIMES = aware_datetimes()


_OFFSETS = st.integers(-_MAX_OFFSET_MINUTES, _MAX_OFFSET_MINUTES).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


_UP_TO_400_DAYS = st.integers(0, 400 * 24 * 3600 * 1_000_000)


def _later(draw: DrawFn, start: datetime) -> datetime:
    """An instant up to 400 days after `start`, at a random UTC offset."""
    instant = start + timedelta(microseconds=draw(_UP_TO_400_DAYS))
    return instant.astimezone(draw(_OFFSETS))


def moneys(
    *,
    currencies: SearchStrategy[str] | None = None,
    min_value: Decimal = Decimal(0),
    max_value: Decimal = Decimal(10_000_000),
    places: int = 2,
) -> SearchStrategy[Money]:
    """
    Draw exact amounts of money.

    Args:
        currencies: Currency codes; ``"RUB"``, ``"EUR"`` or ``"USD"`` by default.
        min_value: The smallest amount.
        max_value: The largest amount.
        places: Decimal places.
    """

    @st.composite
    def build(draw: DrawFn) -> Money:
        if currencies is not None:
            _check_strategy(currencies, "currencies")
        if max_value < min_value:
            msg = f"Cannot have max_value={max_value!r} < min_value={min_value!r}"
            raise InvalidArgument(msg)
        currency = draw(
            currencies if currencies is not None else st.sampled_from(["RUB", "EUR", "USD"])
        )
        amount = draw(
            st.decimals(
                min_value=min_value,
                max_value=max_value,
                places=places,
                allow_nan=False,
                allow_infinity=False,
            )
        )
        return Money(amount=amount, currency=currency)

    return build()


def periods(*, max_days: int = 400) -> SearchStrategy[Period]:
    """
    Draw periods of 1 to `max_days` days between 2015 and 2035.

    Args:
        max_days: The longest period drawn.
    """
    if type(max_days) is not int or max_days < 1:
        msg = f"max_days={max_days!r} must be a positive integer"
        raise InvalidArgument(msg)
    return st.builds(
        lambda start, days: Period(start, start + timedelta(days=days)),
        st.dates(min_value=_EPOCH.date(), max_value=_END.date() - timedelta(days=max_days)),
        st.integers(min_value=1, max_value=max_days),
    )


@st.composite
def _targets(draw: DrawFn) -> Target:
    measure = draw(st.sampled_from(Measure))
    value: int | Money
    if measure.is_money:
        value = draw(moneys(currencies=st.just("RUB")))
    else:
        value = draw(st.integers(min_value=0, max_value=10_000))
    entered = measure is Measure.ENTERED
    return Target(
        measure=measure,
        period=draw(periods()),
        value=value,
        owner=draw(st.none() | identifiers()),
        pipeline=draw(identifiers()) if entered else draw(st.none() | identifiers()),
        stage=draw(identifiers()) if entered else None,
    )


def plans(*, max_targets: int = 6) -> SearchStrategy[Plan]:
    """
    Draw plans of up to `max_targets` targets (money targets in RUB, one per key).

    Args:
        max_targets: The most targets drawn.
    """
    if type(max_targets) is not int or max_targets < 0:
        msg = f"max_targets={max_targets!r} must be a non-negative integer"
        raise InvalidArgument(msg)
    return st.lists(_targets(), max_size=max_targets, unique_by=lambda t: t.key).map(
        lambda targets: Plan(targets=tuple(targets))
    )


def lead_sources() -> SearchStrategy[LeadSource]:
    """Draw lead sources: a channel, maybe a site and a campaign."""
    return st.builds(
        LeadSource,
        channel=st.sampled_from(["site_form", "chat", "call", "social", "email"]) | _IDENTIFIERS,
        site=st.none() | st.sampled_from(["krovlya-spb.ru", "roof-market.ru"]) | _IDENTIFIERS,
        campaign=st.none() | _IDENTIFIERS,
    )


_ADDRESSES = st.sampled_from(
    ["п. Званка, ул. Лесная, 5", "Санкт-Петербург, Невский пр., д. 1, кв. 7", "ул Лесная 5"]
) | texts(min_size=1, max_size=80).filter(str.strip)


_BIRTH_DATES = st.dates(min_value=date(1900, 1, 1), max_value=date(2010, 12, 31))


def contact_data() -> SearchStrategy[ContactData]:
    """Draw contact details as a client might type them (possibly none at all)."""
    phones = st.sampled_from(["8 (912) 345-67-89", "+7 912 345 67 89", "89123456789"]) | texts(
        min_size=1
    )
    return st.builds(
        ContactData,
        name=st.none() | _NONBLANK,
        phones=st.lists(phones, max_size=3).map(tuple),
        emails=st.lists(_NONBLANK, max_size=2).map(tuple),
        company=st.none() | _NONBLANK,
        address=st.none() | _ADDRESSES,
        birth_date=st.none() | _BIRTH_DATES,
    )


def actors(*, roles: SearchStrategy[str] | None = None) -> SearchStrategy[Actor]:
    """Draw actors with a few roles (``manager``, ``engineer``... by default)."""
    role = (
        roles if roles is not None else st.sampled_from(["manager", "engineer", "head", "system"])
    )

    @st.composite
    def build(draw: DrawFn) -> Actor:
        _check_strategy(role, "roles")
        return Actor(id=draw(_IDENTIFIERS), roles=frozenset(draw(st.lists(role, max_size=3))))

    return build()


def entity_refs(*, kinds: SearchStrategy[EntityKind] | None = None) -> SearchStrategy[EntityRef]:
    """Draw references to entities of the given kinds (any kind by default)."""
    kind = kinds if kinds is not None else st.sampled_from(list(EntityKind))

    @st.composite
    def build(draw: DrawFn) -> EntityRef:
        _check_strategy(kind, "kinds")
        return EntityRef(kind=draw(kind), id=draw(_IDENTIFIERS))

    return build()


_FIELD_VALUE: SearchStrategy[FieldValue] = st.one_of(
    _TEXTS,
    st.integers(-(10**9), 10**9),
    st.booleans(),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=3, min_value=-(10**6), max_value=10**6
    ),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    _DATETIMES,
    st.lists(_IDENTIFIERS, max_size=3, unique=True).map(tuple),
)


def field_values(*, min_size: int = 0, max_size: int = 4) -> SearchStrategy[FieldValues]:
    """Draw custom field values of every allowed type."""

    @st.composite
    def build(draw: DrawFn) -> FieldValues:
        _check_sizes(min_size, max_size)
        return FieldValues(
            draw(st.dictionaries(_IDENTIFIERS, _FIELD_VALUE, min_size=min_size, max_size=max_size))
        )

    return build()


@st.composite
def _field_defs(draw: DrawFn) -> FieldDef:
    field_type = draw(st.sampled_from(list(FieldType)))
    choices: tuple[str, ...] = ()
    if field_type in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        choices = tuple(draw(st.lists(_IDENTIFIERS, min_size=1, max_size=4, unique=True)))
    return FieldDef(key=draw(_IDENTIFIERS), type=field_type, title=draw(_TEXTS), choices=choices)


def custom_field_schemas(
    *, min_size: int = 0, max_size: int = 6
) -> SearchStrategy[CustomFieldSchema]:
    """Draw custom field schemas with `min_size` to `max_size` uniquely keyed fields."""

    @st.composite
    def build(draw: DrawFn) -> CustomFieldSchema:
        _check_sizes(min_size, max_size)
        defs = draw(
            st.lists(_field_defs(), min_size=min_size, max_size=max_size, unique_by=lambda d: d.key)
        )
        return CustomFieldSchema(fields=tuple(defs))

    return build()


def payments(
    *,
    currencies: SearchStrategy[str] | None = None,
    received_after: datetime = _EPOCH,
) -> SearchStrategy[Payment]:
    """Draw payments with positive amounts received after `received_after`."""

    @st.composite
    def build(draw: DrawFn) -> Payment:
        return Payment(
            id=draw(_IDENTIFIERS),
            amount=draw(moneys(currencies=currencies, min_value=Decimal("0.01"))),
            received_at=_later(draw, received_after),
            kind=draw(st.sampled_from(list(PaymentKind))),
            note=draw(_TEXTS),
        )

    return build()


def documents(
    *,
    kinds: SearchStrategy[DocumentKind] | None = None,
    versions: SearchStrategy[int] | None = None,
) -> SearchStrategy[Document]:
    """Draw single document versions (a deal numbers them; see `deals`)."""
    kind = kinds if kinds is not None else st.sampled_from(list(DocumentKind))
    version = versions if versions is not None else st.integers(1, 9)

    @st.composite
    def build(draw: DrawFn) -> Document:
        _check_strategy(kind, "kinds")
        _check_strategy(version, "versions")
        return Document(
            kind=draw(kind),
            version=draw(version),
            sent_at=draw(_DATETIMES),
            amount=draw(st.none() | moneys()),
            reference=draw(texts(max_size=10)),
            note=draw(texts(max_size=10)),
        )

    return build()


def _pick(
    draw: DrawFn, given: SearchStrategy[T] | None, default: SearchStrategy[T], name: str
) -> T:
    if given is not None:
        _check_strategy(given, name)
        return draw(given)
    return draw(default)


def contacts(
    *,
    ids: SearchStrategy[str] | None = None,
    min_phones: int = 0,
    max_phones: int = 3,
) -> SearchStrategy[Contact]:
    """Draw new contacts (version 0) with several names, phones, e-mails and custom fields."""

    @st.composite
    def build(draw: DrawFn) -> Contact:
        _check_sizes(min_phones, max_phones, "phones")
        phone = (
            st.sampled_from(["8 (912) 345-67-89", "+7 912 345 67 89", "+7 (495) 000-11-22"])
            | _NONBLANK
        )
        return Contact(
            id=_pick(draw, ids, _IDENTIFIERS, "ids"),
            created_at=draw(_DATETIMES),
            names=tuple(draw(st.lists(_NONBLANK, min_size=1, max_size=3))),
            phones=tuple(
                draw(st.lists(phone, min_size=min_phones, max_size=max_phones, unique=True))
            ),
            emails=tuple(draw(st.lists(_NONBLANK, max_size=2, unique=True))),
            company=draw(st.none() | _NONBLANK),
            address=draw(st.none() | _ADDRESSES),
            birth_date=draw(st.none() | _BIRTH_DATES),
            fields=draw(field_values()),
        )

    return build()


def leads(
    *,
    ids: SearchStrategy[str] | None = None,
    pipelines: SearchStrategy[str] | None = None,
    stages: SearchStrategy[str] | None = None,
    statuses: SearchStrategy[LeadStatus] | None = None,
    owners: SearchStrategy[str | None] | None = None,
) -> SearchStrategy[Lead]:
    """Draw new leads (version 0), open, converted or junk, consistent with their status."""

    @st.composite
    def build(draw: DrawFn) -> Lead:
        status = _pick(draw, statuses, st.sampled_from(list(LeadStatus)), "statuses")
        created_at = draw(_DATETIMES)
        closed = status is not LeadStatus.OPEN
        return Lead(
            id=_pick(draw, ids, _IDENTIFIERS, "ids"),
            created_at=created_at,
            pipeline=_pick(draw, pipelines, st.sampled_from(["leads", "входящие"]), "pipelines"),
            stage=_pick(
                draw, stages, st.sampled_from(["new", "НОВЫЙ ЛИД", "warm", "spam"]), "stages"
            ),
            source=draw(lead_sources()),
            contact_data=draw(contact_data()),
            message=draw(_TEXTS),
            contact_id=draw(st.none() | _IDENTIFIERS),
            owner=_pick(draw, owners, st.none() | _IDENTIFIERS, "owners"),
            status=status,
            junk_reason=draw(_NONBLANK) if status is LeadStatus.JUNK else None,
            deal_id=draw(_IDENTIFIERS) if status is LeadStatus.CONVERTED else None,
            closed_at=_later(draw, created_at) if closed else None,
            fields=draw(field_values()),
        )

    return build()


def _numbered_documents(draw: DrawFn, currency: str) -> tuple[Document, ...]:
    kinds = draw(st.lists(st.sampled_from(list(DocumentKind)), max_size=4))
    counts: dict[DocumentKind, int] = {}
    result = []
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
        result.append(
            Document(
                kind=kind,
                version=counts[kind],
                sent_at=draw(_DATETIMES),
                amount=draw(st.none() | moneys(currencies=st.just(currency))),
            )
        )
    return tuple(result)


def deals(
    *,
    ids: SearchStrategy[str] | None = None,
    pipelines: SearchStrategy[str] | None = None,
    stages: SearchStrategy[str] | None = None,
    statuses: SearchStrategy[DealStatus] | None = None,
    owners: SearchStrategy[str | None] | None = None,
    max_payments: int = 3,
) -> SearchStrategy[Deal]:
    """
    Draw new deals (version 0) consistent with their status.

    Payments and document amounts share the deal's currency; document versions are numbered
    1, 2, 3... per kind; lost deals have a reason; closed deals a closing time.
    """

    @st.composite
    def build(draw: DrawFn) -> Deal:
        _check_sizes(0, max_payments, "payments")
        status = _pick(draw, statuses, st.sampled_from(list(DealStatus)), "statuses")
        created_at = draw(_DATETIMES)
        currency = draw(st.sampled_from(["RUB", "EUR"]))
        return Deal(
            id=_pick(draw, ids, _IDENTIFIERS, "ids"),
            created_at=created_at,
            pipeline=_pick(draw, pipelines, st.sampled_from(["roofing", "main_sale"]), "pipelines"),
            stage=_pick(draw, stages, st.sampled_from(["НОВЫЙ ЛИД", "КП ГОТОВО", "won"]), "stages"),
            title=draw(_TEXTS),
            contact_id=draw(st.none() | _IDENTIFIERS),
            owner=_pick(draw, owners, st.none() | _IDENTIFIERS, "owners"),
            amount=draw(st.none() | moneys(currencies=st.just(currency))),
            lead_id=draw(st.none() | _IDENTIFIERS),
            source=draw(st.none() | lead_sources()),
            status=status,
            lost_reason=draw(_NONBLANK) if status is DealStatus.LOST else None,
            lost_note=draw(_TEXTS),
            closed_at=_later(draw, created_at) if status is not DealStatus.OPEN else None,
            payments=tuple(
                draw(
                    st.lists(
                        payments(currencies=st.just(currency), received_after=created_at),
                        max_size=max_payments,
                        unique_by=lambda p: p.id,
                    )
                )
            ),
            documents=_numbered_documents(draw, currency),
            fields=draw(field_values()),
        )

    return build()


def tasks(
    *,
    ids: SearchStrategy[str] | None = None,
    assignees: SearchStrategy[str] | None = None,
    statuses: SearchStrategy[TaskStatus] | None = None,
    subjects: SearchStrategy[EntityRef] | None = None,
) -> SearchStrategy[Task]:
    """Draw new tasks (version 0): open, done with a result, or cancelled with a reason."""

    @st.composite
    def build(draw: DrawFn) -> Task:
        status = _pick(draw, statuses, st.sampled_from(list(TaskStatus)), "statuses")
        subject_kinds = st.sampled_from([EntityKind.LEAD, EntityKind.DEAL, EntityKind.CONTACT])
        created_at = draw(_DATETIMES)
        done = status is TaskStatus.DONE
        return Task(
            id=_pick(draw, ids, _IDENTIFIERS, "ids"),
            created_at=created_at,
            subject=_pick(draw, subjects, entity_refs(kinds=subject_kinds), "subjects"),
            kind=draw(st.sampled_from(list(TaskKind))),
            title=draw(_TEXTS),
            assignee=_pick(draw, assignees, _IDENTIFIERS, "assignees"),
            due_at=draw(_DATETIMES),
            status=status,
            result=draw(_NONBLANK) if done else None,
            client_reached=draw(st.none() | st.booleans()) if done else None,
            cancel_reason=draw(_NONBLANK) if status is TaskStatus.CANCELLED else None,
            closed_at=_later(draw, created_at) if status is not TaskStatus.OPEN else None,
        )

    return build()
