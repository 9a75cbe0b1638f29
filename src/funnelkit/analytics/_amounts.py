"""
A `StageLog`'s table of amounts as a store wrote them, each made `Money` when first read.

Reading a big log from the SQL store meets about one distinct amount per deal. Their text was
checked by its form when read (a plain decimal within `Money`'s bounds, a currency of three
capitals), so the `Money` of each is made only when a report reads it: `velocity` and
`sources` read the amounts of the deals they count, the other reports none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload

from funnelkit.model._values import plain_money


if TYPE_CHECKING:
    from funnelkit.model import Money


__all__: list[str] = []


class StoredAmounts(Sequence["Money"]):
    """The amounts of a stage log read from a store: (text, currency) pairs, `Money` on reading."""

    __slots__ = ("_built", "_currencies", "_texts")

    def __init__(
        self,
        texts: Sequence[str],
        currencies: Sequence[str],
        built: dict[int, Money] | None = None,
    ) -> None:
        """
        Hold the pairs; `built` holds the `Money` already made of those not written plainly.

        Every other pair must be written plainly (`plain_money` takes it): the caller checked.
        """
        self._texts = tuple(texts)
        self._currencies = tuple(currencies)
        self._built = dict(built or {})

    def __len__(self) -> int:
        return len(self._texts)

    @overload
    def __getitem__(self, index: int) -> Money: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Money, ...]: ...
    def __getitem__(self, index: int | slice) -> Money | tuple[Money, ...]:
        if isinstance(index, slice):
            return tuple(self[at] for at in range(*index.indices(len(self))))
        at = range(len(self))[index]  # negative indexes, and IndexError past the end
        found = self._built.get(at)
        if found is None:
            made = plain_money(self._texts[at], self._currencies[at])
            if made is None:  # pragma: no cover - the reader checked every pair's form
                msg = f"amount {self._texts[at]!r} {self._currencies[at]!r} was not checked"
                raise AssertionError(msg)
            found = self._built[at] = made
        return found

    def currency(self, index: int) -> str:
        """The currency of one amount, without making its `Money`."""
        return self._currencies[index]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # compared by value

    def __reduce__(self) -> tuple[Any, ...]:
        return (StoredAmounts, (self._texts, self._currencies, self._built))

    def __repr__(self) -> str:
        return f"StoredAmounts({len(self)} amounts)"


def currencies(amounts: Sequence[Money]) -> list[str]:
    """The currency of each amount of a table (without making stored amounts' `Money`)."""
    if isinstance(amounts, StoredAmounts):
        return [amounts.currency(at) for at in range(len(amounts))]
    return [money.currency for money in amounts]
