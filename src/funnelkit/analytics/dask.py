"""
funnelkit's reports over a Dask dataframe of a stage log, exact, on any number of workers.

`report` shuffles the rows by entity (so that each partition holds whole leads and deals),
builds a `StageLog` and runs the report on every partition, then merges the partial reports
in a tree (``split_every`` at a time). The result equals the report of the whole log in one
process. Dask is imported only when `report` is called; install it yourself
(``pip install "dask[dataframe]"``).

    from functools import partial

    import dask.dataframe as dd
    from funnelkit import analytics as fa
    from funnelkit.analytics import dask as fk_dask

    frame = dd.read_parquet("stage_log/")
    funnel = fk_dask.report(frame, partial(fa.conversion, pipeline=CHAIN, as_of=AS_OF))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, TypeVar

from funnelkit._checks import raise_for
from funnelkit.analytics._partials import check_runner, frame_options, merged, partial_report


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from funnelkit.analytics._columnar import StageLog


__all__ = ["report"]

R = TypeVar("R")


def report(
    frame: Any,
    report: Callable[[StageLog], R],
    *,
    columns: Mapping[str, str] | None = None,
    kind: str = "deal",
    pipeline: str | None = None,
    currency: str | None = None,
    fields: Iterable[str] | Mapping[str, str] = (),
    split_every: int = 8,
) -> R:
    """
    Run `report` over a Dask dataframe of a stage log, partition by partition, and merge.

    Args:
        frame: A ``dask.dataframe.DataFrame`` with the columns of `StageLog.from_frame`.
        report: A function of a `StageLog` returning a mergeable report (or a tuple of
            them, to compute several in one pass over the frame), such as
            ``functools.partial(analytics.time_in_stage, pipeline=CHAIN, as_of=AS_OF)``.
        columns: funnelkit's column names mapped to the frame's (as in `from_frame`).
        kind: ``"lead"`` or ``"deal"`` for every row, if the frame has no ``kind``.
        pipeline: The pipeline of every row, if the frame has no ``pipeline``.
        currency: The currency of every amount, if the frame has no ``currency``.
        fields: Custom field columns to read, as in `StageLog.from_frame`.
        split_every: How many partial reports each merge step takes.

    Returns:
        The report of the whole log, equal to `report` of one `StageLog` of every row.

    Raises:
        ValidationError: If `frame` is not a Dask dataframe, lacks the entity column, or a
            partition's rows are refused by `StageLog.from_frame` (naming the column).
    """
    dd = importlib.import_module("dask.dataframe")
    dask = importlib.import_module("dask")
    entity = check_runner(frame, dd.DataFrame, report, columns)
    if type(split_every) is not int or split_every < 2:  # noqa: PLR2004 - a merge takes two
        raise_for("split_every", split_every, "expected an integer of at least 2", "range")
    parts = frame.shuffle(on=entity).to_delayed()
    options = frame_options(kind, pipeline, currency, fields)
    level = [dask.delayed(partial_report)(part, report, columns, options) for part in parts]
    while len(level) > 1:
        level = [
            dask.delayed(merged)(*level[start : start + split_every])
            for start in range(0, len(level), split_every)
        ]
    found: R = level[0].compute()
    return found
