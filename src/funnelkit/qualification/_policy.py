"""
Lead qualification: ordered, composable rules that separate the flies from the cutlets.

Each rule looks at a lead (and what is known around it: the open leads, the normaliser) and
either stays silent or reports a `Finding`: points for or against, and the reason. A rule may
be decisive: the first decisive finding closes the lead as junk with its reason (spam, a known
contractor, a duplicate of an open lead...). Otherwise the points add up to a score that says
good or review, and a temperature (seed 001: silent, cold, warm, hot).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import attrs

from funnelkit import _checks as check
from funnelkit._checks import describe, raise_for
from funnelkit.events import (
    LeadQualified,
    Temperature,
    Verdict,
)
from funnelkit.exceptions import ValidationError
from funnelkit.matching._normalise import Normaliser
from funnelkit.model import Actor, Lead


if TYPE_CHECKING:
    from datetime import datetime


__all__ = [
    "BlockedPhones",
    "Finding",
    "MissingContact",
    "OpenDuplicate",
    "Predicate",
    "Qualification",
    "QualificationContext",
    "QualificationPolicy",
    "QualificationRule",
    "SpamPattern",
]


@attrs.frozen(kw_only=True)
class Finding:
    """
    What one rule found about a lead.

    Attributes:
        rule: The rule's key.
        points: Points for (positive) or against (negative) the lead.
        reason: Why, in words a manager understands.
        junk_reason: If set, the finding is decisive: the lead is junk for this reason.
    """

    rule: str
    points: int
    reason: str
    junk_reason: str | None = None


@attrs.frozen(kw_only=True)
class QualificationContext:
    """
    What rules may know besides the lead.

    Attributes:
        normaliser: Normalises the lead's phones and e-mails.
        open_leads: The open leads already in the funnel (for duplicate checks).
    """

    normaliser: Normaliser = attrs.field(factory=Normaliser)
    open_leads: tuple[Lead, ...] = ()


class QualificationRule(Protocol):
    """**Protocol**: a rule; write your own or use `Predicate`."""

    @property
    def key(self) -> str:
        """The rule's stable key, recorded in findings."""
        ...

    def evaluate(self, lead: Lead, context: QualificationContext) -> Finding | None:
        """Report a finding about `lead`, or ``None`` if the rule has nothing to say."""
        ...


def _patterns_problem(value: object) -> check.Problem:
    if type(value) is not tuple or not value:
        return f"expected a non-empty tuple of regular expressions, got {describe(value)}", "type"
    for pattern in value:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as error:
            return f"{pattern!r} is not a regular expression ({error})", "pattern"
    return None


@attrs.frozen(kw_only=True)
class SpamPattern:
    """
    Junk when the message or the name matches a pattern (case-insensitive).

    Attributes:
        patterns: Regular expressions (``r"казино"``, ``r"https?://"``).
        key: The rule's key.
        junk_reason: The junk reason recorded.
    """

    patterns: tuple[str, ...] = attrs.field(validator=check.field(_patterns_problem))
    key: str = attrs.field(default="spam", validator=check.identifier)
    junk_reason: str = attrs.field(default="spam", validator=check.identifier)
    _compiled: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False, hash=False)

    @_compiled.default
    def _compile(self) -> re.Pattern[str]:
        try:
            return re.compile("|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE)
        except (re.error, TypeError):
            return re.compile(r"(?!)")  # the patterns' validator reports the bad one

    def evaluate(self, lead: Lead, context: QualificationContext) -> Finding | None:  # noqa: ARG002 - the rule protocol
        """Junk if a pattern occurs in the message or the name."""
        text = f"{lead.message}\n{lead.contact_data.name or ''}"
        found = self._compiled.search(text)
        if found is None:
            return None
        return Finding(
            rule=self.key,
            points=-100,
            reason=f"the request contains {found.group(0)!r}, which looks like spam",
            junk_reason=self.junk_reason,
        )


@attrs.frozen(kw_only=True)
class BlockedPhones:
    """
    Junk when a phone is on a list (known contractors, competitors, pranksters).

    Attributes:
        phones: The blocked numbers, in any format the normaliser reads.
        key: The rule's key.
        junk_reason: The junk reason recorded.
    """

    phones: frozenset[str] = attrs.field(
        validator=check.frozenset_of(check.nonblank_problem, "phone numbers")
    )
    key: str = attrs.field(default="blocked_phone", validator=check.identifier)
    junk_reason: str = attrs.field(default="contractor", validator=check.identifier)

    def evaluate(self, lead: Lead, context: QualificationContext) -> Finding | None:
        """Junk if one of the lead's valid phones is blocked."""
        blocked, _ = context.normaliser.phones(tuple(sorted(self.phones)))
        phones, _ = context.normaliser.phones(lead.contact_data.phones)
        hit = next((p for p in phones if p in blocked), None)
        if hit is None:
            return None
        return Finding(
            rule=self.key,
            points=-100,
            reason=f"{hit} is on the blocked list",
            junk_reason=self.junk_reason,
        )


@attrs.frozen(kw_only=True)
class MissingContact:
    """
    Points against a lead without a valid phone or e-mail (nobody can call back).

    Attributes:
        points: Points when no valid phone or e-mail is left (negative).
        key: The rule's key.
    """

    points: int = attrs.field(default=-40, validator=check.field(check.integer_problem))
    key: str = attrs.field(default="no_contact", validator=check.identifier)

    def evaluate(self, lead: Lead, context: QualificationContext) -> Finding | None:
        """Count the lead's valid phones and e-mails; report when there are none."""
        if context.normaliser.keys(lead):
            return None
        given = len(lead.contact_data.phones) + len(lead.contact_data.emails)
        reason = (
            "no phone or e-mail was given"
            if not given
            else f"none of the {given} phones and e-mails given is valid"
        )
        return Finding(rule=self.key, points=self.points, reason=reason)


@attrs.frozen(kw_only=True)
class OpenDuplicate:
    """
    Junk when an open lead already has one of this lead's phones or e-mails.

    Attributes:
        key: The rule's key.
        junk_reason: The junk reason recorded.
    """

    key: str = attrs.field(default="duplicate", validator=check.identifier)
    junk_reason: str = attrs.field(default="duplicate", validator=check.identifier)

    def evaluate(self, lead: Lead, context: QualificationContext) -> Finding | None:
        """Junk if an open lead (other than this one) shares a key."""
        keys = set(context.normaliser.keys(lead))
        for other in context.open_leads:
            if other.id != lead.id and other.is_open and keys & set(context.normaliser.keys(other)):
                return Finding(
                    rule=self.key,
                    points=-100,
                    reason=f"{other.ref} is open with the same phone or e-mail",
                    junk_reason=self.junk_reason,
                )
        return None


@attrs.frozen(kw_only=True)
class Predicate:
    """
    A rule of your own: a test on the lead, with its points and reason.

    Attributes:
        key: The rule's key.
        test: Returns true when the finding applies.
        points: Points when it applies.
        reason: Why, shown to people.
        junk_reason: If set, the finding is decisive junk with this reason.
    """

    key: str = attrs.field(validator=check.identifier)
    test: Callable[[Lead, QualificationContext], bool] = attrs.field(eq=False)
    points: int = attrs.field(validator=check.field(check.integer_problem))
    reason: str = attrs.field(validator=check.nonblank)
    junk_reason: str | None = attrs.field(default=None, validator=check.optional_identifier)

    def evaluate(self, lead: Lead, context: QualificationContext) -> Finding | None:
        """Apply the test."""
        if not self.test(lead, context):
            return None
        return Finding(
            rule=self.key, points=self.points, reason=self.reason, junk_reason=self.junk_reason
        )


@attrs.frozen(kw_only=True)
class Qualification:
    """
    The verdict on a lead, with its score, temperature and every finding.

    Attributes:
        verdict: Good, junk or review.
        junk_reason: Why it is junk (the first decisive finding's reason, or ``"low_score"``).
        score: The sum of the findings' points.
        temperature: Silent (cannot be reached), cold, warm or hot.
        findings: Every finding, in rule order.
    """

    verdict: Verdict
    junk_reason: str | None
    score: int
    temperature: Temperature
    findings: tuple[Finding, ...]

    def event(self, lead: Lead, actor: Actor, at: datetime, *, sequence: int) -> LeadQualified:
        """The `LeadQualified` event recording this verdict for `lead`."""
        reasons = tuple(f"{f.rule}: {f.reason} ({f.points:+d})" for f in self.findings)
        return LeadQualified(
            entity=lead.ref,
            sequence=sequence,
            at=at,
            actor=actor.id,
            verdict=self.verdict,
            score=self.score,
            temperature=self.temperature,
            reasons=reasons,
        )


def _rules_problem(value: object) -> check.Problem:
    if type(value) is not tuple:
        return f"expected a tuple of rules, got {describe(value)}", "type"
    keys = []
    for rule in value:
        if (
            not callable(getattr(rule, "evaluate", None))
            or type(getattr(rule, "key", None)) is not str
        ):
            return f"expected rules with a key and evaluate(), got {describe(rule)}", "type"
        if rule.key in keys:
            return f"two rules share the key {rule.key!r}; keys must be unique", "unique"
        keys.append(rule.key)
    return None


@attrs.frozen(kw_only=True)
class QualificationPolicy:
    """
    Ordered rules and the thresholds that turn their findings into a verdict and a temperature.

    Attributes:
        rules: The rules, in order; the first decisive finding makes the lead junk.
        good_from: Scores from here up are good; lower ones need review.
        junk_below: Scores below this are junk (reason ``"low_score"``).
        warm_from: Scores from here up are warm (below: cold).
        hot_from: Scores from here up are hot.
        base: The score of a lead no rule has anything to say about.
    """

    rules: tuple[QualificationRule, ...] = attrs.field(validator=check.field(_rules_problem))
    good_from: int = attrs.field(default=0, validator=check.field(check.integer_problem))
    junk_below: int = attrs.field(default=-60, validator=check.field(check.integer_problem))
    warm_from: int = attrs.field(default=10, validator=check.field(check.integer_problem))
    hot_from: int = attrs.field(default=30, validator=check.field(check.integer_problem))
    base: int = attrs.field(default=0, validator=check.field(check.integer_problem))

    def __attrs_post_init__(self) -> None:
        if not self.junk_below <= self.good_from:
            raise_for(
                "QualificationPolicy.junk_below",
                self.junk_below,
                f"junk_below ({self.junk_below}) must not exceed good_from ({self.good_from})",
                "thresholds",
            )
        if not self.warm_from <= self.hot_from:
            raise_for(
                "QualificationPolicy.warm_from",
                self.warm_from,
                f"warm_from ({self.warm_from}) must not exceed hot_from ({self.hot_from})",
                "thresholds",
            )

    def qualify(self, lead: Lead, context: QualificationContext | None = None) -> Qualification:
        """
        Qualify a lead: deterministic, explained, without side effects.

        Raises:
            ValidationError: If `lead` is not a `Lead`.
        """
        given: object = lead
        if not isinstance(given, Lead):
            msg = f"qualify(lead): expected a Lead, got {describe(given)}"
            raise ValidationError(msg, field="lead", value=given, rule="type")
        context = context if context is not None else QualificationContext()
        findings = tuple(
            f for rule in self.rules if (f := rule.evaluate(given, context)) is not None
        )
        score = self.base + sum(f.points for f in findings)
        decisive = next((f for f in findings if f.junk_reason is not None), None)
        if decisive is not None:
            verdict, junk_reason = Verdict.JUNK, decisive.junk_reason
        elif score < self.junk_below:
            verdict, junk_reason = Verdict.JUNK, "low_score"
        elif score >= self.good_from:
            verdict, junk_reason = Verdict.GOOD, None
        else:
            verdict, junk_reason = Verdict.REVIEW, None
        if not context.normaliser.keys(given):
            temperature = Temperature.SILENT
        elif score >= self.hot_from:
            temperature = Temperature.HOT
        elif score >= self.warm_from:
            temperature = Temperature.WARM
        else:
            temperature = Temperature.COLD
        return Qualification(
            verdict=verdict,
            junk_reason=junk_reason,
            score=score,
            temperature=temperature,
            findings=findings,
        )
