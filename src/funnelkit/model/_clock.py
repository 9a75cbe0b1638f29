"""Injected time and identity: clocks and id factories (funnelkit never reads the wall clock)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from funnelkit._checks import aware_datetime_problem, describe
from funnelkit.exceptions import ValidationError
from funnelkit.model._ids import EntityKind


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["Clock", "FixedClock", "IdFactory", "Progress", "SequentialIds"]


def _aware(name: str, value: datetime) -> datetime:
    problem = aware_datetime_problem(value)
    if problem is not None:
        raise ValidationError(f"{name}: {problem[0]}", field=name, value=value, rule=problem[1])
    return value


def _is_non_negative_timedelta(value: object) -> bool:
    return isinstance(value, timedelta) and value >= timedelta(0)


@runtime_checkable
class Clock(Protocol):
    """
    **Protocol**: where funnelkit operations get "now" from when the caller does not pass a time.

    A host app passes its own (e.g. one whose ``now`` returns ``datetime.now(timezone.utc)``);
    tests and replays pass a `FixedClock`.
    ``now`` must return a timezone-aware datetime.
    """

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


class FixedClock:
    """
    A clock that shows a set time until it is moved: for tests, examples and replays.

    Raises:
        ValidationError: If a naive datetime is given.
    """

    def __init__(self, start: datetime) -> None:
        self._now = _aware("FixedClock.start", start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the time the clock shows."""
        return self._now

    def set(self, moment: datetime) -> None:
        """Show `moment` from now on."""
        moment = _aware("FixedClock.set(moment)", moment)
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        """
        Move the clock forward by `delta` and return the new time.

        Raises:
            ValidationError: If `delta` is not a non-negative `timedelta`.
        """
        if not _is_non_negative_timedelta(delta):
            msg = (
                "FixedClock.advance(delta): expected a non-negative timedelta, "
                f"got {describe(delta)}"
            )
            raise ValidationError(msg, field="delta", value=delta, rule="range")
        with self._lock:
            self._now += delta
            return self._now

    def __repr__(self) -> str:
        return f"FixedClock({self._now.isoformat()})"


@runtime_checkable
class IdFactory(Protocol):
    """
    **Protocol**: makes new ids for entities, so a host app decides what ids look like.

    ``new_id`` must never return the same id twice for the same kind.
    """

    def new_id(self, kind: EntityKind) -> str:
        """Return a fresh id for an entity of `kind`."""
        ...


class SequentialIds:
    """
    Readable, deterministic ids: ``C-1``, ``L-1``, ``D-1``, ``T-1``, ``C-2``... (thread-safe).

    Args:
        prefixes: Overrides of the prefix per kind.
        start: The first number.
    """

    _DEFAULT_PREFIXES: ClassVar[Mapping[EntityKind, str]] = {
        EntityKind.CONTACT: "C-",
        EntityKind.LEAD: "L-",
        EntityKind.DEAL: "D-",
        EntityKind.TASK: "T-",
    }

    def __init__(self, *, prefixes: Mapping[EntityKind, str] | None = None, start: int = 1) -> None:
        if type(start) is not int or start < 0:
            msg = f"SequentialIds(start): expected a non-negative integer, got {describe(start)}"
            raise ValidationError(msg, field="start", value=start, rule="range")
        self._prefixes = {**self._DEFAULT_PREFIXES, **(prefixes or {})}
        self._next: defaultdict[EntityKind, int] = defaultdict(lambda: start)
        self._lock = threading.Lock()

    def new_id(self, kind: EntityKind) -> str:
        """Return the next id for `kind`."""
        with self._lock:
            number = self._next[kind]
            self._next[kind] = number + 1
        return f"{self._prefixes[kind]}{number}"


Progress = Callable[[str, int, "int | None"], None]
"""
Told how a long operation is going; ``progress(step, done, total)``.

`step` names the part under way (``"records"`` and ``"pairs"`` of a match, ``"events"`` of a
fold, ``"contacts"`` of a key rebuild), `done` how many of its items are done, and `total`
how many there are (``None`` when it is not known). A match and a fold call it every
`PROGRESS_EVERY` items, a key rebuild after each batch, and each once at the end of a step; what
it does (a progress bar, a log line) is up to you, and it must not raise.
"""

PROGRESS_EVERY = 10_000
"""How many items a long operation handles between two calls of its `Progress`."""
