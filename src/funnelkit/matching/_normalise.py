"""
Normalisation of contact data into comparable forms and look-up keys.

Phones become E.164 (``+79123456789``) with `phonenumbers`, given a default region for numbers
written in national form, keeping an office line's extension (``+74951234567;ext=12``);
e-mails become a canonical key (case, spaces, common domain typos such as ``gmial.com``, and
optionally the documented rules of the providers: plus addressing, Gmail's dots, alias
domains); names become folded Latin tokens with `anyascii`, so that «Алмаз» and "Almaz" meet;
company names lose their legal-form words; addresses become folded tokens without the words
for street, house or flat; birth dates are read from the ways people write them.
Invalid phones, e-mails and dates are reported, never kept as keys.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, datetime
from typing import TYPE_CHECKING

import attrs
import phonenumbers
from anyascii import anyascii

from funnelkit import _checks as check
from funnelkit._checks import describe
from funnelkit.exceptions import ValidationError
from funnelkit.model import Contact, ContactData, Lead


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["Normaliser", "fold_name"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_REGION = re.compile(r"[A-Z]{2}")

# Providers whose mailboxes ignore "+tag" (plus addressing), and those that also ignore dots;
# alias domains fold into one. Consumer domains only: a company's own domain keeps its rules.
_PLUS_PROVIDERS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yandex.ru",
        "yandex.com",
        "ya.ru",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "fastmail.com",
        "zoho.com",
    }
)
_DOTLESS_PROVIDERS = frozenset({"gmail.com", "googlemail.com"})
_DOMAIN_ALIASES = {
    "googlemail.com": "gmail.com",
    "me.com": "icloud.com",
    "mac.com": "icloud.com",
    "ya.ru": "yandex.ru",
    "yandex.com": "yandex.ru",
    "protonmail.com": "proton.me",
    "pm.me": "proton.me",
}

# Domains people mistype, each repaired to the one they meant (only unambiguous typos of the
# big consumer providers: a company's own domain is never guessed at).
_DOMAIN_TYPOS = {
    "gmial.com": "gmail.com",
    "gmai.com": "gmail.com",
    "gmal.com": "gmail.com",
    "gamil.com": "gmail.com",
    "gmail.co": "gmail.com",
    "gmail.cm": "gmail.com",
    "gmail.ru": "gmail.com",
    "gmaill.com": "gmail.com",
    "mail.ry": "mail.ru",
    "mail.tu": "mail.ru",
    "maill.ru": "mail.ru",
    "mial.ru": "mail.ru",
    "mai.ru": "mail.ru",
    "yandex.ry": "yandex.ru",
    "yandx.ru": "yandex.ru",
    "yadex.ru": "yandex.ru",
    "yanex.ru": "yandex.ru",
    "yndex.ru": "yandex.ru",
    "bk.ry": "bk.ru",
    "inbox.ry": "inbox.ru",
    "list.ry": "list.ru",
    "rambler.ry": "rambler.ru",
    "hotmial.com": "hotmail.com",
    "hotmail.co": "hotmail.com",
    "outlok.com": "outlook.com",
    "iclod.com": "icloud.com",
}

# Words of an address that say what a token is, not where: dropped so that "ул. Лесная, д. 5"
# and "Лесная 5" meet. Folded forms (after transliteration).
_ADDRESS_WORDS = frozenset(
    {
        "ul", "ulitsa", "ulica", "d", "dom", "kv", "kvartira", "g", "gorod", "p", "pos",
        "poselok", "posiolok", "pgt", "s", "selo", "der", "derevnia", "obl", "oblast",
        "r", "rn", "raion", "pr", "prt", "prosp", "prospekt", "per", "pereulok", "sh",
        "shosse", "nab", "naberezhnaia", "pl", "ploshad", "ploshchad", "bul", "bulvar",
        "korp", "k", "str", "stroenie", "lit", "litera", "ofis", "of", "pom", "mkr",
        "mikroraion", "tupik", "proezd", "st", "street", "rd", "road", "ave", "avenue",
        "apt", "flat", "house", "city",
    }
)  # fmt: skip

# Legal-form words dropped from company names (Russian and international).
_LEGAL_FORMS = frozenset(
    {
        "ооо",
        "оао",
        "зао",
        "пао",
        "ао",
        "ип",
        "нко",
        "ано",
        "гк",
        "llc",
        "ltd",
        "inc",
        "corp",
        "gmbh",
        "ag",
        "sa",
        "plc",
        "co",
        "ooo",
        "zao",
        "oao",
        "pao",
        "ip",
    }
)

# Folding after transliteration: spellings of one Russian name collapse to one form
# (Yuliya/Julia/Iuliia, Evgeny/Yevgeniy/Evgenii, Natalya/Natalia, Aleksey/Alexei).
_FOLDS = (
    ("'", ""),
    ("shch", "sh"),
    ("sch", "sh"),
    ("kh", "h"),
    ("ks", "x"),
    ("yo", "e"),
    ("ye", "e"),
    ("ya", "ia"),
    ("yu", "iu"),
    ("ju", "iu"),
    ("ja", "ia"),
    ("iy", "i"),
    ("ii", "i"),
    ("yi", "i"),
    ("ei", "ey"),
    ("y", "i"),
    ("j", "i"),
    ("w", "v"),
    ("ph", "f"),
)


@functools.lru_cache(maxsize=65_536)
def fold_name(word: str) -> str:
    """
    Fold one word of a name into a spelling-insensitive Latin form.

    Cyrillic is transliterated, case and accents are dropped, ё becomes е, and the usual
    variant spellings of Russian names collapse (``"Юлия"``, ``"Yulia"``, ``"Iuliia"`` →
    ``"iulia"``).
    """
    text = anyascii(unicodedata.normalize("NFC", word).replace("ё", "е").replace("Ё", "Е"))
    text = text.casefold()
    text = "".join(char for char in text if char.isalnum() or char == "'")
    for old, new in _FOLDS:
        text = text.replace(old, new)
    return text


_DIALLED = re.compile(r"\+?[\d ()\-.]+")  # digits as people write them, nothing else
_NOT_DIGITS = re.compile(r"\D")
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


@attrs.frozen
class _Plan:
    """One region's numbering plan, from phonenumbers' own metadata, for the common case."""

    country: str
    prefix: str
    international: re.Pattern[str]
    general: re.Pattern[str]
    lengths: frozenset[int]
    types: tuple[tuple[re.Pattern[str], frozenset[int]], ...]

    def valid(self, national: str) -> bool:
        """Whether phonenumbers holds `national` valid: the region's pattern and some type's."""
        if len(national) not in self.lengths or not self.general.fullmatch(national):
            return False
        return any(
            len(national) in lengths and pattern.fullmatch(national)
            for pattern, lengths in self.types
        )


@functools.lru_cache(maxsize=32)
def _plan(region: str) -> _Plan | None:
    """The region's plan, or ``None`` where its prefix rules are not plain digits."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix_transform_rule:
        return None
    prefix = metadata.national_prefix_for_parsing or ""
    general = metadata.general_desc
    if general is None or not general.national_number_pattern or not metadata.international_prefix:
        return None
    if prefix and not prefix.isdigit():  # a pattern of several prefixes: leave it to parse()
        return None
    types = []
    for name in _TYPES:
        desc = getattr(metadata, name)
        if desc is not None and desc.national_number_pattern:
            lengths = frozenset(desc.possible_length or general.possible_length)
            types.append((re.compile(desc.national_number_pattern), lengths))
    return _Plan(
        country=str(metadata.country_code),
        prefix=prefix,
        international=re.compile(metadata.international_prefix),
        general=re.compile(general.national_number_pattern),
        lengths=frozenset(general.possible_length),
        types=tuple(types),
    )


def _fast_e164(raw: str, region: str) -> str | None:
    """
    The E.164 form of a plainly written number of `region`, or ``None`` to ask phonenumbers.

    It follows phonenumbers' own steps (country code, national prefix, validity) with the
    region's metadata, for digits with spaces, brackets, dashes and dots only, and answers only
    when the number is valid; anything else (letters, extensions, an international or another
    country's prefix, an invalid number) goes to `phonenumbers.parse`, which explains it.
    Tests check that both always agree.
    """
    plan = _plan(region)
    if plan is None or not _DIALLED.fullmatch(raw):
        return None
    digits = _NOT_DIGITS.sub("", raw)
    if raw.startswith("+"):  # _DIALLED allows "+" only first
        if not digits.startswith(plan.country):
            return None
        national = digits[len(plan.country) :]
    else:
        if plan.international.match(digits) or (
            digits.startswith(plan.country) and not plan.general.fullmatch(digits)
        ):
            return None  # an international call, or the country code without its "+"
        national = digits
        if plan.prefix and digits.startswith(plan.prefix):
            stripped = digits[len(plan.prefix) :]
            if not plan.general.fullmatch(digits) or plan.general.fullmatch(stripped):
                national = stripped
    return f"+{plan.country}{national}" if plan.valid(national) else None


# Parsing a phone with phonenumbers costs about 100 µs; names repeat a lot. Both are pure
# functions of their input, so they are cached (bounded) for "who is this?" and for matching.
@functools.lru_cache(maxsize=65_536)
def _e164(raw: str, region: str) -> tuple[str, str | None]:
    """The E.164 form of `raw`, or an explanation of why it is not a valid number."""
    if _DIALLED.fullmatch(raw):  # one number written four ways: one look-up of its digits
        plain = _plain_e164("+" * raw.startswith("+") + _NOT_DIGITS.sub("", raw), region)
        if plain[1] is None:
            return plain
    return _parsed_e164(raw, region)


@functools.lru_cache(maxsize=65_536)
def _plain_e164(dialled: str, region: str) -> tuple[str, str | None]:
    """`_e164` of digits with at most a leading ``+`` (the fast path, then phonenumbers)."""
    fast = _fast_e164(dialled, region)
    if fast is not None:
        return fast, None
    return _parsed_e164(dialled, region)


def _parsed_e164(raw: str, region: str) -> tuple[str, str | None]:
    """`_e164` by `phonenumbers.parse`, for every number; an extension follows as ``;ext=``."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as error:
        return "", f"phone: {raw!r} is not a phone number ({error}); check the digits"
    if not phonenumbers.is_valid_number(number):
        return "", (
            f"phone: {raw!r} is not a valid number in region {region} "
            "(too short, too long or no such range); check the digits or the country code"
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return (f"{e164};ext={number.extension}" if number.extension else e164), None


_DATE_FORMS = (
    re.compile(r"(?P<d>\d{1,2})[./\- ](?P<m>\d{1,2})[./\- ](?P<y>\d{4})"),
    re.compile(r"(?P<y>\d{4})[./\-](?P<m>\d{1,2})[./\-](?P<d>\d{1,2})"),
)


@functools.lru_cache(maxsize=65_536)
def _name_tokens(raw: str) -> tuple[str, ...]:
    # A word with digits is no part of a name: a contact made from a lead without a name is
    # named by its phone ("89123456789"), which must not disagree with the client's real name.
    words = _WORD.findall(unicodedata.normalize("NFC", raw))
    return tuple(
        sorted(
            folded
            for word in words
            if not any(char.isdigit() for char in word) and (folded := fold_name(word))
        )
    )


def _region_problem(value: object) -> check.Problem:
    if type(value) is not str or not _REGION.fullmatch(value):
        return f"expected a two-letter region code such as 'RU', got {describe(value)}", "region"
    if value not in phonenumbers.SUPPORTED_REGIONS:
        return f"{value!r} is not a region phonenumbers knows", "region"
    return None


EMAIL_MAX = 254
"""The longest e-mail address RFC 5321 allows, in characters."""


@attrs.frozen(kw_only=True)
class Normaliser:
    """
    Turns raw contact data into comparable forms and look-up keys.

    Attributes:
        default_region: Region for phones written without a country code (``"RU"`` reads
            ``8 (912) 345-67-89`` as ``+79123456789``).
        provider_email_rules: Apply mail providers' rules to e-mail keys: drop ``+tags`` where
            the provider ignores them, dots in Gmail addresses, fold alias domains
            (googlemail.com → gmail.com).
    """

    default_region: str = attrs.field(default="RU", validator=check.field(_region_problem))
    provider_email_rules: bool = attrs.field(default=True, validator=check.boolean)

    def phone(self, raw: str) -> str:
        """
        Return the phone number in E.164 form, with its extension if it has one.

        ``"+7 495 123-45-67 доб. 12"`` gives ``"+74951234567;ext=12"`` (the RFC 3966 way of
        writing an extension): colleagues on one office line stay apart.

        Raises:
            ValidationError: If it is not a valid number (the message says why).
        """
        if type(raw) is not str:
            raise ValidationError(
                f"phone: expected a string, got {describe(raw)}",
                field="phone",
                value=raw,
                rule="type",
            )
        e164, problem = _e164(raw, self.default_region)
        if problem is not None:
            raise ValidationError(problem, field="phone", value=raw, rule="invalid_phone")
        return e164

    def email(self, raw: str) -> str:
        """
        Return the canonical form of an e-mail address, used as its look-up key.

        Case and spaces never matter; a common typo of a big provider's domain is repaired
        (``gmial.com`` → ``gmail.com``, ``mail.ry`` → ``mail.ru``). With
        `provider_email_rules`, a ``+tag`` is dropped only for providers whose own
        documentation says they deliver it to the plain address, dots only for Gmail.

        Raises:
            ValidationError: If it is not an e-mail address.
        """
        if type(raw) is not str:
            raise ValidationError(
                f"email: expected a string, got {describe(raw)}",
                field="email",
                value=raw,
                rule="type",
            )
        text = unicodedata.normalize("NFC", raw).strip().casefold()
        if len(text) > EMAIL_MAX:
            msg = (
                f"email: an address of {len(text)} characters is longer than {EMAIL_MAX}, the "
                "most RFC 5321 allows; it is no e-mail address"
            )
            raise ValidationError(msg, field="email", value=raw[:100], rule="invalid_email")
        if not _EMAIL.fullmatch(text):
            msg = f"email: {raw!r} is not an e-mail address; expected name@domain.tld"
            raise ValidationError(msg, field="email", value=raw, rule="invalid_email")
        local, domain = text.rsplit("@", 1)
        domain = _DOMAIN_TYPOS.get(domain, domain)
        if self.provider_email_rules:
            if domain in _PLUS_PROVIDERS:
                local = local.split("+", 1)[0]
            if domain in _DOTLESS_PROVIDERS:
                local = local.replace(".", "")
            domain = _DOMAIN_ALIASES.get(domain, domain)
        if not local:
            msg = f"email: {raw!r} has nothing before its +tag; expected name@domain.tld"
            raise ValidationError(msg, field="email", value=raw, rule="invalid_email")
        return f"{local}@{domain}"

    def name_tokens(self, raw: str) -> tuple[str, ...]:
        """
        Return a name's folded words, sorted, so that word order does not matter.

        Words with digits are left out: a phone or a number is not part of a name.
        """
        return _name_tokens(raw)

    def address(self, raw: str) -> tuple[str, ...]:
        """
        Fold an address into its telling tokens, in order.

        Transliterated and case-folded like names; the words for street, house, flat,
        settlement and the like are dropped, numbers kept:
        ``"п. Званка, ул. Лесная, д. 5"`` → ``("zvanka", "lesnaia", "5")``.
        """
        words = _WORD.findall(unicodedata.normalize("NFC", raw))
        folded = (fold_name(word) for word in words)
        return tuple(token for token in folded if token and token not in _ADDRESS_WORDS)

    def birth_date(self, raw: str | date) -> date:
        """
        Read a birth date as people write it: ``17.05.1990``, ``17/05/1990``, ``1990-05-17``.

        Raises:
            ValidationError: If it is no date in one of those forms, no date of the calendar
                (``31.02.1990``), or before 1900.
        """
        if isinstance(raw, date) and not isinstance(raw, datetime):
            found = raw
        else:
            text = raw.strip() if isinstance(raw, str) else None
            match = next((m for f in _DATE_FORMS if text and (m := f.fullmatch(text))), None)
            if match is None:
                msg = f"birth_date: {raw!r} is not a date; write it as 17.05.1990 or 1990-05-17"
                raise ValidationError(msg, field="birth_date", value=raw, rule="invalid_date")
            try:
                found = date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError as error:
                msg = f"birth_date: {raw!r} is no day of the calendar ({error}); check it"
                raise ValidationError(
                    msg, field="birth_date", value=raw, rule="invalid_date"
                ) from None
        problem = check.birth_date_problem(found)
        if problem is not None:
            raise ValidationError(
                f"birth_date: {problem[0]}", field="birth_date", value=raw, rule=problem[1]
            )
        return found

    def company(self, raw: str) -> str:
        """Fold a company name without legal forms or quotes: ``ООО «Алмаз»`` → ``almaz``."""
        words = [word.casefold() for word in _WORD.findall(unicodedata.normalize("NFC", raw))]
        return " ".join(fold_name(word) for word in words if word not in _LEGAL_FORMS)

    # --- records ---------------------------------------------------------------------------

    def phones(self, raws: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[ValidationError, ...]]:
        """Normalise many phones: the valid ones (unique, in order) and the rest's problems."""
        return self._many(raws, self.phone)

    def emails(self, raws: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[ValidationError, ...]]:
        """Normalise many e-mails: the valid keys (unique, in order) and the rest's problems."""
        return self._many(raws, self.email)

    @staticmethod
    def _many(
        raws: tuple[str, ...], normalise: Callable[[str], str]
    ) -> tuple[tuple[str, ...], tuple[ValidationError, ...]]:
        found: dict[str, None] = {}
        problems: list[ValidationError] = []
        for raw in raws:
            try:
                found[normalise(raw)] = None
            except ValidationError as error:
                problems.append(error)
        return tuple(found), tuple(problems)

    def keys(self, subject: Contact | Lead | ContactData) -> list[str]:
        """
        Return the look-up keys of a contact, a lead or raw contact data.

        ``phone:+79123456789`` for each valid phone (an office line with an extension gives
        both ``phone:+74951234567;ext=12`` and ``phone:+74951234567``) and
        ``email:almaz@gmail.com`` for each valid e-mail; invalid ones give no key. These are
        the keys `MatchPolicy.contact_keys` gives a store (it adds a policy's key fields), so
        that `find_by_key` answers "who is this?".
        """
        data = _contact_data(subject)
        phones, _ = self.phones(data.phones)
        emails, _ = self.emails(data.emails)
        keys = dict.fromkeys(
            key for phone in phones for key in (f"phone:{phone}", f"phone:{_base(phone)}")
        )
        return [*keys, *(f"email:{e}" for e in emails)]


def _base(phone: str) -> str:
    """A normalised phone without its extension."""
    return phone.split(";", 1)[0]


def _contact_data(subject: Contact | Lead | ContactData) -> ContactData:
    given: object = subject
    if isinstance(given, ContactData):
        return given
    if isinstance(given, Lead):
        return given.contact_data
    if isinstance(given, Contact):
        return ContactData(
            name=" ".join(given.names),
            phones=given.phones,
            emails=given.emails,
            company=given.company,
            address=given.address,
            birth_date=given.birth_date,
        )
    msg = f"expected a Contact, a Lead or ContactData, got {describe(given)}"
    raise ValidationError(msg, field="subject", value=given, rule="type")
