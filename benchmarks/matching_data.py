"""
Generated CRM contact bases with the errors people make, and the truth behind them.

`generate` makes people who reach a company through several channels, one to six records
each, with typing errors in phones, e-mails, names and addresses at realistic rates, missing
fields, several phone formats, e-mail tags and case, Cyrillic and Latin spellings, swapped
first and last names, addresses and birth dates for part of the records, company names, and
traps: colleagues on an office line (often with extensions), spouses with a family e-mail at
one address, a same-name father and son at one address, and a company's shared ``info@``
mailbox. Each record knows its person, and each trap pair its kind.

`Rates` sets every rate; `REALISTIC` and `TRAP_RICH` are the two bases the benchmark uses.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

import funnelkit as fk


AT = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=3)))

MALE = [
    ("Алмаз", ("Almaz", "Almas")),
    ("Евгений", ("Evgeny", "Yevgeniy", "Evgenii")),
    ("Алексей", ("Alexey", "Aleksei", "Aleksey")),
    ("Сергей", ("Sergey", "Sergei")),
    ("Дмитрий", ("Dmitry", "Dmitriy", "Dmitrii")),
    ("Тимур", ("Timur",)),
    ("Андрей", ("Andrey", "Andrei")),
    ("Рустам", ("Rustam",)),
    ("Павел", ("Pavel",)),
    ("Иван", ("Ivan",)),
    ("Михаил", ("Mikhail", "Mihail")),
    ("Николай", ("Nikolay", "Nikolai")),
    ("Владимир", ("Vladimir",)),
    ("Ринат", ("Rinat",)),
    ("Артём", ("Artem", "Artyom")),
    ("Константин", ("Konstantin",)),
    ("Олег", ("Oleg",)),
    ("Ильдар", ("Ildar",)),
    ("Максим", ("Maxim", "Maksim")),
    ("Юрий", ("Yury", "Yuriy", "Iurii")),
]
FEMALE = [
    ("Юлия", ("Yulia", "Iuliia", "Yuliya", "Julia")),
    ("Наталья", ("Natalya", "Natalia")),
    ("Ирина", ("Irina",)),
    ("Ольга", ("Olga",)),
    ("Гульнара", ("Gulnara",)),
    ("Мария", ("Maria", "Mariya")),
    ("Татьяна", ("Tatyana", "Tatiana")),
    ("Елена", ("Elena", "Yelena")),
    ("Анна", ("Anna",)),
    ("Светлана", ("Svetlana",)),
    ("Екатерина", ("Ekaterina", "Yekaterina")),
    ("Алсу", ("Alsu",)),
    ("Дарья", ("Darya", "Daria")),
    ("Ксения", ("Ksenia", "Kseniya")),
]
_ROOTS = [
    ("Гареев", "Gareev"), ("Петров", "Petrov"), ("Смирнов", "Smirnov"),
    ("Кузнецов", "Kuznetsov"), ("Ахметов", "Akhmetov"), ("Щукин", "Shchukin"),
    ("Ёлкин", "Elkin"), ("Соколов", "Sokolov"), ("Волков", "Volkov"),
    ("Хабибуллин", "Khabibullin"), ("Зайцев", "Zaitsev"), ("Орлов", "Orlov"),
    ("Лебедев", "Lebedev"), ("Козлов", "Kozlov"), ("Новиков", "Novikov"),
    ("Морозов", "Morozov"), ("Попов", "Popov"), ("Васильев", "Vasiliev"),
]  # fmt: skip
_STEMS = [
    ("Бел", "Bel"), ("Черн", "Chern"), ("Сер", "Ser"), ("Мал", "Mal"), ("Нов", "Nov"),
    ("Кар", "Kar"), ("Гал", "Gal"), ("Мир", "Mir"), ("Тих", "Tikh"), ("Лав", "Lav"),
    ("Рыб", "Ryb"), ("Гор", "Gor"), ("Сав", "Sav"), ("Дан", "Dan"), ("Вас", "Vas"),
    ("Мух", "Mukh"), ("Фед", "Fed"), ("Зар", "Zar"), ("Баш", "Bash"), ("Каз", "Kaz"),
    ("Жук", "Zhuk"), ("Лис", "Lis"), ("Бор", "Bor"), ("Ков", "Kov"), ("Рог", "Rog"),
    ("Сит", "Sit"), ("Гус", "Gus"), ("Ерм", "Erm"), ("Шар", "Shar"), ("Дуб", "Dub"),
]  # fmt: skip
_SUFFIXES = [("ов", "ov"), ("ин", "in"), ("ев", "ev"), ("аев", "aev"), ("ский", "skiy")]
SURNAMES = _ROOTS + [(c + cs, lat + ls) for c, lat in _STEMS for cs, ls in _SUFFIXES]
PROVIDERS = ["gmail.com", "mail.ru", "yandex.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru"]
DOMAIN_TYPOS = {"gmail.com": "gmial.com", "mail.ru": "mail.ry", "yandex.ru": "yandx.ru"}
SETTLEMENTS = [
    ("г. Санкт-Петербург", True), ("г. Всеволожск", True), ("п. Званка", False),
    ("п. Мурино", True), ("д. Кудрово", True), ("г. Колпино", True), ("п. Токсово", False),
    ("с. Павлово", False), ("д. Агалатово", False), ("г. Гатчина", True),
    ("п. Сертолово", True), ("д. Лепсари", False), ("г. Кировск", True), ("п. Рощино", False),
]  # fmt: skip
STREETS = [
    "Лесная", "Садовая", "Центральная", "Школьная", "Новая", "Советская", "Молодёжная",
    "Полевая", "Набережная", "Заречная", "Луговая", "Солнечная", "Озёрная", "Цветочная",
    "Берёзовая", "Сосновая", "Парковая", "Речная", "Зелёная", "Вокзальная", "Строителей",
    "Мира", "Гагарина", "Ленина", "Кирова", "Пушкина", "Лермонтова", "Чехова",
]  # fmt: skip
COMPANIES = [
    "Кровля-Сервис", "СтройМастер", "Альфа", "ТехноДом", "Северный ветер", "Прогресс",
    "Гранит", "Вектор", "Импульс", "Меридиан", "Строй-Инвест", "Балтика",
]  # fmt: skip
LEGAL = ["ООО «{}»", "ООО {}", "{} LLC", "ИП {}", "АО «{}»"]


@dataclass(frozen=True)
class Rates:
    """Every rate of the generator."""

    records: tuple[float, ...] = (0.55, 0.22, 0.11, 0.06, 0.04, 0.02)
    name_missing: float = 0.08
    first_name_only: float = 0.2
    latin: float = 0.1
    swapped: float = 0.1
    patronymic: float = 0.08
    name_typo: float = 0.04
    phone_missing: float = 0.15
    second_phone: float = 0.1
    phone_substitution: float = 0.03
    phone_transposition: float = 0.02
    email_present: float = 0.5
    email_tag: float = 0.05
    email_case: float = 0.15
    email_typo: float = 0.04
    domain_typo: float = 0.02
    address_present: float = 0.35
    address_typo: float = 0.05
    birth_date_present: float = 0.25
    birth_date_swapped: float = 0.02
    birth_date_typo: float = 0.02
    company_present: float = 0.5
    office: float = 0.05
    office_extensions: float = 0.5
    office_phone_in_record: float = 0.6
    spouse: float = 0.03
    namesake_relative: float = 0.01
    info_mailbox: float = 0.3
    extra: dict[str, float] = field(default_factory=dict)


REALISTIC = Rates()
TRAP_RICH = replace(
    REALISTIC,
    name_typo=0.08,
    phone_substitution=0.06,
    phone_transposition=0.04,
    email_typo=0.08,
    domain_typo=0.04,
    address_present=0.5,
    birth_date_present=0.4,
    office=0.12,
    spouse=0.08,
    namesake_relative=0.03,
    info_mailbox=0.6,
)
"""More typos, more evidence, and three to four times the traps."""


@dataclass
class Base:
    """A generated base: the contacts, the person behind each, and the trap of each trap pair."""

    contacts: list[fk.Contact]
    person_of: dict[str, int]
    traps: dict[frozenset[int], str]


@dataclass
class _Person:
    id: int
    male: bool
    first: tuple[str, tuple[str, ...]]
    surname: tuple[str, str]
    patronymic: str
    birth: date
    phones: list[str]
    email: str
    address: tuple[str, bool, str, int, int]
    company: str | None = None
    office: str | None = None
    extension: str | None = None
    info: str | None = None


def _typo(rng: random.Random, text: str) -> str:
    """One typing error: a letter dropped, doubled, replaced or two swapped."""
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    if kind == 2:
        alphabet = (
            "абвгдеиклмнопрст"
            if text[i].lower() in "абвгдежзийклмнопрстуфхцчшщыэюя"
            else "aeiklmnorst"
        )
        return text[:i] + rng.choice(alphabet) + text[i + 1 :]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _digits(rng: random.Random) -> str:
    return "9" + "".join(rng.choice("0123456789") for _ in range(9))


def _phone_text(rng: random.Random, digits: str, extension: str | None = None) -> str:
    a, b, c, d = digits[:3], digits[3:6], digits[6:8], digits[8:]
    text = rng.choice(
        [f"8 ({a}) {b}-{c}-{d}", f"+7 {a} {b} {c} {d}", f"8{digits}", f"+7({a}){b}{c}{d}"]
    )
    return f"{text} доб. {extension}" if extension else text


def _phone_error(rng: random.Random, digits: str, rates: Rates) -> str:
    roll = rng.random()
    i = rng.randrange(1, len(digits) - 1)
    if roll < rates.phone_substitution:
        return (
            digits[:i] + rng.choice([x for x in "0123456789" if x != digits[i]]) + digits[i + 1 :]
        )
    if roll < rates.phone_substitution + rates.phone_transposition and digits[i] != digits[i + 1]:
        return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
    return digits


def _person(
    rng: random.Random, number: int, male: bool | None = None, taken: set[str] | None = None
) -> _Person:
    male = rng.random() < 0.55 if male is None else male
    names = MALE if male else FEMALE
    # Zipf-like: the first names of a list are more common than the last ones.
    first = rng.choices(names, [1 / (rank + 1) ** 0.8 for rank in range(len(names))])[0]
    surname = rng.choice(SURNAMES)
    father = rng.choice(MALE)[0]
    patronymic = (
        father[:-2] + "ич" if father.endswith("ий") else father + ("ович" if male else "овна")
    )
    birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    settlement = rng.choice(SETTLEMENTS)
    address = (
        settlement[0],
        settlement[1],
        rng.choice(STREETS),
        rng.randint(1, 150),
        rng.randint(1, 300),
    )
    latin_surname = surname[1] if male else surname[1] + ("" if surname[1].endswith("iy") else "a")
    latin = f"{rng.choice(first[1]).lower()}.{latin_surname.lower()}"
    login = rng.choice(
        [
            latin,
            latin.replace(".", ""),
            f"{latin}{rng.randint(1, 99)}",
            f"{surname[1].lower()}{birth.year % 100:02d}",
        ]
    )
    domain = rng.choice(PROVIDERS)
    taken = set() if taken is None else taken

    # A mailbox has one owner: the provider says "taken" (Gmail ignores dots).
    def mailbox(login: str) -> str:
        return f"{login.replace('.', '') if domain == 'gmail.com' else login}@{domain}"

    while mailbox(login) in taken:
        login += str(rng.randint(0, 9))
    taken.add(mailbox(login))
    return _Person(
        id=number,
        male=male,
        first=first,
        surname=surname,
        patronymic=patronymic,
        birth=birth,
        phones=[_digits(rng)] + ([_digits(rng)] if rng.random() < 0.1 else []),
        email=f"{login}@{domain}",
        address=address,
    )


def _surname(person: _Person) -> tuple[str, str]:
    cyrillic, latin = person.surname
    if person.male:
        return cyrillic, latin
    if cyrillic.endswith("ский"):
        return cyrillic[:-2] + "ая", latin[:-3] + "aya"
    return cyrillic + "а", latin + "a"


def _name(rng: random.Random, person: _Person, rates: Rates) -> str | None:
    if rng.random() < rates.name_missing:
        return None
    surname, latin_surname = _surname(person)
    first = person.first[0]
    roll = rng.random()
    if roll < rates.first_name_only:
        name = first
    elif roll < rates.first_name_only + rates.latin:
        name = f"{rng.choice(person.first[1])} {latin_surname}"
    elif roll < rates.first_name_only + rates.latin + rates.swapped:
        name = f"{surname} {first}"
    elif roll < rates.first_name_only + rates.latin + rates.swapped + rates.patronymic:
        name = f"{surname} {first} {person.patronymic}"
    else:
        name = f"{first} {surname}"
    if rng.random() < rates.name_typo:
        words = name.split()
        i = rng.randrange(len(words))
        words[i] = _typo(rng, words[i])
        name = " ".join(words)
    return name


def _address(rng: random.Random, person: _Person, rates: Rates) -> str:
    settlement, city, street, house, flat = person.address
    short = settlement.split(" ", 1)[1]
    forms = [
        f"{settlement}, ул. {street}, д. {house}" + (f", кв. {flat}" if city else ""),
        f"{short}, {street} {house}" + (f"-{flat}" if city else ""),
        f"{short}, улица {street}, дом {house}" + (f", квартира {flat}" if city else ""),
        f"ул {street} {house}" + (f" кв {flat}" if city else "") + f", {short}",
    ]
    text = rng.choice(forms)
    if rng.random() < rates.address_typo:
        text = text.replace(street, _typo(rng, street))
    return text


def _email(rng: random.Random, address: str, rates: Rates) -> str:
    local, domain = address.split("@")
    if rng.random() < rates.email_typo:
        local = _typo(rng, local)
    if domain in ("gmail.com", "yandex.ru") and rng.random() < rates.email_tag:
        local += rng.choice(["+site", "+crm", "+krovlya"])
    if rng.random() < rates.domain_typo and domain in DOMAIN_TYPOS:
        domain = DOMAIN_TYPOS[domain]
    text = f"{local}@{domain}"
    return (
        text.upper()
        if rng.random() < rates.email_case / 3
        else (text.capitalize() if rng.random() < rates.email_case else text)
    )


def _birth(rng: random.Random, birth: date, rates: Rates) -> date:
    roll = rng.random()
    if roll < rates.birth_date_swapped and birth.day <= 12 and birth.day != birth.month:
        return date(birth.year, birth.day, birth.month)
    if roll < rates.birth_date_swapped + rates.birth_date_typo:
        for _ in range(10):  # one digit of the day, the month or the year typed wrong
            text = list(birth.strftime("%d%m%Y"))
            i = rng.randrange(len(text))
            text[i] = rng.choice([d for d in "0123456789" if d != text[i]])
            try:
                typed = date(
                    int("".join(text[4:])), int("".join(text[2:4])), int("".join(text[:2]))
                )
            except ValueError:
                continue
            if typed.year >= 1900:
                return typed
    return birth


def _records(
    rng: random.Random, person: _Person, rates: Rates, count: int
) -> list[dict[str, object]]:
    made: list[dict[str, object]] = []
    for _ in range(count):
        phones = []
        if rng.random() >= rates.phone_missing:
            digits = (
                person.phones[-1]
                if len(person.phones) > 1 and rng.random() < 0.5
                else person.phones[0]
            )
            phones.append(_phone_text(rng, _phone_error(rng, digits, rates)))
        if person.office and rng.random() < rates.office_phone_in_record:
            phones.append(_phone_text(rng, person.office, person.extension))
        emails = []
        if rng.random() < rates.email_present or not phones:
            emails.append(
                _email(
                    rng, person.info if person.info and rng.random() < 0.5 else person.email, rates
                )
            )
        made.append(
            {
                "names": _name(rng, person, rates),
                "phones": tuple(dict.fromkeys(phones)),
                "emails": tuple(emails),
                "company": rng.choice(LEGAL).format(person.company)
                if person.company and rng.random() < rates.company_present
                else None,
                "address": _address(rng, person, rates)
                if rng.random() < rates.address_present
                else None,
                "birth_date": _birth(rng, person.birth, rates)
                if rng.random() < rates.birth_date_present
                else None,
            }
        )
    return made


Office = tuple[str, str, str | None, list[int]]
"""An office: its phone, its company, its shared mailbox (if any) and its people."""


def _join_office(
    rng: random.Random,
    person: _Person,
    offices: list[Office],
    rates: Rates,
    traps: dict[frozenset[int], str],
) -> None:
    """Seat a person in an office (a new one or a known one): a shared line, an info@ box."""
    if offices and rng.random() < 0.7:
        office = rng.choice(offices)
    else:
        mailbox = f"info@firma{len(offices) + 1}.ru" if rng.random() < rates.info_mailbox else None
        office = (_digits(rng), rng.choice(COMPANIES), mailbox, [])
        offices.append(office)
    person.office, person.company, person.info = office[0], office[1], office[2]
    if rng.random() < rates.office_extensions:
        person.extension = str(100 + len(office[3]))
    kind = "office phone" if not office[2] else "office phone / info@"
    for colleague in office[3]:
        traps[frozenset((colleague, person.id))] = kind
    office[3].append(person.id)


def generate(count: int, seed: int, rates: Rates = REALISTIC) -> Base:
    """About `count` contacts (people with one to six records each) and the truth behind them."""
    rng = random.Random(seed)
    people: list[_Person] = []
    traps: dict[frozenset[int], str] = {}
    offices: list[Office] = []
    planned = 0
    taken: set[str] = set()
    mean = sum((n + 1) * p for n, p in enumerate(rates.records))
    while planned < count / mean:
        person = _person(rng, len(people) + 1, taken=taken)
        people.append(person)
        planned += 1
        if rng.random() < rates.office:
            _join_office(rng, person, offices, rates, traps)
        if rng.random() < rates.spouse:
            spouse = _person(rng, len(people) + 1, male=not person.male, taken=taken)
            spouse.surname, spouse.address, spouse.email = (
                person.surname,
                person.address,
                person.email,
            )
            people.append(spouse)
            traps[frozenset((person.id, spouse.id))] = "family e-mail"
        if rng.random() < rates.namesake_relative:
            relative = _person(rng, len(people) + 1, male=person.male, taken=taken)
            relative.first, relative.surname, relative.address = (
                person.first,
                person.surname,
                person.address,
            )
            people.append(relative)
            traps[frozenset((person.id, relative.id))] = "same-name relative"
    contacts: list[fk.Contact] = []
    person_of: dict[str, int] = {}
    weights = list(rates.records)
    for person in people:
        count_of = rng.choices(range(1, len(weights) + 1), weights)[0]
        for record in _records(rng, person, rates, count_of):
            contact_id = f"C-{len(contacts) + 1}"
            name = record["names"]
            phones, emails = record["phones"], record["emails"]
            fallback = (phones + emails)[:1]  # type: ignore[operator]
            contacts.append(
                fk.Contact(
                    id=contact_id,
                    created_at=AT + timedelta(minutes=len(contacts)),
                    names=(name,) if name else tuple(fallback) or ("—",),  # type: ignore[arg-type]
                    phones=phones,  # type: ignore[arg-type]
                    emails=emails,  # type: ignore[arg-type]
                    company=record["company"],  # type: ignore[arg-type]
                    address=record["address"],  # type: ignore[arg-type]
                    birth_date=record["birth_date"],  # type: ignore[arg-type]
                )
            )
            person_of[contact_id] = person.id
    order = list(range(len(contacts)))
    rng.shuffle(order)
    shuffled = [contacts[i] for i in order]
    return Base(contacts=shuffled, person_of=person_of, traps=traps)
