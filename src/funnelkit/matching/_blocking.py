"""
How candidate pairs are found without comparing everyone: blocking keys, typo keys, clusters.

Records sharing a key become candidates; an oversized block pairs only records that share a
name; same-band pairs are grouped into clusters never joined across a "different" pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelkit.matching._compare import Comparator, similarity
from funnelkit.matching._normalise import _base
from funnelkit.matching._rules import Band, FieldRule


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from funnelkit.matching._matching import MatchPolicy
    from funnelkit.matching._scores import MatchRecord, PairScore


__all__: list[str] = []


def _may_be_one(
    rules: Mapping[str, FieldRule],
    left: tuple[tuple[str, ...], set[str]],
    right: tuple[tuple[str, ...], set[str]],
) -> bool:
    """Whether two holders of one key may be one person (see `MatchPolicy.people`)."""
    (left_names, left_held), (right_names, right_held) = left, right
    if left_names and right_names:
        return _names_agree(rules.get("name"), left_names, right_names)
    # Without a name on one side: two people only if both hold more than the shared key and
    # share nothing else, not even a phone or an e-mail a typo apart.
    if len(left_held) < 2 or len(right_held) < 2 or len(left_held & right_held) >= 2:  # noqa: PLR2004
        return True
    return any(_near(rules, a, b) for a in left_held - right_held for b in right_held - left_held)


def _near(rules: Mapping[str, FieldRule], left: str, right: str) -> bool:
    """Whether a phone or e-mail and another agree with a positive weight (a typo apart)."""
    field = "emails" if "@" in left else "phones"
    rule = rules.get(field)
    if rule is None or ("@" in right) != (field == "emails"):
        return False
    found = similarity(rule.comparator, left, right)
    return next(weight for least, _, weight in rule._table if found >= least) > 0  # noqa: SLF001


def _typo_keys(record: MatchRecord) -> list[str]:
    """Blocking keys that survive one typing error in a phone, an e-mail or a name."""
    keys = []
    tails = []
    for phone in record.phones:
        digits = _base(phone)[-9:]
        if len(digits) == 9:  # noqa: PLR2004 - three windows of three digits
            first, middle, last = digits[:3], digits[3:6], digits[6:]
            keys += [f"p12:{first}{middle}", f"p23:{middle}{last}", f"p13:{first}{last}"]
        tails.append(digits[-4:])
    for email in record.emails:
        local, _, domain = email.rpartition("@")
        # The local part with each letter left out in turn (a deletion neighbourhood): two
        # addresses one letter apart (dropped, added, replaced or two swapped) share one.
        # Digits are never left out: petrov5 and petrov are two mailboxes, most often two
        # people (the comparator says so too).
        if len(local) >= 5:  # noqa: PLR2004 - shorter locals would block strangers together
            keys.append(f"ed:{local}@{domain}")  # meets the other side's letter left out
            keys.extend(
                f"ed:{local[:i]}{local[i + 1 :]}@{domain}"
                for i in range(len(local))
                if not local[i].isdigit()
            )
    starts = {token[:3] for name in record.names for token in name.split() if len(token) > 1}
    place = _place(record.address)
    for start in starts:
        if record.birth_date:
            keys.append(f"nb:{start}|{record.birth_date}")
        if place:
            keys.append(f"na:{start}|{place}")
        keys.extend(f"np:{start}|{tail}" for tail in tails)
    if record.birth_date and place:
        keys.append(f"ba:{record.birth_date}|{place}")
    return keys


def _place(address: str | None) -> str | None:
    """An address's house number and its first word's start: what survives most typos."""
    if not address:
        return None
    tokens = address.split()
    numbers = sorted(token for token in tokens if token.isdigit())
    words = [token for token in tokens if not token.isdigit()]
    if not numbers and not words:
        return None
    return f"{words[0][:4] if words else ''}#{'.'.join(numbers)}"


def _best_pair(
    comparator: Comparator, lefts: tuple[str, ...], rights: tuple[str, ...]
) -> tuple[float, str, str]:
    """The best similarity between two non-empty sets of values, and the two values."""
    best_left, best_right = lefts[0], rights[0]
    if len(lefts) == 1 and len(rights) == 1:  # the usual case, without the loops
        return similarity(comparator, best_left, best_right), best_left, best_right
    best = -1.0
    for left in lefts:
        for right in rights:
            found = similarity(comparator, left, right)
            if found > best:
                best, best_left, best_right = found, left, right
    return best, best_left, best_right


def _names_agree(rule: FieldRule | None, left: tuple[str, ...], right: tuple[str, ...]) -> bool:
    """Whether two records' names may be one person's: they do not conflict."""
    if rule is None or len(rule.levels) < 2:  # noqa: PLR2004 - some level above "else"
        return not set(left).isdisjoint(right)
    if not left or not right:
        return False
    found = _best_pair(rule.comparator, left, right)[0]
    least = rule.levels[-2].min_similarity if rule.conflict_below is None else rule.conflict_below
    return found >= least


def _blocks(policy: MatchPolicy, records: Sequence[MatchRecord]) -> dict[str, list[int]]:
    """The blocking keys held by two records or more, with their holders' numbers, ascending."""
    # Most keys belong to one record: keep only its number, and make a list from the second
    # holder on.
    first: dict[str, int] = {}
    blocks: dict[str, list[int]] = {}
    for number, record in enumerate(records):
        for key in policy.keys(record):
            holder = first.setdefault(key, number)
            if holder != number:
                held = blocks.get(key)
                if held is None:
                    blocks[key] = [holder, number]
                else:
                    held.append(number)
    return blocks


def _by_name(records: Sequence[MatchRecord], held: Sequence[int], limit: int) -> list[list[int]]:
    """The records of an oversized block grouped by folded name, groups over `limit` dropped."""
    groups: dict[str, list[int]] = {}
    for number in held:
        for name in records[number].names:
            groups.setdefault(name, []).append(number)
    return [group for group in groups.values() if 1 < len(group) <= limit]


class _Groups:
    """A union-find over record ids that never joins two groups holding a "different" pair."""

    def __init__(self, apart: Mapping[str, list[str]]) -> None:
        self._apart = apart
        self._parent: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}

    def find(self, record_id: str) -> str:
        parent = self._parent
        root = parent.setdefault(record_id, record_id)
        while root != parent[root]:
            root = parent[root]
        while parent[record_id] != root:  # path compression
            parent[record_id], record_id = root, parent[record_id]
        return root

    def join(self, left: str, right: str) -> None:
        """Join the groups of two records, unless a member of one is apart from the other."""
        roots = [self.find(left), self.find(right)]
        if roots[0] == roots[1]:
            return
        for root in roots:
            self._members.setdefault(root, [root])
        small, large = sorted(roots, key=lambda root: len(self._members[root]))
        members, apart = self._members, self._apart
        if any(self.find(other) == large for m in members[small] for other in apart.get(m, ())):
            return
        self._parent[small] = large
        members[large].extend(members.pop(small))

    def clusters(self) -> tuple[frozenset[str], ...]:
        groups = (frozenset(group) for group in self._members.values() if len(group) > 1)
        return tuple(sorted(groups, key=sorted))


def _clusters(pairs: Sequence[PairScore]) -> tuple[frozenset[str], ...]:
    """
    Union "same" pairs, best first, never joining two groups across a "different" pair.

    A union-find with union by size: before two groups join, the "different" partners of the
    smaller group's members are looked up, so each record is checked O(log n) times and the
    whole costs O((pairs + different pairs) log n).
    """
    apart: dict[str, list[str]] = {}
    for pair in pairs:
        if pair.band is Band.DIFFERENT:
            apart.setdefault(pair.left, []).append(pair.right)
            apart.setdefault(pair.right, []).append(pair.left)
    groups = _Groups(apart)
    for pair in pairs:
        if pair.band is Band.SAME:
            groups.join(pair.left, pair.right)
    return groups.clusters()
