"""
Strategies for pipelines, the entities placed in them, and the moves attempted on them.

Exported by `funnelkit.testing.strategies`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import attrs
from hypothesis import strategies as st

from funnelkit.model import (
    Actor,
    Deal,
    FieldDef,
    FieldType,
    FieldValue,
    FieldValues,
    Lead,
    TaskKind,
)
from funnelkit.pipelines import (
    DEAL_FIELDS,
    LEAD_FIELDS,
    CreateTask,
    ExtraMove,
    MovePolicy,
    PaymentRule,
    Pipeline,
    PipelineKind,
    Reason,
    Stage,
    StageKind,
)
from funnelkit.testing._values import (
    _DATETIMES,
    _IDENTIFIERS,
    _NONBLANK,
    _TEXTS,
    _check_sizes,
    _pick,
    custom_field_schemas,
    lead_sources,
    moneys,
    payments,
)


if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy


__all__ = [
    "DrawnMove",
    "field_value_for",
    "move_attempts",
    "move_sequences",
    "pipeline_entities",
    "pipelines",
]

_ROLES = ("manager", "engineer", "head")


@st.composite
def _stage_lists(
    draw: DrawFn, kind: PipelineKind, max_open: int, fields: tuple[str, ...]
) -> list[Stage]:
    own = sorted(DEAL_FIELDS if kind is PipelineKind.DEAL else LEAD_FIELDS)
    requirable = [*fields, *own]
    keys = draw(st.lists(_IDENTIFIERS, min_size=3, max_size=max_open + 3, unique=True))
    open_count = draw(st.integers(1, max(1, min(max_open, len(keys) - 2))))
    closed_kind = StageKind.LOST if kind is PipelineKind.DEAL else StageKind.JUNK
    stages: list[Stage] = []
    for index, key in enumerate(keys):
        if index < open_count:
            stage_kind = StageKind.OPEN
        elif index == open_count:
            stage_kind = StageKind.WON
        else:
            stage_kind = draw(st.sampled_from([StageKind.WON, closed_kind]))
        stages.append(
            Stage(
                key=key,
                kind=stage_kind,
                group=draw(st.none() | st.sampled_from(["лиды", "сделки"])),
                priority=draw(st.none() | st.integers(1, 5)),
                sla=draw(st.none() | st.integers(1, 10_000).map(lambda m: timedelta(minutes=m))),
                required_fields=tuple(
                    draw(st.lists(st.sampled_from(requirable), max_size=2, unique=True))
                ),
                exit_roles=frozenset(draw(st.lists(st.sampled_from(_ROLES), max_size=1)))
                if stage_kind is StageKind.OPEN
                else frozenset(),
                entry_roles=frozenset(draw(st.lists(st.sampled_from(_ROLES), max_size=1)))
                if index > 0 and draw(st.integers(0, 3)) == 0
                else frozenset(),
                payment=draw(st.sampled_from(list(PaymentRule)))
                if kind is PipelineKind.DEAL and stage_kind is StageKind.WON
                else PaymentRule.NONE,
                blocking_tasks=frozenset(
                    draw(st.lists(st.sampled_from(list(TaskKind)), max_size=1))
                )
                if stage_kind is StageKind.OPEN and draw(st.integers(0, 3)) == 0
                else frozenset(),
                on_enter=tuple(
                    draw(
                        st.lists(
                            st.builds(
                                CreateTask,
                                kind=st.sampled_from(list(TaskKind)),
                                title=_NONBLANK,
                                due_in=st.integers(1, 72).map(lambda h: timedelta(hours=h)),
                            ),
                            max_size=1,
                        )
                    )
                ),
            )
        )
    return stages


def pipelines(
    *,
    kinds: SearchStrategy[PipelineKind] | None = None,
    max_open_stages: int = 6,
) -> SearchStrategy[Pipeline]:
    """
    Draw valid pipeline definitions: stages of every kind, policies, rules and reasons.

    Stages may require custom fields of the drawn schema or the entity's own fields, restrict
    exits and entries to roles (``manager``, ``engineer``, ``head``), require payments to win,
    block exits on open tasks and plan tasks on entry; some pipelines declare extra moves,
    with roles and required fields of their own; every closing stage has reasons to close
    with, some tied to a few of the closing stages.

    Args:
        kinds: Lead or deal pipelines (both by default).
        max_open_stages: At most this many open stages.
    """

    @st.composite
    def build(draw: DrawFn) -> Pipeline:
        _check_sizes(1, max_open_stages, "open_stages")
        kind = _pick(draw, kinds, st.sampled_from(list(PipelineKind)), "kinds")
        schema = draw(custom_field_schemas(max_size=3))
        stages = draw(_stage_lists(kind, max_open_stages, schema.keys))
        open_keys = [s.key for s in stages if not s.closed]
        all_keys = [s.key for s in stages]
        extra = draw(
            st.lists(
                st.tuples(st.sampled_from(open_keys), st.sampled_from(all_keys)).filter(
                    lambda pair: pair[0] != pair[1]
                ),
                max_size=2,
                unique=True,
            )
        )
        closing = [s.key for s in stages if s.kind in (StageKind.LOST, StageKind.JUNK)]
        reasons = draw(
            st.lists(
                st.builds(
                    Reason,
                    key=_IDENTIFIERS,
                    title=_NONBLANK,
                    needs_note=st.booleans(),
                    stages=st.lists(st.sampled_from(closing), max_size=2).map(frozenset)
                    if closing
                    else st.just(frozenset()),
                ),
                min_size=1,
                max_size=3,
                unique_by=lambda reason: reason.key,
            )
        )
        own = sorted(DEAL_FIELDS if kind is PipelineKind.DEAL else LEAD_FIELDS)
        requirable = [*schema.keys, *own]
        return Pipeline(
            key=draw(_IDENTIFIERS),
            kind=kind,
            stages=tuple(stages),
            policy=MovePolicy(allow_back=draw(st.booleans()), allow_skip=draw(st.booleans())),
            extra_moves=tuple(
                ExtraMove(
                    source=source,
                    dest=dest,
                    roles=frozenset(draw(st.lists(st.sampled_from(_ROLES), max_size=1))),
                    required_fields=tuple(
                        draw(st.lists(st.sampled_from(requirable), max_size=1, unique=True))
                    ),
                )
                for source, dest in extra
            ),
            reasons=tuple(reasons),
            fields=schema,
        )

    return build()


def field_value_for(definition: FieldDef) -> SearchStrategy[FieldValue]:
    """Draw values that fit one custom field definition (its type and choices)."""
    by_type: dict[FieldType, SearchStrategy[Any]] = {
        FieldType.TEXT: _NONBLANK,
        FieldType.INTEGER: st.integers(-(10**6), 10**6),
        FieldType.DECIMAL: st.decimals(
            allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**6
        ),
        FieldType.BOOLEAN: st.booleans(),
        FieldType.DATE: st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 1, 1)),
        FieldType.DATETIME: _DATETIMES,
    }
    if definition.type is FieldType.CHOICE:
        return st.sampled_from(definition.choices)
    if definition.type is FieldType.MULTI_CHOICE:
        return st.lists(st.sampled_from(definition.choices), min_size=1, unique=True).map(tuple)
    strategy: SearchStrategy[FieldValue] = by_type[definition.type]
    return strategy


def pipeline_entities(
    pipeline: Pipeline, *, stages: SearchStrategy[str] | None = None
) -> SearchStrategy[Lead | Deal]:
    """
    Draw open leads or deals (as the pipeline holds) placed in one of its open stages.

    Custom fields of the pipeline's schema and the entity's own fields are filled or left
    empty at random, so some moves pass their required-field rules and some do not.
    """
    open_keys = [stage.key for stage in pipeline.stages if not stage.closed]

    @st.composite
    def build(draw: DrawFn) -> Lead | Deal:
        stage = _pick(draw, stages, st.sampled_from(open_keys), "stages")
        values = {
            definition.key: draw(field_value_for(definition))
            for definition in pipeline.fields.fields
            if draw(st.booleans())
        }
        common: dict[str, Any] = {
            "id": draw(_IDENTIFIERS),
            "created_at": draw(_DATETIMES),
            "pipeline": pipeline.key,
            "stage": stage,
            "owner": draw(st.none() | _IDENTIFIERS),
            "contact_id": draw(st.none() | _IDENTIFIERS),
            "fields": FieldValues(values),
        }
        if pipeline.kind is PipelineKind.LEAD:
            return Lead(source=draw(lead_sources()), **common)
        amount = draw(st.none() | moneys())
        currency = st.just(amount.currency if amount is not None else "RUB")
        paid = draw(
            st.lists(payments(currencies=currency, received_after=common["created_at"]), max_size=2)
        )
        return Deal(
            title=draw(_TEXTS),
            amount=amount,
            payments=tuple(attrs.evolve(p, id=f"P-{n}") for n, p in enumerate(paid, start=1)),
            **common,
        )

    return build()


@attrs.frozen(kw_only=True)
class DrawnMove:
    """
    One attempt to move an entity, as `move_attempts` draws it.

    Attributes:
        to_stage: The destination (sometimes a stage the pipeline lacks).
        actor: Who tries.
        reason: The reason key given (sometimes unknown or missing).
        note: The note given.
        force: Whether the rules are overridden.
    """

    to_stage: str
    actor: Actor
    reason: str | None
    note: str
    force: bool


def move_attempts(
    pipeline: Pipeline, *, forced: SearchStrategy[bool] | None = None
) -> SearchStrategy[DrawnMove]:
    """
    Draw attempts to move entities of `pipeline`: any stage, any roles, right and wrong reasons.

    Args:
        pipeline: The pipeline whose stages and reasons the attempts use.
        forced: Whether attempts use ``force=True`` (rarely, by default).
    """
    roles = sorted(
        {role for stage in pipeline.stages for role in stage.exit_roles}
        | {role for move in pipeline.extra_moves for role in move.roles}
        | set(_ROLES)
    )
    reasons = [reason.key for reason in pipeline.reasons]
    return st.builds(
        DrawnMove,
        to_stage=st.sampled_from([stage.key for stage in pipeline.stages]) | st.just("нет такого"),
        actor=st.builds(
            Actor,
            id=_IDENTIFIERS,
            roles=st.lists(st.sampled_from(roles), max_size=2).map(frozenset),
        ),
        reason=(st.sampled_from(reasons) if reasons else st.nothing()) | st.none() | st.just("?"),
        note=st.sampled_from(["", "Клиент уехал"]),
        force=forced if forced is not None else st.integers(0, 9).map(lambda n: n == 0),
    )


def move_sequences(
    pipeline: Pipeline, *, min_size: int = 1, max_size: int = 10
) -> SearchStrategy[list[DrawnMove]]:
    """Draw sequences of move attempts on `pipeline`, to apply one after another."""

    @st.composite
    def build(draw: DrawFn) -> list[DrawnMove]:
        _check_sizes(min_size, max_size)
        return draw(st.lists(move_attempts(pipeline), min_size=min_size, max_size=max_size))

    return build()
