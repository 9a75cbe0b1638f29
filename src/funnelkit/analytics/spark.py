"""
funnelkit's reports over a Spark dataframe of a stage log, exact, on a cluster.

`report` repartitions the rows by entity (so that each partition holds whole leads and
deals), and with ``mapInArrow`` builds a `StageLog` and runs the report on each partition in
the executors; the partial reports come back to the driver, pickled, and are merged there.
The result equals the report of the whole log in one process. PySpark is imported only when
`report` is called; install it yourself (``pip install pyspark``), and funnelkit with its
``columnar`` extra on the executors.

    from functools import partial

    from funnelkit import analytics as fa
    from funnelkit.analytics import spark as fk_spark

    frame = session.read.parquet("stage_log/")
    funnel = fk_spark.report(frame, partial(fa.conversion, pipeline=CHAIN, as_of=AS_OF))
"""

from __future__ import annotations

import importlib
import pickle
from typing import TYPE_CHECKING, Any, TypeVar

from funnelkit._checks import raise_for
from funnelkit.analytics._partials import (
    check_runner,
    empty_log,
    frame_options,
    merged,
    partial_report,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

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
    partitions: int | None = None,
) -> R:
    """
    Run `report` over a Spark dataframe of a stage log, partition by partition, and merge.

    Args:
        frame: A ``pyspark.sql.DataFrame`` with the columns of `StageLog.from_frame`.
        report: A function of a `StageLog` returning a mergeable report (or a tuple of
            them, to compute several in one pass over the frame), such as
            ``functools.partial(analytics.win_rate, by="channel", as_of=AS_OF)``.
        columns: funnelkit's column names mapped to the frame's (as in `from_frame`).
        kind: ``"lead"`` or ``"deal"`` for every row, if the frame has no ``kind``.
        pipeline: The pipeline of every row, if the frame has no ``pipeline``.
        currency: The currency of every amount, if the frame has no ``currency``.
        fields: Custom field columns to read, as in `StageLog.from_frame`.
        partitions: How many partitions to spread the entities over (Spark's default
            shuffle partitions if ``None``).

    Returns:
        The report of the whole log, equal to `report` of one `StageLog` of every row.

    Raises:
        ValidationError: If `frame` is not a Spark dataframe or lacks the entity column. A
            partition whose rows `StageLog.from_frame` refuses fails the Spark job with that
            error.
    """
    sql = importlib.import_module("pyspark.sql")
    entity = check_runner(frame, sql.DataFrame, report, columns)
    if partitions is not None and (type(partitions) is not int or partitions < 1):
        raise_for("partitions", partitions, "expected a positive integer", "range")
    spread = (
        frame.repartition(entity) if partitions is None else frame.repartition(partitions, entity)
    )
    options = frame_options(kind, pipeline, currency, fields)
    run = _Partition(report, columns, options)
    rows = spread.mapInArrow(run, "partial binary").collect()
    parts = [pickle.loads(row.partial) for row in rows]  # noqa: S301 - our own executors' output
    if not parts:  # no rows at all
        return report(empty_log())
    found: R = merged(*parts)
    return found


class _Partition:
    """What each executor runs: its partition's batches → a `StageLog` → the partial report."""

    def __init__(
        self,
        report: Callable[[Any], Any],
        columns: Mapping[str, str] | None,
        options: Mapping[str, Any],
    ) -> None:
        self.report, self.columns, self.options = report, columns, options

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        pa = importlib.import_module("pyarrow")
        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        found = partial_report(table, self.report, self.columns, self.options)
        yield pa.RecordBatch.from_pydict({"partial": [pickle.dumps(found)]})
