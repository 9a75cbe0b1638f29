"""Normalisation and duplicate matching: every rule, every trap, explained scores."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

import funnelkit as fk
from funnelkit.matching import (
    Band,
    Comparator,
    FieldRule,
    MatchPolicy,
    Normaliser,
    PairScore,
    _matching,
    _normalise,
    fold_name,
)
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
    """A shared phone in two formats plus a Cyrillic/Latin name is "same", with the reasons."""
    left = almaz("К-1", names=("Алмаз Строитель",), phones=("8 (912) 345-67-89",))
    right = almaz("К-2", names=("Almaz",), phones=("+7 912 345 67 89",), emails=(), company=None)
    result = POLICY.match([left, right])
    (pair,) = result.pairs
    assert (Band.SAME, ("phone:+79123456789",)) == (pair.band, pair.keys)
    points = {c.field: c.points for c in pair.contributions}
    assert {"phones": 6.0, "emails": 0.0, "name": 3.0, "company": 0.0} == points
    assert (frozenset({"К-1", "К-2"}),) == result.clusters


def test_a_shared_office_phone_does_not_make_two_people_one():
    """Trap: a shared phone with clearly different names is "different"."""
    result = POLICY.match(
        [
            almaz("К-1", names=("Алмаз Гареев",), emails=()),
            almaz("К-2", names=("Ирина Петрова",), emails=()),
        ]
    )
    (pair,) = result.pairs
    assert Band.DIFFERENT == pair.band
    assert () == result.clusters


def test_a_family_email_does_not_make_two_people_one():
    """Trap: one e-mail shared by a husband and a wife with different first names."""
    result = POLICY.match(
        [
            almaz("К-1", names=("Алмаз",), phones=(), emails=("gareevy@mail.ru",)),
            almaz("К-2", names=("Гульнара",), phones=(), emails=("GareevY@mail.ru",)),
        ]
    )
    assert [Band.DIFFERENT] == [pair.band for pair in result.pairs]


def test_a_phone_alone_without_names_is_left_for_review():
    """With no name on one side, a shared phone is evidence for a person to look at."""
    lead = make_lead("Л-1", contact_data=fk.ContactData(phones=("89123456789",)))
    contact = almaz("К-1", emails=())
    (pair,) = MatchPolicy().match([lead, contact]).pairs
    assert Band.REVIEW == pair.band


def test_clusters_do_not_chain_across_a_different_pair():
    """A bridge record cannot join two clients: no cluster spans a pair scored "different"."""
    gareev = almaz("К-1", names=("Алмаз Гареев",), phones=("89123456789",), emails=("a@mail.ru",))
    bridge = almaz("К-2", names=("Алмаз",), phones=("89123456789", "84950001122"), emails=())
    petrov = almaz("К-3", names=("Алмаз Петров",), phones=("84950001122",), emails=("a@mail.ru",))
    result = POLICY.match([gareev, bridge, petrov])
    bands = {(p.left, p.right): p.band for p in result.pairs}
    expected = {
        ("К-1", "К-2"): Band.SAME,
        ("К-2", "К-3"): Band.SAME,
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
    result = MatchPolicy(max_block_size=3).match([*strangers, *copies])
    assert ("phone:+79123456789",) == result.skipped_keys
    assert [("К-7", "К-8", Band.SAME)] == [(p.left, p.right, p.band) for p in result.pairs]


def test_custom_fields_can_be_compared():
    """A policy may compare a custom field such as the settlement."""
    rule = FieldRule(
        field="fields.посёлок", comparator=Comparator.JARO_WINKLER, agree=2.0, min_similarity=0.9
    )
    policy = MatchPolicy(rules=(*POLICY.rules, rule))
    left = almaz("К-1", fields={"посёлок": "Званка"}, emails=())
    right = almaz("К-2", fields={"посёлок": "Званка"}, emails=())
    (pair,) = policy.match([left, right]).pairs
    assert 2.0 == pair.contributions[-1].points


@pytest.mark.parametrize(
    ("build", "rule"),
    [
        (
            lambda: FieldRule(field="телефон", comparator=Comparator.EXACT, agree=1.0),
            "unknown_field",
        ),
        (
            lambda: FieldRule(field="phones", comparator=Comparator.EXACT, agree=float("nan")),
            "type",
        ),
        (
            lambda: FieldRule(
                field="name", comparator=Comparator.TOKEN_SET, agree=1.0, min_similarity=2
            ),
            "range",
        ),
        (lambda: MatchPolicy(same_at=3.0, review_at=5.0), "thresholds"),
    ],
)
def test_malformed_policies_are_refused(build, rule):
    """Unknown fields, non-finite weights and crossed thresholds are refused by name."""
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
    for pair in forward.pairs:
        left = POLICY.record(next(c for c in contacts if c.id == pair.left))
        right = POLICY.record(next(c for c in contacts if c.id == pair.right))
        assert POLICY.score(left, right).score == POLICY.score(right, left).score


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
    assert [("К-1", Band.SAME)] == [(m.right, m.band) for m in matches]


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
    assert {6.0} == {m.contributions[0].points for m in matches}


def test_a_phone_shared_by_many_people_weighs_less():
    """An office phone of five colleagues counts 3/5 of its points."""
    names = ("Алмаз Гареев", "Ирина Петрова", "Пётр Смирнов", "Ольга Орлова", "Тимур Ахметов")
    colleagues = [almaz(f"К-{n}", names=(name,), emails=()) for n, name in enumerate(names)]
    newcomer = make_lead(contact_data=fk.ContactData(name="Алмаз Гареев", phones=("89123456789",)))
    store = fk.InMemoryStore(contact_keys=NORMALISER.keys)
    with store.unit_of_work() as uow:
        for contact in colleagues:
            uow.contacts.add(contact)
        (best,) = POLICY.who_is(newcomer, uow.contacts)
    assert ("К-0", 3.6, Band.REVIEW) == (best.right, best.contributions[0].points, best.band)


# --- clusters ------------------------------------------------------------------------------------


def _pair(left, right, band):
    return PairScore(left=left, right=right, score=0.0, band=band, keys=(), contributions=())


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
    _check_clusters(pairs, _matching._clusters(pairs))


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
    _check_clusters(pairs, _matching._clusters(pairs))


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
    assert expected == set(_matching._clusters(pairs))
