"""
The application service: the operations a CRM back end performs, each in one unit of work.

A host app creates one `Service` with its store (the in-memory store by default), clock, id
factory, funnel and policies, and calls its operations: take in a lead, convert it, move a
lead or deal, win or lose a deal, create and complete tasks, record payments and document
versions, plan, apply and undo merges; and reads back what it stored (entities, listings, the
client card, the agendas, the analytics). Every operation takes what it is about first, as an
`EntityRef`, and the actor by keyword. Each operation reads what it needs, decides with the
pure policies, and writes the new values and their events through one unit of work: all of
it commits, or none of it does. The sequence numbers of
the events come from the event store, so callers never count them.

When someone else saved the same lead or deal in between, the operation raises
`ConflictError` and writes nothing; pass ``retries=`` to have the service read again and
retry (the decision is then made on the fresh values).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import phonenumbers

from funnelkit._checks import describe, raise_for
from funnelkit.analytics import Histories, histories
from funnelkit.events import (
    AmountChanged,
    ContactCreated,
    DealCreated,
    DocumentVersionAdded,
    Event,
    FieldChanged,
    OwnerChanged,
    PaymentReceived,
)
from funnelkit.exceptions import ConflictError, ValidationError
from funnelkit.matching import (
    MatchPolicy,
    MatchResult,
    MergePlan,
    MergePolicy,
    UndoRecord,
    apply_merge,
    claim_contact,
    undo_merge,
)
from funnelkit.model import (
    Actor,
    Clock,
    Contact,
    Deal,
    DealStatus,
    Document,
    DocumentKind,
    EntityKind,
    EntityRef,
    FieldValue,
    IdFactory,
    Lead,
    LeadStatus,
    Money,
    Payment,
    PaymentKind,
    Task,
    TaskKind,
    TaskStatus,
)
from funnelkit.pipelines import OPEN_TASKS, Funnel, Message, Pipeline, PipelineKind, StageKind
from funnelkit.qualification import Intake
from funnelkit.qualification._intake import contact_from_lead
from funnelkit.storage import InMemoryStore, Store
from funnelkit.tasks import (
    DEFAULT_MINUTES,
    Agenda,
    ContactCard,
    TaskPolicy,
    agendas_in,
    contact_card,
)


if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import date, tzinfo
    from typing import TypeAlias

    from funnelkit.pipelines import LeadConversion, PlannedTask
    from funnelkit.qualification import IntakeResult
    from funnelkit.storage import (
        ContactRepository,
        DealRepository,
        LeadRepository,
        TaskRepository,
        UnitOfWork,
    )

    _Reader: TypeAlias = LeadRepository | DealRepository | ContactRepository | TaskRepository
    _Entity: TypeAlias = Lead | Deal | Contact | Task
    _Outbox: TypeAlias = list[tuple[EntityRef, tuple[PlannedTask | Message, ...]]]


__all__ = ["KEEP", "Service"]

R = TypeVar("R")


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP
"""The default of `Service.update`'s arguments: leave the value as it is."""


_PROBE_AT = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _check_contact_keys(store: object, matching: MatchPolicy) -> None:
    """Refuse a store that indexes contacts under other keys than `matching` looks up."""
    live_keys = getattr(store, "live_keys", None)
    if not callable(live_keys):
        return  # the store does not say: the host keeps the two in step (documented)
    normaliser = matching.normaliser
    region = normaliser.default_region
    example = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number(region)
    if example is None:  # pragma: no cover - every region phonenumbers knows has an example
        return
    phone = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    probe = Contact(
        id="funnelkit-probe",
        created_at=_PROBE_AT,
        names=("Probe",),
        phones=(phone,),
        emails=("Probe.Name@Example.com",),
        fields={field.removeprefix("fields."): "probe" for field in matching.key_fields},
    )
    wanted = matching.contact_keys(probe)
    indexed = set(live_keys(probe))
    missing = [key for key in wanted if key not in indexed]
    if missing:
        raise_for(
            "Service.store",
            sorted(indexed),
            f"the store indexes the contact {phone!r} / 'Probe.Name@Example.com' under "
            f"{sorted(indexed)}, but the intake looks it up under {wanted}, so known clients "
            "would never be found; build the store with "
            "contact_keys=intake.matching.contact_keys (or leave store out)",
            "contact_keys",
        )


def _closing_stage(pipeline: Pipeline, kind: StageKind) -> str:
    """The pipeline's first stage of a closing kind (won or lost)."""
    found = next((stage.key for stage in pipeline.stages if stage.kind is kind), None)
    if found is None:
        message = f"pipeline {pipeline.key!r} has no {kind.value} stage"
        raise_for("stage", kind.value, message, "unknown")
    return found


def _actor_of(actor: object) -> Actor:
    if not isinstance(actor, Actor):
        msg = f"actor: expected an Actor (who does it, with their roles), got {describe(actor)}"
        raise ValidationError(msg, field="actor", value=actor, rule="type")
    return actor


def _ref_of(value: object, field: str, *kinds: EntityKind) -> EntityRef:
    """The reference an operation is about, if it names an entity of one of `kinds`."""
    if isinstance(value, EntityRef) and value.kind in kinds:
        return value
    wanted = " or ".join(kind.value for kind in kinds)
    if isinstance(value, str):
        hint = f"; pass EntityRef.{kinds[0].value}({value!r})"
    elif isinstance(value, Lead | Deal | Contact | Task) and value.KIND in kinds:
        hint = f"; pass its ref (EntityRef.{value.KIND.value}({value.id!r}))"
    else:
        hint = f"; pass EntityRef.{kinds[0].value}(<id>)"
    msg = f"{field}: expected a reference to a {wanted}, got {describe(value)}{hint}"
    raise ValidationError(msg, field=field, value=value, rule="entity_kind")


@attrs.define(kw_only=True)
class Service:
    """
    The operations of a CRM back end over one store, each in one unit of work.

    One calling convention holds for every operation: what it is about comes first, as an
    `EntityRef` (``EntityRef.deal("D-7")``, or ``deal.ref`` of a value you hold), then the
    operation's own arguments, and the `actor` always by keyword. Reading needs no unit of
    work either: `get` and `find` (and their typed forms `get_deal`, `find_lead`...),
    `leads`, `deals`, `tasks`, `contacts`, `contact_card`, `agendas`, `events` and
    `histories`.

    Attributes:
        clock: Where "now" comes from.
        ids: Where new ids come from.
        funnel: The lead pipeline (if any) and the deal pipelines.
        intake: How new requests are taken in (needed by `take_in`).
        store: The storage. By default an `InMemoryStore` indexing contacts with the keys the
            intake's match policy looks up (``intake.matching.contact_keys``). A store
            that says which keys it indexes (``store.live_keys``, as the bundled stores do)
            is checked against the intake's keys, so a known client is never missed because
            the two write a phone differently.
        task_policy: The task rules.
        merges: How duplicate contacts are merged (`plan_merge`). By default a `MergePolicy`
            that keeps each phone and e-mail once by the intake's normaliser.
        retries: How many times an operation is read again and retried after a conflict.
        on_message: Called with each `Message` a move's or a new deal's callbacks ask for,
            with the entity it is about, once the operation is committed (never for one
            rolled back or retried): hand it to your mailer or chat. Without it, messages are
            dropped.

    Raises:
        ValidationError: If the store indexes contacts under other keys than the intake looks
            up; build it with ``contact_keys=intake.matching.contact_keys``.
    """

    clock: Clock
    ids: IdFactory
    funnel: Funnel
    intake: Intake | None = None
    store: Store = attrs.field(
        default=attrs.Factory(
            lambda self: InMemoryStore(contact_keys=self._matching().contact_keys),
            takes_self=True,
        )
    )
    task_policy: TaskPolicy = attrs.field(factory=TaskPolicy)
    merges: MergePolicy = attrs.field(
        default=attrs.Factory(
            lambda self: MergePolicy(normaliser=self._matching().normaliser), takes_self=True
        )
    )
    retries: int = 0
    on_message: Callable[[EntityRef, Message], None] | None = None

    def __attrs_post_init__(self) -> None:
        if self.intake is not None:
            _check_contact_keys(self.store, self.intake.matching)

    # --- running an operation ---------------------------------------------------------------

    def _run(self, operation: Callable[[UnitOfWork], R], *, retry: bool = True) -> R:
        """Run `operation` in a unit of work and commit; retry after a conflict if asked."""
        attempt = 0
        while True:
            try:
                with self.store.unit_of_work() as uow:
                    result = operation(uow)
                    uow.commit()
                    return result
            except ConflictError:
                attempt += 1
                if not retry or attempt > self.retries:
                    raise

    def _pipeline(self, key: str) -> Pipeline:
        pipelines = self.funnel.pipelines
        found = next((p for p in pipelines if p.key == key), None)
        if found is None:
            known = ", ".join(p.key for p in pipelines)
            raise_for("pipeline", key, f"not a pipeline of the funnel; known: {known}", "unknown")
        return found

    @staticmethod
    def _next(uow: UnitOfWork, ref: EntityRef) -> int:
        return uow.events.last_sequence(ref) + 1

    def _run_carrying_out(self, operation: Callable[[UnitOfWork, _Outbox], R]) -> R:
        """
        `_run` an operation whose moves and new deals have effects.

        The operation carries them out with `_effects`; the messages among them go to
        `on_message` once it is committed (never for an attempt rolled back or retried).
        """
        outbox: _Outbox = []

        def attempt(uow: UnitOfWork) -> R:
            outbox.clear()
            return operation(uow, outbox)

        result = self._run(attempt)
        if self.on_message is not None:
            for ref, effects in outbox:
                for effect in effects:
                    if isinstance(effect, Message):
                        self.on_message(ref, effect)
        return result

    def _effects(
        self,
        uow: UnitOfWork,
        outbox: _Outbox,
        ref: EntityRef,
        effects: tuple[PlannedTask | Message, ...],
        *,
        actor: Actor,
        at: datetime,
    ) -> None:
        """Create the tasks among `effects`, with their events; keep the messages to send."""
        for effect in effects:
            if isinstance(effect, Message):
                continue  # sent once the operation is committed
            task, event = self.task_policy.from_effect(
                effect, task_id=self.ids.new_id(EntityKind.TASK), actor=actor, at=at
            )
            uow.tasks.add(task)
            uow.events.append([event])
        outbox.append((ref, effects))

    # --- leads and deals --------------------------------------------------------------------

    def take_in(self, lead: Lead, *, actor: Actor) -> IntakeResult:
        """
        Take in a new request: match and link its contact, mark repeats, qualify, place it.

        Raises:
            ValidationError: If the service has no intake policy, or the lead is not a new
                request of the intake's pipeline.
        """
        _actor_of(actor)
        intake = self.intake
        if intake is None:
            raise_for(
                "intake", None, "taking in leads needs Service(intake=Intake(...))", "required"
            )
        at = self.clock.now()
        return self._run(lambda uow: intake.receive(lead, uow, actor, at, ids=self.ids))

    def move(
        self,
        ref: EntityRef,
        to_stage: str,
        *,
        actor: Actor,
        reason: str | None = None,
        note: str = "",
        force: bool = False,
        context: Mapping[str, object] | None = None,
    ) -> Lead | Deal:
        """
        Move a lead or deal to a stage under its pipeline's rules; create its entry tasks.

        `context` is what the pipeline's own conditions and callbacks read
        (`MoveAttempt.context`); the messages they ask for go to `on_message` once the move
        is committed.

        Raises:
            NotFoundError: If there is no such lead or deal.
            MoveRefusedError: If a rule forbids the move (nothing is written).
            ConflictError: If it was changed meanwhile (after the retries).
        """
        return self._move(
            _ref_of(ref, "ref", EntityKind.LEAD, EntityKind.DEAL),
            to_stage,
            _actor_of(actor),
            reason=reason,
            note=note,
            force=force,
            context=context,
        )

    def _move(
        self,
        ref: EntityRef,
        to_stage: str | StageKind,
        actor: Actor,
        *,
        reason: str | None = None,
        note: str = "",
        force: bool = False,
        context: Mapping[str, object] | None = None,
    ) -> Lead | Deal:
        """`move`; a `StageKind` names the pipeline's won or lost stage, read in the same unit."""
        at = self.clock.now()

        def operation(uow: UnitOfWork, outbox: _Outbox) -> Lead | Deal:
            entity = self._get(uow, ref)
            pipeline = self._pipeline(entity.pipeline)
            stage = (
                _closing_stage(pipeline, to_stage) if isinstance(to_stage, StageKind) else to_stage
            )
            moved = pipeline.compile().move(
                entity,
                stage,
                actor,
                at,
                sequence=self._next(uow, ref),
                reason=reason,
                note=note,
                force=force,
                context=self._context(uow, pipeline, entity, context),
            )
            saved = self._save(uow, moved.entity)
            uow.events.append(list(moved.events))
            self._effects(uow, outbox, ref, moved.effects, actor=actor, at=at)
            return saved

        return self._run_carrying_out(operation)

    @staticmethod
    def _context(
        uow: UnitOfWork,
        pipeline: Pipeline,
        entity: Lead | Deal,
        context: Mapping[str, object] | None,
    ) -> Mapping[str, object] | None:
        """The move's context, with the entity's open tasks if its stage has blocking tasks."""
        if not pipeline.stage(entity.stage).blocking_tasks or not isinstance(
            context, Mapping | None
        ):
            return context  # nothing to add (or a bad context, which the move refuses)
        open_tasks = tuple(uow.tasks.list(subject=entity.ref, status=TaskStatus.OPEN))
        return {**(context or {}), OPEN_TASKS: open_tasks}

    def win(
        self, ref: EntityRef, *, actor: Actor, context: Mapping[str, object] | None = None
    ) -> Deal:
        """
        Move a deal to its pipeline's won stage (the stage rules apply).

        Raises:
            NotFoundError: If there is no such deal.
            MoveRefusedError: If a rule forbids it (a payment the won stage requires...).
        """
        won = self._move(
            _ref_of(ref, "ref", EntityKind.DEAL),
            StageKind.WON,
            _actor_of(actor),
            context=context,
        )
        assert isinstance(won, Deal)  # noqa: S101 - a deal moves as a deal
        return won

    def lose(
        self,
        ref: EntityRef,
        reason: str,
        *,
        actor: Actor,
        note: str = "",
        context: Mapping[str, object] | None = None,
    ) -> Deal:
        """
        Move a deal to its pipeline's lost stage with a reason from the pipeline's list.

        Raises:
            NotFoundError: If there is no such deal.
            MoveRefusedError: If the reason is unknown, not allowed at the deal's stage, or
                needs a note; nothing is written.
        """
        lost = self._move(
            _ref_of(ref, "ref", EntityKind.DEAL),
            StageKind.LOST,
            _actor_of(actor),
            reason=reason,
            note=note,
            context=context,
        )
        assert isinstance(lost, Deal)  # noqa: S101
        return lost

    def convert(
        self,
        ref: EntityRef,
        *,
        actor: Actor,
        pipeline: str | None = None,
        title: str = "",
        amount: Money | None = None,
        context: Mapping[str, object] | None = None,
    ) -> LeadConversion:
        """
        Convert a good lead into a deal in the funnel's first (or the named) deal pipeline.

        A lead without a contact gets one, made from its contact data; a lead's contact is
        claimed (`claim_contact`), so a merge planned before the conversion is refused. The
        deal's first stage's entry actions run on it: their tasks are created in the same
        unit of work (`LeadConversion.deal_effects`). `context` is what the lead pipeline's
        conditions and callbacks, and the deal's first stage's callbacks, read; the messages
        they ask for go to `on_message` once the conversion is committed.

        Raises:
            NotFoundError: If there is no such lead.
            MoveRefusedError: If the lead pipeline's rules refuse the conversion.
            ValidationError: If the funnel has no lead pipeline, or the lead is not open.
        """
        lead_ref = _ref_of(ref, "ref", EntityKind.LEAD)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork, outbox: _Outbox) -> LeadConversion:
            lead = uow.leads.get(lead_ref.id)
            contact = None
            if lead.contact_id is None:
                contact = contact_from_lead(lead, self.ids.new_id(EntityKind.CONTACT), at)
            else:
                claim_contact(uow, lead.contact_id)
            done = self.funnel.convert(
                lead,
                actor,
                at,
                sequence=self._next(uow, lead.ref),
                deal_id=self.ids.new_id(EntityKind.DEAL),
                pipeline=pipeline,
                contact=contact,
                title=title,
                amount=amount,
                context=context,
            )
            if done.contact is not None:
                uow.contacts.add(done.contact)
            saved = uow.leads.save(done.lead)
            deal = uow.deals.add(done.deal)
            uow.events.append(list(done.events))
            self._effects(uow, outbox, saved.ref, done.lead_effects, actor=actor, at=at)
            self._effects(uow, outbox, deal.ref, done.deal_effects, actor=actor, at=at)
            return attrs.evolve(done, lead=saved, deal=deal)

        return self._run_carrying_out(operation)

    def open_next(
        self,
        ref: EntityRef,
        *,
        actor: Actor,
        pipeline: str | None = None,
        context: Mapping[str, object] | None = None,
    ) -> Deal:
        """
        Open the deal that follows a won deal in a chained funnel (meeting → proposal → ...).

        The new deal records the deal it follows (`Deal.follows`); its first stage's entry
        actions run, and their tasks are created in the same unit of work.

        Raises:
            NotFoundError: If there is no such deal.
            ValidationError: If the deal is not won, or its pipeline ends the chain.
        """
        deal_ref = _ref_of(ref, "ref", EntityKind.DEAL)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork, outbox: _Outbox) -> Deal:
            won = uow.deals.get(deal_ref.id)
            following = self.funnel.open_next(
                won,
                actor,
                at,
                deal_id=self.ids.new_id(EntityKind.DEAL),
                pipeline=pipeline,
                context=context,
            )
            deal = uow.deals.add(following.deal)
            uow.events.append(list(following.events))
            self._effects(uow, outbox, deal.ref, following.effects, actor=actor, at=at)
            return deal

        return self._run_carrying_out(operation)

    def update(
        self,
        ref: EntityRef,
        *,
        actor: Actor,
        owner: str | _Keep | None = KEEP,
        amount: Money | _Keep | None = KEEP,
        fields: Mapping[str, FieldValue] | None = None,
    ) -> Lead | Deal:
        """
        Change a lead's or deal's owner, a deal's amount, or custom fields, with their events.

        Custom fields are checked against the pipeline's schema; a field set to its current
        value records nothing.

        Raises:
            NotFoundError: If there is no such lead or deal.
            ValidationError: If a value does not fit (a field the schema does not know, an
                amount on a lead, a negative amount); nothing is written.
        """
        entity_ref = _ref_of(ref, "ref", EntityKind.LEAD, EntityKind.DEAL)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Lead | Deal:
            entity = self._get(uow, entity_ref)
            changes, found = self._changes(entity, owner, amount, fields)
            if not found:
                return entity
            sequence = self._next(uow, entity_ref)
            events = [
                make(entity=entity_ref, sequence=sequence + n, at=at, actor=actor.id, **values)
                for n, (make, values) in enumerate(found)
            ]
            saved = self._save(uow, attrs.evolve(entity, **changes))
            uow.events.append(events)
            return saved

        return self._run(operation)

    def _changes(
        self,
        entity: Lead | Deal,
        owner: str | _Keep | None,
        amount: Money | _Keep | None,
        fields: Mapping[str, FieldValue] | None,
    ) -> tuple[dict[str, Any], list[tuple[Callable[..., Event], dict[str, Any]]]]:
        """The new values of an update, and the events that record them."""
        changes: dict[str, Any] = {}
        found: list[tuple[Callable[..., Event], dict[str, Any]]] = []
        if not isinstance(owner, _Keep) and owner != entity.owner:
            changes["owner"] = owner
            found.append((OwnerChanged, {"old": entity.owner, "new": owner}))
        if not isinstance(amount, _Keep):
            if not isinstance(entity, Deal):
                raise_for("amount", amount, "only deals have an amount", "entity_kind")
            if amount != entity.amount:
                changes["amount"] = amount
                found.append((AmountChanged, {"old": entity.amount, "new": amount}))
        if fields:
            self._pipeline(entity.pipeline).fields.validate(fields)
            values = entity.fields
            for key, value in fields.items():
                if values.get(key) != value:
                    found.append(
                        (FieldChanged, {"field": key, "old": values.get(key), "new": value})
                    )
                    values = values.set(key, value)
            changes["fields"] = values
        return changes, found

    @staticmethod
    def _save(uow: UnitOfWork, entity: Lead | Deal) -> Lead | Deal:
        return uow.leads.save(entity) if isinstance(entity, Lead) else uow.deals.save(entity)

    @staticmethod
    def _get(uow: UnitOfWork, ref: EntityRef) -> Lead | Deal:
        if ref.kind is EntityKind.LEAD:
            return uow.leads.get(ref.id)
        return uow.deals.get(ref.id)

    def _save_deal(
        self,
        uow: UnitOfWork,
        changed: Deal,
        event_type: Callable[..., Event],
        actor: Actor,
        at: datetime,
        **values: Any,
    ) -> Deal:
        """Save a changed deal with the one event that records the change."""
        sequence = self._next(uow, changed.ref)
        saved = uow.deals.save(changed)
        uow.events.append(
            [event_type(entity=changed.ref, sequence=sequence, at=at, actor=actor.id, **values)]
        )
        return saved

    def record_payment(
        self,
        ref: EntityRef,
        amount: Money,
        *,
        actor: Actor,
        kind: PaymentKind = PaymentKind.PREPAYMENT,
        note: str = "",
    ) -> Deal:
        """
        Record money received for a deal (in the deal's currency), now.

        The payment's id is the deal's id and its number: ``"D-7-P2"``.

        Raises:
            NotFoundError: If there is no such deal.
            ValidationError: If the currency differs from the deal's (nothing is written).
        """
        deal_ref = _ref_of(ref, "ref", EntityKind.DEAL)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Deal:
            deal = uow.deals.get(deal_ref.id)
            payment = Payment(
                id=f"{deal.id}-P{len(deal.payments) + 1}",
                amount=amount,
                received_at=at,
                kind=kind,
                note=note,
            )
            changed = attrs.evolve(deal, payments=(*deal.payments, payment))
            return self._save_deal(uow, changed, PaymentReceived, actor, at, payment=payment)

        return self._run(operation)

    def add_document(
        self,
        ref: EntityRef,
        kind: DocumentKind,
        *,
        actor: Actor,
        amount: Money | None = None,
        reference: str = "",
        note: str = "",
    ) -> Deal:
        """
        Record the next version of a document sent to the client (a proposal, an estimate...).

        Raises:
            NotFoundError: If there is no such deal.
        """
        deal_ref = _ref_of(ref, "ref", EntityKind.DEAL)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Deal:
            deal = uow.deals.get(deal_ref.id)
            version = 1 + sum(1 for d in deal.documents if d.kind is kind)
            document = Document(
                kind=kind,
                version=version,
                sent_at=at,
                amount=amount,
                reference=reference,
                note=note,
            )
            changed = attrs.evolve(deal, documents=(*deal.documents, document))
            return self._save_deal(uow, changed, DocumentVersionAdded, actor, at, document=document)

        return self._run(operation)

    # --- tasks ------------------------------------------------------------------------------

    def create_task(
        self,
        ref: EntityRef,
        *,
        actor: Actor,
        kind: TaskKind,
        title: str,
        assignee: str,
        due_at: datetime,
    ) -> Task:
        """
        Create a task about a lead, deal or contact.

        What it is about must exist, and a contact must be live: a task about a contact
        merged into another one is refused (file it under the survivor). The contact is
        claimed (`claim_contact`), so a merge planned before the task is refused.

        Raises:
            NotFoundError: If there is no such lead, deal or contact.
            ConflictError: If the contact was merged into another one; nothing is written.
            ValidationError: If the task is malformed (a due time in the past when the task
                rules forbid it, a blank assignee...).
        """
        subject = _ref_of(ref, "ref", EntityKind.LEAD, EntityKind.DEAL, EntityKind.CONTACT)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Task:
            if subject.kind is EntityKind.CONTACT:
                claim_contact(uow, subject.id, follow=False)
            else:
                self._get(uow, subject)
            task, event = self.task_policy.create(
                task_id=self.ids.new_id(EntityKind.TASK),
                subject=subject,
                kind=kind,
                title=title,
                assignee=assignee,
                due_at=due_at,
                actor=actor,
                at=at,
            )
            stored = uow.tasks.add(task)
            uow.events.append([event])
            return stored

        return self._run(operation)

    def complete_task(
        self, ref: EntityRef, result: str, *, actor: Actor, client_reached: bool | None = None
    ) -> Task:
        """
        Complete a task with its written result.

        Raises:
            NotFoundError: If there is no such task.
            ValidationError: If the result is blank, the client was not reached where the rules
                require it, or the task is already closed (nothing is written).
        """
        task_ref = _ref_of(ref, "ref", EntityKind.TASK)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Task:
            task = uow.tasks.get(task_ref.id)
            done, event = self.task_policy.complete(
                task,
                result,
                actor,
                at,
                sequence=self._next(uow, task.ref),
                client_reached=client_reached,
            )
            saved = uow.tasks.save(done)
            uow.events.append([event])
            return saved

        return self._run(operation)

    def cancel_task(self, ref: EntityRef, reason: str, *, actor: Actor) -> Task:
        """
        Cancel a task, with the reason.

        Raises:
            NotFoundError: If there is no such task.
            ValidationError: If the reason is blank or the task is already closed.
        """
        task_ref = _ref_of(ref, "ref", EntityKind.TASK)
        _actor_of(actor)
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Task:
            task = uow.tasks.get(task_ref.id)
            cancelled, event = self.task_policy.cancel(
                task, reason, actor, at, sequence=self._next(uow, task.ref)
            )
            saved = uow.tasks.save(cancelled)
            uow.events.append([event])
            return saved

        return self._run(operation)

    # --- records added by hand -------------------------------------------------------------

    def _check_new_deal(self, deal: object) -> Deal:
        """Refuse a deal that cannot be opened as given, before anything is read."""
        if not isinstance(deal, Deal):
            msg = f"deal: expected a Deal, got {describe(deal)}"
            raise ValidationError(msg, field="deal", value=deal, rule="type")
        pipeline = self._pipeline(deal.pipeline)
        if pipeline.kind is not PipelineKind.DEAL:
            raise_for(
                "deal.pipeline",
                deal.pipeline,
                f"{pipeline.key!r} is the funnel's lead pipeline; open the deal in a deal pipeline",
                "pipeline_kind",
            )
        first = pipeline.first_stage
        if deal.stage != first.key:
            message = f"a new deal starts at {first.key!r}; move it from there"
            raise_for("deal.stage", deal.stage, message, "first_stage")
        if deal.status is not DealStatus.OPEN:
            raise_for(
                "deal.status",
                deal.status,
                f"{deal.ref} is {deal.status.value}, but its stage {first.key!r} is an open "
                "stage; add it open and win or lose it by a move, so the event log says so",
                "status",
            )
        return deal

    def add_deal(
        self, deal: Deal, *, actor: Actor, context: Mapping[str, object] | None = None
    ) -> Deal:
        """
        Open a deal by hand, without a conversion (a repeat sale, a deals-only funnel).

        Everything the deal refers to must exist: its contact (live: a contact merged into
        another one is refused, so the deal is not filed under someone else by surprise), its
        lead and the deal it follows. The contact is claimed (`claim_contact`), so a merge
        planned before the deal is refused. The first stage's entry actions run on it, and
        their tasks are created in the same unit of work.

        Raises:
            ValidationError: If its pipeline is not one of the funnel's deal pipelines, its
                stage is not the pipeline's first stage, it is not open, or its ``version`` is
                not 0.
            NotFoundError: If its contact, lead or followed deal does not exist.
            ConflictError: If the id is taken, or its contact was merged into another one.
        """
        new = self._check_new_deal(deal)
        _actor_of(actor)
        at = self.clock.now()
        compiled = self._pipeline(new.pipeline).compile()

        def operation(uow: UnitOfWork, outbox: _Outbox) -> Deal:
            if new.contact_id is not None:
                claim_contact(uow, new.contact_id, follow=False)
            if new.lead_id is not None:
                uow.leads.get(new.lead_id)
            if new.follows is not None:
                uow.deals.get(new.follows)
            entered = compiled.enter(new, actor, at, sequence=2, context=context)
            stored = uow.deals.add(entered.entity)
            created = DealCreated(entity=stored.ref, sequence=1, at=at, actor=actor.id, deal=new)
            uow.events.append([created, *entered.events])
            self._effects(uow, outbox, stored.ref, entered.effects, actor=actor, at=at)
            return stored

        return self._run_carrying_out(operation)

    def add_contact(self, contact: Contact, *, actor: Actor) -> Contact:
        """
        Record a new contact (an import, a client met in person), with its event.

        Raises:
            ConflictError: If the id is taken.
            ValidationError: If the contact's ``version`` is not 0, or it is given as merged
                into another contact (only a merge merges).
        """
        _actor_of(actor)
        given: object = contact
        if isinstance(given, Contact) and given.merged_into is not None:
            raise_for(
                "contact.merged_into",
                given.merged_into,
                f"{given.ref} is new, so it is merged into nothing yet; leave merged_into out "
                "and merge it with plan_merge and merge",
                "new_entity",
            )
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Contact:
            stored = uow.contacts.add(contact)
            uow.events.append(
                [
                    ContactCreated(
                        entity=stored.ref, sequence=1, at=at, actor=actor.id, contact=stored
                    )
                ]
            )
            return stored

        return self._run(operation, retry=False)

    # --- duplicates -------------------------------------------------------------------------

    def _matching(self) -> MatchPolicy:
        return MatchPolicy() if self.intake is None else self.intake.matching

    def find_duplicates(self) -> MatchResult:
        """
        Score every pair of live contacts that share a key, with the intake's match policy.

        Returns the explained pairs and the clusters of contacts that are the same client;
        review them, then `plan_merge` a cluster.
        """
        return self._matching().match(self.contacts())

    def plan_merge(self, refs: Iterable[EntityRef], *, merge_id: str | None = None) -> MergePlan:
        """
        Plan the merge of these contacts with the service's `MergePolicy`: a dry run to review.

        Their leads, deals and tasks are read in the same unit of work, to be re-pointed to
        the survivor. Nothing is written. The merge's id defaults to ``"merge:"`` and the ids
        joined with ``+`` (``"merge:C-3+C-9"``).

        Raises:
            NotFoundError: If a contact does not exist.
            ValidationError: If fewer than two contacts are given, or one was merged already.
        """
        given: object = refs
        if isinstance(given, EntityRef | str):
            msg = "refs: expected the contacts to merge, e.g. [EntityRef.contact('C-3'), ...]"
            raise ValidationError(msg, field="refs", value=given, rule="type")
        ids = [_ref_of(ref, "refs", EntityKind.CONTACT).id for ref in refs]

        def query(uow: UnitOfWork) -> MergePlan:
            contacts = [uow.contacts.get(contact_id) for contact_id in ids]
            leads = [lead for cid in ids for lead in uow.leads.list(contact_id=cid)]
            deals = [deal for cid in ids for deal in uow.deals.list(contact_id=cid)]
            tasks = [task for c in contacts for task in uow.tasks.list(subject=c.ref)]
            return self.merges.plan(
                contacts,
                merge_id=merge_id or "merge:" + "+".join(ids),
                leads=leads,
                deals=deals,
                tasks=tasks,
            )

        return self._read(query)

    def merge(self, plan: MergePlan, *, actor: Actor) -> UndoRecord:
        """
        Apply a reviewed merge plan in one unit of work; keep the record to undo it.

        A plan whose contacts or children changed since it was read is refused (not retried):
        plan again and review the new plan.

        Raises:
            ConflictError: If anything in the plan changed meanwhile; nothing is written.
        """
        _actor_of(actor)
        at = self.clock.now()
        return self._run(lambda uow: apply_merge(plan, uow, actor, at), retry=False)

    def undo_merge(self, record: UndoRecord, *, actor: Actor) -> None:
        """
        Undo a merge exactly, in one unit of work.

        Raises:
            ConflictError: If an entity the merge wrote changed since; nothing is written.
        """
        _actor_of(actor)
        at = self.clock.now()
        self._run(lambda uow: undo_merge(record, uow, actor, at), retry=False)

    # --- reading ----------------------------------------------------------------------------

    def _read(self, query: Callable[[UnitOfWork], R]) -> R:
        with self.store.unit_of_work() as uow:
            return query(uow)

    def _one(self, ref: object, kinds: tuple[EntityKind, ...], *, must: bool) -> _Entity | None:
        """Read the entity `ref` names, of one of `kinds`: `NotFoundError` if `must`, else None."""
        wanted = _ref_of(ref, "ref", *kinds)

        def query(uow: UnitOfWork) -> _Entity | None:
            found = self._repository(uow, wanted.kind)
            return found.get(wanted.id) if must else found.find(wanted.id)

        return self._read(query)

    def get(self, ref: EntityRef) -> Lead | Deal | Contact | Task:
        """
        Read a lead, deal, contact or task as stored now (`get_deal` and the like are typed).

        Raises:
            NotFoundError: If there is none with that reference.
        """
        return cast("_Entity", self._one(ref, tuple(EntityKind), must=True))

    def find(self, ref: EntityRef) -> Lead | Deal | Contact | Task | None:
        """Read a lead, deal, contact or task as stored now, or ``None`` if there is none."""
        return self._one(ref, tuple(EntityKind), must=False)

    def get_lead(self, ref: EntityRef) -> Lead:
        """Read a lead (`NotFoundError` if there is none)."""
        return cast("Lead", self._one(ref, (EntityKind.LEAD,), must=True))

    def find_lead(self, ref: EntityRef) -> Lead | None:
        """Read a lead, or ``None``."""
        return cast("Lead | None", self._one(ref, (EntityKind.LEAD,), must=False))

    def get_deal(self, ref: EntityRef) -> Deal:
        """Read a deal (`NotFoundError` if there is none)."""
        return cast("Deal", self._one(ref, (EntityKind.DEAL,), must=True))

    def find_deal(self, ref: EntityRef) -> Deal | None:
        """Read a deal, or ``None``."""
        return cast("Deal | None", self._one(ref, (EntityKind.DEAL,), must=False))

    def get_contact(self, ref: EntityRef) -> Contact:
        """Read a contact, merged or not (`NotFoundError` if there is none)."""
        return cast("Contact", self._one(ref, (EntityKind.CONTACT,), must=True))

    def find_contact(self, ref: EntityRef) -> Contact | None:
        """Read a contact, or ``None``."""
        return cast("Contact | None", self._one(ref, (EntityKind.CONTACT,), must=False))

    def get_task(self, ref: EntityRef) -> Task:
        """Read a task (`NotFoundError` if there is none)."""
        return cast("Task", self._one(ref, (EntityKind.TASK,), must=True))

    def find_task(self, ref: EntityRef) -> Task | None:
        """Read a task, or ``None``."""
        return cast("Task | None", self._one(ref, (EntityKind.TASK,), must=False))

    @staticmethod
    def _repository(uow: UnitOfWork, kind: EntityKind) -> _Reader:
        found: dict[EntityKind, _Reader] = {
            EntityKind.LEAD: uow.leads,
            EntityKind.DEAL: uow.deals,
            EntityKind.CONTACT: uow.contacts,
            EntityKind.TASK: uow.tasks,
        }
        return found[kind]

    def leads(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        status: LeadStatus | None = None,
        owner: str | None = None,
        contact: EntityRef | None = None,
    ) -> list[Lead]:
        """The leads matching every filter given (``None`` means "any"), in the order added."""
        contact_id = None if contact is None else _ref_of(contact, "contact", EntityKind.CONTACT).id
        return self._read(
            lambda uow: uow.leads.list(
                pipeline=pipeline, stage=stage, status=status, owner=owner, contact_id=contact_id
            )
        )

    def deals(
        self,
        *,
        pipeline: str | None = None,
        stage: str | None = None,
        status: DealStatus | None = None,
        owner: str | None = None,
        contact: EntityRef | None = None,
    ) -> list[Deal]:
        """
        The deals matching every filter given (``None`` means "any"), in the order added.

        ``deals(owner="ольга", status=DealStatus.OPEN)`` is a manager's open deals;
        ``deals(pipeline="roofing", stage="ОБЪЕМЫ")`` a stage's column.
        """
        contact_id = None if contact is None else _ref_of(contact, "contact", EntityKind.CONTACT).id
        return self._read(
            lambda uow: uow.deals.list(
                pipeline=pipeline, stage=stage, status=status, owner=owner, contact_id=contact_id
            )
        )

    def tasks(
        self,
        *,
        assignee: str | None = None,
        status: TaskStatus | None = None,
        subject: EntityRef | None = None,
        due_before: datetime | None = None,
    ) -> list[Task]:
        """The tasks matching every filter given (``None`` means "any"), in the order added."""
        about = None if subject is None else _ref_of(subject, "subject", *EntityKind)
        return self._read(
            lambda uow: uow.tasks.list(
                assignee=assignee, status=status, subject=about, due_before=due_before
            )
        )

    def contacts(self, *, merged: bool = False) -> list[Contact]:
        """The live contacts, in the order added (with ``merged=True``, the merged ones too)."""
        found = self._read(lambda uow: uow.contacts.list())
        return found if merged else [c for c in found if c.merged_into is None]

    def contact_card(self, ref: EntityRef) -> ContactCard:
        """
        A client's card (seed 002): their deals, newest first, and the open tasks on them.

        A contact merged into another one shows the survivor's card.

        Raises:
            NotFoundError: If there is no such contact.
        """
        wanted = _ref_of(ref, "ref", EntityKind.CONTACT)

        def query(uow: UnitOfWork) -> ContactCard:
            contact = uow.contacts.get(wanted.id)
            while contact.merged_into is not None:
                contact = uow.contacts.get(contact.merged_into)
            deals = uow.deals.list(contact_id=contact.id)
            subjects = [contact.ref, *(deal.ref for deal in deals)]
            tasks = [
                task
                for subject in subjects
                for task in uow.tasks.list(subject=subject, status=TaskStatus.OPEN)
            ]
            return contact_card(contact, deals, tasks)

        return self._read(query)

    def agendas(
        self, day: date, zone: tzinfo, *, minutes: Mapping[TaskKind, int] = DEFAULT_MINUTES
    ) -> dict[str, Agenda]:
        """Every manager's agenda for a day, as of now."""
        now = self.clock.now()
        return self._read(
            lambda uow: agendas_in(
                uow, day, zone=zone, as_of=now, pipelines=self.funnel.pipelines, minutes=minutes
            )
        )

    def events(self) -> list[Event]:
        """Every event recorded, in the order it was recorded."""
        return self._read(lambda uow: [recorded.event for recorded in uow.events.read_all()])

    def histories(self, as_of: datetime | None = None) -> Histories:
        """The analytics' fold of every event recorded, as of now (or `as_of`)."""
        return histories(self.events(), as_of=as_of or self.clock.now())
