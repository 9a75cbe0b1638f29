"""
Pipeline definitions: stages, their rules and entry actions, reasons, and the move policy.

Definitions are plain frozen values: write them in code or load them from data with
``funnelkit.from_data(data, Pipeline)``. A `Pipeline` checks itself when built (unique keys,
known stages and fields, consistent kinds) and compiles once into the rules that decide every
move (`Pipeline.compile`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, raise_for
from funnelkit.exceptions import ValidationError
from funnelkit.model import (
    Actor,
    CustomFieldSchema,
    Deal,
    FieldValue,
    Lead,
    PipelineKey,
    StageKey,
    TaskKind,
    Violation,
)
from funnelkit.model._fields import field_value_problem


if TYPE_CHECKING:
    from funnelkit.pipelines._compiled import CompiledPipeline


__all__ = [
    "DEAL_FIELDS",
    "LEAD_FIELDS",
    "OPEN_TASKS",
    "Action",
    "Callback",
    "Condition",
    "CreateTask",
    "Effect",
    "EntryAction",
    "ExtraMove",
    "Message",
    "MoveAttempt",
    "MovePolicy",
    "PaymentRule",
    "Pipeline",
    "PipelineKind",
    "Reason",
    "SetField",
    "Stage",
    "StageKind",
    "Unless",
]

DEAL_FIELDS = frozenset({"amount", "contact_id", "owner", "title"})
"""Deal attributes a stage may require besides custom fields."""
LEAD_FIELDS = frozenset({"contact_id", "owner"})
"""Lead attributes a stage may require besides custom fields."""


def pipelines_given(value: object, field: str = "pipelines") -> list[Pipeline]:
    """
    The pipelines a function was given, as a list: refuse one pipeline alone or anything else.

    Raises:
        ValidationError: Naming `field`, for a single `Pipeline` (pass ``[pipeline]``) or an
            item that is not a `Pipeline`.
    """
    if isinstance(value, Pipeline):
        msg = f"{field}: expected pipelines, got the one pipeline {value.key!r}; pass [pipeline]"
        raise ValidationError(msg, field=field, value=value, rule="type")
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        msg = f"{field}: expected an iterable of Pipeline values, got {describe(value)}"
        raise ValidationError(msg, field=field, value=value, rule="type")
    found = list(value)
    for index, item in enumerate(found):
        if not isinstance(item, Pipeline):
            msg = f"{field}[{index}]: expected a Pipeline, got {describe(item)}"
            raise ValidationError(msg, field=f"{field}[{index}]", value=item, rule="type")
    return found


OPEN_TASKS = "funnelkit.open_tasks"
"""
The context key of the entity's open tasks (`Task` values), read by `Stage.blocking_tasks`.

`Service.move` puts them there; pass them yourself when you call `CompiledPipeline.move` or
`check` on an entity in a stage with blocking tasks: ``context={OPEN_TASKS: open_tasks}``.
"""


class StageKind(str, enum.Enum):
    """What reaching a stage means."""

    OPEN = "open"
    """Work in progress."""
    WON = "won"
    """Closed successfully: a deal won, or a lead converted into a deal."""
    LOST = "lost"
    """Closed unsuccessfully (deal pipelines): needs a reason."""
    JUNK = "junk"
    """Closed as not a real request (lead pipelines): spam, a contractor...; needs a reason."""

    @property
    def closed(self) -> bool:
        """Whether entities in a stage of this kind are closed."""
        return self is not StageKind.OPEN


class PipelineKind(str, enum.Enum):
    """What a pipeline holds."""

    LEAD = "lead"
    DEAL = "deal"


def _duration_problem(value: object) -> check.Problem:
    if type(value) is not timedelta:
        return f"expected a timedelta, got {describe(value)}", "type"
    if value <= timedelta(0):
        return f"must be a positive duration, got {value}", "range"
    return None


def _percent_problem(value: object) -> check.Problem:
    if type(value) is not int or not 0 <= value <= 100:  # noqa: PLR2004 - per cent
        return f"expected a whole percentage from 0 to 100, got {describe(value)}", "range"
    return None


def _field_value(instance: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    problem = field_value_problem(value)
    if problem is not None:
        check.fail(instance, attribute, value, problem[0], problem[1])


@attrs.frozen(kw_only=True)
class CreateTask:
    """
    Entry action: plan a task when an entity enters the stage.

    Attributes:
        kind: The kind of task.
        title: What to do (``"Получить план крыши"``).
        due_in: How long after the move the task is due.
        assignee: Who gets it; ``None`` means the entity's owner, or the person who moved it if
            it has none.
    """

    TYPE: ClassVar[str] = "create_task"

    kind: TaskKind = attrs.field(validator=check.is_enum(TaskKind))
    title: str = attrs.field(validator=check.nonblank)
    due_in: timedelta = attrs.field(validator=check.field(_duration_problem))
    assignee: str | None = attrs.field(default=None, validator=check.optional_identifier)


@attrs.frozen(kw_only=True)
class SetField:
    """
    Entry action: set a custom field when an entity enters the stage.

    Attributes:
        field: The custom field's key (it must be in the pipeline's schema).
        value: The value to set.
    """

    TYPE: ClassVar[str] = "set_field"

    field: str = attrs.field(validator=check.identifier)
    value: FieldValue = attrs.field(validator=_field_value)


EntryAction = CreateTask | SetField
"""What a stage can do on entry, written as data (a pipeline loaded with `from_data` has these)."""


@attrs.frozen(kw_only=True)
class Message:
    """
    Effect: a message for the host app to send (funnelkit sends nothing itself).

    Attributes:
        to: Whom to: a role, a user id, ``"owner"``, ``"client"``: what your app understands.
        text: What to say.
    """

    to: str = attrs.field(validator=check.identifier)
    text: str = attrs.field(validator=check.nonblank)


Effect: TypeAlias = CreateTask | SetField | Message
"""What a callback may ask for; a task to create, a custom field to set, a message to send."""

_NO_CONTEXT: Mapping[str, object] = MappingProxyType({})


@attrs.frozen(kw_only=True)
class MoveAttempt:
    """
    What a user condition or callback is told about the move being tried.

    Attributes:
        entity: The lead or deal, as it is before the move.
        actor: Who moves it.
        from_stage: The stage it is in.
        to_stage: The stage it would go to.
        reason: The reason given, for lost and junk stages.
        note: The note given.
        at: When the move is made; ``None`` when only asked about (`check`,
            `allowed_moves`).
        context: What the host app passed in (``context=`` of `move` and `check`): documents
            on file, the calendar, anything your rules need that funnelkit does not hold.
    """

    entity: Lead | Deal
    actor: Actor
    from_stage: StageKey
    to_stage: StageKey
    reason: str | None = None
    note: str = ""
    at: datetime | None = None
    context: Mapping[str, object] = _NO_CONTEXT


Condition: TypeAlias = Callable[[MoveAttempt], "Violation | bool | None"]
"""
A rule of your own; it refuses a move by returning a `Violation` (its rule and message are
reported like funnelkit's own) or ``False`` (reported under the callable's name); lets it
through with ``None`` or ``True``. It must not change anything: it may be called on a move
that is then refused, or only asked about.
"""

Unless: TypeAlias = Callable[[MoveAttempt], bool]
"""A rule of your own, the other way round; the move is refused while it returns ``True``."""

Callback: TypeAlias = Callable[[MoveAttempt], "Iterable[Effect] | None"]
"""
Code run when a move is made (``before``, ``after``, ``on_enter``, ``on_exit``): returns the
effects it asks for, as data, and does no I/O.
"""

Action: TypeAlias = CreateTask | SetField | Callback
"""What a stage does on entry or exit; an entry action written as data, or a callback."""


def _callables_problem(value: object) -> check.Problem:
    if type(value) is not tuple:
        return f"expected a tuple of callables, got {describe(value)}", "type"
    for item in value:
        if not callable(item) or isinstance(item, type):
            return f"expected callables, got {describe(item)}", "type"
    return None


def _actions_problem(value: object) -> check.Problem:
    if type(value) is not tuple:
        return f"expected a tuple of actions, got {describe(value)}", "type"
    for item in value:
        if not isinstance(item, CreateTask | SetField) and (
            not callable(item) or isinstance(item, type)
        ):
            return f"expected a CreateTask, a SetField or a callback, got {describe(item)}", "type"
    return None


_CODE = {"code": True}  # attrs metadata: a field holding code, never written as data


def _code(problem: check.ProblemFn = _callables_problem) -> Any:
    return attrs.field(default=(), validator=check.field(problem), metadata=_CODE)


@attrs.frozen(kw_only=True)
class Reason:
    """
    A reason to close a deal as lost or a lead as junk.

    Attributes:
        key: Stable key recorded in events (``"expensive"``, ``"spam"``).
        title: What people see (``"Дорого"``, ``"Спам"``).
        needs_note: Whether a note is required with it (a reason such as ``"other"``).
        stages: The lost or junk stages it closes into; empty means any. Seed 000 sorts bad
            requests into junk stages of their own: ``Reason(key="spam", title="Спам",
            stages=frozenset({"Спам"}))`` is refused for "Случайный посетитель".
    """

    key: str = attrs.field(validator=check.identifier)
    title: str = attrs.field(validator=check.nonblank)
    needs_note: bool = attrs.field(default=False, validator=check.boolean)
    stages: frozenset[StageKey] = attrs.field(
        default=frozenset(), validator=check.frozenset_of(check.identifier_problem, "stage keys")
    )


class PaymentRule(str, enum.Enum):
    """What a stage requires of a deal's payments before it may be entered (`Stage.payment`)."""

    NONE = "none"
    """Nothing: the default."""
    RECEIVED = "received"
    """At least one payment received (seed 002's "деньги в кассе")."""
    IN_FULL = "in_full"
    """Payments that add up to the deal's amount at least (the deal must have an amount)."""


@attrs.frozen(kw_only=True)
class Stage:
    """
    One stage of a pipeline.

    Attributes:
        key: Stable key, unique in the pipeline; any language (``"КП ГОТОВО"``).
        title: What people see; the key by default.
        kind: Open, won, lost or junk.
        probability: Chance of winning from here, in per cent, for forecasts; won stages may
            only say 100, lost and junk stages only 0.
        group: A block of stages (``"лиды"``, ``"сделки"``) for one pipeline holding both a lead
            block and a deal block; diagrams draw each group as a box.
        priority: Work order for the manager's day: 1 is worked first; ``None`` means no
            particular order.
        sla: How long an entity may stay in the stage before it is late.
        required_fields: Fields that must be filled to enter: custom fields of the pipeline's
            schema, or the entity's own (`DEAL_FIELDS`, `LEAD_FIELDS`).
        exit_roles: Roles allowed to move an entity out of the stage; empty means anyone.
        entry_roles: Roles allowed to move an entity into the stage; empty means anyone (seed
            002: the manager moves a deal into "ОБЪЕМЫ", only the engineer out of it).
        payment: What the deal's payments must be to enter (`PaymentRule`): a won stage
            meaning "деньги в кассе" requires `PaymentRule.RECEIVED`. Deal pipelines only.
        blocking_tasks: Kinds of task that must not be open to leave the stage: an open
            measurement blocks leaving "ЗАМЕР". The check reads the entity's open tasks from
            the move's context under `OPEN_TASKS` (`Service.move` puts them there); a move
            to a lost or junk stage is never blocked.
        on_enter: Actions run when an entity enters the stage: entry actions written as data
            (`CreateTask`, `SetField`) or callbacks returning effects.
        on_exit: Callbacks run when an entity leaves the stage.
        conditions: Your own rules for entering the stage (`Condition`), checked after
            funnelkit's; each may refuse the move.
        unless: Your own rules the other way round (`Unless`): entering is refused while one
            returns ``True``.
    """

    key: StageKey = attrs.field(validator=check.identifier)
    title: str = attrs.field(
        default=attrs.Factory(lambda self: self.key, takes_self=True), validator=check.nonblank
    )
    kind: StageKind = attrs.field(default=StageKind.OPEN, validator=check.is_enum(StageKind))
    probability: int | None = attrs.field(
        default=None, validator=check.field(_percent_problem, optional=True)
    )
    group: str | None = attrs.field(default=None, validator=check.optional_identifier)
    priority: int | None = attrs.field(
        default=None, validator=check.field(check.integer_at_least(1), optional=True)
    )
    sla: timedelta | None = attrs.field(
        default=None, validator=check.field(_duration_problem, optional=True)
    )
    required_fields: tuple[str, ...] = attrs.field(
        default=(),
        validator=check.tuple_of(check.identifier_problem, "field keys", unique=True),
    )
    exit_roles: frozenset[str] = attrs.field(
        default=frozenset(), validator=check.frozenset_of(check.identifier_problem, "role names")
    )
    entry_roles: frozenset[str] = attrs.field(
        default=frozenset(), validator=check.frozenset_of(check.identifier_problem, "role names")
    )
    payment: PaymentRule = attrs.field(
        default=PaymentRule.NONE, validator=check.is_enum(PaymentRule)
    )
    blocking_tasks: frozenset[TaskKind] = attrs.field(
        default=frozenset(), validator=check.frozenset_of(check.member_of(TaskKind), "task kinds")
    )
    on_enter: tuple[Action, ...] = attrs.field(default=(), validator=check.field(_actions_problem))
    on_exit: tuple[Callback, ...] = _code()
    conditions: tuple[Condition, ...] = _code()
    unless: tuple[Unless, ...] = _code()

    @probability.validator
    def _probability_fits_kind(self, attribute: attrs.Attribute[Any], value: int | None) -> None:
        expected = {StageKind.WON: 100, StageKind.LOST: 0, StageKind.JUNK: 0}.get(self.kind)
        if value is not None and expected is not None and value != expected:
            check.fail(
                self,
                attribute,
                value,
                f"a {self.kind.value} stage is closed, so its probability is {expected}, "
                f"got {value}; leave it out or make the stage open",
                "probability",
            )

    @property
    def closed(self) -> bool:
        """Whether entities in this stage are closed (won, lost or junk)."""
        return self.kind.closed


@attrs.frozen(kw_only=True)
class ExtraMove:
    """
    A move the policy would not allow, declared explicitly (e.g. "ГОРЯЧИЕ" → "КП ГОТОВО").

    Attributes:
        source: The stage moved from.
        dest: The stage moved to.
        roles: Roles allowed to make this move; empty means anyone. A move reserved this way
            is refused as ``move_role``, naming the move.
        required_fields: Fields that must be filled for this move, besides those its
            destination requires of every move into it.
        conditions: Your own rules for this move (`Condition`).
        unless: Your own rules the other way round (`Unless`).
        before: Callbacks run when this move is made, before the stage changes.
        after: Callbacks run when this move is made, after the stage has changed.

    Declare an `ExtraMove` the policy allows anyway to give that move conditions or callbacks
    of its own.
    """

    source: StageKey = attrs.field(validator=check.identifier)
    dest: StageKey = attrs.field(validator=check.identifier)
    roles: frozenset[str] = attrs.field(
        default=frozenset(), validator=check.frozenset_of(check.identifier_problem, "role names")
    )
    required_fields: tuple[str, ...] = attrs.field(
        default=(),
        validator=check.tuple_of(check.identifier_problem, "field keys", unique=True),
    )
    conditions: tuple[Condition, ...] = _code()
    unless: tuple[Unless, ...] = _code()
    before: tuple[Callback, ...] = _code()
    after: tuple[Callback, ...] = _code()


@attrs.frozen(kw_only=True)
class MovePolicy:
    """
    Which moves between open stages a pipeline allows.

    Closed stages are always final: leaving one needs ``force=True`` (a reopening, audited).

    Attributes:
        allow_back: Whether an entity may move to an earlier open stage.
        allow_skip: Whether an entity may jump over open stages (including straight to a won
            stage from before the last open one). Lost and junk stages are reachable from any
            open stage either way.
    """

    allow_back: bool = attrs.field(default=False, validator=check.boolean)
    allow_skip: bool = attrs.field(default=False, validator=check.boolean)


def _unique(items: tuple[Any, ...], name: str) -> None:
    seen: set[object] = set()
    for index, item in enumerate(items):
        if item.key in seen:
            raise_for(
                f"Pipeline.{name}[{index}].key",
                item.key,
                f"duplicate key {item.key!r}; every key in {name} must be unique",
                "unique",
            )
        seen.add(item.key)


@attrs.frozen(kw_only=True)
class Pipeline:
    """
    A pipeline: ordered stages, the move policy, the reasons to close, and the custom fields.

    Attributes:
        key: Stable key (``"кровля"``); leads and deals name it in their ``pipeline``.
        title: What people see; the key by default.
        kind: Whether it holds leads or deals.
        stages: The stages in order; the first is where new entities start and must be open.
        policy: Which moves between open stages are allowed.
        extra_moves: Moves allowed besides those of the policy.
        reasons: Reasons for lost stages (deal pipelines) or junk stages (lead pipelines).
        fields: The custom fields entities of this pipeline carry; stages may require them.
        before: Callbacks run on every move of the pipeline, before the stage changes.
        after: Callbacks run on every move of the pipeline, after the stage has changed.

    Raises:
        ValidationError: If a key repeats, a rule names an unknown stage or field, the kinds do
            not fit the pipeline (junk in a deal pipeline, lost in a lead pipeline), a closed
            stage comes first, or closed stages exist without reasons to close with.
    """

    key: PipelineKey = attrs.field(validator=check.identifier)
    title: str = attrs.field(
        default=attrs.Factory(lambda self: self.key, takes_self=True), validator=check.nonblank
    )
    kind: PipelineKind = attrs.field(
        default=PipelineKind.DEAL, validator=check.is_enum(PipelineKind)
    )
    stages: tuple[Stage, ...] = attrs.field(
        validator=check.tuple_of(check.instance_problem(Stage, "a Stage"), "stages", min_size=1)
    )
    policy: MovePolicy = attrs.field(
        factory=MovePolicy, validator=check.instance_of(MovePolicy, "a MovePolicy")
    )
    extra_moves: tuple[ExtraMove, ...] = attrs.field(
        default=(),
        validator=check.tuple_of(check.instance_problem(ExtraMove, "an ExtraMove"), "moves"),
    )
    reasons: tuple[Reason, ...] = attrs.field(
        default=(),
        validator=check.tuple_of(check.instance_problem(Reason, "a Reason"), "reasons"),
    )
    fields: CustomFieldSchema = attrs.field(
        factory=CustomFieldSchema,
        validator=check.instance_of(CustomFieldSchema, "a CustomFieldSchema"),
    )
    before: tuple[Callback, ...] = _code()
    after: tuple[Callback, ...] = _code()
    _stage_index: dict[str, int] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _compiled: list[Any] = attrs.field(init=False, factory=list, repr=False, eq=False, hash=False)

    @_stage_index.default
    def _index_stages(self) -> dict[str, int]:
        return {stage.key: index for index, stage in enumerate(self.stages)}

    def __attrs_post_init__(self) -> None:
        _unique(self.stages, "stages")
        _unique(self.reasons, "reasons")
        self._check_kinds()
        self._check_fields()
        self._check_moves()

    def _check_kinds(self) -> None:
        if self.stages[0].closed:
            raise_for(
                "Pipeline.stages[0].kind",
                self.stages[0].kind,
                f"the first stage {self.stages[0].key!r} is where entities start, so it must "
                "be open",
                "first_stage",
            )
        if not any(stage.kind is StageKind.WON for stage in self.stages):
            raise_for(
                "Pipeline.stages",
                self.stages,
                "a pipeline needs a won stage (kind=StageKind.WON) to close successfully",
                "won_stage",
            )
        wrong = StageKind.JUNK if self.kind is PipelineKind.DEAL else StageKind.LOST
        for index, stage in enumerate(self.stages):
            if stage.kind is wrong:
                right = StageKind.LOST if wrong is StageKind.JUNK else StageKind.JUNK
                raise_for(
                    f"Pipeline.stages[{index}].kind",
                    stage.kind,
                    f"stage {stage.key!r} is {wrong.value}, which a {self.kind.value} pipeline "
                    f"cannot hold; use {right.value}",
                    "stage_kind",
                )
        needs_reasons = [s.key for s in self.stages if s.kind in (StageKind.LOST, StageKind.JUNK)]
        if needs_reasons and not self.reasons:
            raise_for(
                "Pipeline.reasons",
                self.reasons,
                f"stages {needs_reasons} close with a reason, but the pipeline has no reasons; "
                "add Reason(...) values",
                "reasons",
            )

    def _check_required(self, where: str, label: str, names: tuple[str, ...]) -> None:
        own = DEAL_FIELDS if self.kind is PipelineKind.DEAL else LEAD_FIELDS
        for position, name in enumerate(names):
            if name not in own and name not in self.fields:
                raise_for(
                    f"{where}.required_fields[{position}]",
                    name,
                    f"{label} requires {name!r}, which is neither a custom field "
                    f"of the pipeline's schema ({sorted(self.fields.keys)}) nor one of the "
                    f"{self.kind.value}'s own fields ({sorted(own)}); add it to the schema",
                    "unknown_field",
                )

    def _check_fields(self) -> None:
        for index, stage in enumerate(self.stages):
            self._check_required(
                f"Pipeline.stages[{index}]", f"stage {stage.key!r}", stage.required_fields
            )
            if stage.payment is not PaymentRule.NONE and self.kind is not PipelineKind.DEAL:
                raise_for(
                    f"Pipeline.stages[{index}].payment",
                    stage.payment,
                    f"stage {stage.key!r} requires a payment, but leads have no payments; "
                    "require it in the deal pipeline",
                    "pipeline_kind",
                )
            for position, action in enumerate(stage.on_enter):
                if isinstance(action, SetField):
                    where = f"Pipeline.stages[{index}].on_enter[{position}]"
                    if action.field not in self.fields:
                        raise_for(
                            f"{where}.field",
                            action.field,
                            f"stage {stage.key!r} sets {action.field!r}, which is not a custom "
                            "field of the pipeline's schema; add it to the schema",
                            "unknown_field",
                        )
                    violation = self.fields[action.field].check(action.value)
                    if violation is not None:
                        raise_for(f"{where}.value", action.value, violation.message, violation.rule)

    def _check_moves(self) -> None:
        for index, move in enumerate(self.extra_moves):
            for name in ("source", "dest"):
                key = getattr(move, name)
                if key not in self._stage_index:
                    raise_for(
                        f"Pipeline.extra_moves[{index}].{name}",
                        key,
                        f"unknown stage {key!r}; stages are {[s.key for s in self.stages]}",
                        "unknown_stage",
                    )
            if move.source == move.dest:
                raise_for(
                    f"Pipeline.extra_moves[{index}]",
                    move,
                    f"a move from {move.source!r} to itself is not a move",
                    "same_stage",
                )
            if self.stage(move.source).closed:
                raise_for(
                    f"Pipeline.extra_moves[{index}].source",
                    move.source,
                    f"stage {move.source!r} is closed, and closed stages are final; reopening "
                    "needs force=True, not a declared move",
                    "closed_stage",
                )
            self._check_required(
                f"Pipeline.extra_moves[{index}]",
                f"move {move.source!r} → {move.dest!r}",
                move.required_fields,
            )
        closing = {s.key for s in self.stages if s.kind in (StageKind.LOST, StageKind.JUNK)}
        for index, reason in enumerate(self.reasons):
            for key in sorted(reason.stages - closing):
                raise_for(
                    f"Pipeline.reasons[{index}].stages",
                    key,
                    f"reason {reason.key!r} closes into {key!r}, which is not a lost or junk "
                    f"stage of pipeline {self.key!r}; its closing stages are {sorted(closing)}",
                    "unknown_stage",
                )

    def compile(self) -> CompiledPipeline:
        """
        Return the pipeline's compiled rules, which decide moves; compiled once, then reused.

        Compiling builds one `transitions` state machine for the whole pipeline, however many
        leads or deals it then decides for.
        """
        if not self._compiled:
            from funnelkit.pipelines._compiled import CompiledPipeline  # noqa: PLC0415 - cycle

            self._compiled.append(CompiledPipeline(self))
        compiled: CompiledPipeline = self._compiled[0]
        return compiled

    # --- queries ---------------------------------------------------------------------------

    def stage(self, key: str) -> Stage:
        """
        Return the stage with this key.

        Raises:
            ValidationError: If the pipeline has no such stage (the message lists them).
        """
        index = self._stage_index.get(key)
        if index is None:
            raise_for(
                "stage",
                key,
                f"pipeline {self.key!r} has no stage {key!r}; its stages are "
                f"{[s.key for s in self.stages]}",
                "unknown_stage",
            )
        return self.stages[index]

    def index(self, key: str) -> int:
        """Return the position of a stage (0 for the first), or raise `ValidationError`."""
        self.stage(key)
        return self._stage_index[key]

    def __contains__(self, key: object) -> bool:
        return key in self._stage_index

    @property
    def first_stage(self) -> Stage:
        """The stage new entities start in."""
        return self.stages[0]

    def reason(self, key: str) -> Reason | None:
        """Return the reason with this key, or ``None``."""
        return next((reason for reason in self.reasons if reason.key == key), None)
