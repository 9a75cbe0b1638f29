"""
What the distributed runners share: a report of one partition, and merging reports.

A partition holds whole entities (the engine partitioned the rows by entity), so its report
is a partial result: the reports' `merge` of every partition's is the report of the whole.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from funnelkit._checks import raise_for
from funnelkit.analytics._columnar import StageLog, empty_log


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


__all__ = ["check_runner", "empty_log", "merged", "partial_report"]

R = TypeVar("R")


def check_runner(
    frame: object,
    frame_type: type[Any],
    report: object,
    columns: Mapping[str, str] | None,
) -> str:
    """
    Check what a runner is given; return the frame's name of the entity column.

    Refused: a frame of another engine, a report that is not callable, and a frame without
    the entity column (the engine partitions by it).
    """
    if not isinstance(frame, frame_type):
        raise_for(
            "frame",
            type(frame).__name__,
            f"expected a {frame_type.__module__.split('.')[0]} {frame_type.__name__}; for a "
            "frame in memory use StageLog.from_frame",
            "type",
        )
    if not callable(report):
        raise_for(
            "report",
            report,
            "expected a function of a StageLog, e.g. functools.partial(analytics.conversion, "
            "pipeline=..., as_of=...)",
            "type",
        )
    entity = dict(columns or {}).get("entity", "entity")
    present = list(getattr(frame, "columns", ()))
    if entity not in present:
        raise_for(
            f"frame.{entity}",
            present,
            f"the frame has no column {entity!r} for entity; name it in columns={{'entity': ...}}",
            "missing",
        )
    return entity


def frame_options(
    kind: str, pipeline: str | None, currency: str | None, fields: Iterable[str] | Mapping[str, str]
) -> dict[str, Any]:
    """`StageLog.from_frame`'s options for every partition (`fields` read once, here)."""
    held = dict(fields) if isinstance(fields, Mapping) else tuple(fields)
    return {"kind": kind, "pipeline": pipeline, "currency": currency, "fields": held}


def partial_report(
    frame: Any,
    report: Callable[[StageLog], R],
    columns: Mapping[str, str] | None,
    options: Mapping[str, Any],
) -> R:
    """
    The report of one partition's rows (a pandas or pyarrow frame of whole entities).

    `options` are `StageLog.from_frame`'s ``kind``, ``pipeline``, ``currency`` and ``fields``.
    """
    return report(StageLog.from_frame(frame, columns=columns, **options))


def merged(*reports: Any) -> Any:
    """
    The reports of parts merged into one (`merge` of each report type).

    A tuple of reports (several reports computed in one pass) merges item by item.
    """
    return functools.reduce(_merge_two, reports)


def _merge_two(whole: Any, part: Any) -> Any:
    if isinstance(whole, tuple):
        return tuple(_merge_two(a, b) for a, b in zip(whole, part, strict=True))
    return whole.merge(part)
