"""
Three funnel metrics from a stage-history log: funnelkit's two paths against pandas and polars.

A seeded generator writes the histories of N deals through an 8-stage pipeline (seed 000's
chain: Новая, Квалификация, Встреча, КП, Переговоры, Договор, then Продажа or Отказ), with
skipped stages, backward moves, 8 sources, 60 owners and about 4 % of deals still open at the
snapshot: about 4.9 rows per deal, as columns (deal, stage, time in µs, source) in global time
order. Every engine computes, from data already in memory:

(a) stage conversion: deals that entered each funnel stage;
(b) time in stage: median and p90 (linear interpolation) of every completed visit per open
    stage, open visits left out and counted;
(c) win rate by source: won / (won + lost).

Engines, each in its own process so that its peak memory (``ru_maxrss``) is its own:

- ``columnar``: the reports over a `StageLog` of the columns, plus conversion under the three
  other reach definitions (funnelkit does more work than the baselines here); also shown with
  the time to build the `StageLog` from the columns (checked, and sorted by deal then time);
- ``events``: `StageLog.from_events` on funnelkit event values, then the same reports;
- ``objects``: the event path, `analytics.histories` and the reports over the fold;
- ``pandas``, ``polars``: idiomatic dataframe code over a frame of the same columns;
- ``floor``: the least any pure-Python fold of event objects must do (group them by deal);
- ``reading``: the least any reader of event objects does to build a `StageLog`: read the
  attributes a row takes from each event and code its entity id, storing nothing;
- ``sqlite``, ``postgresql``: `SqlStore.stage_log()` reads the event log's plain columns into
  a `StageLog`, then the reports (the rows are bulk-loaded first, not timed; PostgreSQL only
  when ``FUNNELKIT_TEST_POSTGRESQL`` names a database, which the script empties);
  ``postgresql-adbc``: the same with ``driver="adbc"`` (Arrow columns through ADBC);
  ``sqlite-rows``: only the coded rows `SqlStore.stage_log()` reads on SQLite, as arrays (the
  database's share: no assembly, no report).

Building the data (columns, frames, events) is not timed. pandas and polars are used only
here, not by funnelkit: ``pip install pandas polars`` in the environment that runs this.

Run from the repository root: ``.venv/bin/python -m benchmarks.analytics [deals ...]
[--engines a,b]`` (default: 100000 1000000 5000000; the event and SQL engines are skipped
above 1,000,000 deals, where the events alone take many GB; Dask and Spark run from 5,000,000
deals, on 1 and on 2 worker processes; ``--engines`` runs only those, beside pandas).
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from array import array
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.pipelines import MovePolicy, Pipeline, Reason, Stage, StageKind


if TYPE_CHECKING:
    from collections.abc import Callable


OPEN = ["Новая", "Квалификация", "Встреча", "КП", "Переговоры", "Договор"]
WON, LOST = "Продажа", "Отказ"
STAGES = [*OPEN, WON, LOST]  # the stage codes of the generated columns
CHAIN = Pipeline(
    key="продажи",
    stages=(
        *(Stage(key=key) for key in OPEN),
        Stage(key=WON, kind=StageKind.WON),
        Stage(key=LOST, kind=StageKind.LOST),
    ),
    reasons=(Reason(key="Дорого", title="Дорого"),),
    policy=MovePolicy(allow_back=True, allow_skip=True),
)
SOURCES = [f"source-{n}" for n in range(8)]
OWNERS = [f"manager-{n}" for n in range(60)]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
AS_OF = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = 2 * 365 * 86_400
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
Columns = dict[str, Any]  # name -> numpy array


def generate(deals: int, seed: int = 42) -> Columns:
    """The log as columns (deal, stage code, time in µs UTC, source code), in time order."""
    rng = random.Random(seed)
    deal_at, stage_at, time_at, source_at = (array("q") for _ in range(4))
    start = int(START.timestamp()) * 1_000_000
    end = int(AS_OF.timestamp()) * 1_000_000
    won, lost, last = STAGES.index(WON), STAGES.index(LOST), len(OPEN) - 1
    for deal in range(deals):
        source = rng.randrange(len(SOURCES))
        at = start + rng.randrange(SPAN_SECONDS) * 1_000_000
        entered = [0]
        times = [at]
        position = 0
        loss = 0.08 + 0.02 * source
        while True:
            at += int(rng.lognormvariate(math.log(3 * 86_400), 1.0)) * 1_000_000
            if at > end:
                break
            draw = rng.random()
            if draw < loss:
                entered.append(lost)
                times.append(at)
                break
            if position == last and draw < 0.85:
                entered.append(won)
                times.append(at)
                break
            step = 2 if draw > 0.93 else -1 if draw > 0.88 and position > 0 else 1
            position = max(0, min(last, position + step))
            entered.append(position)
            times.append(at)
        deal_at.extend([deal] * len(entered))
        stage_at.extend(entered)
        time_at.extend(times)
        source_at.extend([source] * len(entered))
    columns: Columns = {
        "deal": np.frombuffer(deal_at, dtype=np.int64),
        "stage": np.frombuffer(stage_at, dtype=np.int64).astype(np.int8),
        "ts": np.frombuffer(time_at, dtype=np.int64),
        "source": np.frombuffer(source_at, dtype=np.int64).astype(np.int8),
    }
    order = np.argsort(columns["ts"], kind="stable")
    return {name: column[order] for name, column in columns.items()}


def to_events(columns: Columns) -> list[fk.events.Event]:
    """The same log as funnelkit events, one sequence per deal."""
    events: list[fk.events.Event] = []
    state: dict[int, tuple[fk.EntityRef, int, str]] = {}
    amounts: dict[int, fk.Money] = {}
    owners = len(OWNERS)
    rows = zip(
        columns["deal"].tolist(),
        columns["stage"].tolist(),
        columns["ts"].tolist(),
        columns["source"].tolist(),
        strict=True,
    )
    for deal, stage_code, micros, source_code in rows:
        stage, at = STAGES[stage_code], EPOCH + timedelta(microseconds=micros)
        found = state.get(deal)
        if found is None:
            amounts[deal] = fk.Money.of(_amount(deal), "RUB")
            value = fk.Deal(
                id=str(deal),
                created_at=at,
                pipeline=CHAIN.key,
                stage=stage,
                owner=OWNERS[deal % owners],
                source=fk.LeadSource(channel=SOURCES[source_code]),
                amount=amounts[deal],
            )
            events.append(
                fk.events.DealCreated(
                    entity=value.ref, sequence=1, at=at, actor=OWNERS[deal % owners], deal=value
                )
            )
            state[deal] = (value.ref, 1, stage)
            continue
        ref, sequence, before = found
        common: dict[str, Any] = {
            "entity": ref,
            "sequence": sequence + 1,
            "at": at,
            "actor": OWNERS[deal % owners],
            "pipeline": CHAIN.key,
            "from_stage": before,
            "to_stage": stage,
        }
        if stage == WON:
            events.append(fk.events.DealWon(**common, amount=amounts[deal]))
        elif stage == LOST:
            events.append(fk.events.DealLost(**common, reason="Дорого"))
        else:
            events.append(fk.events.StageChanged(**common))
        state[deal] = (ref, sequence + 1, stage)
    return events


def _reports(data: fa.StageLog | fa.Histories, *, reaches: bool) -> dict[str, Any]:
    """The three metrics (and, for a StageLog, the three other reach definitions)."""
    as_of = AS_OF if isinstance(data, fa.StageLog) else None
    conversion = fa.conversion(data, CHAIN, as_of=as_of)
    if reaches:
        for reach in (fa.Reach.IMPLIED, fa.Reach.ALL_PREVIOUS, fa.Reach.IN_ORDER):
            fa.conversion(data, CHAIN, as_of=as_of, reach=reach)
    times = fa.time_in_stage(data, CHAIN, as_of=as_of)
    wins = fa.win_rate(data, as_of=as_of, by="channel")
    return {
        "entered": dict(zip(conversion.stages, conversion.reached, strict=True)),
        "median_hours": {t.stage: (t.median or 0) / 3600 for t in times.stages},
        "p90_hours": {t.stage: (t.p90 or 0) / 3600 for t in times.stages},
        "open_visits": sum(t.open for t in times.stages),
        "win_rate": {g.group: g.win_rate for g in wins.groups},
    }


def run_columnar(columns: Columns) -> dict[str, Any]:
    """Funnelkit's columnar path: a StageLog from the columns, then the reports over it."""
    deal, stage, ts, source = columns["deal"], columns["stage"], columns["ts"], columns["source"]
    first = np.zeros(len(deal), dtype=bool)  # each deal's first row is its creation
    first[np.unique(deal, return_index=True)[1]] = True
    event = np.where(first, fa.LogEvent.CREATED, fa.LogEvent.MOVED).astype(np.int8)
    event[stage == STAGES.index(WON)] = fa.LogEvent.WON
    event[stage == STAGES.index(LOST)] = fa.LogEvent.LOST
    lost = np.where(stage == STAGES.index(LOST), 0, -1)
    ids = [str(number) for number in range(int(deal.max()) + 1)]
    gc.collect()
    start = time.perf_counter()
    log = fa.StageLog(
        entity=deal,
        kind=np.ones(len(deal), dtype=np.int8),
        event=event,
        time=ts,
        pipeline=np.zeros(len(deal), dtype=np.int32),
        stage=stage,
        owner=deal % len(OWNERS),
        source=source,
        reason=lost,
        ids=ids,
        pipelines=[CHAIN.key],
        stages=STAGES,
        owners=OWNERS,
        sources=SOURCES,
        reasons=["Дорого"],
    )
    built = time.perf_counter()
    result = _reports(log, reaches=True)
    result["seconds"] = time.perf_counter() - built
    result["build_seconds"] = built - start
    result["events"] = len(log)
    return result


def run_events(columns: Columns) -> dict[str, Any]:
    """Funnelkit from event values: StageLog.from_events, then the reports over it."""
    events = to_events(columns)
    del columns
    gc.collect()
    start = time.perf_counter()
    log = fa.StageLog.from_events(events)
    built = time.perf_counter()
    result = _reports(log, reaches=True)
    result["seconds"] = time.perf_counter() - start
    result["build_seconds"] = built - start
    result["events"] = len(events)
    return result


def run_objects(columns: Columns) -> dict[str, Any]:
    """Funnelkit's event path: fold the events into histories, then the reports."""
    events = to_events(columns)
    del columns
    gc.collect()
    start = time.perf_counter()
    result = _reports(fa.histories(events, as_of=AS_OF), reaches=False)
    result["seconds"] = time.perf_counter() - start
    result["events"] = len(events)
    return result


def run_floor(columns: Columns) -> dict[str, Any]:
    """The least a pure-Python fold of event objects does: one pass grouping them by deal."""
    events = to_events(columns)
    del columns
    gc.collect()
    start = time.perf_counter()
    grouped: dict[str, list[datetime]] = {}
    for event in events:
        key = event.entity.id
        times = grouped.get(key)
        if times is None:
            grouped[key] = [event.at]
        else:
            times.append(event.at)
    return {"events": len(events), "seconds": time.perf_counter() - start}


def run_reading(columns: Columns) -> dict[str, Any]:
    """
    The least any reader of event objects does to build a `StageLog`, storing nothing.

    One pass reads what a row takes from each event (its entity's kind and id, sequence, time,
    pipeline, stages; a creation's entity's owner, source and amount) and codes the entity id
    through a dict, as any grouping by entity must.
    """
    events = to_events(columns)
    del columns
    gc.collect()
    created = fk.events.DealCreated
    codes: dict[str, int] = {}
    gc.disable()  # as from_events runs: no collector rounds over the events
    start = time.perf_counter()
    for item in events:
        event: Any = item  # read by its type below
        ref = event.entity
        _ = (ref.kind, event.sequence)
        if codes.get(ref.id) is None:
            codes[ref.id] = len(codes)
        if type(event) is created:
            deal = event.deal
            _ = (deal.created_at.timestamp(), deal.pipeline, deal.stage, deal.owner)
            _ = (deal.source, deal.amount)
        else:
            _ = (event.at.timestamp(), event.pipeline, event.to_stage, event.from_stage)
    elapsed = time.perf_counter() - start
    gc.enable()
    return {"events": len(events), "seconds": elapsed}


def run_pandas(columns: Columns) -> dict[str, Any]:
    """The three metrics with pandas, from a DataFrame in memory."""
    import pandas as pd  # noqa: PLC0415 - only this baseline needs it

    frame = pd.DataFrame(
        {
            "deal": columns["deal"],
            "stage": pd.Categorical.from_codes(columns["stage"], STAGES),
            "ts": pd.to_datetime(columns["ts"], unit="us", utc=True),
            "source": pd.Categorical.from_codes(columns["source"], SOURCES),
        }
    )
    del columns
    gc.collect()
    start = time.perf_counter()
    entered = frame.groupby("stage", observed=True)["deal"].nunique()
    ordered = frame.sort_values(["deal", "ts"], kind="stable")
    left = ordered.groupby("deal", sort=False)["ts"].shift(-1)
    visits = ordered.assign(hours=(left - ordered["ts"]).dt.total_seconds() / 3600)
    visits = visits[visits["stage"].isin(OPEN)]
    done = visits.dropna(subset=["hours"])
    quantiles = done.groupby("stage", observed=True)["hours"].quantile([0.5, 0.9]).unstack()  # noqa: PD010
    open_visits = int(visits["hours"].isna().sum())
    last = ordered.groupby("deal", sort=False).tail(1)
    closed = last[last["stage"].isin([WON, LOST])]
    win = (closed["stage"] == WON).groupby(closed["source"], observed=True).mean()
    elapsed = time.perf_counter() - start
    return {
        "events": len(frame),
        "seconds": elapsed,
        "entered": {stage: int(entered.get(stage, 0)) for stage in [*OPEN, WON]},
        "median_hours": {s: float(quantiles.loc[s, 0.5]) for s in OPEN if s in quantiles.index},
        "p90_hours": {s: float(quantiles.loc[s, 0.9]) for s in OPEN if s in quantiles.index},
        "open_visits": open_visits,
        "win_rate": {str(k): float(v) for k, v in win.items()},
    }


def run_polars(columns: Columns) -> dict[str, Any]:
    """The three metrics with polars, from a DataFrame in memory."""
    import polars as pl  # noqa: PLC0415 - only this baseline needs it

    stages, sources = pl.Enum(STAGES), pl.Enum(SOURCES)
    frame = pl.DataFrame(
        {
            "deal": columns["deal"],
            "stage": pl.Series(columns["stage"])
            .cast(pl.UInt32)
            .map_elements(STAGES.__getitem__, return_dtype=pl.String),
            "ts": pl.Series(columns["ts"]).cast(pl.Datetime("us", "UTC")),
            "source": pl.Series(columns["source"])
            .cast(pl.UInt32)
            .map_elements(SOURCES.__getitem__, return_dtype=pl.String),
        }
    ).with_columns(pl.col("stage").cast(stages), pl.col("source").cast(sources))
    del columns
    gc.collect()
    start = time.perf_counter()
    entered = frame.group_by("stage").agg(pl.col("deal").n_unique())
    ordered = frame.sort(["deal", "ts"], maintain_order=True)
    visits = ordered.with_columns(
        hours=(pl.col("ts").shift(-1).over("deal") - pl.col("ts")).dt.total_microseconds()
        / 3_600_000_000
    ).filter(pl.col("stage").is_in(OPEN))
    quantiles = (
        visits.drop_nulls("hours")
        .group_by("stage")
        .agg(
            median=pl.col("hours").quantile(0.5, interpolation="linear"),
            p90=pl.col("hours").quantile(0.9, interpolation="linear"),
        )
    )
    open_visits = visits["hours"].null_count()
    last = ordered.group_by("deal", maintain_order=True).last()
    win = (
        last.filter(pl.col("stage").is_in([WON, LOST]))
        .group_by("source")
        .agg((pl.col("stage") == WON).mean().alias("rate"))
    )
    elapsed = time.perf_counter() - start
    counts = dict(zip(entered["stage"].to_list(), entered["deal"].to_list(), strict=True))
    rows = {row["stage"]: row for row in quantiles.iter_rows(named=True)}
    return {
        "events": frame.height,
        "seconds": elapsed,
        "entered": {stage: int(counts.get(stage, 0)) for stage in [*OPEN, WON]},
        "median_hours": {s: rows[s]["median"] for s in OPEN if s in rows},
        "p90_hours": {s: rows[s]["p90"] for s in OPEN if s in rows},
        "open_visits": open_visits,
        "win_rate": dict(zip(win["source"].to_list(), win["rate"].to_list(), strict=True)),
    }


def _event_rows(columns: Columns) -> list[tuple[Any, ...]]:
    """The log as rows of the SQL store's event table (its plain columns; no JSON is read)."""
    deal, stage, ts, source = columns["deal"], columns["stage"], columns["ts"], columns["source"]
    order = np.lexsort((ts, deal))
    deal, stage, ts, source = deal[order], stage[order], ts[order], source[order]
    first = np.ones(len(deal), dtype=bool)
    first[1:] = deal[1:] != deal[:-1]
    sequence = np.arange(len(deal)) - np.maximum.accumulate(
        np.where(first, np.arange(len(deal)), 0)
    )
    won, lost = STAGES.index(WON), STAGES.index(LOST)
    rows = []
    for position, (number, code, micros, channel, new, step) in enumerate(
        zip(
            deal.tolist(),
            stage.tolist(),
            ts.tolist(),
            source.tolist(),
            first.tolist(),
            sequence.tolist(),
            strict=True,
        ),
        start=1,
    ):
        kind = (
            "deal_created"
            if new
            else "deal_won"
            if code == won
            else "deal_lost"
            if code == lost
            else "stage_changed"
        )
        rows.append(
            (
                position,
                "deal",
                str(number),
                step + 1,
                "{}",  # the JSON is never read by stage_log: a placeholder keeps the row small
                kind,
                2,
                micros,
                CHAIN.key,
                STAGES[code],
                "Дорого" if kind == "deal_lost" else None,
                OWNERS[number % len(OWNERS)] if new else None,
                SOURCES[channel] if new else None,
                micros if new else None,
                _amount(number) if new or kind == "deal_won" else None,
                "RUB" if new or kind == "deal_won" else None,
            )
        )
    return rows


def _amount(number: int) -> str:
    """A deal's amount (set on its creation and its win): nearly every deal's is its own."""
    return f"{(number * 7919) % 2_000_000 + 15_000}.{number % 100:02d}"


_EVENT_COLUMNS = (
    "position, entity_kind, entity_id, sequence, data, type, version, at, pipeline, stage, "
    "reason, owner, channel, created_at, amount, currency"
)


def _sql_store(url: str, columns: Columns) -> Any:
    """A SqlStore at `url` whose event log holds the generated log (bulk-loaded, not timed)."""
    from funnelkit.storage.sql import SqlStore  # noqa: PLC0415 - the sql extra

    store = SqlStore.from_url(url)
    store.drop_schema()
    store.create_schema()
    rows = _event_rows(columns)
    connection = store.engine.raw_connection()
    try:
        cursor = connection.cursor()
        if store.engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY funnelkit_events ({_EVENT_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO funnelkit_events ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 16)})",  # noqa: S608 - constants
                rows,
            )
        connection.commit()
    finally:
        connection.close()
    store.rebuild_stage_log()  # the coded stage log of the rows loaded outside funnelkit
    return store


def _run_store(url: str, columns: Columns, driver: str = "dbapi") -> dict[str, Any]:
    store = _sql_store(url, columns)
    del columns
    gc.collect()
    if driver == "adbc":  # the driver's and pyarrow's imports are not timed
        importlib.import_module("adbc_driver_postgresql.dbapi")
        importlib.import_module("pyarrow.compute")
    start = time.perf_counter()
    log = store.stage_log(driver=driver)
    built = time.perf_counter()
    result = _reports(log, reaches=True)
    result["seconds"] = time.perf_counter() - start
    result["build_seconds"] = built - start
    result["events"] = len(log)
    store.drop_schema()
    store.engine.dispose()
    return result


def run_sqlite(columns: Columns) -> dict[str, Any]:
    """SqlStore.stage_log on a SQLite file, then the reports."""
    with tempfile.TemporaryDirectory() as folder:
        return _run_store(f"sqlite:///{folder}/crm.db", columns)


def run_sqlite_rows(columns: Columns) -> dict[str, Any]:
    """
    The rows `SqlStore.stage_log()` reads on SQLite, as arrays, with no assembly or report.

    The database's share of the stored engine with the coded log of revision 0005: packing,
    parsing and unpacking the codes (both connections), and the value tables.
    """
    from funnelkit.storage import _sql_schema, _stage_tables, sql  # noqa: PLC0415 - sql extra

    with tempfile.TemporaryDirectory() as folder:
        store = _sql_store(f"sqlite:///{folder}/crm.db", columns)
        del columns
        gc.collect()
        engine = store.engine
        start = time.perf_counter()
        with _sql_schema._snapshot(engine) as connection:  # noqa: SLF001 - as the store
            read = _stage_tables.read_packed(
                np,
                connection,
                sql._BATCH,  # noqa: SLF001
                sql._second_reader(engine),  # noqa: SLF001
            )
        elapsed = time.perf_counter() - start
        store.drop_schema()
        engine.dispose()
    return {"events": len(read.columns["time"]), "seconds": elapsed}


def run_postgresql(columns: Columns) -> dict[str, Any]:
    """SqlStore.stage_log on PostgreSQL (FUNNELKIT_TEST_POSTGRESQL), then the reports."""
    return _run_store(os.environ["FUNNELKIT_TEST_POSTGRESQL"], columns)


def run_postgresql_adbc(columns: Columns) -> dict[str, Any]:
    """SqlStore.stage_log(driver="adbc") on PostgreSQL: Arrow columns, then the reports."""
    return _run_store(os.environ["FUNNELKIT_TEST_POSTGRESQL"], columns, driver="adbc")


def _bundle(log: fa.StageLog) -> tuple[Any, ...]:
    """The reports of `_reports` at once: one pass of a distributed engine over the frame."""
    return (
        *(fa.conversion(log, CHAIN, as_of=AS_OF, reach=reach) for reach in fa.Reach),
        fa.time_in_stage(log, CHAIN, as_of=AS_OF),
        fa.win_rate(log, as_of=AS_OF, by="channel"),
    )


def _summary(found: tuple[Any, ...]) -> dict[str, Any]:
    conversion, times, wins = found[0], found[4], found[5]
    return {
        "entered": dict(zip(conversion.stages, conversion.reached, strict=True)),
        "median_hours": {t.stage: (t.median or 0) / 3600 for t in times.stages},
        "p90_hours": {t.stage: (t.p90 or 0) / 3600 for t in times.stages},
        "open_visits": sum(t.open for t in times.stages),
        "win_rate": {g.group: g.win_rate for g in wins.groups},
    }


def _parquet(columns: Columns, folder: str) -> str:
    """The log as a Parquet dataset of 16 files, as a data team keeps it (not timed)."""
    import pyarrow as pa  # noqa: PLC0415 - only the engines' runs need it
    import pyarrow.parquet as pq  # noqa: PLC0415

    deal, stage, ts, source = columns["deal"], columns["stage"], columns["ts"], columns["source"]
    first = np.zeros(len(deal), dtype=bool)
    first[np.unique(deal, return_index=True)[1]] = True
    events = np.where(first, "created", "moved").astype(object)
    events[stage == STAGES.index(WON)] = "won"
    lost_rows = stage == STAGES.index(LOST)
    events[lost_rows] = "lost"
    table = pa.table(
        {
            "deal_id": pa.array(deal.astype(str)),
            "entered_at": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "event": pa.array(events.tolist()).dictionary_encode(),
            "stage": pa.DictionaryArray.from_arrays(stage.astype(np.int32), STAGES),
            "owner": pa.DictionaryArray.from_arrays((deal % len(OWNERS)).astype(np.int32), OWNERS),
            "source": pa.DictionaryArray.from_arrays(source.astype(np.int32), SOURCES),
            "reason": pa.array(["Дорого" if lost else None for lost in lost_rows.tolist()]),
        }
    )
    path = f"{folder}/stage_log"
    rows = -(-table.num_rows // 16)
    for part in range(16):
        pq.write_table(table.slice(part * rows, rows), f"{path}-{part:02d}.parquet")
    return path


_ENGINE_COLUMNS = {"entity": "deal_id", "time": "entered_at"}


def run_dask(columns: Columns, workers: int) -> dict[str, Any]:
    """funnelkit.analytics.dask on a Parquet dataset, with `workers` processes."""
    import dask  # noqa: PLC0415 - only this run needs it
    import dask.dataframe as dd  # noqa: PLC0415

    from funnelkit.analytics import dask as fk_dask  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        path = _parquet(columns, folder)
        del columns
        gc.collect()
        start = time.perf_counter()
        frame = dd.read_parquet(f"{path}-*.parquet")
        with dask.config.set(scheduler="processes", num_workers=workers):
            found = fk_dask.report(frame, _bundle, columns=_ENGINE_COLUMNS, pipeline=CHAIN.key)
        result = _summary(found)
        result["seconds"] = time.perf_counter() - start
    result["events"] = found[0].entities
    result["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def run_spark(columns: Columns, workers: int) -> dict[str, Any]:
    """funnelkit.analytics.spark on a Parquet dataset, Spark local[`workers`]."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 - only this run needs it

    from funnelkit.analytics import spark as fk_spark  # noqa: PLC0415

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master(f"local[{workers}]")
        .config("spark.driver.memory", "8g")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    with tempfile.TemporaryDirectory() as folder:
        path = _parquet(columns, folder)
        del columns
        gc.collect()
        start = time.perf_counter()
        frame = session.read.parquet(f"{path}-*.parquet")
        found = fk_spark.report(
            frame, _bundle, columns=_ENGINE_COLUMNS, pipeline=CHAIN.key, partitions=4 * workers
        )
        result = _summary(found)
        result["seconds"] = time.perf_counter() - start
    session.stop()
    result["events"] = found[0].entities
    result["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


RUNS: dict[str, Callable[[Columns], dict[str, Any]]] = {
    "columnar": run_columnar,
    "events": run_events,
    "objects": run_objects,
    "floor": run_floor,
    "reading": run_reading,
    "pandas": run_pandas,
    "polars": run_polars,
    "sqlite": run_sqlite,
    "sqlite-rows": run_sqlite_rows,
    "postgresql": run_postgresql,
    "postgresql-adbc": run_postgresql_adbc,
    "dask-1": lambda columns: run_dask(columns, 1),
    "dask-2": lambda columns: run_dask(columns, 2),
    "spark-1": lambda columns: run_spark(columns, 1),
    "spark-2": lambda columns: run_spark(columns, 2),
}
EVENT_ENGINES = frozenset({"events", "objects", "floor", "reading"})
SQL_ENGINES = frozenset({"sqlite", "sqlite-rows", "postgresql", "postgresql-adbc"})
FLOORS = frozenset({"floor", "reading", "sqlite-rows"})  # no reports: no numbers to compare
EVENT_LIMIT = 1_000_000  # above this many deals, the event and SQL engines are skipped
ENGINE_SIZE = 5_000_000  # from this many deals, Dask and Spark run too (1 and 2 workers)


def child(engine: str, data: str) -> None:
    """Run one engine on the columns saved at `data`; print its result as JSON, peak memory too."""
    with np.load(data) as saved:
        columns = {name: saved[name] for name in saved.files}
    result = RUNS[engine](columns)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a["entered"] != b["entered"] or a["open_visits"] != b["open_visits"]:
        return False
    for key in ("median_hours", "p90_hours", "win_rate"):
        if a[key].keys() != b[key].keys():
            return False
        if any(abs(a[key][k] - b[key][k]) > 1e-6 for k in a[key]):
            return False
    return True


def measure(engine: str, data: str) -> dict[str, Any]:
    """Run one engine in a fresh process, on the columns saved at `data`."""
    done = subprocess.run(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "benchmarks.analytics", "--child", engine, data],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout))


def main() -> None:
    """Time every engine at each size and print the ratios to pandas."""
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
        return
    args = sys.argv[1:]
    chosen = None
    if "--engines" in args:  # --engines sqlite,postgresql: only these (and pandas)
        at = args.index("--engines")
        chosen = args[at + 1].split(",")
        del args[at : at + 2]
    sizes = [int(arg) for arg in args] or [100_000, 1_000_000, 5_000_000]
    with tempfile.TemporaryDirectory() as folder:
        for deals in sizes:
            data = f"{folder}/columns-{deals}.npz"
            np.savez(data, **generate(deals))
            _compare(deals, data, chosen)


def _compare(deals: int, data: str, chosen: list[str] | None) -> None:
    """Every engine on one size of log, each in its own process."""
    print(f"{deals:,} deals, each engine in its own process:", flush=True)
    pandas = measure("pandas", data)
    print(
        f"  {'pandas':15} {pandas['seconds']:7.3f} s  peak {pandas['peak_mb']:6.0f} MB  "
        f"({pandas['events']:,} rows)",
        flush=True,
    )
    engines = [
        *("columnar", "polars", "events", "objects", "floor", "reading"),
        *("sqlite", "sqlite-rows"),
    ]
    if os.environ.get("FUNNELKIT_TEST_POSTGRESQL"):
        engines += ["postgresql", "postgresql-adbc"]
    if deals >= ENGINE_SIZE:
        engines += ["dask-1", "dask-2", "spark-1", "spark-2"]
    if chosen is not None:
        engines = [engine for engine in chosen if engine in RUNS]
    for engine in engines:
        if engine in EVENT_ENGINES | SQL_ENGINES and deals > EVENT_LIMIT:
            continue
        found = measure(engine, data)
        same = "" if engine in FLOORS else f"  same numbers: {_same(found, pandas)}"
        print(
            f"  {engine:15} {found['seconds']:7.3f} s  peak {found['peak_mb']:6.0f} MB  "
            f"{found['seconds'] / pandas['seconds']:5.2f}x pandas{same}",
            flush=True,
        )
        if engine == "columnar":
            whole = found["seconds"] + found["build_seconds"]
            print(
                f"  {'':15} {whole:7.3f} s  with the StageLog built from the columns in time "
                f"order (checked, sorted by deal): {whole / pandas['seconds']:5.2f}x pandas",
                flush=True,
            )
        elif engine.startswith(("dask", "spark")):
            print(
                f"  {'':15} worker processes' peak {found['children_peak_mb']:.0f} MB",
                flush=True,
            )
        elif engine in {"events", *SQL_ENGINES} - FLOORS:
            way = "StageLog.from_events" if engine == "events" else "SqlStore.stage_log()"
            print(f"  {'':15} of which {way} {found['build_seconds']:.3f} s", flush=True)


if __name__ == "__main__":
    main()
