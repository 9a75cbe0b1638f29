"""
The intake flow: a new request becomes a linked, qualified and placed lead, in one unit of work.

normalise → qualify → find the contact ("who is this?") and link it, or create one (not for
junk, by default) → mark a repeat request → place the lead (its pipeline's first stage, or a
junk stage with the reason) → events. Everything is written through the storage ports of one
unit of work, which the caller commits, so a failure leaves nothing half-written.

A request never breeds a duplicate contact: a sure match links the lead, a match in the review
band links it too (marked for a person to confirm) or holds it unlinked, and only a request
that matches nobody gets a new contact, which records the contacts it was judged different
from.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, raise_for
from funnelkit.events import (
    ContactCreated,
    Event,
    LeadCreated,
    Verdict,
)
from funnelkit.exceptions import ValidationError
from funnelkit.matching._customers import CustomerPolicy, RequestKind, link_lead
from funnelkit.matching._matching import (
    MatchPolicy,
)
from funnelkit.matching._merge import claim_contact
from funnelkit.matching._rules import (
    Band,
)
from funnelkit.matching._scores import (
    PairScore,
)
from funnelkit.model import (
    Contact,
    EntityKind,
    Lead,
    LeadStatus,
)
from funnelkit.pipelines import Pipeline, PipelineKind, StageKind
from funnelkit.qualification._policy import Qualification, QualificationContext, QualificationPolicy


if TYPE_CHECKING:
    from datetime import datetime

    from funnelkit.model import Actor, IdFactory
    from funnelkit.storage import UnitOfWork


__all__ = ["Intake", "IntakeResult", "OnReview"]


class OnReview(str, enum.Enum):
    """What the intake does with a request whose best match is in the review band."""

    LINK = "link"
    """Link the lead to the best candidate, marked for review (`LeadLinked.review`)."""
    HOLD = "hold"
    """Leave the lead unlinked and create no contact; a person links it."""


@attrs.frozen(kw_only=True)
class IntakeResult:
    """
    What the intake did with one request.

    Attributes:
        lead: The lead as stored.
        contact_id: The contact it was linked to, if any.
        created_contact: Whether that contact was created for it.
        request: First request, repeat request or repeat inquiry.
        review: Contacts it may be, that a person should look at (matches in the review band),
            best first. With `OnReview.LINK` and no sure match, the lead is linked to the
            first.
        qualification: The verdict, score, temperature and findings.
        events: Every event appended, in order.
        near_matches: Contacts it was compared with and judged a different person.
    """

    lead: Lead
    contact_id: str | None
    created_contact: bool
    request: RequestKind
    review: tuple[PairScore, ...]
    qualification: Qualification
    events: tuple[Event, ...]
    near_matches: tuple[PairScore, ...] = ()


def _junk_stages_problem(value: object) -> check.Problem:
    if not isinstance(value, Mapping) or not all(
        type(k) is str and type(v) is str for k, v in value.items()
    ):
        return f"expected a mapping of junk reasons to stage keys, got {describe(value)}", "type"
    return None


@attrs.frozen(kw_only=True)
class Intake:
    """
    How new requests enter a lead pipeline.

    Attributes:
        pipeline: The lead pipeline new leads enter.
        qualification: The qualification rules.
        matching: How the contact is found.
        customers: How repeat requests are told.
        junk_stages: Junk stage per junk reason (``{"spam": "Спам"}``); reasons not listed
            go to the first junk stage the reason closes into (`Reason.stages`), or the
            pipeline's first junk stage. A junk verdict whose reason is not one of the
            pipeline's reasons (``"low_score"`` unless you add it) leaves the lead in the first
            stage, with the verdict recorded, for a person to close.
        create_contacts: Create a contact for a lead nobody matches (when it has a valid
            phone or e-mail).
        contacts_for_junk: Create contacts for requests qualified as junk too. Off by
            default, as seed 000 has it: a spam bot or a contractor offering his services is
            not a client, and would only clutter the base and the duplicate search. A junk
            request that matches a known contact is still linked to it.
        on_review: What to do when the best match is in the review band: link the lead to
            it for a person to confirm (the default), or hold the lead unlinked. Either
            way no contact is created for it. A held lead belongs to no contact, so the
            `OpenDuplicate` check of later requests, which looks through contacts, does not
            see it until a person links it.

    Raises:
        ValidationError: If the pipeline is not a lead pipeline or a mapped stage is not one of
            its junk stages.
    """

    pipeline: Pipeline = attrs.field(validator=check.instance_of(Pipeline, "a Pipeline"))
    qualification: QualificationPolicy = attrs.field(
        validator=check.instance_of(QualificationPolicy, "a QualificationPolicy")
    )
    matching: MatchPolicy = attrs.field(
        factory=MatchPolicy, validator=check.instance_of(MatchPolicy, "a MatchPolicy")
    )
    customers: CustomerPolicy = attrs.field(
        factory=CustomerPolicy, validator=check.instance_of(CustomerPolicy, "a CustomerPolicy")
    )
    junk_stages: Mapping[str, str] = attrs.field(
        factory=dict, validator=check.field(_junk_stages_problem)
    )
    create_contacts: bool = attrs.field(default=True, validator=check.boolean)
    contacts_for_junk: bool = attrs.field(default=False, validator=check.boolean)
    on_review: OnReview = attrs.field(default=OnReview.LINK, validator=check.is_enum(OnReview))

    def __attrs_post_init__(self) -> None:
        if self.pipeline.kind is not PipelineKind.LEAD:
            raise_for(
                "Intake.pipeline",
                self.pipeline.key,
                f"pipeline {self.pipeline.key!r} holds deals; requests enter a lead pipeline",
                "pipeline_kind",
            )
        junk = [s.key for s in self.pipeline.stages if s.kind is StageKind.JUNK]
        for reason, stage in self.junk_stages.items():
            if stage not in junk:
                raise_for(
                    f"Intake.junk_stages[{reason!r}]",
                    stage,
                    f"{stage!r} is not a junk stage of {self.pipeline.key!r}; "
                    f"its junk stages are {junk}",
                    "unknown_stage",
                )
            found = self.pipeline.reason(reason)
            if found is not None and found.stages and stage not in found.stages:
                raise_for(
                    f"Intake.junk_stages[{reason!r}]",
                    stage,
                    f"reason {reason!r} closes into {sorted(found.stages)}, not {stage!r}; "
                    "map it to one of them, or leave it out",
                    "reason_stage",
                )

    def receive(
        self, lead: Lead, uow: UnitOfWork, actor: Actor, at: datetime, *, ids: IdFactory
    ) -> IntakeResult:
        """
        Take in one new request, writing everything through `uow` (you commit it).

        The contact the lead is linked to is claimed (`claim_contact`): if a merge commits
        it meanwhile, this unit's commit raises `ConflictError`, and the request taken in
        again links to the survivor.

        Args:
            lead: The new lead (version 0), in the pipeline's first stage, as the client wrote.
            uow: The unit of work to write through.
            actor: Who takes it in (``"system"`` for automatic intake).
            at: When.
            ids: Gives the id of a contact created for the lead.

        Raises:
            ValidationError: If the lead is not new, not in this pipeline's first stage, or
                already closed; nothing is written.
        """
        self._check_new(lead)
        events: list[Event] = [
            LeadCreated(entity=lead.ref, sequence=1, at=at, actor=actor.id, lead=lead)
        ]
        matches = self.matching.who_is(lead, uow.contacts, keep_different=True)
        same = [m for m in matches if m.band is Band.SAME]
        review = tuple(m for m in matches if m.band is Band.REVIEW)
        near = tuple(m for m in matches if m.band is Band.DIFFERENT)
        context = QualificationContext(
            normaliser=self.matching.normaliser, open_leads=self._open_leads_like(lead, uow)
        )
        qualification = self.qualification.qualify(lead, context)
        contact_id: str | None = None
        if same:
            contact_id = claim_contact(uow, same[0].right).id
        elif review and self.on_review is OnReview.LINK:
            contact_id = claim_contact(uow, review[0].right).id
        created = False
        if (
            contact_id is None
            and not review
            and self.create_contacts
            and (self.contacts_for_junk or qualification.verdict is not Verdict.JUNK)
            and self.matching.normaliser.keys(lead)
        ):
            contact = contact_from_lead(lead, ids.new_id(EntityKind.CONTACT), at)
            uow.contacts.add(contact)
            events.append(
                ContactCreated(
                    entity=contact.ref,
                    sequence=1,
                    at=at,
                    actor=actor.id,
                    contact=contact,
                    near_matches=tuple(m.right for m in near),
                )
            )
            contact_id, created = contact.id, True
        request = RequestKind.FIRST
        if contact_id is not None:
            request = self.customers.request_kind(
                attrs.evolve(lead, contact_id=contact_id),
                uow.leads.list(contact_id=contact_id, limit=1),  # the contact's first request
                uow.deals.list(contact_id=contact_id),
            )
            lead, linked = link_lead(
                lead,
                contact_id,
                actor,
                at,
                sequence=2,
                repeat=request is not RequestKind.FIRST,
                review=not same and not created,
            )
            events.append(linked)
        sequence = sum(1 for e in events if e.entity == lead.ref) + 1
        events.append(qualification.event(lead, actor, at, sequence=sequence))
        reason = qualification.junk_reason
        if (
            qualification.verdict is Verdict.JUNK
            and reason is not None
            and self.pipeline.reason(reason)
        ):
            moved = self.pipeline.compile().move(
                lead, self._junk_stage(reason), actor, at, sequence=sequence + 1, reason=reason
            )
            lead = moved.entity
            events.extend(moved.events)
        stored = uow.leads.add(lead)
        uow.events.append(events)
        return IntakeResult(
            lead=stored,
            contact_id=contact_id,
            created_contact=created,
            request=request,
            review=review,
            qualification=qualification,
            events=tuple(events),
            near_matches=near,
        )

    def _check_new(self, lead: Lead) -> None:
        given: object = lead
        if not isinstance(given, Lead):
            msg = f"receive(lead): expected a Lead, got {describe(given)}"
            raise ValidationError(msg, field="lead", value=given, rule="type")
        first = self.pipeline.first_stage.key
        if (
            given.version != 0
            or given.status is not LeadStatus.OPEN
            or given.contact_id is not None
        ):
            raise_for(
                "lead",
                given.ref,
                f"{given.ref} is not a new request (version {given.version}, "
                f"{given.status.value}, contact {given.contact_id!r}); intake takes new, open, "
                "unlinked leads",
                "new_lead",
            )
        if (given.pipeline, given.stage) != (self.pipeline.key, first):
            raise_for(
                "lead.stage",
                given.stage,
                f"{given.ref} is in {given.pipeline!r} / {given.stage!r}; new requests enter "
                f"{self.pipeline.key!r} at {first!r}",
                "first_stage",
            )

    def _open_leads_like(self, lead: Lead, uow: UnitOfWork) -> tuple[Lead, ...]:
        """
        The open leads that may share a phone or e-mail with `lead` (for `OpenDuplicate`).

        Every lead with a valid phone or e-mail is linked to a contact holding it when
        `create_contacts` is on (except leads held for review and junk left unlinked), so the
        leads of the contacts found under the lead's keys, at most `MatchPolicy.max_holders` a
        key, are all there is to look at: the look-up grows neither with the base nor with a
        shared phone. Without contact creation, every open lead of the pipeline is read.
        """
        if not self.create_contacts:
            return tuple(uow.leads.list(pipeline=self.pipeline.key, status=LeadStatus.OPEN))
        matching = self.matching
        contact_ids = {
            contact.id
            for key in matching.lookup_keys(matching.record(lead))
            for contact in uow.contacts.find_by_key(key, limit=matching.max_holders)
        }
        return tuple(
            other
            for contact_id in sorted(contact_ids)
            for other in uow.leads.list(
                contact_id=contact_id, status=LeadStatus.OPEN, limit=matching.max_holders
            )
            if other.pipeline == self.pipeline.key
        )

    def _junk_stage(self, reason: str) -> str:
        if reason in self.junk_stages:
            return self.junk_stages[reason]
        junk = [s.key for s in self.pipeline.stages if s.kind is StageKind.JUNK]
        found = self.pipeline.reason(reason)
        if found is not None and found.stages:
            return next(key for key in junk if key in found.stages)
        return junk[0]


def contact_from_lead(lead: Lead, contact_id: str, at: datetime) -> Contact:
    """
    A new contact made from a lead's contact data (named by its phone or e-mail if unnamed).

    The intake creates one for a request nobody matches; the service for a lead converted
    without a contact.
    """
    data = lead.contact_data
    name = data.name or next(iter(data.phones + data.emails), None)
    return Contact(
        id=contact_id,
        created_at=at,
        names=(name,) if name else (),
        phones=tuple(dict.fromkeys(data.phones)),
        emails=tuple(dict.fromkeys(data.emails)),
        company=data.company,
        address=data.address,
        birth_date=data.birth_date,
    )
