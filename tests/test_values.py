"""Domain values refuse bad input with errors that name the field, the rule and the fix."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.testing.contracts import T0, make_contact, make_deal, make_lead, make_task


def _refusal(build, **changes):
    with pytest.raises(fk.ValidationError) as caught:
        build(**changes)
    return caught.value


def test_naive_datetime_is_refused_with_the_fix():
    """A naive datetime names the field and says to pass a timezone."""
    error = _refusal(make_contact, created_at=datetime(2026, 3, 2, 9, 0))  # noqa: DTZ001
    assert ("Contact.created_at", "aware_datetime") == (error.field, error.rule)
    assert "pass tzinfo" in str(error)


@pytest.mark.parametrize(
    ("build", "changes", "field", "rule"),
    [
        (make_contact, {"names": ()}, "Contact.names", "required"),
        (make_contact, {"phones": ("1", "1")}, "Contact.phones", "unique"),
        (make_contact, {"company": "  "}, "Contact.company", "required"),
        (make_contact, {"version": -1}, "Contact.version", "range"),
        (make_lead, {"status": fk.LeadStatus.JUNK}, "Lead.junk_reason", "junk_reason"),
        (make_lead, {"stage": ""}, "Lead.stage", "identifier"),
        (make_deal, {"amount": fk.Money.of("-1", "RUB")}, "Deal.amount", "non_negative"),
        (make_deal, {"status": fk.DealStatus.LOST}, "Deal.lost_reason", "lost_reason"),
        (make_deal, {"stage": 5}, "Deal.stage", "type"),
        (make_task, {"status": fk.TaskStatus.DONE, "closed_at": T0}, "Task.result", "result"),
        (make_task, {"subject": fk.EntityRef.task("З-2")}, "Task.subject", "subject"),
    ],
)
def test_entities_refuse_bad_values(build, changes, field, rule):
    """Each broken rule names its field and rule, and the message starts with the field."""
    error = _refusal(build, **changes)
    assert (field, rule) == (error.field, error.rule)
    assert str(error).startswith(field)


def test_money_is_exact_and_checked():
    """Money keeps Decimal exactness, adds within one currency and refuses lowercase codes."""
    assert fk.Money.of("0.3", "RUB") == fk.Money.of("0.1", "RUB") + fk.Money.of("0.2", "RUB")
    error = _refusal(fk.Money.of, amount="1", currency="rub")
    assert ("Money.currency", "currency") == (error.field, error.rule)
    with pytest.raises(fk.ValidationError, match="currency"):
        fk.Money.of("1", "RUB") + fk.Money.of("1", "EUR")
    with pytest.raises(fk.ValidationError):
        fk.Money(amount=Decimal("NaN"), currency="RUB")
    with pytest.raises(fk.ValidationError):
        fk.Money(amount=1.5, currency="RUB")  # type: ignore[arg-type]


def test_deal_documents_are_numbered_per_kind():
    """Document versions of one kind run 1, 2, 3...; a gap is refused."""
    proposal = fk.Document(kind=fk.DocumentKind.PROPOSAL, version=1, sent_at=T0)
    second = attrs.evolve(proposal, version=2)
    deal = make_deal(documents=(proposal, second))
    assert second == deal.latest_document(fk.DocumentKind.PROPOSAL)
    assert deal.latest_document(fk.DocumentKind.CONTRACT) is None
    error = _refusal(make_deal, documents=(proposal, attrs.evolve(proposal, version=3)))
    assert error.field == "Deal.documents[1]"


def test_deal_payments_share_the_deal_currency():
    """Payments in another currency than the deal amount are refused; paid sums the rest."""
    payment = fk.Payment(
        id="П-1",
        amount=fk.Money.of("100000", "RUB"),
        received_at=T0,
        kind=fk.PaymentKind.PREPAYMENT,
    )
    deal = make_deal(payments=(payment,))
    assert fk.Money.of("100000", "RUB") == deal.paid
    assert fk.Money.of("380000.00", "RUB") == deal.balance_due
    error = _refusal(make_deal, payments=(attrs.evolve(payment, amount=fk.Money.of("100", "EUR")),))
    assert error.field == "Deal.payments"


def test_task_overdue_compares_instants():
    """An open task is overdue once its due time has passed, whatever the offsets."""
    task = make_task(due_at=datetime(2026, 3, 2, 10, 0, tzinfo=timezone(timedelta(hours=3))))
    assert task.is_overdue(datetime(2026, 3, 2, 7, 1, tzinfo=timezone.utc))
    assert not task.is_overdue(datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc))
    done = attrs.evolve(
        task, status=fk.TaskStatus.DONE, result="Замер назначен", client_reached=True, closed_at=T0
    )
    assert not done.is_overdue(datetime(2027, 1, 1, tzinfo=timezone.utc))


SCHEMA = fk.model.CustomFieldSchema(
    fields=(
        fk.model.FieldDef(
            key="тип клиента",
            type=fk.model.FieldType.CHOICE,
            title="Тип клиента",
            choices=("строитель", "частник"),
        ),
        fk.model.FieldDef(
            key="площадь", type=fk.model.FieldType.DECIMAL, title="Площадь кровли, м²"
        ),
        fk.model.FieldDef(key="дата замера", type=fk.model.FieldType.DATE, title="Дата замера"),
    )
)


def test_schema_accepts_fitting_values():
    """Values of the right types and allowed choices pass."""
    values = fk.model.FieldValues(
        {"тип клиента": "частник", "площадь": Decimal("120.5"), "дата замера": date(2026, 3, 5)}
    )
    assert () == SCHEMA.check(values)
    SCHEMA.validate(values)


@pytest.mark.parametrize(
    ("values", "rule", "message"),
    [
        (
            {"тип клиента": "дилер"},
            "choice",
            "тип клиента: 'дилер' is not an allowed value; allowed: 'строитель', 'частник'",
        ),
        ({"площадь": 120}, "type", "площадь: expected a Decimal, got 120 (int)"),
        (
            {"цвет": "красный"},
            "unknown_field",
            (
                "цвет: no such custom field; known fields: "
                "'тип клиента', 'площадь', 'дата замера'; add it to the schema or fix the key"
            ),
        ),
    ],
)
def test_schema_refuses_unknown_fields_and_values(values, rule, message):
    """Unknown keys, wrong types and values outside the choices are each explained."""
    (violation,) = SCHEMA.check(fk.model.FieldValues(values))
    assert (rule, message) == (violation.rule, violation.message)
    with pytest.raises(fk.ValidationError) as caught:
        SCHEMA.validate(fk.model.FieldValues(values))
    assert rule == caught.value.rule


def test_field_values_refuse_floats():
    """Floats are refused in custom fields: amounts must be exact Decimals."""
    with pytest.raises(fk.ValidationError, match=r"Contact\.fields\['площадь'\]"):
        make_contact(fields={"площадь": 120.5})


def test_events_check_their_entity_kind():
    """An event refuses an entity of a kind it is not about."""
    with pytest.raises(fk.ValidationError, match="entity"):
        fk.events.DealWon(
            entity=fk.EntityRef.task("З-1"),
            sequence=1,
            at=T0,
            actor="anna",
            pipeline="кровля",
            from_stage="КП ГОТОВО",
            to_stage="УСПЕШНО",
        )


def test_forced_moves_alone_record_overridden_rules():
    """Only a forced move may list overridden violations."""
    violation = fk.Violation(rule="required_field", message="нужна площадь", field="площадь")
    with pytest.raises(fk.ValidationError, match="overridden"):
        fk.events.StageChanged(
            entity=fk.EntityRef.deal("С-1"),
            sequence=1,
            at=T0,
            actor="anna",
            pipeline="кровля",
            from_stage="ОП ВЗЯЛ В РАБОТУ",
            to_stage="КП ГОТОВО",
            overridden=(violation,),
        )


def test_clock_and_ids_are_injected_and_deterministic():
    """FixedClock moves only when told; SequentialIds numbers per kind."""
    clock = fk.FixedClock(T0)
    clock.advance(timedelta(minutes=5))
    assert T0 + timedelta(minutes=5) == clock.now()
    ids = fk.SequentialIds()
    assert ["L-1", "L-2", "D-1"] == [
        ids.new_id(fk.EntityKind.LEAD),
        ids.new_id(fk.EntityKind.LEAD),
        ids.new_id(fk.EntityKind.DEAL),
    ]
    with pytest.raises(fk.ValidationError):
        fk.FixedClock(datetime(2026, 3, 2))  # noqa: DTZ001


PLAIN_DECIMALS = st.integers(0, 12).flatmap(
    lambda places: st.decimals(
        min_value=Decimal(-(10**15)) + 1,
        max_value=Decimal(10**15) - 1,
        places=places,
        allow_nan=False,
        allow_infinity=False,
    )
)


@given(
    st.one_of(
        PLAIN_DECIMALS.map(lambda value: format(value, "f")),
        st.text(alphabet="0123456789.-+eE ٠١", max_size=20),
    ),
    st.sampled_from(["RUB", "USD", "rub", "RU", "₽"]),
)
def test_plain_money_is_money_of_or_nothing(text, currency):
    """The fast path for stored amounts gives what Money.of gives, or leaves it to Money.of."""
    from funnelkit.model._values import plain_money  # noqa: PLC0415 - a private helper

    plain = plain_money(text, currency)
    if plain is None:
        return
    checked = fk.Money.of(text, currency)  # the oracle: it must accept what the fast path took
    assert (plain, hash(plain), str(plain.amount)) == (checked, hash(checked), str(checked.amount))
    assert fk.from_data(fk.to_data(plain), fk.Money) == checked


@given(
    st.lists(
        st.one_of(
            PLAIN_DECIMALS.map(lambda value: format(value, "f")),
            st.text(alphabet="0123456789.-+eE \n٠١", max_size=20),
        ),
        max_size=8,
    ),
    st.sampled_from(["RUB", "USD", "rub", "RU", "₽"]),
)
def test_a_whole_table_of_amounts_is_plain_exactly_when_each_one_is(texts, currency):
    """One pass over all of them (by their shapes) says what one check of each says."""
    from funnelkit.model._values import all_plain_money, plain_money  # noqa: PLC0415

    currencies = [currency] * len(texts)
    assert all_plain_money(texts, currencies) == all(plain_money(text, currency) for text in texts)


def test_plain_money_takes_what_funnelkit_writes_and_leaves_the_rest():
    from funnelkit.model._values import plain_money  # noqa: PLC0415 - a private helper

    assert plain_money("1500.00", "RUB") == fk.Money.of("1500.00", "RUB")
    assert plain_money("-0.000000000001", "USD") == fk.Money.of("-0.000000000001", "USD")
    for text, currency in (("1E+3", "RUB"), ("1" * 16, "RUB"), ("١٥", "RUB"), ("1", "rub")):
        assert plain_money(text, currency) is None
    from funnelkit.model._values import all_plain_money  # noqa: PLC0415 - a private helper

    assert all_plain_money(["1500.00", "-0.000000000001", "7"], ["RUB", "USD", "RUB"])
    for wrong in (["1\n2"], ["1", "1E+3"], ["1" * 16], ["١٥"], ["1.", "2"], [""]):
        assert not all_plain_money(wrong, ["RUB"] * len(wrong))
    assert not all_plain_money(["1"], ["rub"])
    assert not all_plain_money(["1"], [None])
