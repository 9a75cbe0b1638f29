"""
Duplicate matching on generated CRM contacts with known true duplicates: accuracy and time.

A seeded generator makes people who reach the company through several channels: each person
leaves one to three records, with phones in different formats (``8 (912) 345-67-89``,
``+7 912 345 67 89``, ``89123456789``), e-mails in other case or with a ``+tag``, names written
in Latin (Yulia / Iuliia / Yuliya), first and last names swapped, or no name at all. Traps:
colleagues sharing an office phone, and couples sharing a family e-mail (same surname).

It reports precision, recall and F1 of the "same" pairs and of the clusters (pairs within
predicted clusters against pairs within true people), and the time to match and cluster, at
10,000 and 100,000 contacts; and the median time of one real-time "who is this?" against a
store of the larger base. The baseline for time is the work itself: the figures are absolute.

Run from the repository root: ``.venv/bin/python -m benchmarks.matching [sizes...]``.
"""

from __future__ import annotations

import itertools
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

import funnelkit as fk
from funnelkit.matching import Band, MatchPolicy


AT = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=3)))

FIRST = [
    ("Алмаз", ("Almaz", "Almas")),
    ("Юлия", ("Yulia", "Iuliia", "Yuliya", "Julia")),
    ("Евгений", ("Evgeny", "Yevgeniy", "Evgenii")),
    ("Наталья", ("Natalya", "Natalia")),
    ("Алексей", ("Alexey", "Aleksei", "Aleksey")),
    ("Сергей", ("Sergey", "Sergei")),
    ("Ирина", ("Irina",)),
    ("Дмитрий", ("Dmitry", "Dmitriy", "Dmitrii")),
    ("Ольга", ("Olga",)),
    ("Тимур", ("Timur",)),
    ("Гульнара", ("Gulnara",)),
    ("Андрей", ("Andrey", "Andrei")),
    ("Мария", ("Maria", "Mariya")),
    ("Рустам", ("Rustam",)),
    ("Татьяна", ("Tatyana", "Tatiana")),
    ("Павел", ("Pavel",)),
]
_ROOTS = [
    ("Гареев", "Gareev"),
    ("Петров", "Petrov"),
    ("Смирнов", "Smirnov"),
    ("Кузнецов", "Kuznetsov"),
    ("Ахметов", "Akhmetov"),
    ("Щукин", "Shchukin"),
    ("Ёлкин", "Elkin"),
    ("Соколов", "Sokolov"),
    ("Волков", "Volkov"),
    ("Хабибуллин", "Khabibullin"),
    ("Зайцев", "Zaitsev"),
    ("Орлов", "Orlov"),
]
_STEMS = [
    ("Бел", "Bel"), ("Черн", "Chern"), ("Сер", "Ser"), ("Мал", "Mal"), ("Нов", "Nov"),
    ("Кар", "Kar"), ("Гал", "Gal"), ("Мир", "Mir"), ("Тих", "Tikh"), ("Лав", "Lav"),
    ("Рыб", "Ryb"), ("Гор", "Gor"), ("Сав", "Sav"), ("Дан", "Dan"), ("Вас", "Vas"),
    ("Мух", "Mukh"), ("Фед", "Fed"), ("Зар", "Zar"), ("Баш", "Bash"), ("Каз", "Kaz"),
]  # fmt: skip
_SUFFIXES = [("ов", "ov"), ("ин", "in"), ("енко", "enko"), ("ский", "skiy")]
SURNAMES = _ROOTS + [(c + cs, lat + ls) for c, lat in _STEMS for cs, ls in _SUFFIXES]
PROVIDERS = ["gmail.com", "mail.ru", "yandex.ru", "bk.ru", "inbox.ru"]


def phone_formats(digits: str) -> list[str]:
    """Ways a client writes the number +7 <digits>."""
    a, b, c, d = digits[:3], digits[3:6], digits[6:8], digits[8:]
    return [f"8 ({a}) {b}-{c}-{d}", f"+7 {a} {b} {c} {d}", f"8{digits}", f"+7({a}){b}{c}{d}"]


def _records(
    rng: random.Random,
    first: tuple[str, tuple[str, ...]],
    surname: tuple[str, str],
    *,
    digits: str,
    email: str,
    office: str | None,
) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """One to three records of one person, as they arrive through different channels."""
    records = []
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        roll = rng.random()
        if roll < 0.2:
            name = f"{rng.choice(first[1])} {surname[1]}"
        elif roll < 0.3:
            name = f"{surname[0]} {first[0]}"
        elif roll < 0.4:
            name = rng.choice(first[1])
        else:
            name = f"{first[0]} {surname[0]}"
        phones = [rng.choice(phone_formats(digits))] if rng.random() < 0.85 else []
        if office:
            phones.append(rng.choice(phone_formats(office)))
        emails = []
        if rng.random() < 0.6 or not phones:
            emails.append(rng.choice([email, email.upper(), email.replace("@", "+site@")]))
        records.append((name, tuple(dict.fromkeys(phones)), tuple(emails)))
    return records


def generate(count: int, seed: int = 20261122) -> tuple[list[fk.Contact], dict[str, int]]:
    """About `count` contacts and the true person behind each id."""
    rng = random.Random(seed)
    contacts: list[fk.Contact] = []
    person_of: dict[str, int] = {}
    person = 0
    offices: list[str] = []
    while len(contacts) < count:
        person += 1
        first, latin_first = rng.choice(FIRST)
        surname, latin_surname = rng.choice(SURNAMES)
        digits = "9" + "".join(rng.choice("0123456789") for _ in range(9))
        login = f"{rng.choice(latin_first).lower()}.{latin_surname.lower()}{rng.randint(1, 9999)}"
        email = f"{login}@{rng.choice(PROVIDERS)}"
        office = None
        if rng.random() < 0.05:  # trap: an office phone shared by colleagues
            if offices and rng.random() < 0.7:
                office = rng.choice(offices)
            else:
                office = "9" + "".join(rng.choice("0123456789") for _ in range(9))
                offices.append(office)
        records = _records(
            rng,
            (first, latin_first),
            (surname, latin_surname),
            digits=digits,
            email=email,
            office=office,
        )
        for name, phones, emails in records:
            contact_id = f"C-{len(contacts) + 1}"
            contacts.append(
                fk.Contact(
                    id=contact_id,
                    created_at=AT + timedelta(minutes=len(contacts)),
                    names=(name,),
                    phones=phones,
                    emails=emails,
                )
            )
            person_of[contact_id] = person
        if rng.random() < 0.03:  # trap: a spouse with the family e-mail
            person += 1
            spouse, _ = rng.choice([name for name in FIRST if name[0] != first])
            contact_id = f"C-{len(contacts) + 1}"
            contacts.append(
                fk.Contact(
                    id=contact_id,
                    created_at=AT + timedelta(minutes=len(contacts)),
                    names=(f"{spouse} {surname}а",),
                    emails=(email,),
                )
            )
            person_of[contact_id] = person
    return contacts, person_of


def scores(
    predicted: set[frozenset[str]], truth: set[frozenset[str]]
) -> tuple[float, float, float]:
    """Precision, recall and F1 of predicted pairs against true pairs."""
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def run(count: int, policy: MatchPolicy) -> float:
    """Match `count` generated contacts; print accuracy and time; return the base's size."""
    contacts, person_of = generate(count)
    members: dict[int, list[str]] = {}
    for contact_id, person in person_of.items():
        members.setdefault(person, []).append(contact_id)
    truth = {frozenset(p) for ids in members.values() for p in itertools.combinations(ids, 2)}
    start = time.perf_counter()
    result = policy.match(contacts)
    seconds = time.perf_counter() - start
    same = {frozenset((p.left, p.right)) for p in result.pairs if p.band is Band.SAME}
    clustered = {
        frozenset(p)
        for cluster in result.clusters
        for p in itertools.combinations(sorted(cluster), 2)
    }
    keys = {c.id: set(policy.keys(policy.record(c))) for c in contacts}
    findable = {pair for pair in truth if set.intersection(*(keys[i] for i in pair))}
    pair_p, pair_r, pair_f = scores(same, truth)
    cl_p, cl_r, cl_f = scores(clustered, truth)
    _, in_reach_r, in_reach_f = scores(same, findable)
    print(
        f"{len(contacts):>7,} contacts, {len(truth):,} true pairs: matched and clustered in "
        f"{seconds:.1f} s; same pairs P {pair_p:.4f} R {pair_r:.4f} F1 {pair_f:.4f}; "
        f"clusters P {cl_p:.4f} R {cl_r:.4f} F1 {cl_f:.4f}; true pairs sharing a phone or "
        f"e-mail (the most blocking can find): {len(findable) / len(truth):.4f}, of which the "
        f"same pairs find R {in_reach_r:.4f} (F1 {in_reach_f:.4f})",
        flush=True,
    )
    return seconds


def real_time(count: int, policy: MatchPolicy, lookups: int = 2_000) -> float:
    """Median ms of one who_is against a store of `count` generated contacts."""
    contacts, _ = generate(count)
    store = fk.InMemoryStore(contact_keys=policy.normaliser.keys)
    with store.unit_of_work() as uow:
        for contact in contacts:
            uow.contacts.add(contact)
        uow.commit()
    rng = random.Random(7)
    times = []
    with store.unit_of_work() as uow:
        for _ in range(lookups):
            known = rng.choice(contacts)
            lead = fk.Lead(
                id="L-new",
                created_at=AT,
                pipeline="лиды",
                stage="Новое обращение",
                source=fk.LeadSource(channel="call"),
                contact_data=fk.ContactData(
                    name=known.names[0], phones=known.phones[:1], emails=known.emails
                ),
            )
            start = time.perf_counter()
            policy.who_is(lead, uow.contacts)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    """Run the sizes given (10,000 and 100,000 by default) and the real-time look-up."""
    sizes = [int(arg) for arg in sys.argv[1:]] or [10_000, 100_000]
    policy = MatchPolicy()
    for size in sizes:
        run(size, policy)
    print(f"who is this? median {real_time(max(sizes), policy):.3f} ms on {max(sizes):,} contacts")


if __name__ == "__main__":
    main()
