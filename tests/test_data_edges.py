"""
Data at the edges: hostile values get a funnelkit error naming the field, in every store.

Numbers are bounded (integers within 2**53 - 1, decimals below 10**15 with at most 12 places,
ASCII digits, times to the microsecond), text is what every store keeps (no lone surrogate,
no NUL, ids and keys of at most 200 characters), and a refused write leaves the store as it
was: in memory, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit import tasks as ft
from funnelkit.qualification import Intake, QualificationPolicy
from funnelkit.seeds.pipelines import LEADS, MEETING, SEED_000
from funnelkit.seeds.seed_000_log import AS_OF, CHAIN, FULL_LOG
from funnelkit.service import Service


if TYPE_CHECKING:
    from collections.abc import Callable


MSK = timezone(timedelta(hours=3), "MSK")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
ANNA = fk.Actor(id="anna", roles=frozenset({"manager"}))
CUT_EMOJI = "Нужна кровля 👍"[:-1] + "\ud83d"  # what a browser leaves of a cut emoji


def _service(store: fk.storage.Store, intake: Intake) -> Service:
    return Service(
        clock=fk.FixedClock(T0), ids=fk.SequentialIds(), funnel=SEED_000, store=store, intake=intake
    )


def _request(**changes: Any) -> fk.Lead:
    lead = fk.Lead(
        id="Л-1",
        created_at=T0,
        pipeline=LEADS.key,
        stage="Новое обращение",
        source=fk.LeadSource(channel="site_form"),
        message="Нужна кровля",
        contact_data=fk.ContactData(name="Алмаз", phones=("+79123456789",)),
    )
    return attrs.evolve(lead, **changes)


def _refused(make: Callable[[], object]) -> fk.ValidationError:
    with pytest.raises(fk.ValidationError) as refused:
        make()
    return refused.value


@pytest.mark.parametrize(
    ("make", "field", "rule"),
    [
        (lambda: fk.Money.of("1e100000000", "RUB"), "Money.amount", "range"),
        (lambda: fk.Money.of("1.0000000000001", "RUB"), "Money.amount", "range"),
        (lambda: fk.Money.of("١٢٣", "RUB"), "Money.amount", "ascii_digits"),
        (
            lambda: fk.Money.of("999999999999999", "RUB") + fk.Money.of("1", "RUB"),
            "Money.amount",
            "range",
        ),
        (lambda: fk.model.FieldValues({"houses": 10**5000}), "fields['houses']", "range"),
        (lambda: fk.model.FieldValues({"houses": 2**53}), "fields['houses']", "range"),
        (lambda: fk.model.FieldValues({"area": Decimal("1e20")}), "fields['area']", "range"),
        (lambda: fk.model.FieldValues({"note": "a\x00b"}), "fields['note']", "nul"),
        (lambda: fk.ContactData(name=CUT_EMOJI), "ContactData.name", "surrogate"),
        (lambda: _request(id="Л-" + "1" * 300), "Lead.id", "too_long"),
        (lambda: _request(owner="ann\x00a"), "Lead.owner", "nul"),
        (lambda: _request(message=CUT_EMOJI), "Lead.message", "surrogate"),
    ],
)
def test_hostile_values_are_refused_naming_the_field_and_the_rule(make, field, rule):
    """Each hostile value gets a `ValidationError` with its field and rule, never a raw error."""
    error = _refused(make)
    assert (field, rule) == (error.field, error.rule)


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("amount", "1e100000000", "below 10**15"),
        ("amount", "١٢٣", "decimal string"),
        ("version", 10**30, "within ±9007199254740991"),
        ("created_at", "2026-03-02T09:00:00.123456789+03:00", "to the microsecond"),
        ("created_at", "٢٠٢٦-03-02T09:00:00+03:00", "ASCII digits"),
        ("title", "\ud83d", "lone surrogate"),
    ],
)
def test_hostile_data_is_refused_with_its_path(path, value, words):
    """`from_data` names the path of each hostile value (a StructureError), never a raw error."""
    data = fk.to_data(
        fk.Deal(
            id="С-1",
            created_at=T0,
            pipeline=MEETING.key,
            stage="Назначить встречу",
            amount=fk.Money.of("480000", "RUB"),
        )
    )
    if path == "amount":
        data["amount"]["amount"] = value
    else:
        data[path] = value
    with pytest.raises(fk.StructureError) as refused:
        fk.from_data(data, fk.Deal)
    assert f"$.{path}" in str(refused.value)
    assert words in str(refused.value)


def test_a_duration_longer_than_a_timedelta_and_non_ascii_digits_are_refused():
    """An SLA of ``"P١D"`` is no duration; nine nines of days and hours overflow no timedelta."""
    for sla in ("P١D", "P999999999DT999999999H", "P" + "9" * 5000 + "D"):
        with pytest.raises(fk.StructureError, match=r"\$\.sla"):
            fk.from_data({"key": "ЗАМЕР", "sla": sla}, fk.Stage)


def test_an_e_mail_longer_than_rfc_5321_allows_gets_no_key_and_breaks_nothing(make_store):
    """A 3,011-character e-mail from a web form: the lead is taken in, the address gets no key."""
    intake = Intake(pipeline=LEADS, qualification=QualificationPolicy(rules=()))
    crm = _service(make_store(intake.matching.contact_keys), intake)
    huge = "a" * 3000 + "@example.ru"
    data = fk.ContactData(name="Алмаз", phones=("+79123456789",), emails=(huge,))
    taken = crm.take_in(_request(contact_data=data), actor=ANNA)
    assert taken.created_contact
    with pytest.raises(fk.ValidationError, match="longer than 254"):
        intake.matching.normaliser.email(huge)
    assert [] == [k for k in intake.matching.contact_keys(crm.contacts()[0]) if "example" in k]


def test_a_refused_write_changes_nothing_in_any_store(make_store):
    """Through the service: refusals of hostile input leave the store exactly as it was."""
    intake = Intake(pipeline=LEADS, qualification=QualificationPolicy(rules=()))
    crm = _service(make_store(intake.matching.contact_keys), intake)
    crm.take_in(_request(), actor=ANNA)
    before = crm.events()
    amount = fk.Money.of("480000", "RUB")
    deal = crm.convert(fk.EntityRef.lead("Л-1"), actor=ANNA, amount=amount).deal
    after_convert = crm.events()
    attempts: list[Callable[[], object]] = [
        lambda: crm.update(deal.ref, actor=ANNA, fields={"houses": 10**20}),
        lambda: crm.record_payment(deal.ref, fk.Money.of("1000", "EUR"), actor=ANNA),
        lambda: crm.create_task(
            deal.ref,
            actor=ANNA,
            kind=fk.TaskKind.CALL,
            title=CUT_EMOJI,
            assignee="anna",
            due_at=T0 + timedelta(hours=1),
        ),
        lambda: crm.move(deal.ref, "Встреча назначена", actor=ANNA, note="a\x00"),
    ]
    for attempt in attempts:
        with pytest.raises(fk.FunnelkitError):
            attempt()
    assert after_convert == crm.events()
    assert len(before) < len(after_convert)
    assert deal == crm.get_deal(deal.ref)


@given(
    st.one_of(
        st.integers(min_value=2**53, max_value=10**400),
        st.integers(max_value=-(2**53), min_value=-(10**400)),
        st.decimals(allow_nan=False, allow_infinity=False).filter(
            lambda d: abs(d) >= 10**15 or d != d.quantize(Decimal("1e-12"))
        ),
        st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3),
    )
)
def test_no_hostile_field_value_gets_past_the_edge(value):
    """Property: an out-of-range number or lone surrogates in a custom field is refused."""
    with pytest.raises(fk.ValidationError) as refused:
        fk.model.FieldValues({"поле": value})
    assert refused.value.rule in {"range", "surrogate"}


def test_one_pipeline_where_pipelines_belong_is_refused_clearly():
    """`sla_report`, the agendas, the SLA check and a plan's check name the argument."""
    calls: list[Callable[[], object]] = [
        lambda: fa.sla_report(FULL_LOG, CHAIN, as_of=AS_OF),  # type: ignore[arg-type]
        lambda: ft.agendas(AS_OF.date(), zone=MSK, as_of=AS_OF, tasks=(), pipelines=CHAIN),  # type: ignore[arg-type]
        lambda: ft.sla_breaches((), CHAIN, AS_OF, entered={}),  # type: ignore[arg-type]
        lambda: fk.plans.Plan(targets=()).check(CHAIN),  # type: ignore[arg-type]
        lambda: fa.sla_report(FULL_LOG, [CHAIN, "кровля"], as_of=AS_OF),  # type: ignore[list-item]
    ]
    for call in calls:
        with pytest.raises(fk.ValidationError, match="pipeline") as refused:
            call()
        assert str(refused.value.field).startswith("pipelines")
