"""Pipelines: definitions, every move rule and its refusal, funnels, diagrams, plain data."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

import funnelkit as fk
from funnelkit.pipelines import (
    CreateTask,
    ExtraMove,
    Funnel,
    MoveRefusedError,
    Pipeline,
    PipelineKind,
    PlannedTask,
    Reason,
    SetField,
    Stage,
    StageKind,
    to_mermaid,
)
from funnelkit.seeds.pipelines import (
    ALL,
    LEADS,
    MAIN_SALE,
    MEETING,
    PROPOSAL,
    ROOFING,
    SEED_000,
    TEMPERATURE_LEADS,
    TWO_BLOCKS,
)
from funnelkit.testing.contracts import T0, make_contact, make_deal, make_lead


MANAGER = fk.Actor(id="anna", roles=frozenset({"manager"}))
ENGINEER = fk.Actor(id="турал", roles=frozenset({"engineer"}))
RULES = ROOFING.compile()
CARD = {"product": "КРОВЛЯ", "client_type": "частник"}


def roofing_deal(stage="НОВЫЙ ЛИД", **changes):
    """A roofing deal with its card filled in and half of it paid, at `stage`."""
    base = make_deal(
        stage=stage,
        owner="anna",
        fields={**CARD, "construction_stage": "фундамент", "buys_when": "май"},
        payments=(fk.Payment(id="С-1-P1", amount=fk.Money.of("240000", "RUB"), received_at=T0),),
    )
    return attrs.evolve(base, **changes)


def rules_of(violations):
    return [v.rule for v in violations]


# --- moves ---------------------------------------------------------------------------------------


def test_a_declared_move_produces_the_new_value_and_its_event():
    """A forward move returns the moved deal and a StageChanged numbered as asked."""
    result = RULES.move(roofing_deal(), "ОП ВЗЯЛ В РАБОТУ", MANAGER, T0, sequence=4)
    assert "ОП ВЗЯЛ В РАБОТУ" == result.entity.stage
    (event,) = result.events
    expected = fk.events.StageChanged(
        entity=result.entity.ref,
        sequence=4,
        at=T0,
        actor="anna",
        pipeline="кровля",
        from_stage="НОВЫЙ ЛИД",
        to_stage="ОП ВЗЯЛ В РАБОТУ",
    )
    assert expected == event
    assert () == RULES.check(roofing_deal(), "ОП ВЗЯЛ В РАБОТУ", MANAGER)


def test_required_fields_are_checked_on_entry_with_one_violation_each():
    """Each missing required field is one violation naming the field; nothing changes."""
    deal = make_deal(stage="НОВЫЙ ЛИД", amount=None)
    violations = RULES.check(deal, "ОП ВЗЯЛ В РАБОТУ", MANAGER)
    assert ["owner", "product", "client_type"] == [v.field for v in violations]
    assert {"required_field"} == set(rules_of(violations))
    assert (
        "'product' must be filled to enter 'ОП ВЗЯЛ В РАБОТУ'; fill it first"
        == violations[1].message
    )
    with pytest.raises(MoveRefusedError) as caught:
        RULES.move(deal, "ОП ВЗЯЛ В РАБОТУ", MANAGER, T0, sequence=2)
    assert violations == caught.value.violations
    assert caught.value.entity == deal.ref
    assert "allowed now: ['ЗАКРЫТО И НЕ РЕАЛИЗОВАНО']" in str(caught.value)


def test_own_fields_such_as_amount_can_be_required():
    """Entering "КП ГОТОВО" needs the deal's amount (the budget from the proposal)."""
    deal = roofing_deal("ОБЪЕМЫ У ТУРАЛА", amount=None)
    (violation,) = RULES.check(deal, "КП ГОТОВО", ENGINEER)
    assert ("required_field", "amount") == (violation.rule, violation.field)


def test_only_the_engineer_moves_a_deal_out_of_the_volumes_stage():
    """Seed 002: only the engineer moves a deal from "ОБЪЕМЫ У ТУРАЛА" to "КП ГОТОВО"."""
    deal = roofing_deal("ОБЪЕМЫ У ТУРАЛА")
    (violation,) = RULES.check(deal, "КП ГОТОВО", MANAGER)
    assert "exit_role" == violation.rule
    assert (
        "only engineer may move out of 'ОБЪЕМЫ У ТУРАЛА'; 'anna' has roles: manager"
        == violation.message
    )
    assert () == violation.allowed
    assert "КП ГОТОВО" == RULES.move(deal, "КП ГОТОВО", ENGINEER, T0, sequence=1).entity.stage
    assert ("КП ГОТОВО", "ЗАКРЫТО И НЕ РЕАЛИЗОВАНО") == RULES.allowed_moves(deal, ENGINEER)


def test_skipping_is_refused_with_the_allowed_moves():
    """Jumping over stages is refused when the policy forbids skipping."""
    (violation,) = RULES.check(roofing_deal(), "ГОРЯЧИЕ", MANAGER)
    assert ("skip", "to_stage") == (violation.rule, violation.field)
    assert ("ОП ВЗЯЛ В РАБОТУ", "ЗАКРЫТО И НЕ РЕАЛИЗОВАНО") == violation.allowed


def test_moving_back_is_refused_unless_allowed():
    """A forward-only pipeline refuses moving back; one with allow_back accepts it."""
    (violation,) = RULES.check(roofing_deal("ГОРЯЧИЕ"), "ОП ВЗЯЛ В РАБОТУ", MANAGER)
    assert "back" == violation.rule
    lead = make_lead(pipeline=TEMPERATURE_LEADS.key, stage="Заинтересованные")
    assert () == TEMPERATURE_LEADS.compile().check(lead, "Холодные", MANAGER)


def test_same_stage_and_unknown_stage_are_refused():
    """Moving to the current stage or to a stage the pipeline lacks is refused."""
    assert ["same_stage"] == rules_of(RULES.check(roofing_deal(), "НОВЫЙ ЛИД", MANAGER))
    (violation,) = RULES.check(roofing_deal(), "МОНТАЖ", MANAGER)
    assert ("unknown_stage", "pipeline 'кровля' has no stage 'МОНТАЖ'") == (
        violation.rule,
        violation.message,
    )
    with pytest.raises(MoveRefusedError):
        RULES.move(roofing_deal(), "МОНТАЖ", MANAGER, T0, sequence=1, force=True)


def test_an_extra_move_is_allowed_beyond_the_policy():
    """The declared move "КП ГОТОВО" → won skips the estimate."""
    result = RULES.move(roofing_deal("КП ГОТОВО"), "УСПЕШНО РЕАЛИЗОВАНО", MANAGER, T0, sequence=9)
    assert (fk.DealStatus.WON, T0) == (result.entity.status, result.entity.closed_at)
    (event,) = result.events
    assert isinstance(event, fk.events.DealWon)
    assert fk.Money.of("480000.00", "RUB") == event.amount


def test_winning_needs_the_last_open_stage_when_skipping_is_off():
    """Without skipping, won is reached from the last open stage (or a declared move)."""
    assert ["skip"] == rules_of(
        RULES.check(roofing_deal("ГОРЯЧИЕ"), "УСПЕШНО РЕАЛИЗОВАНО", MANAGER)
    )


@pytest.mark.parametrize(
    ("reason", "note", "rule", "message"),
    [
        (
            None,
            "",
            "reason",
            (
                "closing as lost in 'ЗАКРЫТО И НЕ РЕАЛИЗОВАНО' needs a reason; one of: "
                "'bought_elsewhere', 'expensive', 'no_answer', 'postponed', 'other'"
            ),
        ),
        (
            "weather",
            "",
            "reason",
            (
                "unknown reason 'weather'; one of: "
                "'bought_elsewhere', 'expensive', 'no_answer', 'postponed', 'other'"
            ),
        ),
        ("other", "  ", "reason_note", "reason 'other' (Другое) needs a note saying what happened"),
    ],
)
def test_a_loss_needs_a_known_reason_and_other_needs_a_note(reason, note, rule, message):
    """Each way of getting the reason wrong is explained."""
    (violation,) = RULES.check(
        roofing_deal("ГОРЯЧИЕ"), "ЗАКРЫТО И НЕ РЕАЛИЗОВАНО", MANAGER, reason=reason, note=note
    )
    assert (rule, message) == (violation.rule, violation.message)


def test_a_loss_records_reason_and_note():
    """A lost deal keeps its reason and note; the event carries both."""
    result = RULES.move(
        roofing_deal("ГОРЯЧИЕ"),
        "ЗАКРЫТО И НЕ РЕАЛИЗОВАНО",
        MANAGER,
        T0,
        sequence=3,
        reason="other",
        note="Уехал на север",
    )
    deal = result.entity
    assert (fk.DealStatus.LOST, "other", "Уехал на север") == (
        deal.status,
        deal.lost_reason,
        deal.lost_note,
    )
    (event,) = result.events
    assert isinstance(event, fk.events.DealLost)
    assert ("other", "Уехал на север") == (event.reason, event.note)


def test_closed_stages_are_final_unless_forced():
    """A won deal cannot move; with force it reopens and the event lists the overridden rule."""
    won = RULES.move(roofing_deal("КП ГОТОВО"), "УСПЕШНО РЕАЛИЗОВАНО", MANAGER, T0, sequence=1)
    (violation,) = RULES.check(won.entity, "КП ГОТОВО", MANAGER)
    assert "closed_stage" == violation.rule
    assert () == RULES.allowed_moves(won.entity, MANAGER)
    reopened = RULES.move(won.entity, "КП ГОТОВО", MANAGER, T0, sequence=2, force=True)
    assert (fk.DealStatus.OPEN, None) == (reopened.entity.status, reopened.entity.closed_at)
    (event,) = reopened.events
    assert isinstance(event, fk.events.StageChanged)
    assert (True, (violation,)) == (event.forced, event.overridden)


def test_force_overrides_rules_but_a_loss_still_needs_a_known_reason():
    """Forcing past missing fields is audited; a forced loss without a reason is refused."""
    deal = make_deal(stage="НОВЫЙ ЛИД")
    forced = RULES.move(deal, "ОП ВЗЯЛ В РАБОТУ", MANAGER, T0, sequence=1, force=True)
    (event,) = forced.events
    assert isinstance(event, fk.events.StageChanged)
    assert ["required_field"] * 3 == rules_of(event.overridden)
    with pytest.raises(MoveRefusedError, match="reason"):
        RULES.move(deal, "ЗАКРЫТО И НЕ РЕАЛИЗОВАНО", MANAGER, T0, sequence=1, force=True)


def test_entry_actions_plan_tasks_and_set_fields():
    """Entering a stage plans its tasks for the owner and sets its fields with events."""
    pipeline = attrs.evolve(
        ROOFING,
        stages=tuple(
            attrs.evolve(
                s, on_enter=(*s.on_enter, SetField(field="construction_stage", value="кровля"))
            )
            if s.key == "ГОРЯЧИЕ"
            else s
            for s in ROOFING.stages
        ),
    )
    result = pipeline.compile().move(
        roofing_deal("ОП ВЗЯЛ В РАБОТУ", owner="boris"), "ГОРЯЧИЕ", MANAGER, T0, sequence=5
    )
    expected_task = PlannedTask(
        subject=result.entity.ref,
        kind=fk.TaskKind.CALL,
        title="Получить проект, план кровли или рисунок с размерами крыши",
        assignee="boris",
        due_at=T0 + timedelta(days=1),
    )
    assert (expected_task,) == result.effects
    assert "кровля" == result.entity.fields["construction_stage"]
    moved, changed = result.events
    assert isinstance(changed, fk.events.FieldChanged)
    assert (5, 6) == (moved.sequence, changed.sequence)
    assert ("construction_stage", "фундамент", "кровля") == (
        changed.field,
        changed.old,
        changed.new,
    )


def test_a_lead_reaches_won_only_by_conversion():
    """Moving a lead to its won stage directly is refused: a funnel converts it."""
    lead = make_lead(pipeline=LEADS.key, stage="Квалификация")
    (violation,) = LEADS.compile().check(lead, "Хороший лид", MANAGER)
    assert "conversion" == violation.rule
    with pytest.raises(MoveRefusedError):
        LEADS.compile().move(lead, "Хороший лид", MANAGER, T0, sequence=2, force=True)


def test_junk_needs_a_reason_and_closes_the_lead():
    """Closing a lead as junk records the reason and a LeadClosedAsJunk event."""
    lead = make_lead(pipeline=LEADS.key, stage="Новое обращение")
    result = LEADS.compile().move(lead, "Подрядчик", MANAGER, T0, sequence=2, reason="contractor")
    assert (fk.LeadStatus.JUNK, "contractor") == (result.entity.status, result.entity.junk_reason)
    (event,) = result.events
    assert isinstance(event, fk.events.LeadClosedAsJunk)


def test_bad_arguments_are_refused_with_a_clear_error():
    """Wrong entity kind, another pipeline, a naive time and a bad sequence are refused."""
    with pytest.raises(fk.ValidationError, match="holds deals"):
        RULES.check(make_lead(), "ОП ВЗЯЛ В РАБОТУ", MANAGER)
    with pytest.raises(fk.ValidationError, match="is in pipeline 'опт'"):
        RULES.check(roofing_deal(pipeline="опт"), "ОП ВЗЯЛ В РАБОТУ", MANAGER)
    with pytest.raises(fk.ValidationError, match="naive"):
        RULES.move(roofing_deal(), "ОП ВЗЯЛ В РАБОТУ", MANAGER, T0.replace(tzinfo=None), sequence=1)
    with pytest.raises(fk.ValidationError, match="sequence"):
        RULES.move(roofing_deal(), "ОП ВЗЯЛ В РАБОТУ", MANAGER, T0, sequence=0)
    with pytest.raises(fk.ValidationError, match="Actor"):
        RULES.check(roofing_deal(), "ОП ВЗЯЛ В РАБОТУ", "anna")  # type: ignore[arg-type]


@pytest.mark.parametrize("pipeline", ALL, ids=lambda p: p.key)
def test_the_machine_and_the_look_up_table_agree(pipeline):
    """For every stage pair, the transitions machine allows exactly what check allows."""
    rules = pipeline.compile()
    make = make_lead if pipeline.kind is PipelineKind.LEAD else make_deal
    for source in pipeline.stages:
        entity = (
            make(pipeline=pipeline.key, stage=source.key, owner="anna", amount=None)
            if (pipeline.kind is PipelineKind.DEAL)
            else make(pipeline=pipeline.key, stage=source.key, owner="anna")
        )
        for dest in pipeline.stages:
            for actor in (MANAGER, ENGINEER):
                reason = pipeline.reasons[0].key if pipeline.reasons else None
                expected = not rules.check(entity, dest.key, actor, reason=reason)
                assert expected == rules.machine_allows(entity, dest.key, actor, reason=reason)


# --- definitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "field", "rule"),
    [
        (
            lambda: Pipeline(key="p", stages=(Stage(key="a"), Stage(key="a", kind=StageKind.WON))),
            "Pipeline.stages[1].key",
            "unique",
        ),
        (
            lambda: Pipeline(
                key="p",
                stages=(Stage(key="a"), Stage(key="b", kind=StageKind.WON)),
                extra_moves=(ExtraMove(source="a", dest="c"),),
            ),
            "Pipeline.extra_moves[0].dest",
            "unknown_stage",
        ),
        (
            lambda: Pipeline(
                key="p",
                stages=(
                    Stage(key="a", required_fields=("площадь",)),
                    Stage(key="b", kind=StageKind.WON),
                ),
            ),
            "Pipeline.stages[0].required_fields[0]",
            "unknown_field",
        ),
        (
            lambda: Stage(key="b", kind=StageKind.WON, probability=60),
            "Stage.probability",
            "probability",
        ),
        (
            lambda: Pipeline(key="p", stages=(Stage(key="a"), Stage(key="b"))),
            "Pipeline.stages",
            "won_stage",
        ),
        (
            lambda: Pipeline(
                key="p",
                stages=(
                    Stage(key="a"),
                    Stage(key="b", kind=StageKind.WON),
                    Stage(key="c", kind=StageKind.JUNK),
                ),
                reasons=(Reason(key="spam", title="Спам"),),
            ),
            "Pipeline.stages[2].kind",
            "stage_kind",
        ),
        (
            lambda: Pipeline(
                key="p",
                stages=(
                    Stage(key="a"),
                    Stage(key="b", kind=StageKind.WON),
                    Stage(key="c", kind=StageKind.LOST),
                ),
            ),
            "Pipeline.reasons",
            "reasons",
        ),
        (
            lambda: Pipeline(key="p", stages=(Stage(key="b", kind=StageKind.WON), Stage(key="a"))),
            "Pipeline.stages[0].kind",
            "first_stage",
        ),
        (
            lambda: Pipeline(
                key="p",
                stages=(
                    Stage(key="a", on_enter=(SetField(field="тип", value="x"),)),
                    Stage(key="b", kind=StageKind.WON),
                ),
            ),
            "Pipeline.stages[0].on_enter[0].field",
            "unknown_field",
        ),
        (
            lambda: CreateTask(kind=fk.TaskKind.CALL, title="Позвонить", due_in=timedelta(0)),
            "CreateTask.due_in",
            "range",
        ),
    ],
)
def test_malformed_definitions_are_refused_naming_the_problem(build, field, rule):
    """Each malformed definition names its field and rule."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert (field, rule) == (caught.value.field, caught.value.rule)
    assert str(caught.value).startswith(field)


@pytest.mark.parametrize("pipeline", ALL, ids=lambda p: p.key)
def test_definitions_round_trip_through_plain_data(pipeline):
    """Every seed pipeline survives to_data / from_data unchanged."""
    assert pipeline == fk.from_data(fk.to_data(pipeline), Pipeline)


def test_definitions_load_from_data_with_defaults_and_durations():
    """Hand-written data fills defaults; durations are ISO 8601; entry actions are tagged."""
    data = {
        "key": "замеры",
        "stages": [
            {
                "key": "Назначить замер",
                "sla": "PT4H",
                "on_enter": [
                    {
                        "type": "create_task",
                        "kind": "measurement",
                        "title": "Замер",
                        "due_in": "P1D",
                    }
                ],
            },
            {"key": "Замер сделан", "kind": "won"},
        ],
    }
    pipeline = fk.from_data(data, Pipeline)
    first = pipeline.stages[0]
    assert (timedelta(hours=4), "Назначить замер") == (first.sla, first.title)
    assert (
        CreateTask(kind=fk.TaskKind.MEASUREMENT, title="Замер", due_in=timedelta(days=1))
        == first.on_enter[0]
    )


def test_malformed_definition_data_lists_every_problem_with_its_path():
    """Bad durations, unknown kinds and unknown action types are each reported with a path."""
    data = {
        "key": "p",
        "stages": [
            {"key": "a", "sla": "4 hours", "on_enter": [{"type": "send_sms"}]},
            {"key": "b", "kind": "finished"},
        ],
    }
    with pytest.raises(fk.StructureError) as caught:
        fk.from_data(data, Pipeline)
    problems = caught.value.problems
    assert (
        "$.stages[0].sla: expected an ISO 8601 duration such as 'PT4H', 'P1D' or 'P1DT30M', "
        "got '4 hours'"
    ) in problems
    assert any(
        p.startswith("$.stages[0].on_enter[0]: unknown entry action type 'send_sms'")
        for p in problems
    )
    assert any(p.startswith("$.stages[1].kind:") for p in problems)


# --- funnels -------------------------------------------------------------------------------------


def test_conversion_creates_the_contact_and_the_deal_with_events():
    """A good lead converts into a deal in the routed pipeline, with a new contact."""
    lead = make_lead(pipeline=LEADS.key, stage="Квалификация", owner="anna")
    contact = make_contact("К-9")
    conversion = SEED_000.convert(
        lead, MANAGER, T0, sequence=3, deal_id="С-9", contact=contact, pipeline=PROPOSAL.key
    )
    assert (fk.LeadStatus.CONVERTED, "С-9", "К-9") == (
        conversion.lead.status,
        conversion.lead.deal_id,
        conversion.lead.contact_id,
    )
    deal = conversion.deal
    assert ("кп", "Готовим КП", "К-9", lead.id, "anna") == (
        deal.pipeline,
        deal.stage,
        deal.contact_id,
        deal.lead_id,
        deal.owner,
    )
    assert ["lead_converted", "contact_created", "deal_created"] == [
        type(e).TYPE for e in conversion.events
    ]
    converted = conversion.events[0]
    assert isinstance(converted, fk.events.LeadConverted)
    assert converted.to_stage == "Хороший лид"


def test_conversion_refusals():
    """A lead without a contact, a closed lead and an unknown pipeline are refused."""
    lead = make_lead(pipeline=LEADS.key, stage="Новое обращение")
    with pytest.raises(fk.ValidationError, match="has no contact"):
        SEED_000.convert(lead, MANAGER, T0, sequence=2, deal_id="С-1")
    with pytest.raises(fk.ValidationError, match="has no deal pipeline 'опт'"):
        SEED_000.convert(
            lead, MANAGER, T0, sequence=2, deal_id="С-1", contact=make_contact(), pipeline="опт"
        )
    junk = attrs.evolve(lead, status=fk.LeadStatus.JUNK, junk_reason="spam", closed_at=T0)
    with pytest.raises(fk.ValidationError, match="only open leads convert"):
        SEED_000.convert(junk, MANAGER, T0, sequence=2, deal_id="С-1", contact=make_contact())


def test_a_won_deal_opens_the_next_pipeline_of_the_chain():
    """Winning the meeting opens the proposal; a later pipeline may be named to skip."""
    meeting = make_deal(pipeline=MEETING.key, stage="Встреча назначена", contact_id="К-1")
    won = MEETING.compile().move(meeting, "Встреча проведена", MANAGER, T0, sequence=2).entity
    following = SEED_000.open_next(won, MANAGER, T0, deal_id="С-2")
    assert ("кп", "Готовим КП", "К-1") == (
        following.deal.pipeline,
        following.deal.stage,
        following.deal.contact_id,
    )
    skipped = SEED_000.open_next(won, MANAGER, T0, deal_id="С-3", pipeline=MAIN_SALE.key)
    assert "продажа" == skipped.deal.pipeline
    with pytest.raises(fk.ValidationError, match="only a won deal"):
        SEED_000.open_next(meeting, MANAGER, T0, deal_id="С-4")
    with pytest.raises(fk.ValidationError, match="does not come after"):
        SEED_000.open_next(won, MANAGER, T0, deal_id="С-4", pipeline=MEETING.key)


def test_a_funnel_needs_a_lead_pipeline_first():
    """A funnel starting with a deal pipeline is refused."""
    with pytest.raises(fk.ValidationError, match="starts with a lead pipeline"):
        Funnel(key="f", leads=ROOFING, deals=(MEETING,))


# --- diagrams ------------------------------------------------------------------------------------


def test_mermaid_of_a_pipeline_names_guards_and_marks_closed_stages():
    """Arrows carry guard names; won and lost stages get their classes."""
    text = to_mermaid(ROOFING)
    assert text.startswith("flowchart LR\n")
    assert '    s3 -->|"roles(engineer), requires(amount)"| s4\n' in text
    assert '    s6(["УСПЕШНО РЕАЛИЗОВАНО"]):::won\n' in text
    assert '    s7(["ЗАКРЫТО И НЕ РЕАЛИЗОВАНО"]):::lost\n' in text


def test_mermaid_draws_groups_as_subgraphs_and_funnels_as_chains():
    """Stage groups become subgraphs; a funnel links conversion and chain arrows."""
    assert 'subgraph g0["Лиды"]' in to_mermaid(TWO_BLOCKS)
    funnel = to_mermaid(SEED_000)
    assert '    p0s2 -.->|"converts"| p1s0\n' in funnel
    assert '    p1s2 -.->|"next"| p2s0\n' in funnel
    with pytest.raises(fk.ValidationError):
        to_mermaid("кровля")  # type: ignore[arg-type]


# --- replay --------------------------------------------------------------------------------------


def test_replay_follows_a_clean_history_to_its_end():
    """A history of declared moves replays without problems to its last stage."""
    deal = roofing_deal()
    first = RULES.move(deal, "ОП ВЗЯЛ В РАБОТУ", MANAGER, T0, sequence=1)
    second = RULES.move(first.entity, "ГОРЯЧИЕ", MANAGER, T0, sequence=2)
    replay = RULES.replay([*first.events, *second.events])
    assert ("ГОРЯЧИЕ", 2, ()) == (replay.stage, replay.moves, replay.problems)


def test_replay_reports_gaps_undeclared_and_foreign_moves():
    """A jump in the history, an unforced undeclared move and another pipeline's event are named."""
    ref = fk.EntityRef.deal("С-1")

    def moved(sequence, source, dest, pipeline="кровля", *, forced=False):
        overridden = (fk.Violation(rule="skip", message="пропуск"),) if forced else ()
        return fk.events.StageChanged(
            entity=ref,
            sequence=sequence,
            at=T0,
            actor="anna",
            pipeline=pipeline,
            from_stage=source,
            to_stage=dest,
            forced=forced,
            overridden=overridden,
        )

    history = [
        moved(1, "НОВЫЙ ЛИД", "ГОРЯЧИЕ"),
        moved(2, "ОП ВЗЯЛ В РАБОТУ", "ГОРЯЧИЕ"),
        moved(3, "ГОРЯЧИЕ", "КП ГОТОВО", forced=True),
        moved(4, "КП ГОТОВО", "СМЕТА ГОТОВА", pipeline="опт"),
    ]
    replay = RULES.replay(history)
    assert [(1, "undeclared_move"), (2, "history"), (4, "pipeline")] == [
        (p.sequence, p.rule) for p in replay.problems
    ]
    assert "СМЕТА ГОТОВА" == replay.stage


def test_bulk_moves_apply_the_same_rules_to_each_entity():
    """Each entity of a bulk move moves or is refused on its own, under the single-move rules."""
    ready = roofing_deal("ОП ВЗЯЛ В РАБОТУ", id="С-1")
    bare = make_deal("С-2", stage="ОП ВЗЯЛ В РАБОТУ")
    bulk = RULES.move_many([(ready, 3), (bare, 7)], "ГОРЯЧИЕ", MANAGER, T0)
    assert ["С-1"] == [result.entity.id for result in bulk.moved]
    (refusal,) = bulk.refused
    assert (bare.ref, ["required_field", "required_field"]) == (
        refusal.entity,
        rules_of(refusal.violations),
    )


@pytest.mark.parametrize("pipeline", ALL, ids=lambda p: p.key)
def test_the_compiled_shortcut_builds_what_the_general_path_builds(pipeline):
    """For every move between open stages, the shortcut's result equals the general path's."""
    rules = pipeline.compile()
    make = make_lead if pipeline.kind is PipelineKind.LEAD else make_deal
    filled = {**CARD, "construction_stage": "стены", "buys_when": "май"}
    actor = fk.Actor(id="турал", roles=frozenset({"manager", "engineer", "head"}))
    checked = 0
    for source, dest, _ in rules.moves():
        if pipeline.stage(dest).closed or pipeline.stage(dest).on_enter:
            continue
        entity = make(
            pipeline=pipeline.key, stage=source, owner="anna", contact_id="К-1", fields=filled
        )
        if rules.check(entity, dest, actor):
            continue
        general = rules._move(entity, dest, actor, T0, 7, None, "", False, conversion=None)
        assert general == rules.move(entity, dest, actor, T0, sequence=7)
        checked += 1
    assert checked > 0
