"""
The stage log in columns: `StageLog`, parallel numpy arrays the vectorised reports read.

A `StageLog` holds one row per event of a lead or deal, sorted by entity and then time, in
parallel arrays of small integers (codes into tables of strings) and int64 microseconds.
Reports given a `StageLog` (`conversion`, `stage_flows`, `time_in_stage`, `win_rate`) compute
with numpy over the arrays instead of folding event objects, and return the same results as
from the events (a property test holds the two paths equal).

Ways in: `StageLog.from_events` (funnelkit's events), `StageLog.from_frame` (a pandas,
polars, pyarrow or DuckDB frame, read through narwhals for interchange only) and
`StageLog.from_columns` (plain sequences or numpy arrays). numpy and narwhals come with the
``columnar`` extra and are imported only when a `StageLog` is built; no dataframe library is
imported unless you pass its frame.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from funnelkit._checks import raise_for
from funnelkit.model import FieldValue, Money


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import numpy as np
    import numpy.typing as npt

    from funnelkit.events import Event


__all__ = ["LogEvent", "StageLog"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NONE = -1  # the code of "none" in every code column
_MICROSECOND = timedelta(microseconds=1)


class LogEvent(enum.IntEnum):
    """
    What one row of a `StageLog` records (its ``event`` column).

    Members:
        CREATED: The lead or deal was created, in its first stage.
        MOVED: It entered another open stage (a closed one entering it is reopened).
        WON: A deal was won.
        LOST: A deal was lost (with a reason).
        JUNK: A lead was closed as junk (with a reason).
        CONVERTED: A lead was converted into a deal.
        OWNER: Its owner changed (no stage).
        OTHER: Any other event about it (no stage): it exists as of that time.
    """

    CREATED = 0
    MOVED = 1
    WON = 2
    LOST = 3
    JUNK = 4
    CONVERTED = 5
    OWNER = 6
    OTHER = 7


_EVENT_NAMES = {member.name.lower(): member for member in LogEvent}
_KIND_NAMES = {"lead": 0, "deal": 1}
_STAGED = frozenset(
    {
        LogEvent.CREATED,
        LogEvent.MOVED,
        LogEvent.WON,
        LogEvent.LOST,
        LogEvent.JUNK,
        LogEvent.CONVERTED,
    }
)
_CLOSING = frozenset({LogEvent.WON, LogEvent.LOST, LogEvent.JUNK, LogEvent.CONVERTED})


def _numpy() -> Any:
    """numpy, or an error that names the extra to install."""
    try:
        return importlib.import_module("numpy")
    except ImportError:  # pragma: no cover - the extra is installed where the tests run
        raise_for(
            "StageLog",
            None,
            "the columnar analytics need numpy: pip install 'funnelkit[columnar]'",
            "missing_extra",
        )


class StageLog:
    """
    A stage log in columns: one row per event of a lead or deal, sorted by entity then time.

    Every column is a numpy array of the same length. Strings are held as codes (``int32``)
    into the tables ``ids``, ``pipelines``, ``stages``, ``owners``, ``sources`` and
    ``reasons``, and amounts as codes into ``amounts`` (`Money` values); ``-1`` is "none".
    Build one with `from_events`, `from_frame` or `from_columns`; the constructor checks the
    arrays and sorts the rows by entity then time (stably: rows at the same instant keep their
    order) when they are not sorted yet.

    Attributes:
        entity: The entity code of each row (into ``ids``, one code per lead or deal).
        kind: Per row, 0 for a lead, 1 for a deal (``int8``).
        event: Per row, what happened (`LogEvent` values, ``int8``).
        time: When, in microseconds since 1970-01-01 UTC (``int64``). A creation row's time
            (`LogEvent.CREATED`) is the entity's ``created_at``.
        pipeline: The pipeline the entity is in as of the row.
        stage: The stage entered (``-1`` for `LogEvent.OWNER` and `LogEvent.OTHER` rows).
        owner: The entity's owner as of the row.
        source: The entity's source channel (`LeadSource.channel`) as of the row.
        reason: The lost or junk reason of `LogEvent.LOST` and `LogEvent.JUNK` rows.
        amount: The deal's amount as of the row (a code into ``amounts``; ``-1``: none known).
        left: The stage a move left (a code into ``stages``; ``-1`` on other rows). Not given
            to the constructor, it is the stage of the entity's stage row before.
        ids: The lead or deal id of each entity code.
        pipelines: The pipeline keys.
        stages: The stage keys.
        owners: The owners.
        sources: The source channels.
        reasons: The reasons.
        amounts: The amounts (`Money`), each once.
        fields: Custom field columns, by field key: the entity's value as of each row, as a
            code into ``field_values[key]`` (``-1``: not set). Only the fields asked for when
            the log was built are held (`from_events` ``fields=``).
        field_values: The values of each custom field column, each once (``True`` and ``1``
            are told apart).
    """

    __slots__ = (
        "_snapshot",
        "amount",
        "amounts",
        "entity",
        "event",
        "field_values",
        "fields",
        "ids",
        "kind",
        "left",
        "owner",
        "owners",
        "pipeline",
        "pipelines",
        "reason",
        "reasons",
        "source",
        "sources",
        "stage",
        "stages",
        "time",
    )

    _CODED: ClassVar[tuple[tuple[str, str], ...]] = (
        ("entity", "ids"),
        ("pipeline", "pipelines"),
        ("stage", "stages"),
        ("left", "stages"),
        ("owner", "owners"),
        ("source", "sources"),
        ("reason", "reasons"),
        ("amount", "amounts"),
    )

    entity: npt.NDArray[np.int32]
    kind: npt.NDArray[np.int8]
    event: npt.NDArray[np.int8]
    time: npt.NDArray[np.int64]
    pipeline: npt.NDArray[np.int32]
    stage: npt.NDArray[np.int32]
    owner: npt.NDArray[np.int32]
    source: npt.NDArray[np.int32]
    reason: npt.NDArray[np.int32]
    left: npt.NDArray[np.int32]
    amount: npt.NDArray[np.int32]
    ids: tuple[str, ...]
    pipelines: tuple[str, ...]
    stages: tuple[str, ...]
    owners: tuple[str, ...]
    sources: tuple[str, ...]
    reasons: tuple[str, ...]
    amounts: tuple[Money, ...]
    fields: Mapping[str, npt.NDArray[np.int32]]
    field_values: Mapping[str, tuple[FieldValue, ...]]
    _snapshot: Any

    def __init__(
        self,
        *,
        entity: npt.ArrayLike,
        kind: npt.ArrayLike,
        event: npt.ArrayLike,
        time: npt.ArrayLike,
        pipeline: npt.ArrayLike,
        stage: npt.ArrayLike,
        owner: npt.ArrayLike,
        source: npt.ArrayLike,
        reason: npt.ArrayLike,
        ids: Sequence[str],
        pipelines: Sequence[str],
        stages: Sequence[str],
        owners: Sequence[str] = (),
        sources: Sequence[str] = (),
        reasons: Sequence[str] = (),
        left: npt.ArrayLike | None = None,
        amount: npt.ArrayLike | None = None,
        amounts: Sequence[Money] = (),
        fields: Mapping[str, npt.ArrayLike] | None = None,
        field_values: Mapping[str, Sequence[FieldValue]] | None = None,
    ) -> None:
        np = _numpy()
        fields, field_values = dict(fields or {}), dict(field_values or {})
        _check_field_keys(fields, field_values)
        derive = left is None  # then each move left the stage of the entity's row before
        if left is None:
            left = np.full(len(np.asarray(entity)), _NONE, dtype=np.int32)
        if amount is None:
            amount = np.full(len(np.asarray(entity)), _NONE, dtype=np.int32)
        arrays = _arrays(
            np,
            {
                "entity": entity,
                "kind": kind,
                "event": event,
                "time": time,
                "pipeline": pipeline,
                "stage": stage,
                "owner": owner,
                "source": source,
                "reason": reason,
                "left": left,
                "amount": amount,
                **{f"fields.{key}": codes for key, codes in fields.items()},
            },
        )
        tables = {
            "ids": ids,
            "pipelines": pipelines,
            "stages": stages,
            "owners": owners,
            "sources": sources,
            "reasons": reasons,
        }
        for name, table in tables.items():
            object.__setattr__(self, name, _table(name, table))
        object.__setattr__(self, "amounts", _money_table(amounts))
        for column, table_name in self._CODED:
            size = len(getattr(self, table_name))
            _check_codes(np, column, arrays[column], size, nullable=column != "entity")
        for key, values in field_values.items():
            field_values[key] = tuple(values)
            _check_codes(np, f"fields.{key}", arrays[f"fields.{key}"], len(values), nullable=True)
        object.__setattr__(self, "field_values", MappingProxyType(field_values))
        _check_values(np, "kind", arrays["kind"], 2, "0 (lead) or 1 (deal)")
        _check_values(np, "event", arrays["event"], len(LogEvent), "a LogEvent value")
        _check_staged(np, arrays)
        arrays = _sorted(
            np, {name: column.astype(_DTYPES.get(name, "int32")) for name, column in arrays.items()}
        )
        _check_one_kind(np, arrays, self.ids)
        if derive:
            arrays["left"] = _left(np, arrays)
        for column in arrays.values():
            column.flags.writeable = False  # copies (astype): the caller's arrays stay theirs
        for name in _DTYPES:
            object.__setattr__(self, name, arrays[name])
        columns = {key: arrays[f"fields.{key}"] for key in fields}
        object.__setattr__(self, "fields", MappingProxyType(columns))
        object.__setattr__(self, "_snapshot", None)

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"StageLog is immutable; build a new one instead of setting {name}"
        raise AttributeError(msg)

    def __len__(self) -> int:
        return len(self.entity)

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        """Pickle the columns and tables (a part sent to another process), not the cache."""
        names = (*_DTYPES, *_TABLES)
        state = {name: getattr(self, name) for name in names}
        state |= {"fields": dict(self.fields), "field_values": dict(self.field_values)}
        return (_restore, (state,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StageLog):
            return NotImplemented
        if self.field_values != other.field_values:
            return False
        pairs = [(getattr(self, name), getattr(other, name)) for name in _DTYPES]
        pairs += [(self.fields[key], other.fields[key]) for key in self.fields]
        return all(getattr(self, name) == getattr(other, name) for name in _TABLES) and all(
            len(mine) == len(theirs) and bool((mine == theirs).all()) for mine, theirs in pairs
        )

    __hash__: ClassVar[None] = None  # type: ignore[assignment]  # compared by value

    def __repr__(self) -> str:
        return (
            f"StageLog(rows={len(self)}, entities={len(self.ids)}, "
            f"pipelines={list(self.pipelines)})"
        )

    # --- ways in ---------------------------------------------------------------------------------

    @classmethod
    def from_events(cls, events: Iterable[Event], *, fields: Iterable[str] = ()) -> StageLog:
        """
        Build the stage log of funnelkit events, in any order (task and contact events skipped).

        Each entity's events are ordered by their sequence numbers, as `histories` does.

        Args:
            events: The events.
            fields: Custom field keys to hold in columns (`fields`), for the reports that
                group or filter by them (``by="fields.<key>"``, ``Filters(fields=...)``).
                Each is the entity's value as of each row: from its creation's ``fields``, then
                its `FieldChanged` events.

        Raises:
            ValidationError: If an entity's events that set its stage, owner, amount or a
                custom field held go back in time in sequence order (the columns are ordered
                by time), or two different events share an entity and a sequence number.
        """
        from funnelkit.analytics import _intake  # noqa: PLC0415 - it imports this module

        return _intake.from_events(events, _field_keys(fields))

    @classmethod
    def from_columns(
        cls,
        *,
        entity: Sequence[Any] | npt.ArrayLike,
        time: Sequence[Any] | npt.ArrayLike,
        event: Sequence[Any] | npt.ArrayLike,
        stage: Sequence[Any] | npt.ArrayLike,
        pipeline: Sequence[Any] | npt.ArrayLike,
        kind: Sequence[Any] | npt.ArrayLike | str = "deal",
        owner: Sequence[Any] | npt.ArrayLike | None = None,
        source: Sequence[Any] | npt.ArrayLike | None = None,
        reason: Sequence[Any] | npt.ArrayLike | None = None,
        sequence: Sequence[int] | npt.ArrayLike | None = None,
        from_stage: Sequence[Any] | npt.ArrayLike | None = None,
        amount: Sequence[Any] | npt.ArrayLike | None = None,
        currency: Sequence[Any] | npt.ArrayLike | str | None = None,
        fields: Mapping[str, Sequence[Any] | npt.ArrayLike] | None = None,
    ) -> StageLog:
        """
        Build a stage log from plain columns of values, one value per row, in any order.

        Args:
            entity: The lead or deal id of each row.
            time: When: timezone-aware datetimes, or int64 microseconds since the epoch (UTC).
            event: What happened: `LogEvent` members, their values, or their lower-case names
                (``"created"``, ``"moved"``, ``"won"``...).
            stage: The stage entered (``None`` on ``owner`` and ``other`` rows).
            pipeline: The pipeline of each row, or one key for every row.
            kind: ``"lead"`` or ``"deal"`` per row, or one of them for every row.
            owner: The owner as of each row (``None``: none).
            source: The source channel as of each row (``None``: none).
            reason: The lost or junk reason of ``lost`` and ``junk`` rows.
            sequence: Each row's event sequence number in its entity: rows of one entity at
                the same instant are taken in this order (else in the order given).
            from_stage: The stage a move left (else the stage of the entity's row before).
            amount: The deal's amount as of each row (``None``: none known): `Money`, or a
                ``Decimal``, an ``int`` or a decimal string beside `currency`. Floats are
                refused: they are not exact.
            currency: The currency of each row's amount, or one for every row.
            fields: Custom field columns by field key: the entity's value as of each row
                (``None``: not set).

        Raises:
            ValidationError: Naming the column, if one is missing a value it needs, holds a
                value of the wrong type or a naive datetime.
        """
        np = _numpy()
        size = len(np.asarray(entity, dtype=object))
        given = {
            "entity": entity,
            "time": time,
            "event": event,
            "stage": stage,
            "pipeline": pipeline,
            "kind": kind,
            "owner": owner,
            "source": source,
            "reason": reason,
            "sequence": sequence,
            "from_stage": from_stage,
            "amount": amount,
            "currency": currency,
        }
        for key in _field_keys(fields or {}):
            given[f"fields.{key}"] = _objects(np, (fields or {})[key])
        values: dict[str, Any] = {}
        for name, column in given.items():
            if name in {"sequence", "from_stage"} and column is None:
                continue
            if column is None or isinstance(column, str):
                values[name] = np.full(size, column, dtype=object)
                continue
            found = np.asarray(column)
            if found.ndim != 1 or len(found) != size:
                raise_for(
                    f"StageLog.{name}",
                    found.shape,
                    f"expected one value per row ({size}), got shape {found.shape}",
                    "length",
                )
            values[name] = found
        from funnelkit.analytics import _intake  # noqa: PLC0415 - it imports this module

        return _intake.from_values(np, values)

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        columns: Mapping[str, str] | None = None,
        kind: str = "deal",
        pipeline: str | None = None,
        currency: str | None = None,
        fields: Iterable[str] | Mapping[str, str] = (),
    ) -> StageLog:
        """
        Build a stage log from a dataframe: pandas, polars, pyarrow, DuckDB or any narwhals reads.

        The frame is read through narwhals, for interchange only: each column is taken out as
        a numpy array. No dataframe library is imported that you did not pass.

        Args:
            frame: A frame (eager or lazy) with the columns of `from_columns`: ``entity``,
                ``time`` (a timezone-aware timestamp column), ``event``, ``stage``, and
                optionally ``pipeline``, ``kind``, ``owner``, ``source``, ``reason``,
                ``sequence`` (the order of an entity's rows at one instant), ``from_stage``
                (the stage a move left), ``amount`` (a decimal, integer or string column: the
                deal's amount as of the row) and ``currency``.
            columns: funnelkit's column names mapped to the frame's, for those named
                otherwise: ``{"entity": "deal_id", "time": "entered_at"}``.
            kind: ``"lead"`` or ``"deal"`` for every row, if the frame has no ``kind``.
            pipeline: The pipeline of every row, if the frame has no ``pipeline``.
            currency: The currency of every amount, if the frame has no ``currency``.
            fields: Custom field columns to read: field keys, each read from the column of
                that name, or field keys mapped to the frame's column names
                (``{"product": "product_name"}``). Each holds the entity's value as of the row.

        Raises:
            ValidationError: Naming the column: missing, of the wrong dtype, holding naive
                timestamps, or missing values it needs.
        """
        from funnelkit.analytics import _intake  # noqa: PLC0415 - it imports this module

        defaults = {"kind": kind, "pipeline": pipeline, "currency": currency}
        named = dict(fields) if isinstance(fields, Mapping) else {}
        wanted = {key: named.get(key, key) for key in _field_keys(fields)}
        return _intake.from_frame(frame, dict(columns or {}), defaults, wanted)

    # --- parts -------------------------------------------------------------------------------

    def split(self, parts: int) -> list[StageLog]:
        """
        Split by entity into `parts` logs, each holding whole entities (code modulo `parts`).

        The reports of the parts `merge` into the report of the whole: this is how a log is
        reported on in parallel, one part per process or per partition of a cluster.
        """
        if type(parts) is not int or parts < 1:
            raise_for("parts", parts, "expected a positive integer", "range")
        np = _numpy()
        return [self._rows(np.flatnonzero(self.entity % parts == part)) for part in range(parts)]

    def _rows(self, rows: Any) -> StageLog:
        """The log of some rows (whole entities, in order), sharing the code tables."""
        return StageLog(
            entity=self.entity[rows],
            kind=self.kind[rows],
            event=self.event[rows],
            time=self.time[rows],
            pipeline=self.pipeline[rows],
            stage=self.stage[rows],
            owner=self.owner[rows],
            source=self.source[rows],
            reason=self.reason[rows],
            left=self.left[rows],
            amount=self.amount[rows],
            fields={key: codes[rows] for key, codes in self.fields.items()},
            field_values=self.field_values,
            ids=self.ids,
            pipelines=self.pipelines,
            stages=self.stages,
            owners=self.owners,
            sources=self.sources,
            reasons=self.reasons,
            amounts=self.amounts,
        )

    def code(self, table: str, value: str | None) -> int:
        """The code of a value in one of the tables (``-1`` if absent or ``None``)."""
        found: tuple[str, ...] = getattr(self, table)
        if value is None:
            return _NONE
        try:
            return found.index(value)
        except ValueError:
            return _NONE


_DTYPES = {
    "entity": "int32",
    "kind": "int8",
    "event": "int8",
    "time": "int64",
    "pipeline": "int32",
    "stage": "int32",
    "owner": "int32",
    "source": "int32",
    "reason": "int32",
    "left": "int32",
    "amount": "int32",
}
_TABLES = ("ids", "pipelines", "stages", "owners", "sources", "reasons", "amounts")


def empty_log() -> StageLog:
    """A stage log without rows (that of an empty frame)."""
    nothing: list[int] = []
    return StageLog(
        entity=nothing,
        kind=nothing,
        event=nothing,
        time=nothing,
        pipeline=nothing,
        stage=nothing,
        owner=nothing,
        source=nothing,
        reason=nothing,
        ids=(),
        pipelines=(),
        stages=(),
    )


def _restore(state: dict[str, Any]) -> StageLog:
    """A pickled `StageLog` again (checked again on the way in)."""
    return StageLog(**state)


def _arrays(np: Any, columns: dict[str, Any]) -> dict[str, Any]:
    """The columns as one-dimensional integer arrays of one length, or an error naming one."""
    arrays: dict[str, Any] = {}
    for name, given in columns.items():
        found = np.asarray(given)
        if found.ndim != 1 or (found.size and found.dtype.kind not in "iu"):
            raise_for(
                f"StageLog.{name}",
                str(found.dtype),
                f"expected a one-dimensional array of integers, got {found.ndim} "
                f"dimension(s) of {found.dtype}",
                "dtype",
            )
        arrays[name] = found
    size = len(arrays["entity"])
    for name, found in arrays.items():
        if len(found) != size:
            raise_for(
                f"StageLog.{name}",
                len(found),
                f"has {len(found)} rows but entity has {size}; every column needs one value "
                "per row",
                "length",
            )
    return arrays


def _check_staged(np: Any, arrays: dict[str, Any]) -> None:
    """Rows that enter a stage name it and its pipeline."""
    staged = np.isin(arrays["event"], [int(event) for event in _STAGED])
    for name, what in (("stage", "the stage it entered"), ("pipeline", "its pipeline")):
        missing = staged & (arrays[name] < 0)
        if bool(np.any(missing)):
            row = int(np.flatnonzero(missing)[0])
            raise_for(
                f"StageLog.{name}",
                row,
                f"row {row} is a {LogEvent(int(arrays['event'][row])).name} row without "
                f"{what}; give {what}",
                "required",
            )


def _sorted(np: Any, arrays: dict[str, Any]) -> dict[str, Any]:
    """The rows by entity then time (stably), unless they are so already."""
    entity, time = arrays["entity"], arrays["time"]
    if len(entity) < 2:  # noqa: PLR2004 - an order needs two rows
        return arrays
    after = entity[1:] > entity[:-1]
    same = entity[1:] == entity[:-1]
    if bool(np.all(after | (same & (time[1:] >= time[:-1])))):
        return arrays
    if bool(np.all(time[1:] >= time[:-1])):  # in time order, as logs are written: by entity
        keys = entity.astype(np.int64) * len(entity) + np.arange(len(entity))
        order = np.argsort(keys)  # unique keys: the stable order, faster than a stable sort
    else:
        order = np.lexsort((time, entity))
    return {name: found[order] for name, found in arrays.items()}


def _left(np: Any, arrays: dict[str, Any]) -> Any:
    """For each move, the stage of its entity's stage row before it (-1 if none)."""
    staged = np.flatnonzero(arrays["stage"] >= 0)
    left = np.full(len(arrays["stage"]), _NONE, dtype=np.int32)
    if len(staged) > 1:
        later, earlier = staged[1:], staged[:-1]
        same = arrays["entity"][later] == arrays["entity"][earlier]
        moves = np.isin(arrays["event"][later], [int(e) for e in _STAGED - {LogEvent.CREATED}])
        keep = same & moves
        left[later[keep]] = arrays["stage"][earlier[keep]]
    return left


def _check_one_kind(np: Any, arrays: dict[str, Any], ids: tuple[str, ...]) -> None:
    """An entity code is a lead or a deal, never both."""
    entity, kind = arrays["entity"], arrays["kind"]
    mixed = (entity[1:] == entity[:-1]) & (kind[1:] != kind[:-1])
    if bool(np.any(mixed)):
        code = int(entity[1:][mixed][0])
        raise_for(
            "StageLog.kind",
            ids[code],
            f"entity {ids[code]!r} has rows of both kinds; a lead and a deal with one id need "
            "two entity codes",
            "kind",
        )


def _table(name: str, table: Sequence[str]) -> tuple[str, ...]:
    found = tuple(table)
    if not set(map(type, found)) <= {str}:
        given: tuple[object, ...] = found
        value = next(value for value in given if not isinstance(value, str))
        raise_for(
            f"StageLog.{name}",
            value,
            f"expected strings, got {type(value).__name__}; codes index a table of strings",
            "type",
        )
    if name != "ids" and len(set(found)) != len(found):
        raise_for(f"StageLog.{name}", found, "holds a value twice; each value once", "unique")
    return found


def _objects(np: Any, values: Any) -> Any:
    """A column of values as a one-dimensional array of objects (tuples stay values)."""
    if hasattr(values, "dtype"):
        return values
    found = list(values)
    return np.fromiter(found, dtype=object, count=len(found))


def _field_keys(fields: Iterable[str]) -> tuple[str, ...]:
    """Custom field keys asked for, each once, or an error naming the one that is not text."""
    if isinstance(fields, str):
        raise_for(
            "fields",
            fields,
            f"expected field keys, got the string {fields!r}: write fields=({fields!r},)",
            "type",
        )
    given: tuple[object, ...] = tuple(dict.fromkeys(fields))
    for key in given:
        if not isinstance(key, str) or not key:
            raise_for("fields", key, "expected custom field keys (non-empty strings)", "type")
    return tuple(map(str, given))


def _check_field_keys(fields: dict[str, Any], values: dict[str, Any]) -> None:
    """The custom field columns and their tables name the same keys."""
    if set(fields) != set(values):
        raise_for(
            "StageLog.fields",
            sorted(set(fields) ^ set(values)),
            "fields and field_values must name the same field keys: give each column its "
            "table of values",
            "keys",
        )


def _money_table(table: Sequence[Money]) -> tuple[Money, ...]:
    found = tuple(table)
    for value in found:
        if not isinstance(value, Money):
            raise_for(
                "StageLog.amounts",
                value,
                f"expected Money values, got {type(value).__name__}; codes index a table of "
                "amounts such as Money.of('1500.00', 'RUB')",
                "type",
            )
    if len(set(found)) != len(found):
        raise_for("StageLog.amounts", found, "holds an amount twice; each amount once", "unique")
    return found


def _check_codes(np: Any, name: str, codes: Any, size: int, *, nullable: bool) -> None:
    if not len(codes):
        return
    low = -1 if nullable else 0
    bad = (codes < low) | (codes >= size)
    if bool(np.any(bad)):
        row = int(np.flatnonzero(bad)[0])
        raise_for(
            f"StageLog.{name}",
            int(codes[row]),
            f"row {row} holds code {int(codes[row])}, outside its table of {size} values"
            + (" (-1 is none)" if nullable else ""),
            "range",
        )


def _check_values(np: Any, name: str, codes: Any, size: int, expected: str) -> None:
    if not len(codes):
        return
    bad = (codes < 0) | (codes >= size)
    if bool(np.any(bad)):
        row = int(np.flatnonzero(bad)[0])
        raise_for(
            f"StageLog.{name}",
            int(codes[row]),
            f"row {row} holds {int(codes[row])}; expected {expected}",
            "range",
        )
