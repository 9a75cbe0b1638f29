"""
Three funnel metrics from a stage-history event log: funnelkit against idiomatic pandas.

A seeded generator writes the histories of N deals through an 8-stage pipeline (seed 000's
chain: Новая, Квалификация, Встреча, КП, Переговоры, Договор, then Продажа or Отказ), with
skipped stages, backward moves, 8 sources, 60 owners and about 4 % of deals still open at the
snapshot: about 4.9 events per deal. Both sides compute, from data already in memory:

(a) stage conversion: deals that entered each funnel stage, and the step rates;
(b) time in stage: median and p90 (linear interpolation) of every completed visit per open
    stage, open visits left out and counted;
(c) win rate by source: won / (won + lost).

funnelkit starts from the list of event values (`DealCreated`, `StageChanged`, `DealWon`,
`DealLost`) and folds them with `analytics.histories`; pandas starts from a DataFrame of the
same rows (deal, stage, time, source) in the log's order. Each side runs in its own process,
so its peak memory (``ru_maxrss``) is its own; building the data is not timed. pandas is used
only here, not by funnelkit: ``pip install pandas`` in the environment that runs this.

A third process times the floor of any pure-Python fold: one pass that only groups the event
objects by entity, with no analytics.

Run from the repository root: ``.venv/bin/python -m benchmarks.analytics [deals ...]``
(default: 100000 1000000).
"""

from __future__ import annotations

import gc
import json
import math
import random
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.pipelines import MovePolicy, Pipeline, Reason, Stage, StageKind


if TYPE_CHECKING:
    from collections.abc import Callable


OPEN = ["Новая", "Квалификация", "Встреча", "КП", "Переговоры", "Договор"]
WON, LOST = "Продажа", "Отказ"
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
Row = tuple[int, str, datetime, str]  # deal, stage, time, source


def generate(deals: int, seed: int = 42) -> list[Row]:
    """The log as rows (deal, stage entered, time, source), in global time order."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for deal in range(deals):
        source_index = rng.randrange(len(SOURCES))
        source = SOURCES[source_index]
        at = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        rows.append((deal, OPEN[0], at, source))
        position = 0
        loss = 0.08 + 0.02 * source_index
        while True:
            at += timedelta(seconds=int(rng.lognormvariate(math.log(3 * 86_400), 1.0)))
            if at > AS_OF:
                break
            draw = rng.random()
            if draw < loss:
                rows.append((deal, LOST, at, source))
                break
            if position == len(OPEN) - 1 and draw < 0.85:
                rows.append((deal, WON, at, source))
                break
            step = 2 if draw > 0.93 else -1 if draw > 0.88 and position > 0 else 1
            position = max(0, min(len(OPEN) - 1, position + step))
            rows.append((deal, OPEN[position], at, source))
    rows.sort(key=lambda row: row[2])
    return rows


def to_events(rows: list[Row]) -> list[fk.events.Event]:
    """The same log as funnelkit events, one sequence per deal."""
    events: list[fk.events.Event] = []
    state: dict[int, tuple[fk.EntityRef, int, str]] = {}
    owners = len(OWNERS)
    for deal, stage, at, source in rows:
        found = state.get(deal)
        if found is None:
            value = fk.Deal(
                id=str(deal),
                created_at=at,
                pipeline=CHAIN.key,
                stage=stage,
                owner=OWNERS[deal % owners],
                source=fk.LeadSource(channel=source),
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
            events.append(fk.events.DealWon(**common))
        elif stage == LOST:
            events.append(fk.events.DealLost(**common, reason="Дорого"))
        else:
            events.append(fk.events.StageChanged(**common))
        state[deal] = (ref, sequence + 1, stage)
    return events


def run_funnelkit(rows: list[Row]) -> dict[str, Any]:
    """The three metrics with funnelkit, from the events in memory."""
    events = to_events(rows)
    del rows
    gc.collect()  # both sides start with the data built and the collector settled
    start = time.perf_counter()
    folded = fa.histories(events, as_of=AS_OF)
    conversion = fa.conversion(folded, CHAIN)
    times = fa.time_in_stage(folded, CHAIN)
    wins = fa.win_rate(folded, by="channel")
    elapsed = time.perf_counter() - start
    return {
        "events": len(events),
        "seconds": elapsed,
        "entered": dict(zip(conversion.stages, conversion.reached, strict=True)),
        "median_hours": {t.stage: (t.median or 0) / 3600 for t in times.stages},
        "p90_hours": {t.stage: (t.p90 or 0) / 3600 for t in times.stages},
        "open_visits": sum(t.open for t in times.stages),
        "win_rate": {g.group: g.win_rate for g in wins.groups},
    }


def run_floor(rows: list[Row]) -> dict[str, Any]:
    """
    The least any pure-Python fold of the events must do: one pass grouping them by entity.

    No analytics at all: each event's time is appended to its entity's list. It shows how much
    of funnelkit's time is the interpreter visiting millions of separate event objects.
    """
    events = to_events(rows)
    del rows
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
    elapsed = time.perf_counter() - start
    return {"events": len(events), "seconds": elapsed, "entities": len(grouped)}


def run_pandas(rows: list[Row]) -> dict[str, Any]:
    """The three metrics with pandas, from a DataFrame in memory."""
    import pandas as pd  # noqa: PLC0415 - only the baseline needs it

    frame = pd.DataFrame(rows, columns=["deal", "stage", "ts", "source"])
    frame["stage"] = frame["stage"].astype("category")
    frame["source"] = frame["source"].astype("category")
    del rows
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
    funnel = [*OPEN, WON]
    return {
        "events": len(frame),
        "seconds": elapsed,
        "entered": {stage: int(entered.get(stage, 0)) for stage in funnel},
        "median_hours": {s: float(quantiles.loc[s, 0.5]) for s in OPEN if s in quantiles.index},
        "p90_hours": {s: float(quantiles.loc[s, 0.9]) for s in OPEN if s in quantiles.index},
        "open_visits": open_visits,
        "win_rate": {str(k): float(v) for k, v in win.items()},
    }


def child(engine: str, deals: int) -> None:
    """Run one engine on one size and print its result as JSON (peak memory included)."""
    rows = generate(deals)
    runs: dict[str, Callable[[list[Row]], dict[str, Any]]] = {
        "funnelkit": run_funnelkit,
        "pandas": run_pandas,
        "floor": run_floor,
    }
    result = runs[engine](rows)
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


def measure(engine: str, deals: int) -> dict[str, Any]:
    """Run one engine in a fresh process."""
    done = subprocess.run(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "benchmarks.analytics", "--child", engine, str(deals)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(done.stdout))


def main() -> None:
    """Time both engines at each size and print the ratios."""
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], int(sys.argv[3]))
        return
    sizes = [int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000]
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for deals in sizes:
        print(f"{deals:,} deals: generating and running each engine in its own process...")
        mine, theirs = measure("funnelkit", deals), measure("pandas", deals)
        floor = measure("floor", deals)
        results[deals] = {"funnelkit": mine, "pandas": theirs, "floor": floor}
        print(
            f"  {mine['events']:,} events; funnelkit {mine['seconds']:.2f} s "
            f"(peak {mine['peak_mb']:.0f} MB), pandas {theirs['seconds']:.2f} s "
            f"(peak {theirs['peak_mb']:.0f} MB): {mine['seconds'] / theirs['seconds']:.2f}x "
            f"pandas; same numbers: {_same(mine, theirs)}",
            flush=True,
        )
        print(
            f"  floor (one pass grouping the event objects by entity, no analytics): "
            f"{floor['seconds']:.2f} s = {floor['seconds'] / theirs['seconds']:.2f}x pandas",
            flush=True,
        )
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for engine in ("funnelkit", "pandas", "floor"):
            growth = results[large][engine]["seconds"] / results[small][engine]["seconds"]
            print(f"{engine} growth from {small:,} to {large:,} deals: {growth:.1f}x")


if __name__ == "__main__":
    main()
