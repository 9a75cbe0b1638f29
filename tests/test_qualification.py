"""Lead qualification: decisive junk rules, scores with reasons, temperatures, events."""

from __future__ import annotations

import pytest
from hypothesis import given

import funnelkit as fk
from funnelkit.qualification import (
    BlockedPhones,
    MissingContact,
    OpenDuplicate,
    Predicate,
    QualificationContext,
    QualificationPolicy,
    SpamPattern,
)
from funnelkit.testing import strategies as fst
from funnelkit.testing.contracts import T0, make_lead


POLICY = QualificationPolicy(
    rules=(
        SpamPattern(patterns=(r"казино", r"https?://")),
        BlockedPhones(phones=frozenset({"+7 495 000 11 22"})),
        OpenDuplicate(),
        MissingContact(),
        Predicate(
            key="roof_area",
            test=lambda lead, _: "м²" in lead.message,
            points=20,
            reason="gave the roof area: ready for a proposal",
        ),
        Predicate(
            key="from_partner_site",
            test=lambda lead, _: lead.source.site == "roof-market.ru",
            points=15,
            reason="came from the partner site, which converts well",
        ),
    ),
)


def lead(
    lead_id="Л-1",
    message="Нужна кровля 120 м²",
    phones=("89123456789",),
    site="krovlya-spb.ru",
    **changes,
):
    return make_lead(
        lead_id,
        message=message,
        source=fk.LeadSource(channel="site_form", site=site),
        contact_data=fk.ContactData(name="Алмаз", phones=phones),
        **changes,
    )


def test_a_good_lead_scores_with_a_reason_for_every_point():
    """Points add up; each finding names its rule and reason; the temperature follows."""
    result = POLICY.qualify(lead(site="roof-market.ru"))
    assert (fk.events.Verdict.GOOD, 35, fk.events.Temperature.HOT) == (
        result.verdict,
        result.score,
        result.temperature,
    )
    assert ["roof_area", "from_partner_site"] == [f.rule for f in result.findings]


@pytest.mark.parametrize(
    ("subject", "junk_reason"),
    [
        (lead(message="Лучшее казино, заходи"), "spam"),
        (lead(message="смотри https://example.com"), "spam"),
        (lead(phones=("8 (495) 000-11-22",)), "contractor"),
    ],
)
def test_decisive_rules_make_junk_with_their_reason(subject, junk_reason):
    """Spam patterns and blocked phones close the lead as junk, with the reason."""
    result = POLICY.qualify(subject)
    assert (fk.events.Verdict.JUNK, junk_reason) == (result.verdict, result.junk_reason)


def test_a_duplicate_of_an_open_lead_is_junk():
    """A second open lead with the same phone is a duplicate."""
    first = lead("Л-1")
    context = QualificationContext(open_leads=(first,))
    result = POLICY.qualify(lead("Л-2", phones=("+7 912 345 67 89",)), context)
    assert ("duplicate", "Л-1") == (
        result.junk_reason,
        "Л-1" if "Л-1" in result.findings[0].reason else None,
    )


def test_missing_or_invalid_contact_data_needs_review_and_is_silent():
    """A lead nobody can call back gets points against it and the silent temperature."""
    result = POLICY.qualify(lead(message="Сколько стоит?", phones=("12345",)))
    assert (fk.events.Verdict.REVIEW, -40, fk.events.Temperature.SILENT) == (
        result.verdict,
        result.score,
        result.temperature,
    )
    assert "none of the 1 phones and e-mails given is valid" == result.findings[0].reason


def test_the_verdict_becomes_an_event():
    """The LeadQualified event carries verdict, score, temperature and every reason."""
    subject = lead()
    event = POLICY.qualify(subject).event(subject, fk.Actor(id="system"), T0, sequence=2)
    assert (fk.events.Verdict.GOOD, 20, fk.events.Temperature.WARM) == (
        event.verdict,
        event.score,
        event.temperature,
    )
    assert ("roof_area: gave the roof area: ready for a proposal (+20)",) == event.reasons


@pytest.mark.parametrize(
    ("build", "rule"),
    [
        (lambda: SpamPattern(patterns=("(",)), "pattern"),
        (lambda: SpamPattern(patterns=()), "type"),
        (lambda: QualificationPolicy(rules=(OpenDuplicate(), OpenDuplicate())), "unique"),
        (lambda: QualificationPolicy(rules=(), good_from=-100, junk_below=0), "thresholds"),
        (lambda: QualificationPolicy(rules=("spam",)), "type"),  # type: ignore[arg-type]
    ],
)
def test_malformed_policies_are_refused(build, rule):
    """Broken patterns, repeated rule keys and crossed thresholds are refused."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert rule == caught.value.rule


@given(fst.leads())
def test_qualification_is_deterministic(subject):
    """The same lead always gets the same qualification."""
    assert POLICY.qualify(subject) == POLICY.qualify(subject)
