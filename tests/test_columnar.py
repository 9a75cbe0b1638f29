"""
The columnar path (`StageLog` and its numpy kernels) against the event path.

The event path folds event objects into histories (`analytics._history`) and counts in plain
Python; the columnar path computes over arrays. They share no counting code, so each is the
other's oracle: on generated logs with skips, backward moves, re-entries, moves at the same
instant, reopened deals, owner changes, back-dated notes, leads and deals, entities without
a creation event and open ones, every report must come out equal.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.pipelines import Pipeline, PipelineKind, Reason, Stage, StageKind
from funnelkit.seeds.seed_000_log import AS_OF, CHAIN, FULL_LOG, day

from tests.databases import postgresql_url


LEADS = Pipeline(
    key="лиды",
    kind=PipelineKind.LEAD,
    stages=(
        Stage(key="НОВЫЙ ЛИД"),
        Stage(key="ОП ВЗЯЛ В РАБОТУ"),
        Stage(key="КВАЛИФИЦИРОВАН", kind=StageKind.WON),
        Stage(key="НЕЦЕЛЕВОЙ", kind=StageKind.JUNK),
    ),
    reasons=(Reason(key="спам", title="Спам"),),
)
DEAL_OPEN = ["Новая", "Встреча", "КП", "Договор"]
LEAD_OPEN = ["НОВЫЙ ЛИД", "ОП ВЗЯЛ В РАБОТУ"]
OWNERS = ["anna", "турал", None]
SOURCES = [fk.LeadSource(channel="site_form"), fk.LeadSource(channel="chat"), None]
VERDICTS = list(fk.events.Verdict)  # in the order of their StageLog codes
AMOUNTS = [
    None,
    fk.Money.of("1500.00", "RUB"),
    fk.Money.of("1500", "RUB"),  # equal to the one before, written otherwise
    fk.Money.of("90000.50", "RUB"),
    fk.Money.of("100", "USD"),
]


PRODUCTS = ["КРОВЛЯ", "ФАСАД", 1, True, Decimal("1.0"), Decimal("1.00"), date(2026, 3, 1)]
"""Values of the custom field "product": equal values of other types or texts among them."""
BACK = st.sampled_from([0, 0.5, 5])
"""How many days before it is recorded a note is about."""


def side_event(draw: Any, what: str, base: dict[str, Any], earlier: float) -> fk.events.Event:
    """An event that moves nothing: an owner change, a note, a field, a verdict, an amount."""
    if what == "owner":
        return fk.events.OwnerChanged(**base, old=None, new=draw(st.sampled_from(OWNERS)))
    if what == "note":  # back-dated: a note about an earlier day, recorded now
        return fk.events.FieldChanged(
            **{**base, "at": day(earlier)}, field="comment", old=None, new="перезвонить"
        )
    if what == "field":
        new = draw(st.sampled_from([*PRODUCTS, None]))
        return fk.events.FieldChanged(**base, field="product", old=None, new=new)
    if what == "verdict":
        verdict = draw(st.sampled_from(list(fk.events.Verdict)))
        return fk.events.LeadQualified(**base, verdict=verdict)
    return fk.events.AmountChanged(**base, old=None, new=draw(st.sampled_from(AMOUNTS)))


@st.composite
def entity_log(draw: Any, number: int) -> list[fk.events.Event]:
    """One lead's or deal's events: moves of every sort, closings, reopenings, notes."""
    is_deal = draw(st.booleans())
    pipeline, opened = (CHAIN, DEAL_OPEN) if is_deal else (LEADS, LEAD_OPEN)
    won, lost = ("Продажа", "Отказ") if is_deal else ("КВАЛИФИЦИРОВАН", "НЕЦЕЛЕВОЙ")
    entity_id = f"{'С' if is_deal else 'Л'}-{number}"
    ref = fk.EntityRef.deal(entity_id) if is_deal else fk.EntityRef.lead(entity_id)
    created = draw(st.sampled_from([0, 0.5, 2, 9]))
    events: list[fk.events.Event] = []
    stage = opened[0]
    if draw(st.integers(0, 9)):  # sometimes the log lacks the creation event
        common = {
            "id": entity_id,
            "created_at": day(created),
            "pipeline": pipeline.key,
            "stage": stage,
            "owner": draw(st.sampled_from(OWNERS)),
            "fields": draw(st.sampled_from([{}, *({"product": p} for p in PRODUCTS)])),
        }
        source = draw(st.sampled_from(SOURCES))
        if source is not None or is_deal:  # a deal may have none; a lead needs one
            common["source"] = source
        else:
            common["source"] = fk.LeadSource(channel="звонок")
        if is_deal:
            deal = fk.Deal(**common, amount=draw(st.sampled_from(AMOUNTS)))
            events.append(
                fk.events.DealCreated(entity=ref, sequence=1, at=day(created), actor="a", deal=deal)
            )
        else:
            lead = fk.Lead(**common)
            events.append(
                fk.events.LeadCreated(entity=ref, sequence=1, at=day(created), actor="a", lead=lead)
            )
    when = created
    closed = False
    for sequence in range(2, draw(st.integers(2, 10))):
        when += draw(st.sampled_from([0, 0, 0.25, 1, 3, 0.123457]))  # 0: at the same instant
        what = draw(
            st.sampled_from(
                ["move", "move", "move", "close", "owner", "note", "amount", "field", "verdict"]
            )
        )
        base: dict[str, Any] = {"entity": ref, "sequence": sequence, "at": day(when), "actor": "a"}
        if what in {"owner", "note", "field"} or (
            (what == "amount" and is_deal) or (what == "verdict" and not is_deal)
        ):
            events.append(side_event(draw, what, base, max(created, when - draw(BACK))))
            continue
        move: dict[str, Any] = {**base, "pipeline": pipeline.key, "from_stage": stage}
        if what == "close" and not closed:
            winning = draw(st.booleans())
            if winning:
                events.append(
                    fk.events.DealWon(**move, to_stage=won, amount=draw(st.sampled_from(AMOUNTS)))
                    if is_deal
                    else fk.events.LeadConverted(
                        **move, to_stage=won, deal_id=f"С-{number}x", contact_id="к-1"
                    )
                )
            elif is_deal:
                events.append(fk.events.DealLost(**move, to_stage=lost, reason="Дорого"))
            else:
                events.append(fk.events.LeadClosedAsJunk(**move, to_stage=lost, reason="спам"))
            stage, closed = (won if winning else lost), True
            continue
        target = draw(st.sampled_from([s for s in opened if s != stage] or opened))
        events.append(fk.events.StageChanged(**move, to_stage=target))  # may reopen
        stage, closed = target, False
    return events


@st.composite
def logs(draw: Any) -> list[fk.events.Event]:
    """A log of a few leads and deals, shuffled (reports do not depend on the order)."""
    events = [
        event for number in range(draw(st.integers(0, 7))) for event in draw(entity_log(number))
    ]
    shuffled: list[fk.events.Event] = draw(st.permutations(events))
    return shuffled


AS_OFS = st.sampled_from([day(1), day(3), day(8), AS_OF, day(400)])
FILTERS = st.one_of(
    st.just(fa.Filters()),
    st.builds(fa.Filters, owner=st.sampled_from(["anna", "турал", "никто"])),
    st.builds(fa.Filters, channel=st.sampled_from(["site_form", "chat", "нет"])),
    st.builds(
        fa.Filters,
        period=st.sampled_from([fk.Period.month(2026, 3), fk.Period.month(2026, 2)]),
        basis=st.sampled_from(list(fa.DateBasis)),
        zone=st.sampled_from([timezone.utc, timezone(timedelta(hours=3))]),
    ),
)


def columnar_reports(data: Any, as_of: Any, filters: fa.Filters) -> list[Any]:
    """Every report the columnar path computes, on one log and snapshot."""
    return [
        *(
            fa.conversion(data, pipeline, as_of=as_of, reach=reach, filters=filters)
            for pipeline in (CHAIN, LEADS)
            for reach in fa.Reach
        ),
        *(
            fa.stage_flows(data, pipeline, as_of=as_of, filters=filters)
            for pipeline in (CHAIN, LEADS)
        ),
        *(
            fa.time_in_stage(data, pipeline, as_of=as_of, per=per, filters=filters)
            for pipeline in (CHAIN, LEADS)
            for per in fa.Per
        ),
        *(
            fa.win_rate(data, as_of=as_of, by=by, pipeline=pipeline, filters=filters)
            for by in ("all", "channel", "owner", "pipeline")
            for pipeline in (None, CHAIN)
        ),
        *(
            fa.lost_reasons(data, as_of=as_of, pipeline=pipeline, filters=filters)
            for pipeline in (None, CHAIN, LEADS)
        ),
        *(
            fa.closing_times(data, as_of=as_of, pipeline=pipeline, filters=filters)
            for pipeline in (None, CHAIN)
        ),
        *(
            fa.bottlenecks(data, pipeline, as_of=as_of, filters=filters)
            for pipeline in (CHAIN, LEADS)
        ),
        *(
            fa.cohorts(
                data, window=window, as_of=as_of, zone=zone, pipeline=pipeline, filters=filters
            )
            for window in (timedelta(hours=20), timedelta(days=30))
            for zone in COHORT_ZONES
            for pipeline in (None, CHAIN)
        ),
        *(
            fa.velocity(
                data,
                period,
                currency=currency,
                as_of=as_of,
                zone=zone,
                pipeline=pipeline,
                filters=filters,
            )
            for period in (fk.Period.month(2026, 3), fk.Period.week(date(2026, 3, 5)))
            for currency in ("RUB", "USD")
            for zone in (timezone.utc, timezone(timedelta(hours=3)))
            for pipeline in (None, CHAIN)
        ),
        fa.sources(data, as_of=as_of, filters=filters),
    ]


COHORT_ZONES = (timezone.utc, timezone(timedelta(hours=-11)), ZoneInfo("America/Santiago"))
"""Weeks in UTC, a fixed offset, and a zone whose clocks change at midnight."""


def field_reports(data: Any, as_of: Any, filters: fa.Filters) -> list[Any]:
    """The reports that read a custom field, on a log that holds it."""
    return [
        fa.win_rate(data, as_of=as_of, by="fields.product", pipeline=pipeline, filters=filters)
        for pipeline in (None, CHAIN)
    ]


FIELD_FILTERS = st.builds(fa.Filters, fields=st.sampled_from([{"product": p} for p in PRODUCTS]))


@settings(max_examples=300)
@given(logs(), AS_OFS, st.one_of(FILTERS, FIELD_FILTERS))
def test_every_columnar_report_equals_the_event_path(events, as_of, filters):
    log = fa.StageLog.from_events(events, fields=["product"])
    for columnar, objects in zip(
        [*columnar_reports(log, as_of, filters), *field_reports(log, as_of, filters)],
        [*columnar_reports(events, as_of, filters), *field_reports(events, as_of, filters)],
        strict=True,
    ):
        assert columnar == objects
        assert type(columnar) is type(objects)


@given(logs(), AS_OFS, st.integers(1, 4))
def test_the_reports_of_parts_merge_into_the_report_of_the_whole(events, as_of, parts):
    log = fa.StageLog.from_events(events, fields=["product"])
    filters = fa.Filters()
    whole = [*columnar_reports(log, as_of, filters), *field_reports(log, as_of, filters)]
    pieces = [
        [*columnar_reports(part, as_of, filters), *field_reports(part, as_of, filters)]
        for part in log.split(parts)
    ]
    for index, expected in enumerate(whole):
        merged = pieces[0][index]
        for piece in pieces[1:]:
            merged = merged.merge(piece[index])
        assert merged == expected


def test_the_seed_log_gives_the_seed_answers_in_columns():
    log = fa.StageLog.from_events(FULL_LOG)
    report = fa.conversion(log, CHAIN, as_of=AS_OF, reach=fa.Reach.IMPLIED)
    assert report.reached == (4, 4, 3, 2, 2)  # С-1..С-4 reach (4, 4, 3, 2, 2): worked out by hand
    times = fa.time_in_stage(log, CHAIN, as_of=AS_OF)
    assert times.stage("КП").durations == (2 * 86_400.0, 2 * 86_400.0, 3 * 86_400.0)
    assert times.stage("Встреча").open == 1
    assert fa.win_rate(log, as_of=AS_OF, by="channel").group("chat").won == 1


# --- the log itself ------------------------------------------------------------------------------


def test_rows_are_sorted_by_entity_then_time_and_the_columns_are_read_only():
    log = fa.StageLog.from_events(list(reversed(FULL_LOG)))
    assert np.all(np.diff(log.entity) >= 0)
    same = log.entity[1:] == log.entity[:-1]
    assert np.all(np.diff(log.time)[same] >= 0)
    with pytest.raises(ValueError, match="read-only"):
        log.time[0] = 0
    with pytest.raises(AttributeError, match="immutable"):
        log.stages = ()


@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.integers(min_value=-1, max_value=5)),
        max_size=40,
    )
)
def test_state_is_carried_forward_from_the_rows_that_set_it_within_an_entity(rows):
    """The fill behind owner, source, pipeline and amount, against a plain loop."""
    from funnelkit.analytics._intake import _forward_fill  # noqa: PLC0415 - a private helper

    starts = [start or at == 0 for at, (start, _, _) in enumerate(rows)]
    sets = [setting for _, setting, _ in rows]
    values = [value for _, _, value in rows]  # rows that set nothing may hold anything
    expected, held = [], -1
    for start, setting, value in zip(starts, sets, values, strict=True):
        if start:
            held = -1
        if setting:
            held = value
        expected.append(held)
    found = _forward_fill(
        np,
        np.asarray(values, dtype=np.int64),
        np.asarray(sets, dtype=bool),
        np.asarray(starts, dtype=bool),
    )
    assert found.tolist() == expected


def test_a_constructor_given_unsorted_rows_sorts_them():
    log = fa.StageLog(
        entity=[1, 0, 0],
        kind=[1, 1, 1],
        event=[0, 1, 0],
        time=[5, 9, 1],
        pipeline=[0, 0, 0],
        stage=[0, 1, 0],
        owner=[-1, -1, -1],
        source=[-1, -1, -1],
        reason=[-1, -1, -1],
        ids=["a", "b"],
        pipelines=["p"],
        stages=["s0", "s1"],
    )
    assert log.entity.tolist() == [0, 0, 1]
    assert log.time.tolist() == [1, 9, 5]
    assert log.stage.tolist() == [0, 1, 0]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"stage": [0, 7]}, "StageLog.stage", "range"),
        ({"event": [0, 9]}, "StageLog.event", "range"),
        ({"time": [0.5, 1.5]}, "StageLog.time", "dtype"),
        ({"owner": [-1]}, "StageLog.owner", "length"),
        ({"kind": [1, 0]}, "StageLog.kind", "kind"),
        ({"stage": [0, -1]}, "StageLog.stage", "required"),
        ({"stages": ["s", "s"]}, "StageLog.stages", "unique"),
        ({"amount": [0, 1], "amounts": [fk.Money.of("1", "RUB")]}, "StageLog.amount", "range"),
        ({"amount": [0, 0], "amounts": ["1500 RUB"]}, "StageLog.amounts", "type"),
    ],
)
def test_malformed_columns_are_refused_naming_the_column(change, field, rule):
    columns: dict[str, Any] = {
        "entity": [0, 0],
        "kind": [1, 1],
        "event": [0, 1],
        "time": [1, 2],
        "pipeline": [0, 0],
        "stage": [0, 0],
        "owner": [-1, -1],
        "source": [-1, -1],
        "reason": [-1, -1],
        "ids": ["a"],
        "pipelines": ["p"],
        "stages": ["s"],
    }
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog(**{**columns, **change})
    assert caught.value.field == field
    assert caught.value.rule == rule


def test_two_different_events_with_one_sequence_are_refused():
    first = FULL_LOG[1]
    other = fk.events.StageChanged(
        entity=first.entity,
        sequence=first.sequence,
        at=first.at,
        actor="кто-то",
        pipeline=CHAIN.key,
        from_stage="Новая",
        to_stage="КП",
    )
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog.from_events([*FULL_LOG, other])
    assert caught.value.rule == "duplicate_sequence"
    fa.StageLog.from_events([*FULL_LOG, FULL_LOG[1]])  # the same event twice counts once


def test_stage_moves_that_go_back_in_time_are_refused():
    deal = fk.Deal(id="С-9", created_at=day(5), pipeline=CHAIN.key, stage="Новая")
    events: list[fk.events.Event] = [
        fk.events.DealCreated(entity=deal.ref, sequence=1, at=day(5), actor="a", deal=deal),
        fk.events.StageChanged(
            entity=deal.ref,
            sequence=2,
            at=day(4),
            actor="a",
            pipeline=CHAIN.key,
            from_stage="Новая",
            to_stage="КП",
        ),
    ]
    with pytest.raises(
        fk.ValidationError, match="earlier than the stage, owner, amount, verdict or field event"
    ) as caught:
        fa.StageLog.from_events(events)
    assert caught.value.rule == "order"


def test_reports_on_a_log_need_an_aware_snapshot_and_column_groupings():
    log = fa.StageLog.from_events(FULL_LOG)
    with pytest.raises(fk.ValidationError) as caught:
        fa.conversion(log, CHAIN)
    assert caught.value.field == "as_of"
    with pytest.raises(fk.ValidationError) as caught:
        fa.win_rate(log, as_of=AS_OF, by="campaign")
    assert (caught.value.field, caught.value.rule) == ("by", "columnar")
    with pytest.raises(fk.ValidationError) as caught:
        fa.win_rate(log, as_of=AS_OF, filters=fa.Filters(fields={"product": "КРОВЛЯ"}))
    assert (caught.value.field, caught.value.rule) == ("filters.fields", "columnar")
    assert "fields=['product']" in str(caught.value)  # says how to hold the field
    with pytest.raises(fk.ValidationError) as caught:
        fa.win_rate(log, as_of=AS_OF, by="fields.product")
    assert (caught.value.field, caught.value.rule) == ("by", "columnar")
    with pytest.raises(fk.ValidationError, match="Filters"):
        fa.stage_flows(log, CHAIN, as_of=AS_OF, filters={"owner": "anna"})  # type: ignore[arg-type]


# --- custom fields -------------------------------------------------------------------------------


def product_log() -> list[fk.events.Event]:
    """Deals of two products, one moved from one product to the other, one cleared."""
    events: list[fk.events.Event] = []
    for number, (product, change, outcome) in enumerate(
        [
            ("металлочерепица", None, "won"),
            ("металлочерепица", "мягкая кровля", "won"),
            ("мягкая кровля", None, "lost"),
            ("мягкая кровля", "", None),  # "" here: the field is cleared
            (None, None, "won"),
        ],
        start=1,
    ):
        deal = fk.Deal(
            id=f"К-{number}",
            created_at=day(0),
            pipeline=CHAIN.key,
            stage="Новая",
            fields={"product": product} if product else {},
        )
        events.append(
            fk.events.DealCreated(entity=deal.ref, sequence=1, at=day(0), actor="a", deal=deal)
        )
        base: dict[str, Any] = {"entity": deal.ref, "actor": "a"}
        if change is not None:
            events.append(
                fk.events.FieldChanged(
                    **base, sequence=2, at=day(1), field="product", old=product, new=change or None
                )
            )
        move: dict[str, Any] = {
            **base,
            "sequence": 3,
            "at": day(2),
            "pipeline": CHAIN.key,
            "from_stage": "Новая",
        }
        if outcome == "won":
            events.append(fk.events.DealWon(**move, to_stage="Продажа"))
        elif outcome == "lost":
            events.append(fk.events.DealLost(**move, to_stage="Отказ", reason="Дорого"))
    return events


def test_a_custom_field_groups_and_filters_in_columns_as_on_the_events():
    events = product_log()
    log = fa.StageLog.from_events(events, fields=["product"])
    by_product = fa.win_rate(log, as_of=day(5), by="fields.product")
    # Worked out by hand: К-1 won on металлочерепица; К-2 won, moved to мягкая кровля first;
    # К-3 lost on мягкая кровля; К-4 open, its product cleared; К-5 won without a product.
    assert [(g.group, g.created, g.won, g.lost) for g in by_product.groups] == [
        ("металлочерепица", 1, 1, 0),
        ("мягкая кровля", 2, 1, 1),
        (None, 2, 1, 0),
    ]
    assert by_product == fa.win_rate(events, as_of=day(5), by="fields.product")
    before = fa.win_rate(log, as_of=day(0.5), by="fields.product")  # before the change
    assert [(g.group, g.created) for g in before.groups] == [
        ("металлочерепица", 2),
        ("мягкая кровля", 2),
        (None, 1),
    ]
    roofing = fa.Filters(fields={"product": "мягкая кровля"})
    assert fa.win_rate(log, as_of=day(5), filters=roofing).groups[0].created == 2
    assert fa.conversion(log, CHAIN, as_of=day(5), filters=roofing) == fa.conversion(
        events, CHAIN, as_of=day(5), filters=roofing
    )


@pytest.mark.parametrize("engine", ["pandas", "polars", "pyarrow", "duckdb"])
def test_a_custom_field_column_of_a_frame_reads_as_the_events(engine):
    events = product_log()
    log = fa.StageLog.from_events(events, fields=["product"])
    rows = _rows_of(log)
    rows["продукт"] = [
        log.field_values["product"][code] if code >= 0 else None
        for code in log.fields["product"].tolist()
    ]
    frame = _frames(rows)[engine]
    found = fa.StageLog.from_frame(frame, columns=COLUMNS, fields={"product": "продукт"})
    assert found == log
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog.from_frame(frame, columns=COLUMNS, fields=["product"])
    assert (caught.value.field, caught.value.rule) == ("frame.product", "missing")


def test_plain_field_columns_keep_types_and_texts_apart():
    rows = 6
    values = [True, 1, Decimal("1.0"), Decimal("1.00"), ("а", "б"), None]
    log = fa.StageLog.from_columns(
        entity=[f"С-{n}" for n in range(rows)],
        time=[day(0)] * rows,
        event=["created"] * rows,
        stage=["Новая"] * rows,
        pipeline=CHAIN.key,
        fields={"product": values},
    )
    assert log.field_values["product"] == (True, 1, Decimal("1.0"), Decimal("1.00"), ("а", "б"))
    groups = fa.win_rate(log, as_of=day(1), by="fields.product").groups
    # Grouped by text, as the event path groups: 1 and Decimal("1.0") are not one group.
    assert [(g.group, g.created) for g in groups] == [
        ("('а', 'б')", 1),
        ("1", 1),
        ("1.0", 1),
        ("1.00", 1),
        ("True", 1),
        (None, 1),
    ]
    one = fa.Filters(fields={"product": 1})  # equal values count: True, 1, 1.0 and 1.00
    assert fa.win_rate(log, as_of=day(1), filters=one).groups[0].created == 4


def one_deal_log(**columns: Any) -> fa.StageLog:
    """A log of one deal's creation, built with these columns besides."""
    return fa.StageLog(
        entity=[0],
        kind=[1],
        event=[0],
        time=[0],
        pipeline=[0],
        stage=[0],
        owner=[-1],
        source=[-1],
        reason=[-1],
        ids=["С-1"],
        pipelines=["сделки"],
        stages=["Новая"],
        **columns,
    )


@pytest.mark.parametrize(
    ("call", "field", "rule"),
    [
        (lambda: fa.StageLog.from_events(FULL_LOG, fields="product"), "fields", "type"),
        (lambda: fa.StageLog.from_events(FULL_LOG, fields=[""]), "fields", "type"),
        (
            lambda: fa.StageLog.from_columns(
                entity=["С-1"],
                time=[day(0)],
                event=["created"],
                stage=["Новая"],
                pipeline=CHAIN.key,
                fields={"area": [12.5]},
            ),
            "StageLog.fields.area",
            "dtype",
        ),
        (
            lambda: one_deal_log(fields={"product": [0]}),
            "StageLog.fields",
            "keys",
        ),
        (
            lambda: one_deal_log(fields={"product": [1]}, field_values={"product": ["КРОВЛЯ"]}),
            "StageLog.fields.product",
            "range",
        ),
    ],
)
def test_bad_custom_field_columns_are_refused_naming_them(call, field, rule):
    with pytest.raises(fk.ValidationError) as caught:
        call()
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_a_field_change_that_goes_back_in_time_is_refused_when_the_field_is_held():
    events = [
        *product_log()[:1],
        fk.events.FieldChanged(
            entity=fk.EntityRef.deal("К-1"),
            sequence=2,
            at=day(3),
            actor="a",
            field="product",
            old=None,
            new="фасад",
        ),
        fk.events.FieldChanged(
            entity=fk.EntityRef.deal("К-1"),
            sequence=3,
            at=day(2),
            actor="a",
            field="product",
            old=None,
            new="кровля",
        ),
    ]
    assert len(fa.StageLog.from_events(events)) == len(events)  # not held: a note in its place
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog.from_events(events, fields=["product"])
    assert (caught.value.field, caught.value.rule) == ("events", "order")


# --- frames --------------------------------------------------------------------------------------


def _rows_of(log: fa.StageLog) -> dict[str, list[Any]]:
    """The log as plain columns, named as a user's table might name them."""

    def text(table: tuple[str, ...], codes: Any) -> list[str | None]:
        return [table[code] if code >= 0 else None for code in codes.tolist()]

    return {
        "deal_id": [log.ids[code] for code in log.entity.tolist()],
        "kind": ["deal" if kind else "lead" for kind in log.kind.tolist()],
        "event": [fa.LogEvent(event).name.lower() for event in log.event.tolist()],
        "entered_at": [
            datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)
            for micros in log.time.tolist()
        ],
        "pipeline": text(log.pipelines, log.pipeline),
        "stage": text(log.stages, log.stage),
        "owner": text(log.owners, log.owner),
        "source": text(log.sources, log.source),
        "reason": text(log.reasons, log.reason),
        "amount": [log.amounts[code].amount if code >= 0 else None for code in log.amount.tolist()],
        "currency": [
            log.amounts[code].currency if code >= 0 else None for code in log.amount.tolist()
        ],
        "verdict": [VERDICTS[code].value if code >= 0 else None for code in log.verdict.tolist()],
    }


def _frames(rows: dict[str, list[Any]]) -> dict[str, Any]:
    import duckdb  # noqa: PLC0415 - each engine is the user's, imported by the test that needs it
    import pandas as pd  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    table = pa.table(rows)
    return {
        "pandas": pd.DataFrame(rows),
        "polars": pl.DataFrame(rows),
        "polars lazy": pl.DataFrame(rows).lazy(),
        "pyarrow": table,
        "duckdb": duckdb.connect().from_arrow(table),
    }


COLUMNS = {"entity": "deal_id", "time": "entered_at"}


@pytest.mark.parametrize("engine", ["pandas", "polars", "polars lazy", "pyarrow", "duckdb"])
def test_a_frame_of_any_engine_gives_the_reports_of_the_events(engine):
    frame = _frames(_rows_of(fa.StageLog.from_events(FULL_LOG)))[engine]
    log = fa.StageLog.from_frame(frame, columns=COLUMNS)
    assert columnar_reports(log, AS_OF, fa.Filters()) == columnar_reports(
        FULL_LOG, AS_OF, fa.Filters()
    )


def test_a_frame_without_a_currency_column_takes_one_for_every_amount():
    import polars as pl  # noqa: PLC0415 - the user's engine

    rows = _rows_of(fa.StageLog.from_events(FULL_LOG))
    assert {currency for currency in rows.pop("currency") if currency} == {"RUB"}
    log = fa.StageLog.from_frame(pl.DataFrame(rows), columns=COLUMNS, currency="RUB")
    march = fk.Period.month(2026, 3)
    assert fa.velocity(log, march, currency="RUB", as_of=AS_OF) == fa.velocity(
        FULL_LOG, march, currency="RUB", as_of=AS_OF
    )
    assert fa.velocity(log, march, currency="RUB", as_of=AS_OF).won_amount > 0


def test_plain_columns_give_the_reports_of_the_events():
    rows = _rows_of(fa.StageLog.from_events(FULL_LOG))
    columns: dict[str, Any] = {
        name: rows[name]
        for name in (
            "event",
            "stage",
            "pipeline",
            "kind",
            "owner",
            "source",
            "reason",
            "amount",
            "currency",
            "verdict",
        )
    }
    log = fa.StageLog.from_columns(entity=rows["deal_id"], time=rows["entered_at"], **columns)
    assert columnar_reports(log, day(8), fa.Filters()) == columnar_reports(
        FULL_LOG, day(8), fa.Filters()
    )


def test_reading_a_polars_frame_imports_no_other_engine():
    code = (
        "import sys, polars as pl\n"
        "from datetime import datetime, timezone\n"
        "from funnelkit.analytics import StageLog\n"
        "at = datetime(2026, 3, 2, tzinfo=timezone.utc)\n"
        "frame = pl.DataFrame({'entity': ['С-1'], 'time': [at], 'event': ['created'],"
        " 'stage': ['Новая'], 'pipeline': ['сделки']})\n"
        "StageLog.from_frame(frame)\n"
        "print(sorted({'pandas', 'pyarrow', 'duckdb', 'dask', 'pyspark'} & set(sys.modules)))\n"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter on a fixed snippet
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def _bad_frame(change: dict[str, list[Any]]) -> Any:
    import polars as pl  # noqa: PLC0415

    at = datetime(2026, 3, 2, tzinfo=timezone.utc)
    rows: dict[str, list[Any]] = {
        "entity": ["С-1", "С-1"],
        "time": [at, at + timedelta(days=1)],
        "event": ["created", "moved"],
        "stage": ["Новая", "КП"],
        "pipeline": ["сделки", "сделки"],
    }
    rows.update(change)
    return pl.DataFrame({name: values for name, values in rows.items() if values})


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"stage": []}, "frame.stage", "missing"),
        ({"time": [datetime(2026, 3, 2), datetime(2026, 3, 3)]}, "frame.time", "naive"),  # noqa: DTZ001
        ({"time": ["вчера", "сегодня"]}, "frame.time", "dtype"),
        ({"event": ["created", "teleported"]}, "StageLog.event", "unknown"),
        ({"entity": ["С-1", None]}, "StageLog.entity", "required"),
        ({"stage": [1, 2]}, "StageLog.stage", "dtype"),
        ({"pipeline": ["сделки", None]}, "StageLog.pipeline", "required"),
        ({"amount": [1500.5, None]}, "StageLog.amount", "dtype"),  # a float is not exact
        ({"amount": ["1500", None]}, "StageLog.currency", "required"),
        ({"amount": ["много", None], "currency": ["RUB", None]}, "StageLog.amount", "ascii_digits"),
        ({"amount": ["1500", None], "currency": ["рубли", None]}, "StageLog.currency", "currency"),
    ],
)
def test_a_bad_frame_is_refused_naming_the_column(change, field, rule):
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog.from_frame(_bad_frame(change))
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_a_frame_in_another_shape_is_refused():
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog.from_frame({"entity": ["С-1"]})
    assert (caught.value.field, caught.value.rule) == ("frame", "type")
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog.from_frame(_bad_frame({}), columns={"deal": "entity"})
    assert (caught.value.field, caught.value.rule) == ("columns", "unknown")


def test_a_funnel_too_long_for_a_bit_mask_counts_alike():
    """Over 62 funnel stages the kernels count unique (entity, stage) pairs instead."""
    keys = [f"ЭТАП {number}" for number in range(70)]
    long = Pipeline(
        key="длинная",
        stages=(*(Stage(key=key) for key in keys), Stage(key="ПРОДАНО", kind=StageKind.WON)),
        policy=fk.pipelines.MovePolicy(allow_back=True, allow_skip=True),
    )
    events: list[fk.events.Event] = []
    walks = [[0, 1, 2, 3], [0, 2, 1, 3, 69], [0, 1, 0, 1, 2, 65], [5, 0], [0, 1, 2, 3, 4, 70]]
    for number, walk in enumerate(walks):
        stages = [*keys, "ПРОДАНО"]
        deal = fk.Deal(
            id=f"Д-{number}", created_at=day(0), pipeline=long.key, stage=stages[walk[0]]
        )
        events.append(
            fk.events.DealCreated(entity=deal.ref, sequence=1, at=day(0), actor="a", deal=deal)
        )
        for sequence, (before, after) in enumerate(itertools.pairwise(walk), start=2):
            kind = fk.events.DealWon if after == len(keys) else fk.events.StageChanged
            events.append(
                kind(
                    entity=deal.ref,
                    sequence=sequence,
                    at=day(sequence),
                    actor="a",
                    pipeline=long.key,
                    from_stage=stages[before],
                    to_stage=stages[after],
                )
            )
    log = fa.StageLog.from_events(events)
    for reach in fa.Reach:
        columnar = fa.conversion(log, long, as_of=AS_OF, reach=reach)
        assert columnar == fa.conversion(events, long, as_of=AS_OF, reach=reach)
    # every walk entered ЭТАП 0; ЭТАП 1 and 2 all but [5, 0]; ЭТАП 3 three; ЭТАП 4 one
    reached = fa.conversion(log, long, as_of=AS_OF, reach=fa.Reach.ALL_PREVIOUS).reached
    assert reached[:5] == (5, 4, 4, 3, 1)


# --- cohorts in a zone whose clocks go back over a Monday midnight -------------------------------

SET_BACK = datetime(2026, 3, 1, 22, tzinfo=timezone.utc)  # Monday 2 March, 01:00 at UTC+3
_WALL_SET_BACK = datetime(2026, 3, 2, 1)  # noqa: DTZ001 - a wall time: from Sunday 23:00 to here, twice


class BackOverMonday(tzinfo):
    """UTC+3 until `SET_BACK`, then UTC+1: clocks go from Monday 01:00 back to Sunday 23:00."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        wall = dt.replace(tzinfo=None) if dt is not None else _WALL_SET_BACK
        if wall >= _WALL_SET_BACK or (wall >= _WALL_SET_BACK - timedelta(hours=2) and dt.fold):  # type: ignore[union-attr]
            return timedelta(hours=1)
        return timedelta(hours=3)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: datetime | None) -> str:
        return "back-over-monday"

    def fromutc(self, dt: datetime) -> datetime:
        utc = dt.replace(tzinfo=timezone.utc)
        if utc < SET_BACK:
            return (dt + timedelta(hours=3)).replace(tzinfo=self)
        wall = dt.replace(tzinfo=None) + timedelta(hours=1)
        return wall.replace(tzinfo=self, fold=int(wall < _WALL_SET_BACK))


def test_cohorts_place_each_deal_in_its_local_week_where_local_dates_go_back():
    """
    Each deal's week is that of its local date, even where local dates go back.

    Between 21:00 and 23:00 UTC the local date is Monday, Sunday again, then Monday: a search
    over the weeks' first instants alone would put the Sunday hour in the Monday's week.
    """
    zone = BackOverMonday()
    events: list[fk.events.Event] = []
    for number in range(36):  # every 10 minutes from 19:00 to 00:50 UTC
        at = SET_BACK - timedelta(hours=3) + timedelta(minutes=10 * number)
        deal = fk.Deal(id=f"С-{number}", created_at=at, pipeline=CHAIN.key, stage="Новая")
        events.append(
            fk.events.DealCreated(entity=deal.ref, sequence=1, at=at, actor="a", deal=deal)
        )
    log = fa.StageLog.from_events(events)
    report = fa.cohorts(log, window=timedelta(days=1), as_of=AS_OF, zone=zone)
    assert report == fa.cohorts(events, window=timedelta(days=1), as_of=AS_OF, zone=zone)
    # 19:00-21:00 UTC: Sunday (12 deals); 21:00-22:00: Monday 00:00-01:00; 22:00-23:00: Sunday
    # 23:00-24:00 again (6); from 23:00 UTC: Monday (12 + 6 in all)
    weeks = {cohort.week: cohort.created for cohort in report.cohorts}
    assert weeks == {date(2026, 2, 23): 18, date(2026, 3, 2): 18}


def test_a_cohort_counts_a_deal_won_at_the_very_end_of_its_window():
    window = timedelta(days=7)
    events: list[fk.events.Event] = []
    for number, after in enumerate((window, window + timedelta(microseconds=1))):
        deal = fk.Deal(id=f"С-{number}", created_at=day(0), pipeline=CHAIN.key, stage="Новая")
        events += [
            fk.events.DealCreated(entity=deal.ref, sequence=1, at=day(0), actor="a", deal=deal),
            fk.events.DealWon(
                entity=deal.ref,
                sequence=2,
                at=day(0) + after,
                actor="a",
                pipeline=CHAIN.key,
                from_stage="Новая",
                to_stage="Продажа",
            ),
        ]
    for data in (events, fa.StageLog.from_events(events)):
        report = fa.cohorts(data, window=window, as_of=AS_OF)
        assert [(cohort.created, cohort.won) for cohort in report.cohorts] == [(2, 1)]


# --- from a SQL store ----------------------------------------------------------------------------


def open_store(database: str, tmp_path: Any) -> Any:
    """An empty SqlStore on SQLite, or on PostgreSQL when configured."""
    from funnelkit.storage.sql import SqlStore  # noqa: PLC0415 - the SQL extra

    if database == "sqlite":
        store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}")
    else:
        store = SqlStore.from_url(postgresql_url())
    store.create_schema()
    store.clear()
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """An empty SqlStore on SQLite, or on PostgreSQL when configured."""
    store = open_store(request.param, tmp_path)
    yield store
    store.engine.dispose()


@pytest.fixture(params=[("sqlite", "dbapi"), ("postgresql", "dbapi"), ("postgresql", "adbc")])
def read_store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """An empty SqlStore and a driver that may read its stage log (ADBC: PostgreSQL only)."""
    database, driver = request.param
    store = open_store(database, tmp_path)
    yield store, driver
    store.engine.dispose()


def stored(events: list[fk.events.Event]) -> list[fk.events.Event]:
    """The log as a store takes it: each entity's events numbered 1, 2, 3... in order."""
    by_entity: dict[fk.EntityRef, list[fk.events.Event]] = {}
    for event in sorted(events, key=lambda e: (e.entity.kind.value, e.entity.id, e.sequence)):
        by_entity.setdefault(event.entity, []).append(event)
    return [
        attrs.evolve(event, sequence=number)
        for mine in by_entity.values()
        for number, event in enumerate(mine, start=1)
    ]


def store_anew(sql_store: Any, events: list[fk.events.Event]) -> list[fk.events.Event]:
    """Empty the store, store the log as a store takes it (`stored`), and return that."""
    sql_store.clear()
    log = stored(events)
    with sql_store.unit_of_work() as unit:
        unit.events.append(log)
        unit.commit()
    return log


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(logs(), AS_OFS, FILTERS)
def test_the_stage_log_of_a_sql_store_gives_the_reports_of_its_events(
    read_store, events, as_of, filters
):
    sql_store, driver = read_store
    log = store_anew(sql_store, events)
    columnar = columnar_reports(sql_store.stage_log(driver=driver), as_of, filters)
    assert columnar == columnar_reports(log, as_of, filters)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(logs(), AS_OFS, st.one_of(st.just(fa.Filters()), FIELD_FILTERS))
def test_a_stage_log_of_a_sql_store_holds_the_custom_fields_asked_for(
    read_store, events, as_of, filters
):
    """Values of every type the field may hold, set at creation and changed, as the events."""
    sql_store, driver = read_store
    log = store_anew(sql_store, events)
    held = sql_store.stage_log(driver=driver, fields=["product"])
    assert field_reports(held, as_of, filters) == field_reports(log, as_of, filters)
    assert fa.conversion(held, CHAIN, as_of=as_of) == fa.conversion(log, CHAIN, as_of=as_of)
    expected = fa.StageLog.from_events(log, fields=["product"])
    assert sorted(map(repr, held.field_values["product"])) == sorted(
        map(repr, expected.field_values["product"])
    )


def test_a_store_refuses_a_held_field_changed_back_in_time_and_bad_field_keys(read_store):
    sql_store, driver = read_store
    events = [
        *product_log()[:1],
        *(
            fk.events.FieldChanged(
                entity=fk.EntityRef.deal("К-1"),
                sequence=sequence,
                at=day(at),
                actor="a",
                field="продукт",
                old=None,
                new=new,
            )
            for sequence, at, new in ((2, 3, "фасад"), (3, 2, "кровля"))
        ),
    ]
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    assert len(sql_store.stage_log(driver=driver, fields=["product"])) == 3  # not held: notes
    with pytest.raises(fk.ValidationError, match="custom field event") as caught:
        sql_store.stage_log(driver=driver, fields=["продукт"])
    assert (caught.value.field, caught.value.rule) == ("events", "order")
    for fields in ("product", [""], [7]):
        with pytest.raises(fk.ValidationError) as caught:
            sql_store.stage_log(driver=driver, fields=fields)
        assert (caught.value.field, caught.value.rule) == ("fields", "type")


def test_a_field_set_by_an_event_appended_after_the_rows_were_read_is_left_out():
    """The setters are read after the rows: those of a newer event match no row."""
    import numpy as np  # noqa: PLC0415 - the columnar extra

    from funnelkit.analytics import _stored  # noqa: PLC0415
    from funnelkit.storage._stage_tables import Packed  # noqa: PLC0415

    def column(*codes: int) -> Any:
        return np.asarray(codes, dtype=np.int64)

    labels = ["deal_created", "field_changed", CHAIN.key, "Новая"]
    columns = {  # С-1 created and changed, С-2 created: codes of the tables below, 0: none
        "entity": column(1, 1, 2),
        "sequence": column(1, 2, 1),
        "time": column(1, 2, 1),
        "type": column(1, 2, 1),
        "pipeline": column(3, 3, 3),
        "stage": column(4, 4, 4),
    }
    for name in ("from_stage", "reason", "owner", "channel", "currency", "verdict", "amount"):
        columns[name] = column(0, 0, 0)
    packed = Packed(
        columns,
        (column(1, 2, 3, 4), labels),
        (column(), []),
        (column(1, 2), column(1, 1), ["С-1", "С-2"]),  # two deals
    )
    setters = _stored.FieldSetters(
        ("product",),
        [
            (1, "С-1", 1, "product", "КРОВЛЯ"),
            (1, "С-1", 2, "product", "ФАСАД"),
            (1, "С-2", 1, "product", "КРОВЛЯ"),
            (1, "С-2", 2, "product", "ФАСАД"),  # a change appended meanwhile
            (1, "С-1", 4, "product", "ФАСАД"),  # another, past the last sequence read
            (1, "С-3", 1, "product", "ФАСАД"),  # a deal created meanwhile
            (0, "С-1", 1, "product", "ФАСАД"),  # a lead of the same id, created meanwhile
        ],
    )
    log = _stored.from_packed(lambda _: packed, lambda: setters)
    assert (log.ids, log.field_values) == (("С-1", "С-2"), {"product": ("КРОВЛЯ", "ФАСАД")})
    assert log.fields["product"].tolist() == [0, 1, 0]


def test_stored_field_setters_read_a_creation_whole_or_by_its_fields_alike():
    """A creation at another version than its class's is built whole (upcast), as events are."""
    from funnelkit._converter import to_data  # noqa: PLC0415
    from funnelkit.analytics import _stored  # noqa: PLC0415

    made = product_log()[0]
    assert isinstance(made, fk.events.DealCreated)
    whole = json.dumps(to_data(made))
    fields = json.dumps(to_data(made.deal.fields))
    rows = [
        ("deal", "К-1", 1, "deal_created", made.VERSION, fields),
        ("deal", "К-1", 1, "deal_created", made.VERSION + 1, whole),  # read whole
        ("task", "З-1", 1, "field_changed", 1, "not read"),  # not a lead's or a deal's
    ]
    found = _stored.field_setters(("product", "площадь"), rows)
    expected = [(1, "К-1", 1, "product", "металлочерепица"), (1, "К-1", 1, "площадь", None)]
    assert found.rows == expected * 2
    bad = [("deal", "К-1", 1, "deal_created", made.VERSION, '{"product": {"decimal": "x"}}')]
    with pytest.raises(fk.StructureError, match="product"):
        _stored.field_setters(("product",), bad)


def test_a_stage_log_leaves_out_other_entities_and_keeps_a_lead_and_a_deal_apart(read_store):
    """Contacts' events share the table but not the log; a lead and a deal may share an id."""
    sql_store, driver = read_store
    deal = fk.Deal(id="1", created_at=day(0), pipeline=CHAIN.key, stage="Новая", owner="anna")
    lead = fk.Lead(  # the same id
        id="1",
        created_at=day(1),
        pipeline=CHAIN.key,
        stage="Новая",
        source=fk.LeadSource(channel="site"),
    )
    contact = fk.Contact(id="1", created_at=day(0), names=("Иван",))
    events: list[fk.events.Event] = [
        fk.events.DealCreated(entity=deal.ref, sequence=1, at=day(0), actor="a", deal=deal),
        fk.events.LeadCreated(entity=lead.ref, sequence=1, at=day(1), actor="a", lead=lead),
        fk.events.ContactCreated(
            entity=contact.ref, sequence=1, at=day(0), actor="a", contact=contact
        ),
    ]
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    log = sql_store.stage_log(driver=driver)
    assert len(log) == 2
    assert sorted(zip(log.ids, log.kind[np.unique(log.entity)].tolist(), strict=True)) == [
        ("1", 0),
        ("1", 1),
    ]
    assert log.time[log.kind == 1].tolist() == [int(day(0).timestamp() * 1e6)]


def test_a_store_reads_back_text_it_had_to_escape(read_store):
    """Look-up columns hold a backslash doubled; the stage log gives the text as it was."""
    sql_store, driver = read_store
    pipeline = Pipeline(
        key="сделки\\опт",
        stages=(Stage(key="Новая\\1"), Stage(key="Продажа", kind=StageKind.WON)),
    )
    deal = fk.Deal(
        id="С\\1",
        created_at=day(0),
        pipeline=pipeline.key,
        stage="Новая\\1",
        owner="anna\\b",
        source=fk.LeadSource(channel="site\\form"),
        fields={"product": "мягкая\\кровля"},
    )
    events: list[fk.events.Event] = [
        fk.events.DealCreated(entity=deal.ref, sequence=1, at=day(0), actor="a", deal=deal)
    ]
    with sql_store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    log = sql_store.stage_log(driver=driver)
    assert (log.ids, log.pipelines, log.stages) == (("С\\1",), ("сделки\\опт",), ("Новая\\1",))
    assert (log.owners, log.sources) == (("anna\\b",), ("site\\form",))
    assert fa.win_rate(log, as_of=AS_OF, by="owner") == fa.win_rate(events, as_of=AS_OF, by="owner")
    held = sql_store.stage_log(driver=driver, fields=["product"])  # matched to the escaped id
    assert (held.field_values, held.fields["product"].tolist()) == (
        {"product": ("мягкая\\кровля",)},
        [0],
    )


def test_an_empty_store_gives_an_empty_log(read_store):
    sql_store, driver = read_store
    log = sql_store.stage_log(driver=driver)
    assert len(log) == 0
    assert fa.conversion(log, CHAIN, as_of=AS_OF).reached == (0,) * 5


def test_a_stage_log_read_in_small_batches_is_the_same_log(sql_store, monkeypatch):
    """Each batch is coded before the next is read; the codes carry over between batches."""
    from funnelkit.storage import sql  # noqa: PLC0415 - the SQL extra

    with sql_store.unit_of_work() as unit:
        unit.events.append(stored(list(FULL_LOG)))
        unit.commit()
    whole = sql_store.stage_log()
    monkeypatch.setattr(sql, "_BATCH", 3)
    batched = sql_store.stage_log()
    assert batched == whole
    assert (batched.ids, batched.stages, batched.owners) == (whole.ids, whole.stages, whole.owners)
    assert len(whole) > 3 * 5  # many batches


def test_the_adbc_driver_is_refused_where_it_cannot_read(tmp_path):
    from funnelkit.storage.sql import SqlStore  # noqa: PLC0415 - the SQL extra

    store = SqlStore.from_url(f"sqlite:///{tmp_path / 'crm.db'}")
    store.create_schema()
    with pytest.raises(fk.ValidationError, match="own copy of SQLite") as caught:
        store.stage_log(driver="adbc")
    assert (caught.value.field, caught.value.rule) == ("driver", "unsupported")
    with pytest.raises(fk.ValidationError, match="expected 'dbapi' or 'adbc', got 'odbc'"):
        store.stage_log(driver="odbc")  # type: ignore[arg-type]
    store.engine.dispose()


def test_the_adbc_driver_names_the_extra_it_needs(monkeypatch, tmp_path):
    store = open_store("postgresql", tmp_path)
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql.dbapi", None)  # not installed
    with pytest.raises(fk.ValidationError, match=r'pip install "funnelkit\[adbc\]"') as caught:
        store.stage_log(driver="adbc")
    assert caught.value.rule == "missing_extra"
    store.engine.dispose()


def test_arrow_columns_that_are_not_text_are_named():
    """A look-up column whose type was changed outside funnelkit is refused, not misread."""
    import pyarrow as pa  # noqa: PLC0415 - what the ADBC driver hands over

    from funnelkit.analytics import _stored  # noqa: PLC0415

    columns = {name: pa.array(["С-1"]) for name in _stored.STORED}
    columns |= {name: pa.array([1]) for name in ("sequence", "time")}
    columns |= {"entity_kind": pa.array(["deal"]), "type": pa.array(["deal_created"])}
    columns |= {"amount": pa.array(["1500.00"]), "currency": pa.array(["RUB"])}
    columns |= {"verdict": pa.array([None], type=pa.string())}
    log = _stored.from_arrow_table(pa.table(columns))
    assert (log.ids, log.amounts) == (("С-1",), (fk.Money.of("1500", "RUB"),))
    columns["owner"] = pa.array([7])
    with pytest.raises(fk.ValidationError, match=r"funnelkit_events\.owner: holds values"):
        _stored.from_arrow_table(pa.table(columns))


def amount_log() -> list[fk.events.Event]:
    """Three deals whose amounts are set by creations, changes (one to none) and wins."""

    def deal(number: int, amount: fk.Money | None) -> fk.events.DealCreated:
        made = fk.Deal(
            id=f"С-{number}", created_at=day(0), pipeline=CHAIN.key, stage="Новая", amount=amount
        )
        return fk.events.DealCreated(entity=made.ref, sequence=1, at=day(0), actor="a", deal=made)

    def change(number: int, sequence: int, new: fk.Money | None) -> fk.events.AmountChanged:
        ref = fk.EntityRef.deal(f"С-{number}")
        return fk.events.AmountChanged(
            entity=ref, sequence=sequence, at=day(sequence), actor="a", old=None, new=new
        )

    def won(number: int, sequence: int, amount: fk.Money | None) -> fk.events.DealWon:
        ref = fk.EntityRef.deal(f"С-{number}")
        return fk.events.DealWon(
            entity=ref,
            sequence=sequence,
            at=day(5),
            actor="a",
            pipeline=CHAIN.key,
            from_stage="Новая",
            to_stage="Продажа",
            amount=amount,
        )

    rub = fk.Money.of("1500.00", "RUB")
    return [
        deal(1, rub),
        change(1, 2, None),
        won(1, 3, None),  # no amount when won: not counted
        deal(2, None),
        change(2, 2, fk.Money.of("90000.50", "RUB")),
        change(2, 3, fk.Money.of("100", "USD")),
        won(2, 4, fk.Money.of("2000", "RUB")),
        deal(3, fk.Money.of("1500", "RUB")),
        won(3, 2, None),  # keeps its amount
    ]


def test_a_deals_amount_is_the_last_one_set_by_creation_change_or_win(read_store):
    store, driver = read_store
    events = amount_log()
    with store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    march = fk.Period.month(2026, 3)
    for log in (fa.StageLog.from_events(events), store.stage_log(driver=driver)):
        # Worked out by hand: С-2 won at 2000 RUB and С-3 at 1500 RUB, each 5 days after its
        # creation; С-1's amount was cleared, so it is counted nowhere; nothing is in USD.
        rub = fa.velocity(log, march, currency="RUB", as_of=day(9))
        assert (rub.won, rub.lost, rub.won_amount) == (2, 0, Decimal("3500.00"))
        assert rub.cycle_time == timedelta(days=10)
        assert fa.velocity(log, march, currency="USD", as_of=day(9)).won == 0
        last = {
            log.ids[e]: a for e, a in zip(log.entity.tolist(), log.amount.tolist(), strict=True)
        }
        assert {deal: log.amounts[code] if code >= 0 else None for deal, code in last.items()} == {
            "С-1": None,
            "С-2": fk.Money.of("2000", "RUB"),
            "С-3": fk.Money.of("1500", "RUB"),
        }
        assert set(log.amounts) == {
            fk.Money.of("1500", "RUB"),
            fk.Money.of("90000.50", "RUB"),
            fk.Money.of("100", "USD"),
            fk.Money.of("2000", "RUB"),
        }
        assert rub == fa.velocity(events, march, currency="RUB", as_of=day(9))


def test_a_stored_amount_written_outside_funnelkit_is_named(sql_store):
    with sql_store.unit_of_work() as unit:
        unit.events.append(amount_log())
        unit.commit()
    events = sa.table("funnelkit_events", sa.column("amount"), sa.column("currency"))
    for change, field in (
        ({"amount": "полторы тысячи"}, "funnelkit_events.amount"),
        ({"currency": None}, "funnelkit_events.currency"),
    ):
        with sql_store.engine.begin() as connection:
            connection.execute(events.update().where(events.c.amount == "2000").values(change))
        sql_store.rebuild_stage_log()
        with pytest.raises(fk.ValidationError) as caught:
            sql_store.stage_log()
        assert caught.value.field == field
        with sql_store.engine.begin() as connection:
            connection.execute(
                events.update()
                .where(events.c.amount == change.get("amount", "2000"))
                .values(amount="2000", currency="RUB")
            )
        sql_store.rebuild_stage_log()


def chat_lead() -> fk.Lead:
    """A lead from the chat, new on day 0."""
    return fk.Lead(
        id="Л-1",
        created_at=day(0),
        pipeline=LEADS.key,
        stage="НОВЫЙ ЛИД",
        source=fk.LeadSource(channel="chat"),
    )


def test_a_stored_verdict_written_outside_funnelkit_is_named(sql_store):
    lead = chat_lead()
    with sql_store.unit_of_work() as unit:
        unit.events.append(
            [
                fk.events.LeadCreated(entity=lead.ref, sequence=1, at=day(0), actor="a", lead=lead),
                fk.events.LeadQualified(
                    entity=lead.ref,
                    sequence=2,
                    at=day(1),
                    actor="a",
                    verdict=fk.events.Verdict.JUNK,
                ),
            ]
        )
        unit.commit()
    chat = fa.sources(sql_store.stage_log(), as_of=day(2)).sources[0]
    assert (chat.source, chat.leads, chat.junk) == ("chat", 1, 1)
    events = sa.table("funnelkit_events", sa.column("verdict"))
    with sql_store.engine.begin() as connection:
        connection.execute(
            events.update().where(events.c.verdict == "junk").values(verdict="мусор")
        )
    sql_store.rebuild_stage_log()
    with pytest.raises(fk.ValidationError) as caught:
        sql_store.stage_log()
    assert (caught.value.field, caught.value.rule) == ("funnelkit_events.verdict", "unknown")


def test_a_verdict_recorded_about_an_earlier_moment_is_refused(read_store):
    """A verdict given before a junk closing but recorded after it: its order is by sequence."""
    store, driver = read_store
    lead = chat_lead()
    events: list[fk.events.Event] = [
        fk.events.LeadCreated(entity=lead.ref, sequence=1, at=day(0), actor="a", lead=lead),
        fk.events.LeadClosedAsJunk(
            entity=lead.ref,
            sequence=2,
            at=day(3),
            actor="a",
            pipeline=LEADS.key,
            from_stage="НОВЫЙ ЛИД",
            to_stage="НЕЦЕЛЕВОЙ",
            reason="спам",
        ),
        fk.events.LeadQualified(
            entity=lead.ref, sequence=3, at=day(2), actor="a", verdict=fk.events.Verdict.GOOD
        ),
    ]
    assert fa.sources(events, as_of=day(4)).sources[0].good == 1  # the event path: the last
    with pytest.raises(fk.ValidationError) as caught:
        fa.StageLog.from_events(events)
    assert (caught.value.field, caught.value.rule) == ("events", "order")
    with store.unit_of_work() as unit:
        unit.events.append(events)
        unit.commit()
    with pytest.raises(fk.ValidationError) as caught:
        store.stage_log(driver=driver)
    assert (caught.value.field, caught.value.rule) == ("events", "order")


def test_a_stores_amounts_are_made_money_when_read_and_behave_as_a_tuple(sql_store):
    import pickle  # noqa: PLC0415 - a part sent to another process is pickled

    with sql_store.unit_of_work() as unit:
        unit.events.append(amount_log())
        unit.commit()
    events = sa.table("funnelkit_events", sa.column("amount"))
    with sql_store.engine.begin() as connection:  # valid, but not as funnelkit writes it
        connection.execute(events.update().where(events.c.amount == "2000").values(amount="2E+3"))
    assert sql_store.rebuild_stage_log() == len(amount_log())
    log = sql_store.stage_log()
    from funnelkit.analytics._amounts import StoredAmounts  # noqa: PLC0415 - a private type

    amounts = log.amounts
    from_events = fa.StageLog.from_events(amount_log()).amounts
    assert isinstance(amounts, StoredAmounts)
    assert len(amounts._built) == 1  # only the one not written plainly is made Money yet
    assert sorted(map(str, amounts)) == sorted(map(str, from_events))
    assert amounts[-1] == amounts[len(amounts) - 1]
    assert amounts[:2] == tuple(amounts)[:2]
    assert amounts == tuple(amounts)
    assert tuple(amounts) == amounts
    with pytest.raises(IndexError):
        amounts[len(amounts)]
    again = pickle.loads(pickle.dumps(log))  # noqa: S301 - our own bytes
    assert again == log
    assert fa.velocity(
        again, fk.Period.month(2026, 3), currency="RUB", as_of=day(9)
    ).won_amount == (Decimal("3500.00"))
