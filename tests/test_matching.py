"""Normalisation and duplicate matching: every rule, every trap, explained scores."""

from __future__ import annotations

import gc
import itertools
import math
from datetime import date, datetime, timezone

import attrs
import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.matching import (
    Band,
    Comparator,
    FieldRule,
    Level,
    MatchPolicy,
    Normaliser,
    PairScore,
    _blocking,
    _normalise,
    fold_name,
)
from funnelkit.matching._compare import similarity
from funnelkit.testing import strategies as fst
from funnelkit.testing.contracts import make_contact, make_lead


NORMALISER = Normaliser()
POLICY = MatchPolicy()


# --- phones --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["8 (912) 345-67-89", "+7 912 345 67 89", "89123456789", "9123456789", "+7(912)3456789"]
)
def test_russian_phone_formats_are_one_number(raw):
    """The ways Russian clients write one mobile number all become one E.164 key."""
    assert "+79123456789" == NORMALISER.phone(raw)


def test_the_default_region_reads_national_numbers():
    """A national number is read in the configured region."""
    assert "+14155552671" == Normaliser(default_region="US").phone("(415) 555-2671")


@pytest.mark.parametrize("raw", ["12345", "+7 912 345", "позвоните мне", ""])
def test_invalid_phones_are_reported_not_kept(raw):
    """Garbage that phonenumbers would still parse is refused as invalid."""
    with pytest.raises(fk.ValidationError) as caught:
        NORMALISER.phone(raw)
    assert ("phone", "invalid_phone") == (caught.value.field, caught.value.rule)
    assert [] == NORMALISER.keys(fk.ContactData(phones=(raw,) if raw else ()))


def test_an_unknown_region_is_refused():
    """The default region must be one phonenumbers knows."""
    with pytest.raises(fk.ValidationError, match="region"):
        Normaliser(default_region="XX")


# --- e-mails -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Almaz.Gareev+lead@GMail.com", "almazgareev@gmail.com"),
        ("almazgareev@googlemail.com", "almazgareev@gmail.com"),
        ("  almaz+crm@yandex.ru ", "almaz@yandex.ru"),
        ("almaz-crm@yahoo.com", "almaz-crm@yahoo.com"),
        ("Almaz.Gareev@company.ru", "almaz.gareev@company.ru"),
        ("almaz+tag@company.ru", "almaz+tag@company.ru"),
    ],
)
def test_email_keys_follow_case_spaces_and_provider_rules(raw, key):
    """Case and spaces never matter; dots and +tags only where the provider ignores them."""
    assert key == NORMALISER.email(raw)


def test_provider_rules_can_be_turned_off():
    """Without provider rules only case and spaces are normalised."""
    normaliser = Normaliser(provider_email_rules=False)
    assert "almaz.gareev+lead@gmail.com" == normaliser.email("Almaz.Gareev+lead@GMail.com")


@pytest.mark.parametrize("raw", ["no-at-sign", "a@b", "two@@example.ru", "+tag@gmail.com"])
def test_invalid_emails_are_reported(raw):
    """Strings that are not addresses are refused with the field and the rule."""
    with pytest.raises(fk.ValidationError) as caught:
        NORMALISER.email(raw)
    assert ("email", "invalid_email") == (caught.value.field, caught.value.rule)


# --- names and companies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        ("Юлия", "Yulia"),
        ("Юлия", "Iuliia"),
        ("Евгений", "Yevgeniy"),
        ("Евгений", "Evgenii"),
        ("Наталья", "Natalia"),
        ("Алексей", "Alexey"),
        ("Щукин", "Shchukin"),
        ("Ёлкин", "Elkin"),
        ("Алмаз", "Almaz"),
    ],
)
def test_cyrillic_and_latin_spellings_of_a_name_meet(cyrillic, latin):
    """Transliteration plus folding gives one form for the usual spellings of a name."""
    assert fold_name(cyrillic) == fold_name(latin)


def test_words_with_digits_are_no_part_of_a_name():
    """A contact named by its phone has no name to disagree with."""
    assert () == NORMALISER.name_tokens("8 (912) 345-67-89")
    assert ("almaz",) == NORMALISER.name_tokens("Алмаз 89123456789")
    named_by_email = almaz("К-1", names=("almaz+site@gmail.com",), emails=("almaz+site@gmail.com",))
    assert () == POLICY.record(named_by_email).names


def test_word_order_case_and_yo_do_not_matter():
    """«Алмаз Строитель», "almaz stroitel" and «Строитель Алмаз» have the same tokens."""
    expected = ("almaz", "stroitel")
    assert expected == NORMALISER.name_tokens("Алмаз  Строитель")
    assert expected == NORMALISER.name_tokens("STROITEL, almaz")
    assert NORMALISER.name_tokens("Семён Ёлкин") == NORMALISER.name_tokens("семен елкин")


@pytest.mark.parametrize("raw", ["ООО «Алмаз»", "Almaz LLC", "ИП Алмаз", '"АЛМАЗ" ООО'])
def test_company_names_drop_legal_forms(raw):
    """Legal-form words and quotes go; Cyrillic and Latin spellings meet."""
    assert "almaz" == NORMALISER.company(raw)


# --- matching ------------------------------------------------------------------------------------


def almaz(contact_id, **changes):
    return make_contact(contact_id, **changes)


def test_the_same_client_through_two_channels_is_same_and_explained():
    """A shared phone in two formats plus a Cyrillic/Latin first name is "same", explained."""
    left = almaz("К-1", names=("Алмаз Строитель",), phones=("8 (912) 345-67-89",))
    right = almaz("К-2", names=("Almaz",), phones=("+7 912 345 67 89",), emails=(), company=None)
    result = POLICY.match([left, right])
    (pair,) = result.pairs
    assert (Band.SAME, True) == (pair.band, "phone:+79123456789" in pair.keys)
    levels = {c.field: c.level for c in pair.contributions}
    expected = {
        "phones": "exact",
        "emails": "null",
        "name": "first_name",
        "address": "null",
        "birth_date": "null",
        "company": "null",
    }
    assert expected == levels
    weights = {c.field: c.weight for c in pair.contributions}
    # The waterfall adds up: the prior's weight plus every field's, in bits.
    prior = math.log2(POLICY.prior / (1 - POLICY.prior))
    assert pytest.approx(prior + sum(weights.values())) == pair.score
    assert pytest.approx(1 / (1 + 2**-pair.score)) == pair.probability
    assert (frozenset({"К-1", "К-2"}),) == result.clusters


def test_a_shared_office_phone_does_not_make_two_people_one():
    """Trap: a shared phone with clearly different names conflicts, and is "different"."""
    result = POLICY.match(
        [
            almaz("К-1", names=("Алмаз Гареев",), emails=()),
            almaz("К-2", names=("Ирина Петрова",), emails=()),
        ]
    )
    (pair,) = result.pairs
    assert (True, ("name",)) == (pair.band is not Band.SAME, pair.conflicts[:1])
    assert () == result.clusters


def test_a_family_email_does_not_make_two_people_one():
    """Trap: one e-mail shared by a husband and a wife with different first names."""
    result = POLICY.match(
        [
            almaz("К-1", names=("Алмаз Гареев",), phones=(), emails=("gareevy@mail.ru",)),
            almaz("К-2", names=("Гульнара Гареева",), phones=(), emails=("GareevY@mail.ru",)),
        ]
    )
    (pair,) = result.pairs
    assert (True, ("name",)) == (pair.band is not Band.SAME, pair.conflicts[:1])
    assert () == result.clusters


def test_a_couple_with_one_surname_conflicts_by_name():
    """Trap: Юрий Гораев and Юлия Гораева, one e-mail and one address, look alike by name."""
    husband = almaz(
        "К-1",
        names=("Гораев Юрий",),
        phones=("89565735516",),
        emails=("yuliyagoraeva@bk.ru",),
        address="Лепсари, улица Зелёная, дом 137",
    )
    wife = almaz(
        "К-2",
        names=("Юлия Гораева",),
        phones=("89683220222",),
        emails=("yuliyagoraeva@bk.ru",),
        address="Лепсари, Зелёная 137",
    )
    (pair,) = MatchPolicy(personal=(("phones",), ("emails",))).match([husband, wife]).pairs
    assert (True, ("name", "personal")) == (pair.band is not Band.SAME, pair.conflicts)


def test_a_same_name_relative_at_one_address_is_not_merged():
    """Trap: a father and a son of one name and address need a phone or a birth date."""
    father = almaz("К-1", names=("Алмаз Гареев",), phones=(), emails=(), address="Званка, Лесная 5")
    son = almaz(
        "К-2", names=("Гареев Алмаз",), phones=(), emails=(), address="п. Званка, ул. Лесная, д. 5"
    )
    (pair,) = POLICY.match([father, son]).pairs
    assert (Band.REVIEW, ("personal",)) == (pair.band, pair.conflicts)
    with_births = [
        attrs.evolve(father, birth_date=date(1961, 4, 2)),
        attrs.evolve(son, birth_date=date(1989, 11, 20)),
    ]
    (pair,) = POLICY.match(with_births).pairs
    assert "birth_date" in pair.conflicts
    assert Band.SAME is not pair.band


def test_typos_in_every_identifier_still_meet():
    """A digit typed wrong, an e-mail letter dropped, a name typo: found and scored near."""
    left = almaz(
        "К-1",
        names=("Алмаз Гареев",),
        phones=("8 (912) 345-67-89",),
        emails=("almaz.gareev@mail.ru",),
    )
    right = almaz(
        "К-2",
        names=("Алмаз Гарев",),
        phones=("8 (912) 345-76-89",),
        emails=("almaz.gareev@mial.ru", "almaz.garev@mail.ru"),
    )
    (pair,) = POLICY.match([left, right]).pairs
    levels = {c.field: c.level for c in pair.contributions}
    assert ("typo", "exact", "near") == (levels["phones"], levels["emails"], levels["name"])
    assert Band.SAME == pair.band
    assert not {"phone:+79123456789", "email:almaz.gareev@mail.ru"}.isdisjoint(
        POLICY.keys(POLICY.record(left))
    )


def test_a_phone_alone_without_names_is_left_for_review():
    """With no name on one side, a shared phone is evidence for a person to look at."""
    lead = make_lead("Л-1", contact_data=fk.ContactData(phones=("89123456789",)))
    contact = almaz("К-1", emails=(), company=None)
    (pair,) = MatchPolicy(same_at=0.99).match([lead, contact]).pairs
    assert Band.REVIEW == pair.band


def test_clusters_do_not_chain_across_a_different_pair():
    """A bridge record cannot join two clients: no cluster spans a pair scored "different"."""
    gareev = almaz("К-1", names=("Алмаз Гареев",), phones=("89123456789",), emails=("a@mail.ru",))
    bridge = almaz("К-2", names=("Алмаз",), phones=("89123456789", "84950001122"), emails=())
    petrov = almaz("К-3", names=("Ирина Петрова",), phones=("84950001122",), emails=("a@mail.ru",))
    result = MatchPolicy(typo_keys=False).match([gareev, bridge, petrov])
    bands = {(p.left, p.right): p.band for p in result.pairs}
    expected = {
        ("К-1", "К-2"): Band.SAME,
        ("К-2", "К-3"): Band.REVIEW,
        ("К-1", "К-3"): Band.DIFFERENT,
    }
    assert expected == bands
    assert (frozenset({"К-1", "К-2"}),) == result.clusters


def test_only_blocked_pairs_are_scored():
    """Records that share no key are never compared."""
    result = POLICY.match(
        [
            almaz("К-1", phones=("89123456789",), emails=()),
            almaz("К-2", phones=("84950001122",), emails=(), names=("Ирина",)),
        ]
    )
    assert () == result.pairs


def test_oversized_blocks_pair_only_records_sharing_a_name_and_are_reported():
    """Under a key held by too many, only records that also share a name are paired."""
    strangers = [almaz(f"К-{i}", names=(f"Клиент {i}",), emails=()) for i in range(4)]
    copies = [almaz(f"К-{i}", names=("Алмаз Гареев",), emails=()) for i in (7, 8)]
    result = MatchPolicy(max_block_size=3, typo_keys=False).match([*strangers, *copies])
    assert ("phone:+79123456789",) == result.skipped_keys
    assert [("К-7", "К-8")] == [(p.left, p.right) for p in result.pairs]


def test_custom_fields_can_be_compared_and_used_as_keys():
    """A custom field can be a rule with levels of its own, and a blocking key."""
    rule = FieldRule(
        field="fields.device",
        comparator=Comparator.EXACT,
        levels=(
            Level(label="exact", min_similarity=1.0, m=0.9, u=1e-6),
            Level(label="else", min_similarity=0.0, m=0.1, u=0.999999),
        ),
    )
    policy = MatchPolicy(rules=(*POLICY.rules, rule), key_fields=("fields.device",))
    left = almaz("К-1", phones=(), emails=(), fields={"device": "ab-12"})
    right = almaz("К-2", phones=(), emails=(), names=("Алмаз",), fields={"device": "AB-12 "})
    assert "fields.device:ab-12" in policy.contact_keys(left)
    (pair,) = policy.match([left, attrs.evolve(right, fields={"device": "ab-12"})]).pairs
    assert "exact" == pair.contributions[-1].level
    assert pytest.approx(rule.levels[0].weight) == pair.contributions[-1].weight


def _levels():
    return (Level(label="exact", min_similarity=1.0, m=0.9, u=0.01),)


@pytest.mark.parametrize(
    ("build", "rule"),
    [
        (
            lambda: FieldRule(field="телефон", comparator=Comparator.EXACT, levels=_levels()),
            "unknown_field",
        ),
        (lambda: Level(label="exact", min_similarity=1.0, m=float("nan"), u=0.1), "type"),
        (lambda: Level(label="exact", min_similarity=1.0, m=1.0, u=0.1), "range"),
        (
            lambda: FieldRule(field="name", comparator=Comparator.NAME, levels=_levels()),
            "levels",
        ),
        (lambda: MatchPolicy(same_at=0.3, review_at=0.5), "thresholds"),
        (lambda: MatchPolicy(prior=0.0), "range"),
        (lambda: MatchPolicy(key_fields=("device",)), "type"),
        (lambda: MatchPolicy(personal=(("телефон",),)), "unknown_field"),
    ],
)
def test_malformed_policies_are_refused(build, rule):
    """Unknown fields, probabilities out of range, bad levels and crossed thresholds."""
    with pytest.raises(fk.ValidationError) as caught:
        build()
    assert rule == caught.value.rule


def test_match_refuses_repeated_ids_and_foreign_records():
    """Two records with one id, or something that is not a contact or lead, are refused."""
    with pytest.raises(fk.ValidationError, match="appears twice"):
        POLICY.match([almaz("К-1"), almaz("К-1")])
    with pytest.raises(fk.ValidationError, match="Contact or a Lead"):
        POLICY.match(["К-1"])  # type: ignore[list-item]


@given(st.lists(fst.contacts(), max_size=6, unique_by=lambda c: c.id))
def test_matching_is_symmetric_and_deterministic(contacts):
    """The same records in any order give the same pairs and clusters."""
    forward = POLICY.match(contacts)
    backward = POLICY.match(list(reversed(contacts)))
    assert forward == backward
    explained = [[(p.keys, p.contributions) for p in r.pairs] for r in (forward, backward)]
    assert explained[0] == explained[1]
    for pair in forward.pairs:
        left = POLICY.record(next(c for c in contacts if c.id == pair.left))
        right = POLICY.record(next(c for c in contacts if c.id == pair.right))
        assert POLICY.score(left, right).score == POLICY.score(right, left).score


@given(st.lists(fst.contacts(), min_size=2, max_size=6, unique_by=lambda c: c.id))
def test_a_pairs_explanation_adds_up_and_names_keys_both_records_hold(contacts):
    """Worked out when read, the explanation sums to the score and accounts for the band."""
    result = POLICY.match(contacts)
    prior = math.log2(POLICY.prior / (1 - POLICY.prior))
    records = {contact.id: POLICY.record(contact) for contact in contacts}
    for pair in result.pairs:
        assert [rule.field for rule in POLICY.rules] == [c.field for c in pair.contributions]
        assert pytest.approx(pair.score, abs=1e-4) == prior + sum(
            c.weight for c in pair.contributions
        )
        held = [set(POLICY.keys(records[side])) for side in (pair.left, pair.right)]
        assert pair.keys
        assert set(pair.keys) <= held[0] & held[1]
        conflicting = [
            c.field
            for c, rule in zip(pair.contributions, POLICY.rules, strict=True)
            if rule.conflict_below is not None
            and c.similarity is not None
            and c.similarity < rule.conflict_below
        ]
        assert conflicting == [field for field in pair.conflicts if field != "personal"]
        if pair.band is Band.SAME:
            assert (True, ()) == (pair.probability >= POLICY.same_at, pair.conflicts)


def test_a_pair_keeps_its_explanation_when_evolved_and_shows_it():
    """An evolved pair explains itself as the original; its repr shows the explanation."""
    left = almaz("К-1", names=("Алмаз Гареев",))
    right = almaz("К-2", names=("Almaz Gareev",), emails=())
    (pair,) = POLICY.match([left, right]).pairs
    moved = attrs.evolve(pair, band=Band.REVIEW)
    assert (pair.keys, pair.contributions) == (moved.keys, moved.contributions)
    assert "contributions=(Contribution(field='phones', level='exact'" in repr(pair)
    bare = PairScore(left="К-1", right="К-2", score=1.0, probability=0.6, band=Band.REVIEW)
    assert ((), ()) == (bare.keys, bare.contributions)


def test_matching_pauses_the_garbage_collector_and_leaves_it_as_it_was():
    """The collector is off while pairs are built, and back as it was after, errors included."""
    seen = []

    def subjects():
        seen.append(gc.isenabled())
        yield almaz("К-1")
        yield almaz("К-2")

    assert gc.isenabled()
    POLICY.match(subjects())
    assert ([False], True) == (seen, gc.isenabled())
    with pytest.raises(fk.ValidationError):
        POLICY.match([almaz("К-1"), almaz("К-1")])
    assert gc.isenabled()
    gc.disable()
    try:
        POLICY.match([almaz("К-1"), almaz("К-2")])
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- who is this? --------------------------------------------------------------------------------


def test_who_is_finds_the_client_through_the_store_key_index():
    """A new lead's phone finds the stored contact via find_by_key; strangers are left out."""
    store = fk.InMemoryStore(contact_keys=NORMALISER.keys)
    with store.unit_of_work() as uow:
        uow.contacts.add(almaz("К-1", names=("Алмаз Строитель",)))
        uow.contacts.add(almaz("К-2", names=("Ирина Петрова",), emails=()))
        uow.contacts.add(almaz("К-3", names=("Пётр",), phones=("84950001122",), emails=()))
        uow.commit()
    lead = make_lead(contact_data=fk.ContactData(name="Almaz", phones=("+7 912 345-67-89",)))
    with store.unit_of_work() as uow:
        matches = POLICY.who_is(lead, uow.contacts)
        everyone = POLICY.who_is(lead, uow.contacts, keep_different=True)
    # The phone is a family's (two people hold it): Алмаз is likely, for a person to confirm.
    assert [("К-1", Band.REVIEW)] == [(m.right, m.band) for m in matches]
    assert [("К-1", Band.REVIEW), ("К-2", Band.DIFFERENT)] == [(m.right, m.band) for m in everyone]


_SEPARATORS = st.sampled_from(["", " ", "-", "(", ")", ".", "  "])


@st.composite
def _dialled(draw):
    """Numbers as people type them: a prefix, digits in groups, separators between."""
    prefix = draw(st.sampled_from(["", "+", "+7", "8", "7", "810", "+1", "+44", "+49", "0"]))
    digits = draw(st.text("0123456789", min_size=3, max_size=14))
    groups = []
    while digits:
        size = draw(st.integers(1, 4))
        groups.append(digits[:size])
        digits = digits[size:]
    return prefix + "".join(draw(_SEPARATORS) + group for group in groups)


@given(
    raw=_dialled(),
    region=st.sampled_from(["RU", "KZ", "BY", "UA", "DE", "GB", "US", "IT", "FR", "IN"]),
)
def test_the_fast_phone_path_agrees_with_phonenumbers(raw, region):
    """Where the metadata-only path answers, phonenumbers.parse gives the same E.164 form."""
    fast = _normalise._fast_e164(raw, region)
    if fast is not None:
        assert (fast, None) == _normalise._parsed_e164(raw, region)


def test_the_fast_phone_path_takes_the_usual_russian_forms():
    """The forms of seed 000 never reach phonenumbers.parse; the rest fall back to it."""
    for raw in ("8 (912) 345-67-89", "+7 912 345 67 89", "89123456789", "9123456789"):
        assert "+79123456789" == _normalise._fast_e164(raw, "RU")
    for raw in ("79123456789", "+7 912 345 67 89 доб. 12", "810 1 650 253 0000"):
        assert _normalise._fast_e164(raw, "RU") is None
        assert _normalise._parsed_e164(raw, "RU")[1] is None


def test_who_is_reads_a_bounded_number_of_holders_of_a_shared_phone():
    """With 300 contacts on a call centre's number, at most max_holders are read and scored."""
    policy = MatchPolicy(max_holders=20)
    store = fk.InMemoryStore(contact_keys=NORMALISER.keys)
    with store.unit_of_work() as uow:
        for n in range(300):
            uow.contacts.add(almaz(f"К-{n}", names=(f"Клиент {n}",), emails=()))
        uow.commit()
    asked = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def find_by_key(self, key, *, limit=None):
            found = self.inner.find_by_key(key, limit=limit)
            asked.append((key, limit, len(found)))
            return found

    lead = make_lead(contact_data=fk.ContactData(name="Клиент 5", phones=("89123456789",)))
    with store.unit_of_work() as uow:
        matches = policy.who_is(
            lead,
            Counting(uow.contacts),  # type: ignore[arg-type]  # a spy: the one method used
            keep_different=True,
        )
    assert [("phone:+79123456789", 20, 20)] == asked
    assert 20 == len(matches)
    assert all(m.band is not Band.SAME for m in matches)  # a phone of 20+ people proves little


# --- distinct people and term frequency ----------------------------------------------------------


def test_a_clients_own_duplicates_count_as_one_person():
    """Records whose names agree are one person; other names are others; no name adds nobody."""
    records = [
        POLICY.record(almaz("К-1", names=("Алмаз Строитель",))),
        POLICY.record(almaz("К-2", names=("Almaz",))),
        POLICY.record(almaz("К-3", names=("89123456789",))),
        POLICY.record(almaz("К-4", names=("Ирина Петрова",))),
        POLICY.record(almaz("К-5", names=("Irina Petrova",))),
    ]
    assert (2, 1, 1) == (POLICY.people(records), POLICY.people(records[:3]), POLICY.people([]))


def test_a_holder_without_a_name_and_a_typo_of_the_clients_email_is_the_client():
    """An unnamed record whose other e-mail is a typo of the client's adds nobody."""
    phone = "89632237693"
    records = [
        POLICY.record(almaz("К-1", names=("Наталья Гусская",), emails=("natalyagusskiy@bk.ru",))),
        POLICY.record(almaz("К-2", names=(phone,), emails=("natalygausskiy@bk.ru",))),
        POLICY.record(almaz("К-3", names=(phone,), emails=("rinat.petrov@bk.ru",))),
    ]
    records = [attrs.evolve(r, phones=(f"+7{phone[1:]}",)) for r in records]
    assert (1, 2) == (POLICY.people(records[:2]), POLICY.people(records[::2]))


def test_a_phone_shared_by_a_clients_own_copies_keeps_its_weight():
    """Three copies of Алмаз hold his phone: a new request of his is still "same"."""
    copies = [almaz(f"К-{n}", emails=(), company=None) for n in (1, 2, 3)]
    lead = make_lead(contact_data=fk.ContactData(name="Алмаз", phones=("89123456789",)))
    store = fk.InMemoryStore(contact_keys=NORMALISER.keys)
    with store.unit_of_work() as uow:
        for contact in copies:
            uow.contacts.add(contact)
        matches = POLICY.who_is(lead, uow.contacts)
    assert [Band.SAME] * 3 == [m.band for m in matches]
    assert {0.0} == {m.contributions[0].term_frequency for m in matches}


def test_a_phone_shared_by_many_people_weighs_less():
    """An office phone of five colleagues weighs 2·log2(5) bits less, and is not enough."""
    names = ("Алмаз Гареев", "Ирина Петрова", "Пётр Смирнов", "Ольга Орлова", "Тимур Ахметов")
    colleagues = [almaz(f"К-{n}", names=(name,), emails=()) for n, name in enumerate(names)]
    newcomer = make_lead(contact_data=fk.ContactData(name="Алмаз Гареев", phones=("89123456789",)))
    store = fk.InMemoryStore(contact_keys=NORMALISER.keys)
    with store.unit_of_work() as uow:
        for contact in colleagues:
            uow.contacts.add(contact)
        (best,) = POLICY.who_is(newcomer, uow.contacts)
    phone = best.contributions[0]
    assert "К-0" == best.right
    assert pytest.approx(-2 * math.log2(5), abs=1e-5) == phone.term_frequency
    assert Band.REVIEW == best.band
    assert "personal" in best.conflicts


# --- clusters ------------------------------------------------------------------------------------


def _pair(left, right, band):
    return PairScore(
        left=left, right=right, score=0.0, probability=0.5, band=band, keys=(), contributions=()
    )


@st.composite
def _scored_pairs(draw):
    """Pairs among up to 12 records, each same or different, best first as `match` gives them."""
    ids = [f"К-{n:02d}" for n in range(draw(st.integers(2, 12)))]
    edges = draw(
        st.lists(
            st.tuples(st.sampled_from(ids), st.sampled_from(ids), st.sampled_from(list(Band))),
            max_size=30,
        )
    )
    seen, pairs = set(), []
    for left, right, band in edges:
        key = frozenset((left, right))
        if left != right and key not in seen:
            seen.add(key)
            low, high = sorted((left, right))
            pairs.append(_pair(low, high, band))
    return pairs


def _check_clusters(pairs, clusters):
    """An oracle of its own: disjoint, connected by "same", never across "different", maximal."""
    cluster_of = {}
    for cluster in clusters:
        assert len(cluster) > 1
        for member in cluster:
            assert member not in cluster_of
            cluster_of[member] = cluster
    same = [p for p in pairs if p.band is Band.SAME]
    different = {frozenset((p.left, p.right)) for p in pairs if p.band is Band.DIFFERENT}
    for cluster in clusters:
        assert not any(frozenset((a, b)) in different for a in cluster for b in cluster)
        reached, frontier = set(), [min(cluster)]
        while frontier:
            node = frontier.pop()
            reached.add(node)
            for p in same:
                for a, b in ((p.left, p.right), (p.right, p.left)):
                    if a == node and b in cluster and b not in reached:
                        frontier.append(b)
        assert set(cluster) == reached
    for p in same:
        left = cluster_of.get(p.left, {p.left})
        right = cluster_of.get(p.right, {p.right})
        if left is not right and left != right:
            assert any(frozenset((a, b)) in different for a in left for b in right)


@given(_scored_pairs())
def test_clusters_join_every_same_pair_they_can_and_never_a_different_one(pairs):
    """Clusters are unions of "same" pairs, maximal, and never hold a "different" pair."""
    _check_clusters(pairs, _blocking._clusters(pairs))


def test_the_cluster_oracle_catches_a_union_find_without_its_guard():
    """The oracle is not empty: plain connected components fail it on a bridge."""
    pairs = [
        _pair("К-1", "К-2", Band.SAME),
        _pair("К-2", "К-3", Band.SAME),
        _pair("К-1", "К-3", Band.DIFFERENT),
    ]
    with pytest.raises(AssertionError):
        _check_clusters(pairs, (frozenset({"К-1", "К-2", "К-3"}),))
    with pytest.raises(AssertionError):
        _check_clusters(pairs, ())
    _check_clusters(pairs, _blocking._clusters(pairs))


def test_a_long_chain_of_shared_phones_breaks_at_every_different_pair():
    """8,000 links in a chain, with a "different" pair every 50: the chain breaks there."""
    name = "К-{:05d}".format
    pairs = [_pair(name(n), name(n + 1), Band.SAME) for n in range(8_000)]
    pairs += [_pair(name(n), name(n + 2), Band.DIFFERENT) for n in range(0, 8_000, 50)]
    # Worked out by hand: joining n + 2 to the group holding n is refused for n = 0, 50, ...,
    # so the groups start at 0, 2, 52, 102, ..., 7952 and run to the next start.
    starts = [0, *range(2, 8_000, 50), 8_001]
    expected = {
        frozenset(name(n) for n in range(start, end)) for start, end in itertools.pairwise(starts)
    }
    assert expected == set(_blocking._clusters(pairs))


# --- the person's evidence ------------------------------------------------------------------------


def test_addresses_fold_into_their_telling_tokens():
    """The words for street, house and flat go; order and spelling of the rest stay."""
    assert ("zvanka", "lesnaia", "5") == NORMALISER.address("п. Званка, ул. Лесная, д. 5")
    assert ("lesnaia", "5", "zvanka") == NORMALISER.address("ул Лесная 5, Званка")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("17.05.1990", date(1990, 5, 17)),
        ("17/05/1990", date(1990, 5, 17)),
        ("1990-05-17", date(1990, 5, 17)),
        (" 7.5.1990 ", date(1990, 5, 7)),
        (date(1990, 5, 17), date(1990, 5, 17)),
    ],
)
def test_birth_dates_are_read_as_people_write_them(raw, expected):
    """Day first with dots, slashes or dashes, or ISO; a date passes as it is."""
    assert expected == NORMALISER.birth_date(raw)


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("31.02.1990", "invalid_date"),
        ("17.05.90", "invalid_date"),
        ("вчера", "invalid_date"),
        ("01.01.1800", "impossible_date"),
        (datetime(1990, 5, 17, tzinfo=timezone.utc), "invalid_date"),
    ],
)
def test_impossible_birth_dates_are_refused_by_name(raw, rule):
    """No day of the calendar, an ambiguous year, before 1900: a ValidationError on the field."""
    with pytest.raises(fk.ValidationError) as caught:
        NORMALISER.birth_date(raw)
    assert ("birth_date", rule) == (caught.value.field, caught.value.rule)


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"address": "д" * 501}, "Contact.address", "too_long"),
        ({"address": "  "}, "Contact.address", "required"),
        ({"birth_date": date(1899, 12, 31)}, "Contact.birth_date", "impossible_date"),
        ({"birth_date": "17.05.1990"}, "Contact.birth_date", "type"),
        ({"birth_date": datetime(1990, 5, 17, tzinfo=timezone.utc)}, "Contact.birth_date", "type"),
    ],
)
def test_a_contacts_evidence_is_checked_when_built(changes, field, rule):
    """An over-long address or an impossible birth date is refused, naming the field."""
    with pytest.raises(fk.ValidationError) as caught:
        almaz("К-1", **changes)
    assert (field, rule) == (caught.value.field, caught.value.rule)
    if changes.get("birth_date") == "17.05.1990":
        assert "Normaliser().birth_date" in str(caught.value)


def test_domain_typos_are_repaired_and_extensions_kept():
    """gmial.com is gmail.com; an office extension is part of the number, and of its keys."""
    assert "almazgareev@gmail.com" == NORMALISER.email("Almaz.Gareev@gmial.com")
    assert "almaz@mail.ru" == NORMALISER.email("almaz@mail.ry")
    assert "almaz@company.ry" == NORMALISER.email("almaz@company.ry")
    office = fk.ContactData(phones=("+7 (495) 123-45-67 доб. 12",))
    assert ["phone:+74951234567;ext=12", "phone:+74951234567"] == NORMALISER.keys(office)


def test_garbage_in_contact_data_never_crashes_matching():
    """Unparseable phones and e-mails are dropped from matching, not raised."""
    junk = almaz("К-1", phones=("позвоните", "12"), emails=("@@", "a@b"), address="???")
    again = almaz("К-2", phones=("позвоните",), emails=("@@",), address="???")
    result = POLICY.match([junk, again])
    assert () == result.clusters
    assert () == POLICY.record(junk).phones


# --- comparators ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comparator", "left", "right", "expected"),
    [
        (Comparator.PHONE, "+79123456789", "+79123456788", 0.9),
        (Comparator.PHONE, "+79123456789", "+79123456798", 0.88),
        (Comparator.PHONE, "+79123456789", "+79123450000", 0.1),
        (Comparator.PHONE, "+74951234567;ext=12", "+74951234567", 0.95),
        (Comparator.PHONE, "+74951234567;ext=12", "+74951234567;ext=15", 0.0),
        (Comparator.EMAIL, "petrov95@gmail.com", "petrov50@gmail.com", 0.3),
        (Comparator.EMAIL, "almaz@mail.ru", "almaz@bk.ru", 0.85),
        (Comparator.EMAIL, "almaz@mail.ru", "ivan@bk.ru", 0.0),
        (Comparator.DATE, "1990-05-07", "1990-07-05", 0.9),
        (Comparator.DATE, "1990-05-17", "1990-05-11", 0.8),
        (Comparator.DATE, "1990-05-17", "1961-11-02", 0.0),
        (Comparator.ADDRESS, "zvanka lesnaia 5", "zvanka lesnaia 7", 0.5),
        (Comparator.NAME, "almaz gareev", "gareev almaz", 1.0),
        (Comparator.NAME, "almaz", "almaz gareev", 0.9),
        (Comparator.NAME, "almaz gareev", "gareev rinat", 0.5),
        (Comparator.NAME, "goraev iurii", "goraeva iuliia", 0.5),
        (Comparator.NAME, "gusskii rinat", "gusskaia alsu", 0.5),
        (Comparator.NAME, "goraeva iuliia", "goraeva iulia", 0.97),
    ],
)
def test_comparators_grade_the_errors_people_make(comparator, left, right, expected):
    """One digit wrong, two swapped, another extension, digits of a mailbox, swapped dates."""
    assert pytest.approx(expected, abs=0.05) == similarity(comparator, left, right)


_WORDS = st.text("abcdegiklmnorstuvz", min_size=1, max_size=8)


@given(
    left=st.lists(_WORDS, min_size=1, max_size=3).map(" ".join),
    right=st.lists(_WORDS, min_size=1, max_size=3).map(" ".join),
    comparator=st.sampled_from(list(Comparator)),
)
def test_every_comparator_is_symmetric_and_bounded(left, right, comparator):
    """The order of the sides never changes a similarity, which stays within 0 and 1."""
    there, back = similarity(comparator, left, right), similarity(comparator, right, left)
    assert there == back
    assert 0.0 <= there <= 1.0


# --- estimating m and u ------------------------------------------------------------------------


def _base(people=150):
    """Clients, every third with a second record whose phone has two digits swapped."""
    firsts = ["Алмаз", "Ирина", "Тимур", "Ольга", "Рустам", "Юлия", "Павел", "Мария"]
    lasts = ["Гареев", "Петров", "Ахметов", "Орлов", "Соколов", "Волков", "Зайцев"]
    records = []
    for n in range(people):
        name = f"{firsts[n % len(firsts)]} {lasts[(n // len(firsts)) % len(lasts)]}"
        phone = f"+7 912 {n:03d}-45-67"
        records.append(almaz(f"К-{n}", names=(name,), phones=(phone,), emails=(), company=None))
        if n % 3 == 0:
            swapped = f"+7 912 {n:03d}-54-67"
            records.append(
                almaz(f"К-{n}-b", names=(name,), phones=(swapped,), emails=(), company=None)
            )
    return records


def test_estimates_separate_one_person_from_two_and_repeat_with_the_seed():
    """The estimated typo level weighs for one person, the last name level against; seeded."""
    policy = MatchPolicy()
    estimated = policy.estimate(_base(), seed=3, random_pairs=5_000)
    phones = {level.label: level for level in estimated.rules[0].levels}
    assert phones["typo"].weight > 0
    assert estimated.rules[2].levels[-1].weight < 0
    assert 0 < estimated.prior < 0.5
    assert estimated == policy.estimate(_base(), seed=3, random_pairs=5_000)


@pytest.mark.parametrize(
    ("subjects", "options", "rule"),
    [
        (lambda: _base(10), {"seed": 1}, "too_few"),
        (_base, {"seed": "1"}, "type"),
        (_base, {"seed": 1, "random_pairs": 0}, "range"),
        (
            lambda: [almaz(f"К-{n}", phones=(f"+7 912 {n:07d}",), emails=()) for n in range(200)],
            {"seed": 1},
            "no_candidates",
        ),
    ],
)
def test_estimating_refuses_what_it_cannot_learn_from(subjects, options, rule):
    """Too few records, a seed that is not an integer, or nothing sharing a key."""
    with pytest.raises(fk.ValidationError) as caught:
        MatchPolicy().estimate(subjects(), **options)
    assert rule == caught.value.rule


def _valid_numbers_of_every_region():
    """Phonenumbers' example number of each type for every region it knows."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                yield region, number


def test_the_fast_phone_path_agrees_with_phonenumbers_in_every_region():
    """National, international and E.164 forms of a valid number of every region and type."""
    formats = (
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.E164,
    )
    checked = answered = 0
    disagreements = []
    for region, number in _valid_numbers_of_every_region():
        for form in formats:
            raw = phonenumbers.format_number(number, form)
            checked += 1
            fast = _normalise._fast_e164(raw, region)
            if fast is None:
                continue
            answered += 1
            if (fast, None) != _normalise._parsed_e164(raw, region):
                disagreements.append((region, raw, fast))
    assert disagreements == []
    assert checked > 3_000  # about 240 regions, several types each, three forms
    assert answered > checked // 2  # the fast path answers most valid numbers
