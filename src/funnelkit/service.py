"""
The application service: the operations a CRM back end performs, each in one unit of work.

A host app creates one `Service` with its store (the in-memory store by default), clock, id
factory, funnel and policies, and calls its operations: take in a lead, convert it, move a
lead or deal, win or lose a deal, create and complete tasks, record payments and document
versions, plan, apply and undo merges, read the agendas and the analytics. Each operation
reads what it needs, decides with the pure policies, and writes the new values and their
events through one unit of work: all of it commits, or none of it does. The sequence numbers of
the events come from the event store, so callers never count them.

When someone else saved the same lead or deal in between, the operation raises
`ConflictError` and writes nothing; pass ``retries=`` to have the service read again and
retry (the decision is then made on the fresh values).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import phonenumbers

from funnelkit.analytics import Histories, histories
from funnelkit.exceptions import ConflictError
from funnelkit.matching import (
    Intake,
    MatchPolicy,
    MatchResult,
    MergePlan,
    MergePolicy,
    UndoRecord,
    apply_merge,
    claim_contact,
    undo_merge,
)
from funnelkit.matching._intake import contact_from_lead
from funnelkit.model import (
    Actor,
    AmountChanged,
    Clock,
    Contact,
    ContactCreated,
    Deal,
    DealCreated,
    Document,
    DocumentKind,
    DocumentVersionAdded,
    EntityKind,
    EntityRef,
    Event,
    FieldChanged,
    FieldValue,
    IdFactory,
    Lead,
    Money,
    OwnerChanged,
    Payment,
    PaymentKind,
    PaymentReceived,
    Task,
    TaskKind,
)
from funnelkit.model._checks import raise_for
from funnelkit.pipelines import Funnel, Message, Pipeline, StageKind
from funnelkit.storage import InMemoryStore, Store
from funnelkit.tasks import DEFAULT_MINUTES, Agenda, TaskPolicy, agendas_in


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import date, tzinfo

    from funnelkit.matching import IntakeResult
    from funnelkit.pipelines import Conversion, TaskToCreate
    from funnelkit.storage import UnitOfWork


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


@attrs.define(kw_only=True)
class Service:
    """
    The operations of a CRM back end over one store, each in one unit of work.

    Attributes:
        clock: Where "now" comes from.
        ids: Where new ids come from.
        funnel: The lead pipeline and the deal pipelines.
        intake: How new requests are taken in (needed by `take_in`).
        store: The storage. By default an `InMemoryStore` indexing contacts with the keys the
            intake's match policy looks up (``intake.matching.contact_keys``). A store
            that says which keys it indexes (``store.live_keys``, as the bundled stores do)
            is checked against the intake's keys, so a known client is never missed because
            the two write a phone differently.
        tasks: The task rules.
        merges: How duplicate contacts are merged (`plan_merge`).
        retries: How many times an operation is read again and retried after a conflict.
        on_message: Called with each `Message` a move's callbacks ask for, with the entity
            it is about, once the move is committed (never for a move rolled back or retried):
            hand it to your mailer or chat. Without it, messages are dropped.

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
    tasks: TaskPolicy = attrs.field(factory=TaskPolicy)
    merges: MergePolicy = attrs.field(factory=MergePolicy)
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
        pipelines = (self.funnel.leads, *self.funnel.deals)
        found = next((p for p in pipelines if p.key == key), None)
        if found is None:
            known = ", ".join(p.key for p in pipelines)
            raise_for("pipeline", key, f"not a pipeline of the funnel; known: {known}", "unknown")
        return found

    @staticmethod
    def _next(uow: UnitOfWork, ref: EntityRef) -> int:
        return uow.events.last_sequence(ref) + 1

    def _effects(
        self,
        uow: UnitOfWork,
        effects: tuple[TaskToCreate | Message, ...],
        actor: Actor,
        at: datetime,
    ) -> list[Task]:
        """Create the tasks a move's entry actions and callbacks ask for, with their events."""
        created = []
        for effect in effects:
            if isinstance(effect, Message):
                continue  # sent once the move is committed: see `_send`
            task, event = self.tasks.from_effect(
                effect, task_id=self.ids.new_id(EntityKind.TASK), actor=actor, at=at
            )
            created.append(uow.tasks.add(task))
            uow.events.append([event])
        return created

    def _send(self, ref: EntityRef, effects: tuple[TaskToCreate | Message, ...]) -> None:
        """Hand the messages of a committed move to `on_message`."""
        if self.on_message is not None:
            for effect in effects:
                if isinstance(effect, Message):
                    self.on_message(ref, effect)

    # --- leads and deals --------------------------------------------------------------------

    def take_in(self, lead: Lead, actor: Actor) -> IntakeResult:
        """
        Take in a new request: match and link its contact, mark repeats, qualify, place it.

        Raises:
            ValidationError: If the service has no intake policy.
        """
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
        actor: Actor,
        *,
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
            ref, to_stage, actor, reason=reason, note=note, force=force, context=context
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
        sent: list[tuple[TaskToCreate | Message, ...]] = []

        def operation(uow: UnitOfWork) -> Lead | Deal:
            sent.clear()
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
                context=context,
            )
            saved = self._save(uow, moved.entity)
            uow.events.append(list(moved.events))
            self._effects(uow, moved.effects, actor, at)
            sent.append(moved.effects)
            return saved

        saved = self._run(operation)
        for effects in sent:
            self._send(ref, effects)
        return saved

    def win(self, deal_id: str, actor: Actor) -> Deal:
        """Move a deal to its pipeline's won stage (the stage rules apply)."""
        won = self._move(EntityRef.deal(deal_id), StageKind.WON, actor)
        assert isinstance(won, Deal)  # noqa: S101 - a deal moves as a deal
        return won

    def lose(self, deal_id: str, actor: Actor, reason: str, note: str = "") -> Deal:
        """Move a deal to its pipeline's lost stage with a reason from the pipeline's list."""
        lost = self._move(EntityRef.deal(deal_id), StageKind.LOST, actor, reason=reason, note=note)
        assert isinstance(lost, Deal)  # noqa: S101
        return lost

    def convert(
        self,
        lead_id: str,
        actor: Actor,
        *,
        pipeline: str | None = None,
        title: str = "",
        amount: Money | None = None,
        context: Mapping[str, object] | None = None,
    ) -> Conversion:
        """
        Convert a good lead into a deal in the funnel's first (or the named) deal pipeline.

        A lead without a contact gets one, made from its contact data; a lead's contact is
        claimed (`claim_contact`), so a merge planned before the conversion is refused.
        `context` is what the lead pipeline's own conditions and callbacks read; the messages
        they ask for go to `on_message` once the conversion is committed.

        Raises:
            NotFoundError: If there is no such lead.
            MoveRefusedError: If the lead pipeline's rules refuse the conversion.
        """
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Conversion:
            lead = uow.leads.get(lead_id)
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
            self._effects(uow, done.effects, actor, at)
            return attrs.evolve(done, lead=saved, deal=deal)

        done = self._run(operation)
        self._send(done.lead.ref, done.effects)
        return done

    def open_next(self, deal_id: str, actor: Actor, *, pipeline: str | None = None) -> Deal:
        """
        Open the deal that follows a won deal in a chained funnel (meeting → proposal → ...).

        Raises:
            NotFoundError: If there is no such deal.
            ValidationError: If the deal is not won, or its pipeline ends the chain.
        """
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Deal:
            won = uow.deals.get(deal_id)
            following = self.funnel.open_next(
                won, actor, at, deal_id=self.ids.new_id(EntityKind.DEAL), pipeline=pipeline
            )
            deal = uow.deals.add(following.deal)
            uow.events.append(list(following.events))
            return deal

        return self._run(operation)

    def update(
        self,
        ref: EntityRef,
        actor: Actor,
        *,
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
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Lead | Deal:
            entity = self._get(uow, ref)
            changes, found = self._changes(entity, owner, amount, fields)
            if not found:
                return entity
            sequence = self._next(uow, ref)
            events = [
                make(entity=ref, sequence=sequence + n, at=at, actor=actor.id, **values)
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
        if ref.kind is not EntityKind.DEAL:
            raise_for("ref", ref, "expected a lead or a deal", "entity_kind")
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
        deal_id: str,
        amount: Money,
        actor: Actor,
        *,
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
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Deal:
            deal = uow.deals.get(deal_id)
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
        deal_id: str,
        kind: DocumentKind,
        actor: Actor,
        *,
        amount: Money | None = None,
        reference: str = "",
        note: str = "",
    ) -> Deal:
        """
        Record the next version of a document sent to the client (a proposal, an estimate...).

        Raises:
            NotFoundError: If there is no such deal.
        """
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Deal:
            deal = uow.deals.get(deal_id)
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
        subject: EntityRef,
        actor: Actor,
        *,
        kind: TaskKind,
        title: str,
        assignee: str,
        due_at: datetime,
    ) -> Task:
        """
        Create a task about a lead, deal or contact.

        A task about a contact goes to the contact that survived, if it was merged, and
        claims it (`claim_contact`).

        Raises:
            ValidationError: If the task is malformed (a due time in the past when the task
                rules forbid it, a blank assignee...).
        """
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Task:
            about = subject
            given: object = subject  # anything else is refused by the task rules below
            if isinstance(given, EntityRef) and given.kind is EntityKind.CONTACT:
                about = claim_contact(uow, given.id).ref
            task, event = self.tasks.create(
                task_id=self.ids.new_id(EntityKind.TASK),
                subject=about,
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
        self, task_id: str, result: str, actor: Actor, *, client_reached: bool | None = None
    ) -> Task:
        """
        Complete a task with its written result.

        Raises:
            NotFoundError: If there is no such task.
            ValidationError: If the result is blank, the client was not reached where the rules
                require it, or the task is already closed (nothing is written).
        """
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Task:
            task = uow.tasks.get(task_id)
            done, event = self.tasks.complete(
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

    def cancel_task(self, task_id: str, reason: str, actor: Actor) -> Task:
        """
        Cancel a task, with the reason.

        Raises:
            NotFoundError: If there is no such task.
            ValidationError: If the reason is blank or the task is already closed.
        """
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Task:
            task = uow.tasks.get(task_id)
            cancelled, event = self.tasks.cancel(
                task, reason, actor, at, sequence=self._next(uow, task.ref)
            )
            saved = uow.tasks.save(cancelled)
            uow.events.append([event])
            return saved

        return self._run(operation)

    # --- records added by hand -------------------------------------------------------------

    def add_deal(self, deal: Deal, actor: Actor) -> Deal:
        """
        Open a deal by hand, without a lead (a repeat sale, a pipeline holding leads and deals).

        The deal's contact is claimed (`claim_contact`): a deal for a contact merged into
        another one goes to the survivor, and a merge planned before it is refused.

        Raises:
            ValidationError: If its pipeline is not one of the funnel's, its stage is not the
                pipeline's first stage, or its ``version`` is not 0.
            NotFoundError: If its contact does not exist.
            ConflictError: If the id is taken.
        """
        pipeline = self._pipeline(deal.pipeline)
        if deal.stage != pipeline.first_stage.key:
            message = f"a new deal starts at {pipeline.first_stage.key!r}; move it from there"
            raise_for("stage", deal.stage, message, "first_stage")
        at = self.clock.now()

        def operation(uow: UnitOfWork) -> Deal:
            new = deal
            if deal.contact_id is not None:
                contact = claim_contact(uow, deal.contact_id)
                if contact.id != deal.contact_id:
                    new = attrs.evolve(deal, contact_id=contact.id)
            stored = uow.deals.add(new)
            uow.events.append(
                [DealCreated(entity=stored.ref, sequence=1, at=at, actor=actor.id, deal=stored)]
            )
            return stored

        return self._run(operation)

    def add_contact(self, contact: Contact, actor: Actor) -> Contact:
        """
        Record a new contact (an import, a client met in person), with its event.

        Raises:
            ConflictError: If the id is taken.
            ValidationError: If the contact's ``version`` is not 0.
        """
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
        contacts = self._read(lambda uow: uow.contacts.list())
        return self._matching().match(c for c in contacts if c.merged_into is None)

    def plan_merge(self, contact_ids: Iterable[str], *, merge_id: str | None = None) -> MergePlan:
        """
        Plan the merge of these contacts with the service's `MergePolicy`: a dry run to review.

        Their leads, deals and tasks are read in the same unit of work, to be re-pointed to
        the survivor. Nothing is written. The merge's id defaults to ``"merge:"`` and the ids
        joined with ``+`` (``"merge:C-3+C-9"``).

        Raises:
            NotFoundError: If a contact does not exist.
            ValidationError: If fewer than two contacts are given, or one was merged already.
        """
        ids = list(contact_ids)

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

    def merge(self, plan: MergePlan, actor: Actor) -> UndoRecord:
        """
        Apply a reviewed merge plan in one unit of work; keep the record to undo it.

        A plan whose contacts or children changed since it was read is refused (not retried):
        plan again and review the new plan.

        Raises:
            ConflictError: If anything in the plan changed meanwhile; nothing is written.
        """
        at = self.clock.now()
        return self._run(lambda uow: apply_merge(plan, uow, actor, at), retry=False)

    def undo_merge(self, record: UndoRecord, actor: Actor) -> None:
        """
        Undo a merge exactly, in one unit of work.

        Raises:
            ConflictError: If an entity the merge wrote changed since; nothing is written.
        """
        at = self.clock.now()
        self._run(lambda uow: undo_merge(record, uow, actor, at), retry=False)

    # --- reading ----------------------------------------------------------------------------

    def _read(self, query: Callable[[UnitOfWork], R]) -> R:
        with self.store.unit_of_work() as uow:
            return query(uow)

    def agendas(
        self, day: date, zone: tzinfo, *, minutes: Mapping[TaskKind, int] = DEFAULT_MINUTES
    ) -> dict[str, Agenda]:
        """Every manager's agenda for a day, as of now."""
        pipelines = [self.funnel.leads, *self.funnel.deals]
        now = self.clock.now()
        return self._read(
            lambda uow: agendas_in(
                uow, day, zone=zone, as_of=now, pipelines=pipelines, minutes=minutes
            )
        )

    def events(self) -> list[Event]:
        """Every event recorded, in the order it was recorded."""
        return self._read(lambda uow: [recorded.event for recorded in uow.events.read_all()])

    def histories(self, as_of: datetime | None = None) -> Histories:
        """The analytics' fold of every event recorded, as of now (or `as_of`)."""
        return histories(self.events(), as_of=as_of or self.clock.now())
