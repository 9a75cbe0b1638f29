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
    another patronymic: another person); at most 0.5 too for a man and a woman of one
    family, whose surnames are its masculine and feminine forms (Гораев and Гораева)."""
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


def _name(left: str, right: str) -> float:
    if left == right:  # the sides are sorted folded words: the same name
        return 1.0 if " " in left else 0.9  # one first name alone says little
    shorter, longer = sorted((left.split(), right.split()), key=len)
    if not shorter:
        return 0.0
    if any(_gendered(word, other) for word in shorter for other in longer):
        return min(_graded(shorter, longer), 0.5)  # a man and a woman of one family
    return _graded(shorter, longer)


# The folded endings of a Russian surname's masculine and feminine forms: Гораев and Гораева,
# Чернин and Чернина, Гусский and Гусская.
_MASCULINE = ("ov", "ev", "in", "yn")  # the feminine form adds an "a"
_SKII = ("skii", "skiy", "ski", "sky")
_SKAIA = ("skaia", "skaya", "skaja")


def _gendered(word: str, other: str) -> bool:
    """Whether two folded words are one surname's masculine and feminine forms."""
    if len(word) > len(other):
        word, other = other, word
    if not 0 < len(other) - len(word) <= 2 or word[:2] != other[:2]:  # noqa: PLR2004 - -ski, -skaia
        return False
    if other == word + "a" and word.endswith(_MASCULINE):
        return True
    stem = next((word[: -len(end)] for end in _SKII if word.endswith(end)), None)
    return stem is not None and len(stem) > 1 and other in {stem + end for end in _SKAIA}


def _graded(shorter: list[str], longer: list[str]) -> float:
    """The similarity of two names' words, the shorter name's words against the longer's."""
    if sorted(shorter) == sorted(longer):
        return 1.0 if len(longer) > 1 else 0.9  # one first name alone says little
    # Every word against every other, once: each word's best match is its row's maximum.
    matrix = [[JaroWinkler.similarity(word, other) for other in longer] for word in shorter]
    forward = [max(row) for row in matrix]
    best = forward
    if len(shorter) == len(longer):  # both ways, the worse one: the order of the sides is moot
        backward = [max(column) for column in zip(*matrix, strict=True)]
        best = min(forward, backward, key=lambda found: (min(found), sum(found)))
    mean = sum(best) / len(best)
    if min(best) < _OTHER_WORD:
        return min(mean, 0.5)
    # Short names one letter apart are often two names (oleg and olga, ivan and iana); a typo
    # in a short name keeps Jaro-Winkler at 0.9 or more (almaz and almas).
    another_short_name = any(
        len(word) <= _SHORT and found < _SHORT_NEAR
        for word, found in zip(shorter, forward, strict=True)
    )
    if min(best) >= _NEAR_WORD and not another_short_name:
        if len(shorter) == 1 and len(longer) > 1:
            return 0.9
        return 0.95 + 0.049 * (mean - _NEAR_WORD) / (1 - _NEAR_WORD)
    return 0.6 + 0.2 * (mean - _OTHER_WORD) / (1 - _OTHER_WORD)


def _one_typo(left: str, right: str) -> float:
    """0.9 for one character replaced, 0.88 for two adjacent ones swapped, else 0."""
    if len(left) != len(right) or left == right:
        return 0.0
    first = next(i for i, (a, b) in enumerate(zip(left, right, strict=True)) if a != b)
    after = first + 1
    if left[after:] == right[after:]:
        return 0.9
    if (
        left[after + 1 :] == right[after + 1 :]
        and left[first] == right[after]
        and left[after] == right[first]
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
