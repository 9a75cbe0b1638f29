"""The converter: exact round trips for every value and event, strict and explained refusals."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.testing import strategies as fst
from funnelkit.testing.contracts import make_contact, make_deal, stage_changed


VALUES = {
    "Money": fst.moneys(),
    "LeadSource": fst.lead_sources(),
    "ContactData": fst.contact_data(),
    "Actor": fst.actors(),
    "EntityRef": fst.entity_refs(),
    "FieldValues": fst.field_values(),
    "CustomFieldSchema": fst.custom_field_schemas(),
    "Payment": fst.payments(),
    "Document": fst.documents(),
    "Contact": fst.contacts(),
    "Lead": fst.leads(),
    "Deal": fst.deals(),
    "Task": fst.tasks(),
    "Period": fst.periods(),
    "Plan": fst.plans(),
}


@pytest.mark.parametrize("name", sorted(VALUES))
@given(data=st.data())
def test_every_value_round_trips_through_json(name, data):
    """from_data(to_data(x)) == x, and the data survives a JSON dump and load unchanged."""
    value = data.draw(VALUES[name], label=name)
    plain = json.loads(json.dumps(fk.to_data(value)))
    assert value == fk.from_data(plain, type(value))


@pytest.mark.parametrize("event_type", sorted(fk.events.EVENT_TYPES))
@given(data=st.data())
def test_every_event_round_trips_through_json(event_type, data):
    """Every event type round-trips, with its wire name as the leading ``"type"`` key."""
    event = data.draw(fst.events(types=st.just(event_type)), label=event_type)
    plain = json.loads(json.dumps(fk.to_data(event)))
    assert ("type", event_type) == next(iter(plain.items()))
    assert event == fk.event_from_data(plain)


@given(st.lists(fst.events(), max_size=5))
def test_event_lists_round_trip(events):
    """A list of mixed events comes back as the same list."""
    assert events == fk.events_from_data(fk.to_data(events))


def test_exact_text_forms():
    """Decimals are exact strings; datetimes keep their offset; field values keep their type."""
    deal = make_deal(
        fields={
            "площадь": Decimal("120.50"),
            "замер": date(2026, 3, 5),
            "звонок": datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3))),
            "тип клиента": "строитель",
            "этажей": 2,
        }
    )
    data = fk.to_data(deal)
    assert data["amount"] == {"amount": "480000.00", "currency": "RUB"}
    assert data["created_at"] == "2026-03-02T09:00:00+03:00"
    expected = {
        "площадь": {"decimal": "120.50"},
        "замер": {"date": "2026-03-05"},
        "звонок": {"datetime": "2026-03-02T09:00:00+03:00"},
        "тип клиента": "строитель",
        "этажей": 2,
    }
    assert expected == data["fields"]


def test_utc_z_suffix_is_accepted():
    """``Z`` is read as UTC."""
    data = fk.to_data(make_contact())
    data["created_at"] = "2026-03-02T06:00:00Z"
    assert (
        datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc) == fk.from_data(data, fk.Contact).created_at
    )


def _problems(data, cls):
    with pytest.raises(fk.StructureError) as caught:
        fk.from_data(data, cls)
    assert caught.value.target == cls.__name__
    return list(caught.value.problems)


def test_every_problem_is_listed_with_its_path():
    """Wrong types, a naive datetime, a float amount and an unknown key are all reported."""
    deal = attrs.evolve(
        make_deal(),
        payments=(
            fk.Payment(
                id="П-1",
                amount=fk.Money.of("100000", "RUB"),
                received_at=datetime(2026, 3, 3, tzinfo=timezone.utc),
                kind=fk.PaymentKind.PREPAYMENT,
            ),
        ),
    )
    data = fk.to_data(deal)
    data["version"] = "5"
    data["created_at"] = "2026-03-02T09:00:00"
    data["stage"] = 5
    data["payments"][0]["amount"]["amount"] = 12.5
    data["extra"] = 1
    expected = [
        "$.version: expected an integer, got '5'",
        (
            "$.created_at: got the naive datetime '2026-03-02T09:00:00'; "
            "add a UTC offset such as '+03:00' or 'Z'"
        ),
        "$.stage: expected a string, got 5",
        "$.payments[0].amount.amount: expected a decimal string such as '125000.50', got 12.5",
        (
            "$: unknown key 'extra' for Deal; allowed keys: amount, closed_at, contact_id, "
            "created_at, documents, fields, follows, id, lead_id, lost_note, lost_reason, owner, "
            "payments, pipeline, source, stage, status, title, version"
        ),
    ]
    assert expected == _problems(data, fk.Deal)


@pytest.mark.parametrize(
    ("field", "bad", "problem"),
    [
        ("phones", "89123456789", "$.phones: expected a list, got '89123456789'"),
        ("phones", [89123456789], "$.phones[0]: expected a string, got 89123456789"),
        ("version", True, "$.version: expected an integer, got True"),
        ("company", 5, "$.company: expected a string, got 5"),
        ("names", [], "$.names: needs at least 1 item, got 0"),
        (
            "fields",
            {"площадь": 120.5},
            (
                "$.fields['площадь']: expected a string, integer, boolean, list of strings, or one "
                'of {"decimal": "..."}, {"date": "..."}, {"datetime": "..."}, got 120.5'
            ),
        ),
    ],
)
def test_no_silent_coercion(field, bad, problem):
    """Cattrs' lenient defaults (5 → "5", "abc" → a set of letters) are refused."""
    data = fk.to_data(make_contact())
    data[field] = bad
    assert [problem] == _problems(data, fk.Contact)


def test_negative_amount_is_refused_with_its_path():
    """Validator failures carry the path of the value that broke the rule."""
    data = fk.to_data(make_deal())
    data["amount"] = {"amount": "-5", "currency": "RUB"}
    expected = ["$.amount: a deal amount must not be negative, got -5 RUB"]
    assert expected == _problems(data, fk.Deal)


def test_not_an_object_is_refused():
    """A string where an object belongs is refused at the root."""
    expected = ["$: expected an object with the fields of Contact, got 'abc'"]
    assert expected == _problems("abc", fk.Contact)


def test_unknown_event_type_lists_the_known_ones():
    """An unknown ``"type"`` names the known wire names."""
    with pytest.raises(fk.StructureError) as caught:
        fk.event_from_data({"type": "deal_exploded"})
    (problem,) = caught.value.problems
    assert problem.startswith("$: unknown event type 'deal_exploded'; known types: ")
    assert "'stage_changed'" in problem


def test_event_without_type_is_refused():
    """An event's data must say its type."""
    data = fk.to_data(stage_changed(fk.EntityRef.deal("С-1"), 1))
    del data["type"]
    with pytest.raises(fk.StructureError, match=r"\$"):
        fk.event_from_data(data)


def test_structure_error_is_a_validation_error_and_a_value_error():
    """Callers can catch the builtin or the funnelkit root."""
    with pytest.raises(ValueError, match="Cannot build Contact"):
        fk.from_data({}, fk.Contact)
    assert issubclass(fk.StructureError, fk.FunnelkitError)


def test_converters_are_independent_of_cattrs_global_converter():
    """Funnelkit's converter leaves cattrs' global converter untouched (and vice versa)."""
    import cattrs  # noqa: PLC0415 - only this test touches cattrs directly

    assert "5" == cattrs.structure(5, str)
    with pytest.raises(fk.StructureError):
        fk.Converter().from_data(5, fk.Money)
