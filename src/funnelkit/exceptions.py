"""
Every error funnelkit raises.

All of them derive from `FunnelkitError`, so ``except FunnelkitError`` catches anything funnelkit
refused.
Each leaf also derives from the builtin it really is, so code that already catches `ValueError`
or `LookupError` keeps working.

The tree::

    FunnelkitError
    ├── ValidationError (ValueError)     a value or an argument is not acceptable
    │   ├── StructureError               plain data could not become a funnelkit value;
    │   │                                `problems` lists each one with its path
    │   └── MoveRefusedError             a pipeline's rules refuse a move; `violations`
    │                                    says which rules and what is allowed instead
    ├── NotFoundError (LookupError)      no entity with that id in the store
    ├── ConflictError                    a stale write: someone else changed the entity
    │                                    (or appended events) first, or the id is taken
    ├── UnitOfWorkError (RuntimeError)   a unit of work used after it was committed or
    │                                    rolled back
    └── StoreNotReadyError (RuntimeError)
                                         a store's database lacks funnelkit's tables

Every error carries the data it is about as attributes (the entity, the field, the rule), and its
message says what was got, what is allowed and what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Sequence

    from funnelkit.model import EntityRef, Violation


__all__ = [
    "ConflictError",
    "FunnelkitError",
    "MoveRefusedError",
    "NotFoundError",
    "StoreNotReadyError",
    "StructureError",
    "UnitOfWorkError",
    "ValidationError",
]


class FunnelkitError(Exception):
    """The root of every error funnelkit raises."""


class ValidationError(FunnelkitError, ValueError):
    """
    A value is not acceptable: wrong type, out of range, naive datetime, unknown field...

    Attributes:
        field: The name of the offending field or argument (dotted for nested values), if any.
        value: The value that was refused.
        rule: A short, stable name of the rule that was broken (e.g. ``"aware_datetime"``), so
            programs can react without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: object = None,
        rule: str = "invalid",
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.rule = rule


class StructureError(ValidationError):
    """
    Plain data (e.g. parsed JSON) could not be turned into a funnelkit value.

    The message lists every problem found, each prefixed by its path in the data
    (``$.payments[2].amount: expected a decimal string, got 12.5``).

    Attributes:
        problems: One line per problem, each starting with its path.
        target: The name of the type that was being built.
    """

    problems: tuple[str, ...]
    target: str

    def __init__(self, target: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        self.target = target
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        count = len(self.problems)
        plural = "s" if count != 1 else ""
        super().__init__(
            f"Cannot build {target} from the given data ({count} problem{plural}); "
            f"fix these and try again:\n{listing}",
            rule="structure",
        )


class MoveRefusedError(ValidationError):
    """
    A move broke the pipeline's rules; nothing changed.

    Attributes:
        entity: The entity that was to move.
        to_stage: Where it was to move.
        violations: Every broken rule, each with the stages allowed instead.
    """

    def __init__(self, entity: EntityRef, to_stage: str, violations: tuple[Violation, ...]) -> None:
        self.entity = entity
        self.to_stage = to_stage
        self.violations = violations
        listing = "\n".join(f"  - [{v.rule}] {v.message}" for v in violations)
        allowed = violations[0].allowed if violations else ()
        instead = f"\nallowed now: {list(allowed)}" if allowed else "\nno move is allowed now"
        super().__init__(
            f"Cannot move {entity} to {to_stage!r}:\n{listing}{instead}; fix the data, or pass "
            "force=True to override (the overridden rules are recorded in the event)",
            field="to_stage",
            value=to_stage,
            rule=violations[0].rule if violations else "move",
        )


class NotFoundError(FunnelkitError, LookupError):
    """
    A store holds no entity with the requested id.

    Attributes:
        entity: The reference that was looked up.
    """

    def __init__(self, entity: EntityRef) -> None:
        self.entity = entity
        super().__init__(
            f"No {entity.kind.value} with id {entity.id!r} in the store; "
            f"check the id, or add the {entity.kind.value} first."
        )


class ConflictError(FunnelkitError):
    """
    A write was refused because the store changed since the data was read.

    Raised for a stale entity version, an event sequence that does not follow the stored one, or
    an id that is already taken.
    Nothing was written; reload the entity and retry the operation.

    Attributes:
        entity: The entity the write was about.
        expected: The version (or sequence) the writer assumed.
        actual: The version (or sequence) the store holds; ``None`` if the entity is unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        entity: EntityRef,
        expected: int | None,
        actual: int | None,
    ) -> None:
        super().__init__(message)
        self.entity = entity
        self.expected = expected
        self.actual = actual


class UnitOfWorkError(FunnelkitError, RuntimeError):
    """
    A unit of work was used after it was committed or rolled back.

    Open a new unit of work with ``store.unit_of_work()`` for the next operation.
    """


class StoreNotReadyError(FunnelkitError, RuntimeError):
    """
    A store's database does not hold funnelkit's tables, or holds them at another revision.

    A new database: call ``store.create_schema()`` once. A database of an earlier funnelkit:
    call ``store.upgrade_schema()`` once. A database of a newer funnelkit: upgrade funnelkit.
    The message says which.
    """
