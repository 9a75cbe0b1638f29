"""
Comparators: how similar two normalised values of one field are, from 0 to 1.

Each comparator grades near-agreement the way people's typing errors make it: a phone with one
digit typed wrong or two swapped, an e-mail's local part with a letter dropped, a name with a
typo or with first and last names swapped, an address with its words in another order, a birth
date with day and month swapped. Levels of a `FieldRule` cut these similarities into bands.
"""

from __future__ import annotations

import enum
import functools

from rapidfuzz import fuzz
from rapidfuzz.distance import JaroWinkler


__all__ = ["Comparator", "similarity"]


class Comparator(str, enum.Enum):
    """How two values of a field are compared (each gives a similarity from 0 to 1)."""

    EXACT = "exact"
    """1 when equal after normalisation, else 0."""
    JARO_WINKLER = "jaro_winkler"
    """Jaro-Winkler similarity: short strings, typos at the end (codes, settlement names)."""
    TOKEN_SET = "token_set"  # noqa: S105 - a comparator name, not a password
    """Token-set similarity: word order and extra words do not matter (companies)."""
    NAME = "name"
    """Names, word order aside (a swapped first and last name): each word of the shorter name
    against its best Jaro-Winkler match in the other. 1 when the words are the same (two or
    more); from 0.95 up when every word of two names of as many words, or of a shorter name of
    two words or more (a missing patronymic), meets one within typing errors; 0.9 when a
    one-word name meets a word of the other (``"almas"`` and ``"almaz novskii"``), or the same
    first name alone; 0.6 to 0.8 when some word is further off (a short name one letter away
    from another: Олег and Ольга); at most 0.5 when some word meets none (another first name,
    another patronymic: another person)."""
    PHONE = "phone"
    """Phones: 1 for the same number and extension; 0.95 for the same line where one side
    gave no extension; 0.9 for one digit typed wrong, 0.88 for two adjacent digits swapped;
    0.1 for another number; 0 for one office line with two different extensions (two
    people)."""
    EMAIL = "email"
    """E-mail keys: 1 when equal; at the same domain, 0.98 times the Jaro-Winkler similarity
    of the local parts (a letter dropped or swapped: about 0.93), but 0.3 when their digits
    differ (``petrov95`` and ``petrov50`` are two mailboxes); 0.85 for the same local part
    at another domain; 0 otherwise."""
    DATE = "date"
    """Dates (ISO text): 1 when equal; 0.9 with day and month swapped; 0.8 with one digit of
    one part wrong; 0 otherwise."""
    ADDRESS = "address"
    """Folded address tokens: token-set similarity, capped at 0.5 when the numbers (house,
    flat) differ."""


# Values repeat (one client's name on every record, common first names): comparing them is a
# pure function of the two strings, so it is cached (bounded).
@functools.lru_cache(maxsize=131_072)
def similarity(comparator: Comparator, left: str, right: str) -> float:
    """The similarity of two normalised values under `comparator`, from 0 to 1."""
    if left == right and comparator is not Comparator.NAME:
        return 1.0
    if comparator is Comparator.EXACT:
        return 0.0
    compare = _COMPARE.get(comparator)
    if compare is not None:
        return compare(left, right)
    if comparator is Comparator.JARO_WINKLER:
        return float(JaroWinkler.similarity(left, right))
    return float(fuzz.token_set_ratio(left, right)) / 100.0


_NEAR_WORD = 0.85  # Jaro-Winkler of one word typed twice, one error apart, or transliterated
_OTHER_WORD = 0.75  # below this, two words are two different names
_SHORT = 5  # letters: a short first name...
_SHORT_NEAR = 0.9  # ...is near another only this close


def _best(words: list[str], others: list[str]) -> list[float]:
    """Each word's best Jaro-Winkler similarity to one of `others`."""
    return [max(JaroWinkler.similarity(word, other) for other in others) for word in words]


def _name(left: str, right: str) -> float:
    shorter, longer = sorted((left.split(), right.split()), key=len)
    if not shorter:
        return 0.0
    if sorted(shorter) == sorted(longer):
        return 1.0 if len(longer) > 1 else 0.9  # one first name alone says little
    best = _best(shorter, longer)
    if len(shorter) == len(longer):  # both ways, the worse one: the order of the sides is moot
        best = min(best, _best(longer, shorter), key=lambda found: (min(found), sum(found)))
    mean = sum(best) / len(best)
    if min(best) < _OTHER_WORD:
        return min(mean, 0.5)
    if min(best) >= _NEAR_WORD and not _another_short_name(shorter, longer):
        if len(shorter) == 1 and len(longer) > 1:
            return 0.9
        return 0.95 + 0.049 * (mean - _NEAR_WORD) / (1 - _NEAR_WORD)
    return 0.6 + 0.2 * (mean - _OTHER_WORD) / (1 - _OTHER_WORD)


def _another_short_name(words: list[str], others: list[str]) -> bool:
    """
    Whether a short word meets its best match only loosely: Олег and Ольга, not a typo.

    Short names one letter apart are often two names (oleg and olga, ivan and iana); a typo in
    a short name keeps Jaro-Winkler at 0.9 or more (almaz and almas).
    """
    return any(
        len(word) <= _SHORT
        and max(JaroWinkler.similarity(word, other) for other in others) < _SHORT_NEAR
        for word in words
    )


def _one_typo(left: str, right: str) -> float:
    """0.9 for one character replaced, 0.88 for two adjacent ones swapped, else 0."""
    if len(left) != len(right):
        return 0.0
    differ = [i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b]
    if len(differ) == 1:
        return 0.9
    if (
        len(differ) == 2  # noqa: PLR2004 - a swap touches two places
        and differ[1] == differ[0] + 1
        and left[differ[0]] == right[differ[1]]
        and left[differ[1]] == right[differ[0]]
    ):
        return 0.88
    return 0.0


def _phone(left: str, right: str) -> float:
    left_number, _, left_ext = left.partition(";ext=")
    right_number, _, right_ext = right.partition(";ext=")
    if left_number == right_number:
        if left_ext and right_ext:
            return 0.0  # one office line, two extensions: two people
        return 0.95
    typo = _one_typo(left_number, right_number)
    return typo or 0.1


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def _email(left: str, right: str) -> float:
    left_local, _, left_domain = left.rpartition("@")
    right_local, _, right_domain = right.rpartition("@")
    if left_domain == right_domain:
        if _digits(left_local) != _digits(right_local):
            return 0.3  # petrov95 and petrov50: two mailboxes, most often two people
        return 0.98 * float(JaroWinkler.similarity(left_local, right_local))
    return 0.85 if left_local == right_local else 0.0


def _date(left: str, right: str) -> float:
    left_parts, right_parts = left.split("-"), right.split("-")
    if len(left_parts) != 3 or len(right_parts) != 3:  # noqa: PLR2004 - year, month, day
        return 0.0
    year, month, day = left_parts
    if [year, day, month] == right_parts:
        return 0.9
    differ = [(a, b) for a, b in zip(left_parts, right_parts, strict=True) if a != b]
    if len(differ) == 1 and _one_typo(*differ[0]):
        return 0.8
    return 0.0


def _address(left: str, right: str) -> float:
    score = float(fuzz.token_set_ratio(left, right)) / 100.0
    left_numbers = {token for token in left.split() if token.isdigit()}
    right_numbers = {token for token in right.split() if token.isdigit()}
    if left_numbers and right_numbers and left_numbers != right_numbers:
        return min(score, 0.5)
    return score


_COMPARE = {
    Comparator.NAME: _name,
    Comparator.PHONE: _phone,
    Comparator.EMAIL: _email,
    Comparator.DATE: _date,
    Comparator.ADDRESS: _address,
}
