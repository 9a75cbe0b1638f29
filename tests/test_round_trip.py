"""
Every public value goes to JSON and back equal: ``from_data(json(to_data(x)), type(x)) == x``.

The public types are read from the package's ``__all__`` lists, so a new one cannot be
forgotten: each is either drawn here (from the testing kit's strategies, or computed from
drawn logs and the seeds' log) and round-tripped, or listed in `NOT_DATA` with the reason it is
not a value a host stores.

Then hostile data goes in: one hostile value anywhere in a drawn value's data is refused with
its path, or read as a valid value that every store keeps.
"""

from __future__ import annotations

import importlib
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit import matching as fm
from funnelkit import tasks as ft
from funnelkit.seeds.pipelines import LEADS, SEED_000
from funnelkit.seeds.seed_000_log import AS_OF, CHAIN, FULL_LOG
from funnelkit.testing import strategies as fst


if TYPE_CHECKING:
    from collections.abc import Callable


MODULES = (
    "funnelkit",
    "funnelkit.model",
    "funnelkit.events",
    "funnelkit.pipelines",
    "funnelkit.matching",
    "funnelkit.qualification",
    "funnelkit.tasks",
    "funnelkit.plans",
    "funnelkit.analytics",
    "funnelkit.storage",
)

NOT_DATA = {
    "Service": "an object with a store and a clock, not a value",
    "Guard": "a compiled rule: code",
    "Predicate": "a qualification rule of code (to_data refuses it, saying so)",
    "MoveAttempt": "what your code is told during a move; its context holds anything",
    "QualificationContext": "built for one qualification from the store",
    "MoveResult": "the outcome of one call, stored as its entity and events",
    "BulkMove": "the outcome of one call, stored as its entities and events",
    "Replay": "a check of a history, recomputed from the events",
    "ReplayProblem": "a check of a history, recomputed from the events",
    "LeadConversion": "the outcome of one call, stored as its entities and events",
    "NextDeal": "the outcome of one call, stored as its entity and events",
    "IntakeResult": "the outcome of one call, stored as its entities and events",
    "RecordedEvent": "a store's own record: the event is the data",
    "Qualification": "the outcome of one call, stored as its LeadQualified event",
    "Finding": "part of a Qualification, stored in its event",
    "Scored": "the outcome of one call of a scorer",
    "Backtest": "a report of a learning run, recomputed from the data",
    "FeatureWeight": "part of a Backtest",
    "MatchRecord": "a matching input built from a contact, recomputed",
    "Intake": "holds a pipeline and policies that may hold code",
    "CustomerProfile": "recomputed from the contact's leads and deals",
    "NextStep": "a line of a recomputed listing",
    "ContactCard": "a listing recomputed from the store",
    "Alert": "a check recomputed from the store",
    "Curve": "a survival curve recomputed from a report",
    "NaiveBayesScorer": "holds its feature function (code); retrain it from the log",
    "LearnedScore": "holds a NaiveBayesScorer (code)",
}

_SETTINGS = settings(max_examples=25, deadline=None)

# --- what each public type is drawn from ---------------------------------------------------------

_LOGS = st.lists(fst.events(), max_size=12, unique_by=lambda event: (event.entity, event.sequence))
_FOLDS = st.one_of(
    st.integers(0, 40).map(lambda days: fa.histories(FULL_LOG, as_of=AS_OF - timedelta(days=days))),
    _LOGS.map(lambda log: fa.histories(log, as_of=AS_OF)),
)


def _reports() -> dict[str, st.SearchStrategy[Any]]:
    """Every report, computed from drawn logs and from the seeds' log at drawn snapshots."""
    window = timedelta(days=30)
    made: dict[str, Callable[[fa.Histories], Any]] = {
        "ConversionReport": lambda h: fa.conversion(h, CHAIN),
        "StageFlows": lambda h: fa.stage_flows(h, CHAIN),
        "TimeInStage": lambda h: fa.time_in_stage(h, CHAIN),
        "WinRate": lambda h: fa.win_rate(h, by="channel"),
        "LostReasons": fa.lost_reasons,
        "ClosingTimes": fa.closing_times,
        "Sources": fa.sources,
        "LeadFlow": fa.lead_flow,
        "ResponseTimes": fa.response_times,
        "DealSteps": fa.deal_steps,
        "Bottlenecks": lambda h: fa.bottlenecks(h, CHAIN),
        "Forecast": lambda h: fa.forecast(h, CHAIN, currency="RUB"),
        "Cohorts": lambda h: fa.cohorts(h, window=window),
        "Receivables": lambda h: fa.receivables(h, currency="RUB"),
        "TaskLoad": fa.task_load,
        "SlaReport": lambda h: fa.sla_report(h, [CHAIN]),
    }
    return {name: _FOLDS.map(report) for name, report in made.items()}


def _parts() -> dict[str, st.SearchStrategy[Any]]:
    """The parts of reports, taken out of drawn reports."""
    reports = _reports()
    return {
        "GroupOutcomes": reports["WinRate"].map(lambda r: r.total),
        "StageTimes": reports["TimeInStage"].filter(lambda r: r.stages).map(lambda r: r.stages[0]),
        "SourceRow": reports["Sources"].filter(lambda r: r.sources).map(lambda r: r.sources[0]),
        "Bottleneck": reports["Bottlenecks"].map(lambda r: r.stages[0]),
        "ForecastStage": reports["Forecast"].map(lambda r: r.stages[0]),
        "Cohort": reports["Cohorts"].filter(lambda r: r.cohorts).map(lambda r: r.cohorts[0]),
        "Receivable": reports["Receivables"].filter(lambda r: r.deals).map(lambda r: r.deals[0]),
        "Filters": st.builds(fa.Filters, owner=st.none() | fst.identifiers()),
        "Velocity": st.integers(0, 30).map(
            lambda days: fa.velocity(
                fa.histories(FULL_LOG, as_of=AS_OF),
                fk.Period(
                    start=(AS_OF - timedelta(days=days + 30)).date(),
                    end=(AS_OF - timedelta(days=days)).date(),
                ),
                currency="RUB",
            )
        ),
        "PlanFacts": fst.plans().map(lambda plan: fa.plan_vs_fact(FULL_LOG, plan, as_of=AS_OF)),
        "PlanFact": fst.plans()
        .filter(lambda plan: plan.targets)
        .map(lambda plan: fa.plan_vs_fact(FULL_LOG, plan, as_of=AS_OF).items[0]),
    }


def _merges() -> dict[str, st.SearchStrategy[Any]]:
    """A merge plan of drawn contacts, with children, and the record of applying it."""

    @st.composite
    def plan_and_record(draw: st.DrawFn) -> tuple[fm.MergePlan, fm.UndoRecord]:
        group = draw(st.lists(fst.contacts(), min_size=2, max_size=3, unique_by=lambda c: c.id))
        store = fk.InMemoryStore()
        lead = fk.Lead(
            id="Л-1",
            created_at=group[-1].created_at,
            pipeline=LEADS.key,
            stage=LEADS.first_stage.key,
            source=fk.LeadSource(channel="site_form"),
            contact_id=group[-1].id,
        )
        with store.unit_of_work() as uow:
            stored = [uow.contacts.add(contact) for contact in group]
            children = [uow.leads.add(lead)]
            uow.commit()
        plan = fm.MergePolicy().plan(stored, merge_id="merge:1", leads=children)
        with store.unit_of_work() as uow:
            record = fm.apply_merge(plan, uow, fk.Actor(id="anna"), group[0].created_at)
        return plan, record

    both = plan_and_record()
    return {
        "MergePlan": both.map(lambda pair: pair[0]),
        "UndoRecord": both.map(lambda pair: pair[1]),
        "FieldDecision": both.map(lambda pair: pair[0].decisions[1]),
    }


@st.composite
def _match_results(draw: st.DrawFn) -> fm.MatchResult:
    """What matching finds among drawn contacts, one of them entered again with a typo."""
    group = draw(st.lists(fst.contacts(), min_size=1, max_size=4, unique_by=lambda c: c.id))
    again = group[0]
    names = tuple(name[:-1] if len(name) > 3 else name for name in again.names)
    twin = attrs.evolve(again, id=f"{again.id}-2", names=names)
    return fm.MatchPolicy().match([*group, twin])


def _matches() -> dict[str, st.SearchStrategy[Any]]:
    """Match results, their pairs and the parts of a pair's explanation."""
    with_pairs = _match_results().filter(lambda found: found.pairs)
    return {
        "MatchResult": _match_results(),
        "PairScore": with_pairs.map(lambda found: found.pairs[0]),
        "Contribution": with_pairs.filter(lambda found: found.pairs[0].contributions).map(
            lambda found: found.pairs[0].contributions[0]
        ),
    }


def _policies() -> dict[str, st.SearchStrategy[Any]]:
    rules: tuple[fk.qualification.QualificationRule, ...] = (
        fk.qualification.SpamPattern(patterns=("казино",)),
        fk.qualification.BlockedPhones(
            phones=frozenset({"+74950001122"}), junk_reason="contractor"
        ),
        fk.qualification.MissingContact(),
        fk.qualification.OpenDuplicate(),
    )
    matching = fm.MatchPolicy()
    category = st.builds(
        fm.ClientCategory,
        key=fst.identifiers(),
        title=fst.texts(min_size=1),
        min_won_deals=st.integers(0, 5),
        min_revenue=st.none() | fst.moneys(),
        bought=st.lists(fst.identifiers(), max_size=2).map(tuple),
    )
    return {
        "MatchPolicy": st.just(matching),
        "FieldRule": st.sampled_from(matching.rules),
        "Level": st.sampled_from([level for rule in matching.rules for level in rule.levels]),
        "Normaliser": st.builds(fm.Normaliser, default_region=st.sampled_from(["RU", "KZ"])),
        "MergePolicy": st.just(fm.MergePolicy()),
        "CustomerPolicy": st.lists(category, max_size=2, unique_by=lambda c: c.key).map(
            lambda found: fm.CustomerPolicy(categories=tuple(found))
        ),
        "ClientCategory": category,
        "QualificationPolicy": st.lists(st.sampled_from(rules), unique=True).map(
            lambda chosen: fk.qualification.QualificationPolicy(rules=tuple(chosen))
        ),
        "SpamPattern": st.just(rules[0]),
        "BlockedPhones": st.just(rules[1]),
        "MissingContact": st.just(rules[2]),
        "OpenDuplicate": st.just(rules[3]),
        "TaskPolicy": st.builds(ft.TaskPolicy),
    }


def _values() -> dict[str, st.SearchStrategy[Any]]:
    """Entities, events, definitions and the small values, from the testing kit."""
    found: dict[str, st.SearchStrategy[Any]] = {
        "Contact": fst.contacts(),
        "Lead": fst.leads(),
        "Deal": fst.deals(),
        "Task": fst.tasks(),
        "Actor": fst.actors(),
        "EntityRef": fst.entity_refs(),
        "Money": fst.moneys(),
        "Payment": fst.payments(),
        "Document": fst.documents(),
        "LeadSource": fst.lead_sources(),
        "ContactData": fst.contact_data(),
        "Period": fst.periods(),
        "Plan": fst.plans(),
        "Target": fst.plans().filter(lambda p: p.targets).map(lambda p: p.targets[0]),
        "CustomFieldSchema": fst.custom_field_schemas(),
        "FieldDef": fst.custom_field_schemas()
        .filter(lambda s: s.fields)
        .map(lambda s: s.fields[0]),
        "Pipeline": fst.pipelines(),
        "Stage": fst.pipelines().map(lambda p: p.stages[0]),
        "Reason": fst.pipelines().map(lambda p: p.reasons[0]),
        "ExtraMove": st.just(
            fk.pipelines.ExtraMove(source="a", dest="b", required_fields=("amount",))
        ),
        "MovePolicy": st.builds(fk.pipelines.MovePolicy),
        "CreateTask": st.just(
            fk.CreateTask(kind=fk.TaskKind.CALL, title="Позвонить", due_in=timedelta(minutes=1))
        ),
        "SetField": st.just(fk.SetField(field="product", value="КРОВЛЯ")),
        "Message": st.just(fk.pipelines.Message(to="client", text="Спасибо")),
        "PlannedTask": fst.tasks().map(
            lambda t: fk.pipelines.PlannedTask(
                subject=t.subject, kind=t.kind, title=t.title, assignee=t.assignee, due_at=t.due_at
            )
        ),
        "Violation": st.builds(fk.Violation, rule=fst.identifiers(), message=fst.texts(min_size=1)),
        "Funnel": st.sampled_from([SEED_000, fk.Funnel(key="кровля", deals=(CHAIN,))]),
        "Agenda": st.just(_agenda()),
        "AgendaItem": st.just(_agenda().items[0]),
    }
    for event_type in fk.events.EVENT_TYPES.values():
        found[event_type.__name__] = fst.events(types=st.just(event_type.TYPE))
    found["MoveEvent"] = fst.events(types=st.just("stage_changed"))
    return found


def _agenda() -> ft.Agenda:
    deal = fk.Deal(id="D-1", created_at=AS_OF, pipeline=CHAIN.key, stage=CHAIN.first_stage.key)
    return ft.agenda(
        "anna",
        AS_OF.date(),
        zone=AS_OF.tzinfo,  # type: ignore[arg-type]
        as_of=AS_OF,
        tasks=(),
        deals=(attrs.evolve(deal, owner="anna"),),
        pipelines=(CHAIN,),
    )


DRAWN: dict[str, st.SearchStrategy[Any]] = {
    **_values(),
    **_reports(),
    **_parts(),
    **_merges(),
    **_matches(),
    **_policies(),
}


def _public_types() -> dict[str, type[Any]]:
    """Public attrs classes by name (no two share one: `test_package` checks it)."""
    found: dict[str, type[Any]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for item in module.__all__:
            value = getattr(module, item)
            if not (isinstance(value, type) and attrs.has(value)):
                continue
            found[value.__name__] = value
    return found


PUBLIC = _public_types()


def test_every_public_type_is_drawn_here_or_said_not_to_be_data():
    """A new public type must be round-tripped here, or listed in NOT_DATA with its reason."""
    assert sorted(set(PUBLIC) - set(DRAWN) - set(NOT_DATA)) == []
    assert sorted((set(DRAWN) | set(NOT_DATA)) - set(PUBLIC)) == []


def _round_trip(value: object) -> object:
    data = fk.to_data(value)
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)  # only JSON types, no NaN
    return fk.from_data(json.loads(text), type(value))


@pytest.mark.parametrize("name", sorted(DRAWN))
def test_every_public_value_goes_to_json_and_back_equal(name):
    """Drawn values of each public type come back from JSON equal to what went in."""

    @_SETTINGS
    @given(DRAWN[name])
    def round_trips(value: Any) -> None:
        assert isinstance(value, PUBLIC[name])
        assert _round_trip(value) == value

    round_trips()


@_SETTINGS
@given(_match_results())
def test_a_match_result_keeps_each_pairs_explanation(found: fm.MatchResult):
    """A pair's keys and contributions (left out of its equality) come back too."""
    back = _round_trip(found)
    assert isinstance(back, fm.MatchResult)
    assert [(p.keys, p.contributions) for p in back.pairs] == [
        (p.keys, p.contributions) for p in found.pairs
    ]


# --- hostile data in every public type --------------------------------------------------------

HOSTILE = st.one_of(
    st.integers(min_value=2**53, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=-(2**53)),
    st.just(10**5000),  # more digits than Python turns into text by default
    st.sampled_from(
        [
            "1e100000000",  # eleven characters, a hundred million digits
            "١٢٣",  # Arabic-Indic digits
            "\ud83d",  # a lone surrogate: a cut emoji
            "a\x00b",
            "x" * 3000,  # longer than any id or key may be
            "2026-03-02T09:00:00.123456789+03:00",  # nanoseconds
            "P" + "9" * 60 + "D",
            "",
            "   ",
        ]
    ),
    st.none(),
    st.booleans(),
    st.floats(),  # NaN and infinities too
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


# Text every store must keep as it is: quotes, SQL, escapes, placeholders, emoji, Cyrillic.
NASTY_TEXT = st.sampled_from(
    [
        "'; DROP TABLE funnelkit_deals; --",
        "\\0",  # a backslash and a zero: what the SQL store writes for NUL in its columns
        "\\",
        "%s %(id)s $1 ? :id",
        "ОП ВЗЯЛ В РАБОТУ",
        "👍" * 50,
        "x" * 200,  # the longest id or key
        "\t\n\r",
        "\u2028\u202e",
        "NULL",
    ]
) | st.text(max_size=30)


def _paths(data: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every place in JSON-ready data: the whole, and each key's or item's value within."""
    found = [path]
    if isinstance(data, dict):
        for key, item in data.items():
            found.extend(_paths(item, (*path, key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(_paths(item, (*path, index)))
    return found


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        data = data[step]
    return data


def _replaced(data: Any, path: tuple[Any, ...], value: object) -> Any:
    if not path:
        return value
    copy = dict(data) if isinstance(data, dict) else list(data)
    copy[path[0]] = _replaced(data[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize("name", sorted(DRAWN))
def test_hostile_data_of_every_public_type_gets_a_structure_error_with_its_path(name):
    """
    Property: one hostile value anywhere in a public value's data is read or refused cleanly.

    Wrong types, huge integers and exponents, non-ASCII digits, surrogates, NUL, long text,
    NaN: `from_data` either builds a valid value or raises a `StructureError` whose every
    problem has a path; never another exception.
    """

    @settings(max_examples=15, deadline=None)
    @given(DRAWN[name], st.data())
    def refused_cleanly(value: Any, data: st.DataObject) -> None:
        clean = fk.to_data(value)
        path = data.draw(st.sampled_from(_paths(clean)), label="path")
        hostile = _replaced(clean, path, data.draw(HOSTILE, label="hostile"))
        problems: tuple[str, ...] = ("$",)  # read as a valid value
        try:
            fk.from_data(hostile, type(value))
        except fk.StructureError as error:
            problems = tuple(error.problems)
        assert problems
        assert all(problem.startswith("$") for problem in problems)

    refused_cleanly()


_STORED: dict[str, st.SearchStrategy[Any]] = {
    "contact": fst.contacts(),
    "lead": fst.leads(),
    "deal": fst.deals(),
    "task": fst.tasks(),
    "event": fst.events(),
}


def _store_state(store: fk.storage.Store) -> tuple[Any, ...]:
    with store.unit_of_work() as uow:
        return (
            uow.contacts.list(),
            uow.leads.list(),
            uow.deals.list(),
            uow.tasks.list(),
            [recorded.event for recorded in uow.events.read_all()],
        )


def _write(store: fk.storage.Store, value: Any) -> Any:
    """Write one entity (added) or event (the first of its entity's history); read it back."""
    with store.unit_of_work() as uow:
        if isinstance(value, fk.Contact | fk.Lead | fk.Deal | fk.Task):
            repository = {
                fk.Contact: uow.contacts,
                fk.Lead: uow.leads,
                fk.Deal: uow.deals,
                fk.Task: uow.tasks,
            }[type(value)]
            repository.add(value)  # type: ignore[attr-defined]
            uow.commit()
        else:
            uow.events.append([value])
            uow.commit()
    with store.unit_of_work() as uow:
        if isinstance(value, fk.Contact | fk.Lead | fk.Deal | fk.Task):
            return {
                fk.Contact: uow.contacts,
                fk.Lead: uow.leads,
                fk.Deal: uow.deals,
                fk.Task: uow.tasks,
            }[type(value)].get(value.id)  # type: ignore[attr-defined]
        return uow.events.read(value.entity)[0]


@pytest.mark.parametrize("kind", sorted(_STORED))
def test_what_the_edge_accepts_every_store_keeps_and_what_it_refuses_changes_nothing(
    make_store, kind
):
    """
    Property: the edge and every store (memory, SQLite, PostgreSQL) agree on hostile data.

    Data with one hostile value is either refused at the edge (a `StructureError`), or it is a
    valid value that the store keeps and gives back equal. A store refuses nothing with a raw
    driver error, and a refusal leaves it unchanged.
    """

    @settings(
        max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(_STORED[kind], st.data())
    def kept_or_refused(value: Any, data: st.DataObject) -> None:
        clean = fk.to_data(value)
        texts = [path for path in _paths(clean) if isinstance(_at(clean, path), str)]
        path = data.draw(st.sampled_from(texts or _paths(clean)), label="path")
        hostile = _replaced(clean, path, data.draw(NASTY_TEXT | HOSTILE, label="hostile"))
        try:
            read = fk.from_data(hostile, type(value))
        except fk.StructureError:
            return
        if isinstance(read, fk.events.Event):
            read = attrs.evolve(read, sequence=1)
        store = make_store()
        before = _store_state(store)
        try:
            stored = _write(store, read)
        except fk.FunnelkitError:
            assert _store_state(store) == before
        else:
            if not isinstance(read, fk.events.Event):  # an entity is stored at its next version
                stored = attrs.evolve(stored, version=read.version)
            assert stored == read

    kept_or_refused()
