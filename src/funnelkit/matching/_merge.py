"""
Merges of duplicate contacts that are planned, explained and reversible.

`MergePolicy.plan` is a dry run: it picks the surviving contact, decides every field by its
rule (each decision names the contacts it took values from) and lists every lead, deal and task
to re-point. `apply_merge` writes the plan through a unit of work, with events, and returns an
`UndoRecord`; `undo_merge` restores exactly what was there, or refuses if anything changed
since. Nothing is lost: merged contacts stay stored (``merged_into`` set), and the survivor
keeps every phone, e-mail and name by default.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, raise_for
from funnelkit.events import (
    ContactsMerged,
    ContactsUnmerged,
    ContactUpdated,
    Event,
    FieldChanged,
)
from funnelkit.exceptions import ConflictError, ValidationError
from funnelkit.matching._normalise import Normaliser
from funnelkit.model import (
    Contact,
    Deal,
    DealStatus,
    EntityRef,
    FieldValue,
    FieldValues,
    Lead,
    Task,
)


if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from funnelkit.model import Actor
    from funnelkit.storage import UnitOfWork


__all__ = [
    "FieldDecision",
    "FieldMerge",
    "MergePlan",
    "MergePolicy",
    "SurvivorRule",
    "UndoRecord",
    "apply_merge",
    "claim_contact",
    "undo_merge",
]


class SurvivorRule(str, enum.Enum):
    """How the surviving contact is chosen (rules apply in order; ties fall through)."""

    HAS_WON_DEALS = "has_won_deals"
    """Prefer a contact with a won deal."""
    OLDEST = "oldest"
    """Prefer the contact created first."""
    MOST_COMPLETE = "most_complete"
    """Prefer the contact with the most filled data (names, phones, e-mails, company, fields)."""


class FieldMerge(str, enum.Enum):
    """How one field of the merged contact is decided."""

    KEEP_SURVIVOR = "keep_survivor"
    """The survivor's value, even if empty."""
    FIRST_NON_EMPTY = "first_non_empty"
    """The survivor's value if it has one, else the first other contact's (oldest first)."""
    UNION = "union"
    """All values of all contacts, survivor's first, without repeats (lists only)."""
    NEWEST = "newest"
    """The value of the most recently created contact that has one."""
    CONCATENATE = "concatenate"
    """All distinct lines of all texts, joined by new lines (notes; text only)."""


_LISTS = frozenset({"names", "phones", "emails"})


@attrs.frozen(kw_only=True)
class FieldDecision:
    """
    How one field of the merged contact was decided.

    Attributes:
        field: ``"names"``, ``"phones"``, ``"emails"``, ``"company"``, ``"address"``,
            ``"birth_date"`` or ``"fields.<key>"``.
        rule: The rule applied.
        value: The resulting value (``None`` when empty).
        sources: The contacts whose values it took.
    """

    field: str
    rule: FieldMerge
    value: FieldValue | None
    sources: tuple[str, ...]


def _rules_problem(value: object) -> check.Problem:
    if not isinstance(value, dict):
        return f"expected a dict of field rules, got {describe(value)}", "type"
    for key, rule in value.items():
        if type(key) is not str or not key:
            return f"expected custom field keys, got {describe(key)}", "type"
        if not isinstance(rule, FieldMerge):
            return f"the rule for {key!r} must be a FieldMerge, got {describe(rule)}", "type"
    return None


@attrs.frozen(kw_only=True)
class MergePolicy:
    """
    How duplicate contacts are merged.

    Attributes:
        survivor: Rules choosing the surviving contact, in order; remaining ties go to the
            smallest id.
        names: Rule for names (lists: union by default, so no spelling is lost).
        phones: Rule for phones.
        emails: Rule for e-mails.
        company: Rule for the company name.
        address: Rule for the address.
        birth_date: Rule for the birth date.
        fields: Rules for custom fields by key; others use `default_field`.
        default_field: Rule for custom fields not in `fields`.
        normaliser: How phones and e-mails are compared: the merged contact keeps each
            phone and e-mail once, by its normalised key (``8 (921) 123-45-67`` and
            ``+7 921 1234567`` are one phone), in the spelling met first (the survivor's);
            the other spellings stay in the history, in the merged contacts' snapshots. Give
            it the intake's normaliser (`Service` does).

    Raises:
        ValidationError: If `union` is given for the company name, the address or the birth
            date, or a rule is not a `FieldMerge`.
    """

    survivor: tuple[SurvivorRule, ...] = attrs.field(
        default=(SurvivorRule.HAS_WON_DEALS, SurvivorRule.OLDEST),
        validator=check.tuple_of(check.member_of(SurvivorRule), "survivor rules", unique=True),
    )
    names: FieldMerge = attrs.field(default=FieldMerge.UNION, validator=check.is_enum(FieldMerge))
    phones: FieldMerge = attrs.field(default=FieldMerge.UNION, validator=check.is_enum(FieldMerge))
    emails: FieldMerge = attrs.field(default=FieldMerge.UNION, validator=check.is_enum(FieldMerge))
    company: FieldMerge = attrs.field(
        default=FieldMerge.FIRST_NON_EMPTY, validator=check.is_enum(FieldMerge)
    )
    address: FieldMerge = attrs.field(
        default=FieldMerge.FIRST_NON_EMPTY, validator=check.is_enum(FieldMerge)
    )
    birth_date: FieldMerge = attrs.field(
        default=FieldMerge.FIRST_NON_EMPTY, validator=check.is_enum(FieldMerge)
    )
    fields: Mapping[str, FieldMerge] = attrs.field(
        factory=dict, validator=check.field(_rules_problem)
    )
    default_field: FieldMerge = attrs.field(
        default=FieldMerge.FIRST_NON_EMPTY, validator=check.is_enum(FieldMerge)
    )
    normaliser: Normaliser = attrs.field(
        factory=Normaliser, validator=check.instance_of(Normaliser, "a Normaliser")
    )

    def __attrs_post_init__(self) -> None:
        for name in ("company", "address", "birth_date"):
            if getattr(self, name) is FieldMerge.UNION:
                raise_for(
                    f"MergePolicy.{name}",
                    FieldMerge.UNION,
                    f"a contact has one {name.replace('_', ' ')}; use first_non_empty, newest "
                    "or keep_survivor",
                    "rule",
                )

    def plan(
        self,
        contacts: Iterable[Contact],
        *,
        merge_id: str,
        leads: Iterable[Lead] = (),
        deals: Iterable[Deal] = (),
        tasks: Iterable[Task] = (),
    ) -> MergePlan:
        """
        Plan the merge of duplicate contacts: a dry run a person can review.

        Args:
            contacts: Two or more live contacts, as read from the store.
            merge_id: An id for the merge (from your id factory), recorded in its events.
            leads: Their leads, deals and tasks: every one linked to a merged contact is
                re-pointed to the survivor.
            deals: See `leads`.
            tasks: See `leads`.

        Raises:
            ValidationError: If fewer than two contacts are given, one repeats or was merged
                already, a non-contact is among them, or a child belongs to none of them.
        """
        group = _contacts(contacts)
        children = [
            *_typed(leads, Lead, "leads"),
            *_typed(deals, Deal, "deals"),
            *_typed(tasks, Task, "tasks"),
        ]
        won = {d.contact_id for d in children if isinstance(d, Deal) and d.status is DealStatus.WON}
        ordered = sorted(group, key=lambda c: self._preference(c, won))
        survivor, others = ordered[0], ordered[1:]
        by_age = sorted(group, key=lambda c: (c.created_at, c.id))
        normaliser = self.normaliser
        decisions = [
            self._decide("names", self.names, survivor, by_age),
            self._once(self._decide("phones", self.phones, survivor, by_age), normaliser.phone),
            self._once(self._decide("emails", self.emails, survivor, by_age), normaliser.email),
            self._decide("company", self.company, survivor, by_age),
            self._decide("address", self.address, survivor, by_age),
            self._decide("birth_date", self.birth_date, survivor, by_age),
        ]
        keys = sorted({key for contact in group for key in contact.fields})
        decisions.extend(
            self._decide(
                f"fields.{key}", self.fields.get(key, self.default_field), survivor, by_age
            )
            for key in keys
        )
        merged_fields = {
            d.field.removeprefix("fields."): d.value
            for d in decisions
            if d.field.startswith("fields.") and d.value is not None
        }
        values: dict[str, Any] = {d.field: d.value for d in decisions}  # typed by the rules
        result = attrs.evolve(
            survivor,
            names=tuple(values["names"] or survivor.names),
            phones=tuple(values["phones"] or ()),
            emails=tuple(values["emails"] or ()),
            company=values["company"],
            address=values["address"],
            birth_date=values["birth_date"],
            fields=FieldValues(merged_fields),
        )
        merged_ids = {c.id for c in others}
        moved = []
        for child in children:
            owner = child.subject.id if isinstance(child, Task) else child.contact_id
            if isinstance(child, Task) and child.subject.kind.value != "contact":
                continue
            if owner in merged_ids:
                moved.append(child)
            elif owner != survivor.id:
                raise_for(
                    "children",
                    child.ref,
                    f"{child.ref} belongs to contact {owner!r}, which is not in this merge; "
                    "pass only the merged contacts' leads, deals and tasks",
                    "foreign_child",
                )
        return MergePlan(
            merge_id=merge_id,
            survivor=survivor,
            merged=tuple(others),
            result=result,
            decisions=tuple(decisions),
            children=tuple(moved),
        )

    @staticmethod
    def _once(decision: FieldDecision, key: Callable[[str], str]) -> FieldDecision:
        """Keep each phone or e-mail of a decided list once, by its key, first spelling first."""
        if not isinstance(decision.value, tuple):
            return decision
        kept: dict[str | tuple[str], str] = {}
        for raw in decision.value:
            try:
                found: str | tuple[str] = key(raw)
            except ValidationError:  # not a phone or e-mail the normaliser reads: as written
                found = (raw,)
            kept.setdefault(found, raw)
        return attrs.evolve(decision, value=tuple(kept.values()))

    def _preference(self, contact: Contact, won: set[str | None]) -> tuple[Any, ...]:
        key: list[Any] = []
        for rule in self.survivor:
            if rule is SurvivorRule.HAS_WON_DEALS:
                key.append(contact.id not in won)
            elif rule is SurvivorRule.OLDEST:
                key.append(contact.created_at)
            else:
                filled = len(contact.names) + len(contact.phones) + len(contact.emails)
                key.append(-(filled + (contact.company is not None) + len(contact.fields)))
        key.append(contact.id)
        return tuple(key)

    @staticmethod
    def _decide(
        field: str, rule: FieldMerge, survivor: Contact, by_age: list[Contact]
    ) -> FieldDecision:
        def value_of(contact: Contact) -> Any:
            if field.startswith("fields."):
                return contact.fields.get(field.removeprefix("fields."))
            return getattr(contact, field)

        def filled(value: Any) -> bool:
            return value is not None and value not in ("", ())

        order = [survivor, *(c for c in by_age if c.id != survivor.id)]
        present = [(c.id, value_of(c)) for c in order if filled(value_of(c))]
        _check_rule(field, rule, [value for _, value in present])
        if rule is FieldMerge.KEEP_SURVIVOR:
            value = value_of(survivor)
            return FieldDecision(
                field=field,
                rule=rule,
                value=value if filled(value) else None,
                sources=(survivor.id,),
            )
        if not present:
            return FieldDecision(field=field, rule=rule, value=None, sources=())
        if rule is FieldMerge.FIRST_NON_EMPTY:
            source, value = present[0]
            return FieldDecision(field=field, rule=rule, value=value, sources=(source,))
        if rule is FieldMerge.NEWEST:
            newest = max(
                (c for c in by_age if filled(value_of(c))), key=lambda c: (c.created_at, c.id)
            )
            return FieldDecision(
                field=field, rule=rule, value=value_of(newest), sources=(newest.id,)
            )
        if rule is FieldMerge.UNION:
            union: dict[str, None] = {}
            for _, value in present:
                union.update(dict.fromkeys(value))
            return FieldDecision(
                field=field, rule=rule, value=tuple(union), sources=tuple(s for s, _ in present)
            )
        # Distinct lines, so merging an already merged note again adds nothing.
        texts: dict[str, None] = dict.fromkeys(
            line for _, value in present for line in value.splitlines() if line.strip()
        )
        return FieldDecision(
            field=field, rule=rule, value="\n".join(texts), sources=tuple(s for s, _ in present)
        )


@attrs.frozen(kw_only=True)
class MergePlan:
    """
    A planned merge: who survives, what every field becomes, which children move.

    Attributes:
        merge_id: The merge's id.
        survivor: The surviving contact, as read.
        merged: The other contacts, as read; they stay stored, marked ``merged_into``.
        result: The survivor after the merge (same version: the store bumps it).
        decisions: One per field, with the contacts each value came from.
        children: Leads, deals and tasks of the merged contacts, as read, to re-point.
    """

    merge_id: str
    survivor: Contact
    merged: tuple[Contact, ...]
    result: Contact
    decisions: tuple[FieldDecision, ...]
    children: tuple[Lead | Deal | Task, ...]


@attrs.frozen(kw_only=True)
class UndoRecord:
    """
    What a merge wrote, to undo it exactly.

    Attributes:
        merge_id: The merge's id.
        before: Every entity the merge changed, as it was.
        after: The same entities as the merge stored them (undo refuses if any changed since).
    """

    merge_id: str
    before: tuple[Contact | Lead | Deal | Task, ...]
    after: tuple[Contact | Lead | Deal | Task, ...]


def _check_rule(field: str, rule: FieldMerge, values: list[Any]) -> None:
    """Refuse a rule that does not fit the values of `field`."""
    is_list = field in _LISTS or any(isinstance(value, tuple) for value in values)
    if rule is FieldMerge.UNION and not is_list:
        raise_for(
            "MergePolicy",
            rule,
            f"union merges lists, but {field!r} holds single values; use another rule",
            "rule",
        )
    if rule is FieldMerge.CONCATENATE and not all(isinstance(value, str) for value in values):
        raise_for(
            "MergePolicy",
            rule,
            f"concatenate joins texts, but {field!r} holds other values; use another rule",
            "rule",
        )


def _contacts(contacts: Iterable[Contact]) -> list[Contact]:
    group = _typed(contacts, Contact, "contacts")
    if len(group) < 2:  # noqa: PLR2004 - a merge needs two
        raise_for(
            "contacts",
            len(group),
            f"a merge needs at least two contacts, got {len(group)}",
            "too_few",
        )
    seen: set[str] = set()
    for contact in group:
        if contact.id in seen:
            raise_for("contacts", contact.id, f"contact {contact.id!r} appears twice", "unique")
        if contact.merged_into is not None:
            raise_for(
                "contacts",
                contact.id,
                f"contact {contact.id!r} was merged into {contact.merged_into!r} already; "
                "merge that one instead",
                "merged",
            )
        seen.add(contact.id)
    return group


def _typed(items: Iterable[Any], cls: type, name: str) -> list[Any]:
    found = list(items)
    for index, item in enumerate(found):
        if not isinstance(item, cls):
            msg = f"{name}[{index}]: expected a {cls.__name__}, got {describe(item)}"
            raise ValidationError(msg, field=f"{name}[{index}]", value=item, rule="type")
    return found


def _repository(uow: UnitOfWork, entity: Any) -> Any:
    kinds = {Contact: uow.contacts, Lead: uow.leads, Deal: uow.deals, Task: uow.tasks}
    return kinds[type(entity)]


def _check_unchanged(uow: UnitOfWork, expected: Iterable[Any], what: str) -> None:
    for entity in expected:
        current = _repository(uow, entity).get(entity.id)
        if current != entity:
            raise ConflictError(
                f"{entity.ref} changed since the {what} (stored version {current.version}, "
                f"expected {entity.version}); nothing was written: plan again",
                entity=entity.ref,
                expected=entity.version,
                actual=current.version,
            )


def _repointed(child: Lead | Deal | Task, survivor: str) -> Lead | Deal | Task:
    if isinstance(child, Task):
        return attrs.evolve(child, subject=EntityRef.contact(survivor))
    return attrs.evolve(child, contact_id=survivor)


def _link_events(
    uow: UnitOfWork,
    before: Lead | Deal | Task,
    after: Lead | Deal | Task,
    actor: Actor,
    at: datetime,
) -> FieldChanged:
    field, old, new = (
        ("subject", str(before.subject), str(after.subject))
        if isinstance(before, Task) and isinstance(after, Task)
        else ("contact_id", before.contact_id, after.contact_id)  # type: ignore[union-attr]
    )
    return FieldChanged(
        entity=before.ref,
        sequence=uow.events.last_sequence(before.ref) + 1,
        at=at,
        actor=actor.id,
        field=field,
        old=old,
        new=new,
    )


def claim_contact(uow: UnitOfWork, contact_id: str, *, follow: bool = True) -> Contact:
    """
    Read the live contact a new lead, deal or task is about to be linked to, and claim it.

    A contact merged into another one is followed to the contact that survived. The contact
    is then saved unchanged, so its version moves when the unit commits. That is what keeps
    merges and links apart, in every store and across processes:

    - a merge planned before the link is refused when applied (`ConflictError`: plan again),
      so it never leaves the new child behind on a merged contact;
    - a merge committed after this unit read the contact makes this unit's commit fail with
      a `ConflictError`; read again and retry, and the link goes to the survivor.

    The intake, `Service.convert`, `Service.add_deal` and `Service.create_task` claim the
    contact of every child they link; do the same when you link children yourself.

    Args:
        uow: The unit of work the link is written in.
        contact_id: The contact to link to.
        follow: Follow a merged contact to its survivor (the intake and conversions, whose
            contact was found or re-pointed by funnelkit). With ``False``, a merged contact is
            refused instead: a record a person asked for by id (`Service.add_deal`,
            `Service.create_task`) is never silently filed under another contact.

    Returns:
        The claimed contact (the survivor, if `contact_id` was merged), as saved in `uow`.

    Raises:
        NotFoundError: If there is no such contact (or its survivor is gone).
        ConflictError: If `follow` is false and the contact was merged into another one.
        ValidationError: If the merges of `contact_id` form a loop.
    """
    contact = uow.contacts.get(contact_id)
    if not follow and contact.merged_into is not None:
        msg = (
            f"contact {contact_id!r} was merged into {contact.merged_into!r}; "
            f"link the record to {contact.merged_into!r}"
        )
        raise ConflictError(msg, entity=contact.ref, expected=None, actual=contact.version)
    seen = {contact.id}
    while contact.merged_into is not None:
        contact = uow.contacts.get(contact.merged_into)
        if contact.id in seen:
            raise_for(
                "contact_id",
                contact_id,
                f"the merges of contact {contact_id!r} form a loop through {contact.id!r}; "
                "undo one of them",
                "merge_loop",
            )
        seen.add(contact.id)
    return uow.contacts.save(contact)


def apply_merge(plan: MergePlan, uow: UnitOfWork, actor: Actor, at: datetime) -> UndoRecord:
    """
    Write a merge plan in a unit of work (you commit it), with its events.

    The survivor gets the merged values and a `ContactsMerged` event; each merged contact is
    kept, marked ``merged_into``; every child is re-pointed with a `FieldChanged` event.

    A merge re-points the children its plan read and refuses when any contact of the plan
    changed since: a lead, deal or task linked to one of them after the plan was read claimed
    that contact (`claim_contact`), so no child is ever left behind on a merged contact.

    Raises:
        ConflictError: If any planned entity changed since it was read (a child was linked to
            one of the contacts, a contact was edited or merged elsewhere); nothing is
            written: plan again.
    """
    given: object = plan
    if not isinstance(given, MergePlan):
        msg = f"apply_merge(plan): expected a MergePlan, got {describe(given)}"
        raise ValidationError(msg, field="plan", value=given, rule="type")
    _check_unchanged(uow, [plan.survivor, *plan.merged, *plan.children], "plan")
    before: list[Any] = [plan.survivor, *plan.merged, *plan.children]
    after: list[Any] = [uow.contacts.save(plan.result)]
    events: list[Event] = [
        ContactsMerged(
            entity=plan.survivor.ref,
            sequence=uow.events.last_sequence(plan.survivor.ref) + 1,
            at=at,
            actor=actor.id,
            merge_id=plan.merge_id,
            merged=tuple(c.id for c in plan.merged),
        ),
    ]
    events.append(
        ContactUpdated(
            entity=plan.survivor.ref,
            sequence=events[0].sequence + 1,
            at=at,
            actor=actor.id,
            contact=after[0],
        )
    )
    for contact in plan.merged:
        stored = uow.contacts.save(attrs.evolve(contact, merged_into=plan.survivor.id))
        after.append(stored)
        events.append(
            ContactUpdated(
                entity=contact.ref,
                sequence=uow.events.last_sequence(contact.ref) + 1,
                at=at,
                actor=actor.id,
                contact=stored,
            )
        )
    for child in plan.children:
        stored = _repository(uow, child).save(_repointed(child, plan.survivor.id))
        after.append(stored)
        events.append(_link_events(uow, child, stored, actor, at))
    uow.events.append(events)
    return UndoRecord(merge_id=plan.merge_id, before=tuple(before), after=tuple(after))


def undo_merge(record: UndoRecord, uow: UnitOfWork, actor: Actor, at: datetime) -> None:
    """
    Restore exactly what a merge changed, in a unit of work (you commit it), with events.

    Raises:
        ConflictError: If anything the merge wrote changed since; nothing is written.
    """
    given: object = record
    if not isinstance(given, UndoRecord):
        msg = f"undo_merge(record): expected an UndoRecord, got {describe(given)}"
        raise ValidationError(msg, field="record", value=given, rule="type")
    _check_unchanged(uow, record.after, "merge")
    events: list[Event] = []
    survivor = record.before[0]
    for old, current in zip(record.before, record.after, strict=True):
        restored = _repository(uow, old).save(attrs.evolve(old, version=current.version))
        if isinstance(restored, Contact):
            events.append(
                ContactUpdated(
                    entity=restored.ref,
                    sequence=uow.events.last_sequence(restored.ref)
                    + 1
                    + sum(e.entity == restored.ref for e in events),
                    at=at,
                    actor=actor.id,
                    contact=restored,
                )
            )
        elif not isinstance(current, Contact):
            events.append(_link_events(uow, current, restored, actor, at))
    first = (
        uow.events.last_sequence(survivor.ref) + 1 + sum(e.entity == survivor.ref for e in events)
    )
    events.append(
        ContactsUnmerged(
            entity=survivor.ref,
            sequence=first,
            at=at,
            actor=actor.id,
            merge_id=record.merge_id,
            restored=tuple(c.id for c in record.before[1:] if isinstance(c, Contact)),
        )
    )
    uow.events.append(events)
