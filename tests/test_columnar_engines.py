"""
The reports on Dask and on Spark, through funnelkit's mergeable partials, against the events.

Each engine partitions a frame of the stage log by entity, builds a `StageLog` and runs the
report on each partition, and merges the partial reports; the result must equal the report
of the events themselves, computed by the event path in this process.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.seeds.seed_000_log import AS_OF, CHAIN, FULL_LOG, day

from tests.test_columnar import LEADS, logs, product_log


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
COLUMNS = {"entity": "deal_id", "time": "entered_at"}


def rows_of(events: list[fk.events.Event]) -> dict[str, list[Any]]:
    """A log's stage log as a data team's table, with each entity's rows numbered in order."""
    log = fa.StageLog.from_events(events, fields=["product"])
    products = [  # as text: a table's column holds one type
        str(log.field_values["product"][code]) if code >= 0 else None
        for code in log.fields["product"].tolist()
    ]

    def text(table: tuple[str, ...], codes: Any) -> list[str | None]:
        return [table[code] if code >= 0 else None for code in codes.tolist()]

    codes, amounts = log.entity.tolist(), log.amount.tolist()
    sequence = [
        index
        - next(
            start
            for start in range(index, -1, -1)
            if start == 0 or codes[start - 1] != codes[index]
        )
        for index in range(len(codes))
    ]
    return {
        "deal_id": [log.ids[code] for code in codes],
        "kind": ["deal" if kind else "lead" for kind in log.kind.tolist()],
        "event": [fa.LogEvent(event).name.lower() for event in log.event.tolist()],
        "entered_at": [EPOCH + timedelta(microseconds=micros) for micros in log.time.tolist()],
        "pipeline": text(log.pipelines, log.pipeline),
        "stage": text(log.stages, log.stage),
        "owner": text(log.owners, log.owner),
        "source": text(log.sources, log.source),
        "reason": text(log.reasons, log.reason),
        "sequence": sequence,
        # Amounts as exact decimal text, beside their currency.
        "amount": [str(log.amounts[code].amount) if code >= 0 else None for code in amounts],
        "currency": [log.amounts[code].currency if code >= 0 else None for code in amounts],
        "продукт": products,
        "verdict": [
            list(fk.events.Verdict)[code].value if code >= 0 else None
            for code in log.verdict.tolist()
        ],
    }


def reports(as_of: datetime) -> list[Any]:
    """Reports of each kind, as functions of a StageLog (or of the events)."""
    return [
        partial(fa.conversion, pipeline=CHAIN, as_of=as_of, reach=fa.Reach.IN_ORDER),
        partial(fa.conversion, pipeline=LEADS, as_of=as_of, reach=fa.Reach.IMPLIED),
        partial(fa.stage_flows, pipeline=CHAIN, as_of=as_of),
        partial(fa.time_in_stage, pipeline=CHAIN, as_of=as_of, per=fa.Per.CUMULATIVE),
        partial(fa.time_in_stage, pipeline=LEADS, as_of=as_of),
        partial(fa.win_rate, as_of=as_of, by="owner"),
        partial(fa.velocity, period=fk.Period.month(2026, 3), currency="RUB", as_of=as_of),
        partial(fa.sources, as_of=as_of),
    ]


# --- Dask ----------------------------------------------------------------------------------------


@pytest.mark.dask
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(logs())
def test_reports_on_dask_equal_the_event_path(events):
    import dask  # noqa: PLC0415 - the user's engine, imported by its own test
    import dask.dataframe as dd  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from funnelkit.analytics import dask as fk_dask  # noqa: PLC0415

    frame = dd.from_pandas(pd.DataFrame(rows_of(events)), npartitions=3)
    with dask.config.set(scheduler="synchronous"):
        for report in reports(AS_OF):
            assert fk_dask.report(frame, report, columns=COLUMNS, split_every=2) == report(events)


@pytest.mark.dask
def test_a_custom_field_on_dask_groups_as_on_the_events():
    import dask  # noqa: PLC0415
    import dask.dataframe as dd  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from funnelkit.analytics import dask as fk_dask  # noqa: PLC0415

    events = [*FULL_LOG, *product_log()]
    frame = dd.from_pandas(pd.DataFrame(rows_of(events)), npartitions=3)
    report = partial(fa.win_rate, as_of=AS_OF, by="fields.product")
    with dask.config.set(scheduler="synchronous"):
        found = fk_dask.report(frame, report, columns=COLUMNS, fields={"product": "продукт"})
    assert found == report(events)
    assert [group.group for group in found.groups] == ["металлочерепица", "мягкая кровля", None]


@pytest.mark.dask
def test_dask_on_several_workers_merges_exactly():
    import dask  # noqa: PLC0415
    import dask.dataframe as dd  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from funnelkit.analytics import dask as fk_dask  # noqa: PLC0415

    frame = dd.from_pandas(pd.DataFrame(rows_of(FULL_LOG)), npartitions=4)
    with dask.config.set(scheduler="processes", num_workers=2):
        for report in reports(day(8)):
            assert fk_dask.report(frame, report, columns=COLUMNS) == report(FULL_LOG)


@pytest.mark.dask
def test_dask_refuses_what_it_cannot_run():
    import dask.dataframe as dd  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    from funnelkit.analytics import dask as fk_dask  # noqa: PLC0415

    frame = dd.from_pandas(pd.DataFrame(rows_of(FULL_LOG)), npartitions=2)
    with pytest.raises(fk.ValidationError) as caught:
        fk_dask.report(pd.DataFrame(rows_of(FULL_LOG)), reports(AS_OF)[0])
    assert (caught.value.field, caught.value.rule) == ("frame", "type")
    with pytest.raises(fk.ValidationError) as caught:
        fk_dask.report(frame, reports(AS_OF)[0])  # no column "entity": it is "deal_id"
    assert (caught.value.field, caught.value.rule) == ("frame.entity", "missing")
    with pytest.raises(fk.ValidationError) as caught:
        fk_dask.report(frame, "conversion", columns=COLUMNS)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("report", "type")


# --- Spark ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark() -> Any:
    """A local Spark session with two cores, on this Python."""
    pytest.importorskip("pyspark", reason="pyspark is in the test group")
    from pyspark.sql import SparkSession  # noqa: PLC0415

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("funnelkit-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.mark.spark
# PySpark 4.3 warns that it does not yet fully support pandas 3; mapInArrow does not use pandas.
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
@pytest.mark.parametrize("as_of", [day(3), AS_OF])
def test_reports_on_spark_equal_the_event_path(spark, as_of):
    import pyarrow as pa  # noqa: PLC0415

    from funnelkit.analytics import spark as fk_spark  # noqa: PLC0415

    events = [*FULL_LOG, *product_log()]
    rows = rows_of(events)
    del rows["currency"]  # every amount of the seed is in roubles: given once instead
    frame = spark.createDataFrame(pa.table(rows))
    by_product = partial(fa.win_rate, as_of=as_of, by="fields.product")
    for report in [*reports(as_of), by_product]:
        found = fk_spark.report(
            frame,
            report,
            columns=COLUMNS,
            partitions=3,
            currency="RUB",
            fields={"product": "продукт"},
        )
        assert found == report(events)
