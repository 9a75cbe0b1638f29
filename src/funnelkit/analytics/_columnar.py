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

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from funnelkit._checks import raise_for
from funnelkit.analytics._codes import _NONE, VERDICTS, LogEvent, _numpy
from funnelkit.analytics._log_checks import (
    _arrays,
    _check_codes,
    _check_field_keys,
    _check_one_kind,
    _check_staged,
    _check_values,
    _field_keys,
    _left,
    _money_table,
    _objects,
    _sorted,
    _table,
)


if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import numpy as np
    import numpy.typing as npt

    from funnelkit.events import Event
    from funnelkit.model import FieldValue, Money


__all__ = ["LogEvent", "StageLog"]


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
        verdict: The verdict of a lead's qualification (a `LeadQualified`, an `OTHER` row):
            its index in `Verdict` (0 good, 1 junk, 2 review; ``int8``), ``-1`` on other rows.
        left: The stage a move left (a code into ``stages``; ``-1`` on other rows). Not given
            to the constructor, it is the stage of the entity's stage row before.
        ids: The lead or deal id of each entity code.
        pipelines: The pipeline keys.
        stages: The stage keys.
        owners: The owners.
        sources: The source channels.
        reasons: The reasons.
        amounts: The amounts (`Money`) the codes of ``amount`` point to, a sequence (one
            amount may be there twice, written otherwise: ``1500`` and ``1500.00``). Read from
            the SQL store, each `Money` is made when first read.
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
        "verdict",
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
    verdict: npt.NDArray[np.int8]
    ids: tuple[str, ...]
    pipelines: tuple[str, ...]
    stages: tuple[str, ...]
    owners: tuple[str, ...]
    sources: tuple[str, ...]
    reasons: tuple[str, ...]
    amounts: Sequence[Money]
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
        verdict: npt.ArrayLike | None = None,
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
        if verdict is None:
            verdict = np.full(len(np.asarray(entity)), _NONE, dtype=np.int8)
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
                "verdict": verdict,
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
        _check_codes(np, "verdict", arrays["verdict"], len(VERDICTS), nullable=True)
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
            ValidationError: If an entity's events that set its stage, owner, amount,
                verdict or a custom field held go back in time in sequence order (the columns
                are ordered by time), or two different events share an entity and a sequence
                number.
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
        verdict: Sequence[Any] | npt.ArrayLike | None = None,
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
            verdict: The verdict of each ``other`` row that qualifies a lead (``"good"``,
                ``"junk"``, ``"review"`` or a `Verdict`; ``None`` on every other row).
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
            "verdict": verdict,
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
        from funnelkit.analytics import _frames  # noqa: PLC0415 - it imports this module

        return _frames.from_values(np, values)

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
                deal's amount as of the row), ``currency`` and ``verdict`` (a lead
                qualification's: ``good``, ``junk`` or ``review``).
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
        from funnelkit.analytics import _frames  # noqa: PLC0415 - it imports this module

        defaults = {"kind": kind, "pipeline": pipeline, "currency": currency}
        named = dict(fields) if isinstance(fields, Mapping) else {}
        wanted = {key: named.get(key, key) for key in _field_keys(fields)}
        return _frames.from_frame(frame, dict(columns or {}), defaults, wanted)

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
            verdict=self.verdict[rows],
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
    "verdict": "int8",
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
