"""
Plans: targets per manager (or the whole department) per key stage or outcome and period.

Seed 000 asks for "real plans for every employee and the whole department at every key stage":
so many meetings, proposals, contracts and sales a month. A `Plan` is a tuple of `Target`
values a head of sales writes once (or loads with ``from_data``); the analytics compare facts
computed from events against it. Nothing here reads a clock: periods are calendar days, placed
in a time zone only when compared with events.

The guide "The manager's day" shows a plan for seed 000's chain.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit import _checks as check
from funnelkit.model import Money, Period
from funnelkit.pipelines._definition import pipelines_given


if TYPE_CHECKING:
    from collections.abc import Iterable

    from funnelkit.pipelines import Pipeline


__all__ = ["Measure", "Plan", "Target", "TargetKey"]


class Measure(str, enum.Enum):
    """
    What a target counts.

    Members:
        ENTERED: Leads or deals that entered `Target.stage` of `Target.pipeline` in the period
            (meetings held, proposals sent, contracts signed...). Needs a pipeline and a stage.
        WON: Deals won in the period.
        REVENUE: The amounts of the deals won in the period (a `Money` target).
        PAYMENTS: The payments received in the period (a `Money` target).
    """

    ENTERED = "entered"
    WON = "won"
    REVENUE = "revenue"
    PAYMENTS = "payments"

    @property
    def is_money(self) -> bool:
        """Whether the target is an amount of money rather than a count."""
        return self in {Measure.REVENUE, Measure.PAYMENTS}


TargetKey = tuple[str | None, Measure, str | None, str | None, Period]
"""What a target is about; ``(owner, measure, pipeline, stage, period)``."""


def _target_value(instance: Target, attribute: attrs.Attribute[Any], value: object) -> None:
    if instance.measure.is_money:
        if not isinstance(value, Money):
            check.fail(
                instance,
                attribute,
                value,
                f"a {instance.measure.value} target is money: expected a Money, got "
                f"{check.describe(value)}; write Money.of('1500000', 'RUB')",
                "type",
            )
        if value.amount < 0:
            check.fail(instance, attribute, value, "must not be negative", "range")
        return
    if type(value) is not int:
        check.fail(
            instance,
            attribute,
            value,
            f"a {instance.measure.value} target is a count: expected an int, "
            f"got {check.describe(value)}",
            "type",
        )
    if value < 0:
        check.fail(instance, attribute, value, "must not be negative", "range")


def _target_stage(instance: Target, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if instance.measure is Measure.ENTERED:
        if value is None:
            check.fail(
                instance,
                attribute,
                value,
                "an entered target needs the stage whose entries it counts",
                "required",
            )
        if instance.pipeline is None:
            check.fail(
                instance,
                attribute,
                value,
                "an entered target needs the pipeline of its stage: set pipeline",
                "required",
            )
    elif value is not None:
        check.fail(
            instance,
            attribute,
            value,
            f"only entered targets name a stage; a {instance.measure.value} target counts "
            "whole deals: drop the stage",
            "stage_not_allowed",
        )


@attrs.frozen(kw_only=True)
class Target:
    """
    How much of one measure one manager (or the department) should reach in one period.

    Attributes:
        measure: What is counted.
        period: The calendar days it covers.
        value: The target: an ``int`` count, or `Money` for revenue and payments.
        owner: The manager, or ``None`` for the whole department.
        pipeline: The pipeline counted (``None``: every pipeline; required for entered).
        stage: The stage whose entries are counted (entered targets only).
    """

    measure: Measure = attrs.field(validator=check.is_enum(Measure))
    period: Period = attrs.field(validator=check.instance_of(Period, "a Period"))
    owner: str | None = attrs.field(default=None, validator=check.optional_identifier)
    pipeline: str | None = attrs.field(default=None, validator=check.optional_identifier)
    stage: str | None = attrs.field(
        default=None, validator=[check.optional_identifier, _target_stage]
    )
    value: int | Money = attrs.field(validator=_target_value)

    @property
    def key(self) -> TargetKey:
        """What the target is about, without its value."""
        return (self.owner, self.measure, self.pipeline, self.stage, self.period)


def _unique_targets(instance: Plan, _attribute: attrs.Attribute[Any], _value: object) -> None:
    seen: dict[TargetKey, int] = {}
    for index, target in enumerate(instance.targets):
        first = seen.setdefault(target.key, index)
        if first != index:
            check.raise_for(
                f"Plan.targets[{index}]",
                target,
                f"repeats the target at index {first} (same owner, measure, pipeline, stage and "
                "period); keep one value per target",
                "unique",
            )


@attrs.frozen(kw_only=True)
class Plan:
    """
    The targets of a team: each manager's, and optionally the department's own.

    A department total is the department's own target if the plan has one, else the sum of the
    managers' targets with the same measure, pipeline, stage and period.

    Attributes:
        targets: The targets, one per (owner, measure, pipeline, stage, period).
    """

    targets: tuple[Target, ...] = attrs.field(
        validator=[
            check.tuple_of(check.instance_problem(Target, "a Target"), "Target"),
            _unique_targets,
        ]
    )

    def owners(self) -> list[str]:
        """The managers with targets, sorted."""
        return sorted({t.owner for t in self.targets if t.owner is not None})

    def for_owner(self, owner: str | None) -> tuple[Target, ...]:
        """The targets of one manager (``None``: the department's own targets)."""
        return tuple(t for t in self.targets if t.owner == owner)

    def department(
        self,
        measure: Measure,
        period: Period,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
    ) -> int | Money | None:
        """
        The department's target for a measure and period, or ``None`` if the plan has none.

        Raises:
            ValidationError: If the managers' money targets are in different currencies.
        """
        own = [
            t.value
            for t in self.targets
            if t.owner is None and t.key == (None, measure, pipeline, stage, period)
        ]
        if own:
            return own[0]
        parts = [
            t.value
            for t in self.targets
            if t.owner is not None and t.key[1:] == (measure, pipeline, stage, period)
        ]
        if not parts:
            return None
        total = parts[0]
        for part in parts[1:]:
            total = total + part  # type: ignore[operator]  # one measure: all int or all Money
        return total

    def check(self, pipelines: Iterable[Pipeline]) -> None:
        """
        Check that every target's pipeline and stage exist.

        Raises:
            ValidationError: Naming the first target (``Plan.targets[i]``) whose pipeline or
                stage is unknown, with the keys that exist.
        """
        known = {p.key: p for p in pipelines_given(pipelines)}
        for index, target in enumerate(self.targets):
            where = f"Plan.targets[{index}]"
            if target.pipeline is None:
                continue
            pipeline = known.get(target.pipeline)
            if pipeline is None:
                check.raise_for(
                    f"{where}.pipeline",
                    target.pipeline,
                    f"no pipeline {target.pipeline!r}; known: {', '.join(sorted(known))}",
                    "unknown_pipeline",
                )
            if target.stage is not None and target.stage not in pipeline:
                stages = ", ".join(repr(s.key) for s in pipeline.stages)
                check.raise_for(
                    f"{where}.stage",
                    target.stage,
                    f"pipeline {pipeline.key!r} has no stage {target.stage!r}; its stages: "
                    f"{stages}",
                    "unknown_stage",
                )
