"""
Funnels: a lead pipeline tied to the deal pipelines good leads convert into, possibly chained.

Seed 000's scheme: requests land in the lead pipeline; a good lead converts into a deal in the
"Встреча", "КП", "Договор" or "Продажа" pipeline; winning a deal in one pipeline of the chain
opens a deal in the next; a pipeline that is not needed is skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from funnelkit import _checks as check
from funnelkit._checks import raise_for
from funnelkit.events import (
    ContactCreated,
    DealCreated,
    Event,
)
from funnelkit.model import (
    Actor,
    Contact,
    Deal,
    DealStatus,
    FieldValues,
    Lead,
    LeadStatus,
    Money,
    StageKey,
)
from funnelkit.pipelines._definition import Message, Pipeline, PipelineKind, StageKind
from funnelkit.pipelines._results import PlannedTask


if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


__all__ = ["Funnel", "LeadConversion", "NextDeal"]


@attrs.frozen(kw_only=True)
class LeadConversion:
    """
    What converting a lead produced.

    Attributes:
        lead: The converted lead (status converted, linked to the deal and the contact).
        deal: The new deal, version 0: add it to the store. The fields its first stage's entry
            actions set are set.
        contact: The new contact to add, if the lead had none and one was given; else ``None``.
        events: The lead's conversion event, the contact's creation, the deal's creation and
            the `FieldChanged` events of the deal's first stage's entry actions.
        lead_effects: What the lead's move to its won stage asks for: tasks to create and
            messages to send, from that stage's entry actions and the callbacks of the move.
        deal_effects: What the deal's first stage asks for on entry (`CompiledPipeline.enter`):
            the tasks that get a fresh deal worked on ("позвонить в ту же минуту"), messages.
    """

    lead: Lead
    deal: Deal
    contact: Contact | None
    events: tuple[Event, ...]
    lead_effects: tuple[PlannedTask | Message, ...] = ()
    deal_effects: tuple[PlannedTask | Message, ...] = ()

    @property
    def effects(self) -> tuple[PlannedTask | Message, ...]:
        """Every effect to carry out; the lead's, then the deal's (tasks name their subject)."""
        return self.lead_effects + self.deal_effects


@attrs.frozen(kw_only=True)
class NextDeal:
    """
    The deal a won deal opens in the next pipeline of a chain.

    Attributes:
        deal: The new deal, version 0: add it to the store (with the fields its first stage's
            entry actions set).
        events: Its creation event, then the `FieldChanged` events of those entry actions.
        effects: What its first stage asks for on entry: tasks to create, messages to send.
    """

    deal: Deal
    events: tuple[Event, ...]
    effects: tuple[PlannedTask | Message, ...] = ()


def _pipelines_problem(value: object) -> check.Problem:
    if not isinstance(value, Pipeline) or value.kind is not PipelineKind.DEAL:
        return "expected a deal Pipeline", "type"
    return None


@attrs.frozen(kw_only=True)
class Funnel:
    """
    A lead pipeline, the deal pipelines it feeds, and the order they chain in.

    A business that works deals only (one deal pipeline, no lead qualification) leaves
    `leads` out: deals are then opened by hand (`Service.add_deal`), and converting a lead
    is refused.

    Attributes:
        key: Stable key of the funnel.
        leads: The lead pipeline, or ``None`` for a funnel of deal pipelines only.
        deals: The deal pipelines, in chain order (meeting → proposal → contract → sale).
        chained: Whether winning a deal in one pipeline opens a deal in the next one.

    Raises:
        ValidationError: If `leads` is not a lead pipeline, a deal pipeline is not a deal
            pipeline, or two deal pipelines share a key.
    """

    key: str = attrs.field(validator=check.identifier)
    leads: Pipeline | None = attrs.field(
        default=None, validator=check.instance_of(Pipeline, "a Pipeline", optional=True)
    )
    deals: tuple[Pipeline, ...] = attrs.field(
        default=(), validator=check.tuple_of(_pipelines_problem, "deal pipelines", min_size=1)
    )
    chained: bool = attrs.field(default=True, validator=check.boolean)

    def __attrs_post_init__(self) -> None:
        if self.leads is not None and self.leads.kind is not PipelineKind.LEAD:
            raise_for(
                "Funnel.leads.kind",
                self.leads.kind,
                f"pipeline {self.leads.key!r} holds deals; a funnel starts with a lead pipeline",
                "pipeline_kind",
            )
        seen: set[str] = set()
        for index, pipeline in enumerate(self.deals):
            if pipeline.key in seen:
                raise_for(
                    f"Funnel.deals[{index}].key",
                    pipeline.key,
                    f"pipeline {pipeline.key!r} appears twice; list each deal pipeline once",
                    "unique",
                )
            seen.add(pipeline.key)

    def deal_pipeline(self, key: str) -> Pipeline:
        """
        Return the deal pipeline with this key.

        Raises:
            ValidationError: If the funnel has none (the message lists them).
        """
        found = next((pipeline for pipeline in self.deals if pipeline.key == key), None)
        if found is None:
            raise_for(
                "pipeline",
                key,
                f"funnel {self.key!r} has no deal pipeline {key!r}; "
                f"its deal pipelines are {[p.key for p in self.deals]}",
                "unknown_pipeline",
            )
        return found

    def next_pipeline(self, key: str) -> Pipeline | None:
        """Return the pipeline after `key` in the chain, or ``None`` at its end (or unchained)."""
        index = self.deals.index(self.deal_pipeline(key))
        if not self.chained or index + 1 == len(self.deals):
            return None
        return self.deals[index + 1]

    def convert(
        self,
        lead: Lead,
        actor: Actor,
        at: datetime,
        *,
        sequence: int,
        deal_id: str,
        pipeline: str | None = None,
        contact: Contact | None = None,
        title: str = "",
        amount: Money | None = None,
        stage: str | None = None,
        force: bool = False,
        context: Mapping[str, object] | None = None,
    ) -> LeadConversion:
        """
        Convert a good lead into a deal, linking or creating its contact.

        The lead moves to its pipeline's won stage under that pipeline's rules (the same
        rules as any other move); the deal starts in the first stage of `pipeline` (the first
        deal pipeline by default; name a later one to skip pipelines that are not needed),
        and that stage's entry actions run on it (`CompiledPipeline.enter`): the tasks they plan
        are in `LeadConversion.deal_effects`.

        Args:
            lead: The lead, as read from the store.
            actor: Who converts it; the deal's owner is the lead's owner, or the actor.
            at: When.
            sequence: The sequence number for the lead's conversion event.
            deal_id: The id of the new deal (from your id factory).
            pipeline: The deal pipeline to open the deal in.
            contact: A new contact for a lead that has none (``lead.contact_id`` is ``None``);
                it is returned for you to add, with its creation event.
            title: The deal's title; the lead's message by default.
            amount: The deal's expected amount, if known.
            stage: The won stage of the lead pipeline, if it has several.
            force: Override the lead pipeline's rules (recorded in the event).
            context: What the lead pipeline's own conditions and callbacks read, and the
                callbacks of the deal's first stage.

        Raises:
            MoveRefusedError: If the lead pipeline's rules refuse the move.
            ValidationError: If the lead is not open, has no contact and none is given (or has
                one and another is given), or a pipeline or stage is unknown.
        """
        if lead.status is not LeadStatus.OPEN:
            raise_for(
                "lead.status",
                lead.status,
                f"{lead.ref} is {lead.status.value}; only open leads convert",
                "lead_status",
            )
        leads = self._lead_pipeline(lead)
        contact_id = self._contact_for(lead, contact)
        target = self.deal_pipeline(pipeline) if pipeline is not None else self.deals[0]
        won = self._won_stage(leads, stage)
        rules = leads.compile()
        moved = rules._move(  # noqa: SLF001 - the funnel is the one path that converts leads
            lead,
            won,
            actor,
            at,
            sequence,
            None,
            "",
            force,
            conversion=(deal_id, contact_id),
            context=context,
        )
        events: list[Event] = list(moved.events)
        if contact is not None:
            events.append(
                ContactCreated(
                    entity=contact.ref, sequence=1, at=at, actor=actor.id, contact=contact
                )
            )
        deal = Deal(
            id=deal_id,
            created_at=at,
            pipeline=target.key,
            stage=target.first_stage.key,
            title=title or lead.message.strip()[:200],
            contact_id=contact_id,
            owner=lead.owner or actor.id,
            amount=amount,
            lead_id=lead.id,
            source=lead.source,
            fields=FieldValues({k: v for k, v in lead.fields.items() if k in target.fields}),
        )
        events.append(DealCreated(entity=deal.ref, sequence=1, at=at, actor=actor.id, deal=deal))
        entered = target.compile().enter(deal, actor, at, sequence=2, context=context)
        events.extend(entered.events)
        return LeadConversion(
            lead=moved.entity,
            deal=entered.entity,
            contact=contact,
            events=tuple(events),
            lead_effects=moved.effects,
            deal_effects=entered.effects,
        )

    def open_next(
        self,
        won: Deal,
        actor: Actor,
        at: datetime,
        *,
        deal_id: str,
        pipeline: str | None = None,
        context: Mapping[str, object] | None = None,
    ) -> NextDeal:
        """
        Open the deal that follows a won deal in the chain.

        The new deal keeps the won deal's contact, owner, amount, lead and source, records the
        deal it follows (`Deal.follows`), and its first stage's entry actions run on it.

        Args:
            won: The won deal.
            actor: Who opens the next deal.
            at: When.
            deal_id: The new deal's id.
            pipeline: A later pipeline of the chain, to skip the ones in between.
            context: What the callbacks of the new deal's first stage read.

        Raises:
            ValidationError: If the deal is not won, its pipeline ends the chain, or `pipeline`
                is not later in the chain.
        """
        if won.status is not DealStatus.WON:
            raise_for(
                "deal.status",
                won.status,
                f"{won.ref} is {won.status.value}; only a won deal opens the next pipeline",
                "deal_status",
            )
        current = self.deals.index(self.deal_pipeline(won.pipeline))
        following = self.next_pipeline(won.pipeline)
        if pipeline is not None:
            target = self.deal_pipeline(pipeline)
            if not self.chained or self.deals.index(target) <= current:
                raise_for(
                    "pipeline",
                    pipeline,
                    f"{pipeline!r} does not come after {won.pipeline!r} in funnel {self.key!r}; "
                    f"the chain is {[p.key for p in self.deals]}",
                    "chain",
                )
        elif following is None:
            raise_for(
                "deal.pipeline",
                won.pipeline,
                f"{won.pipeline!r} ends the chain of funnel {self.key!r}; no next pipeline",
                "chain",
            )
        else:
            target = following
        deal = Deal(
            id=deal_id,
            created_at=at,
            pipeline=target.key,
            stage=target.first_stage.key,
            title=won.title,
            contact_id=won.contact_id,
            owner=won.owner,
            amount=won.amount,
            lead_id=won.lead_id,
            follows=won.id,
            source=won.source,
        )
        created = DealCreated(entity=deal.ref, sequence=1, at=at, actor=actor.id, deal=deal)
        entered = target.compile().enter(deal, actor, at, sequence=2, context=context)
        return NextDeal(
            deal=entered.entity, events=(created, *entered.events), effects=entered.effects
        )

    def _contact_for(self, lead: Lead, contact: Contact | None) -> str:
        if lead.contact_id is not None:
            if contact is not None and contact.id != lead.contact_id:
                raise_for(
                    "contact",
                    contact.id,
                    f"{lead.ref} is linked to contact {lead.contact_id!r} already; "
                    "leave contact out to keep that link",
                    "contact",
                )
            return lead.contact_id
        if contact is None:
            raise_for(
                "contact",
                None,
                f"{lead.ref} has no contact; link one first or pass contact=Contact(...) "
                "built from lead.contact_data",
                "contact",
            )
        if contact.version != 0:
            raise_for(
                "contact.version",
                contact.version,
                "pass a new contact (version 0); to link an existing one, set lead.contact_id",
                "new_entity",
            )
        return contact.id

    def _lead_pipeline(self, lead: Lead) -> Pipeline:
        leads = self.leads
        if leads is None:
            raise_for(
                "Funnel.leads",
                None,
                f"funnel {self.key!r} has deal pipelines only, so {lead.ref} cannot convert; "
                "give the funnel its lead pipeline (Funnel(leads=...))",
                "no_lead_pipeline",
            )
        return leads

    @staticmethod
    def _won_stage(leads: Pipeline, stage: str | None) -> StageKey:
        won = [s.key for s in leads.stages if s.kind is StageKind.WON]
        if stage is None:
            return won[0]
        if stage not in won:
            raise_for(
                "stage",
                stage,
                f"{stage!r} is not a won stage of {leads.key!r}; its won stages are {won}",
                "unknown_stage",
            )
        return stage

    @property
    def pipelines(self) -> tuple[Pipeline, ...]:
        """The lead pipeline (if any), then the deal pipelines."""
        return self.deals if self.leads is None else (self.leads, *self.deals)
