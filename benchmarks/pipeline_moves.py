"""
Pipeline moves against a raw ``transitions`` trigger, in one run.

The baseline is what using ``transitions`` directly costs: a model-less ``Machine`` with the
same stages as the roofing pipeline (seed 002), ``auto_transitions=False``, and
``machine.events[trigger].trigger(obj)`` on a plain object — no guards, no new value, no event.

Measured:

1. median time of one validated ``move`` (guards, the new deal value, its event) on the fast
   path (a table read off the machine) and on the machine path (the compiled ``transitions``
   machine triggered on a cursor decides), and of one raw trigger, and their ratios;
2. memory per idle deal (tracemalloc over many roofing deals held in a list), next to the
   memory of deals each bound to a ``Machine`` of their own (the pattern funnelkit avoids);
3. the time to replay the histories of N deals (5 moves each) through the rules with
   ``CompiledPipeline.replay``, next to replaying them by raw triggers, and to re-executing
   the same moves with every guard by ``move`` (both timed on a sample and scaled to N).

Run from the repository root: ``.venv/bin/python -m benchmarks.pipeline_moves [N]``
(N = 1,000,000 deals by default; building their 5,000,000 events takes a few minutes and a
few GB).
"""

from __future__ import annotations

import gc
import itertools
import statistics
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs
from transitions import Machine

import funnelkit as fk
from funnelkit.seeds.pipelines import ROOFING


if TYPE_CHECKING:
    from collections.abc import Callable


AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))
NO_OPEN_TASKS = {fk.pipelines.OPEN_TASKS: ()}  # what Service.move passes when none is open
MANAGER = fk.Actor(id="anna", roles=frozenset({"manager"}))
PATH = ["НОВЫЙ ЛИД", "ОП ВЗЯЛ В РАБОТУ", "ГОРЯЧИЕ", "ОБЪЕМЫ У ТУРАЛА", "КП ГОТОВО", "СМЕТА ГОТОВА"]
SAMPLES = 50_000


class _Plain:
    __slots__ = ("stage",)

    def __init__(self, stage: str) -> None:
        self.stage = stage


class _Bindable:
    """A model transitions can bind to (it needs a __dict__ for its partials)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage


def raw_machine() -> Machine:
    """The baseline: a model-less machine with the roofing stages and its forward moves."""
    states = [stage.key for stage in ROOFING.stages]
    machine = Machine(
        model=None,
        states=states,
        initial=states[0],
        auto_transitions=False,
        send_event=True,
        model_attribute="stage",
    )
    for source, dest in itertools.pairwise(PATH):
        machine.add_transition(f"to:{dest}", source, dest)
    return machine


def roofing_deal(number: int) -> fk.Deal:
    """A roofing deal with its card filled in, as a CRM would hold it."""
    return fk.Deal(
        id=f"D-{number}",
        created_at=AT,
        pipeline=ROOFING.key,
        stage="НОВЫЙ ЛИД",
        title="Металлочерепица, Всеволожск",
        owner="anna",
        amount=fk.Money(amount=Decimal(480000 + number % 1000), currency="RUB"),
        fields={"product": "КРОВЛЯ", "client_type": "частник", "houses": 1 + number % 4},
    )


def interleaved_medians_us(
    calls: list[Callable[[], object]], samples: int = SAMPLES
) -> list[float]:
    """Median µs of each call, timed in turn so that a busy machine slows them all alike."""
    times: list[list[int]] = [[] for _ in calls]
    clock = time.perf_counter_ns
    for _ in range(samples):
        for call, found in zip(calls, times, strict=True):
            start = clock()
            call()
            found.append(clock() - start)
    return [statistics.median(found) / 1000 for found in times]


def bench_move() -> tuple[float, float, float]:
    """Median µs of a validated move on the fast path, on the machine path, and a raw trigger."""
    rules = ROOFING.compile()
    deal = roofing_deal(1)
    event = raw_machine().events["to:ОП ВЗЯЛ В РАБОТУ"]
    move, machine, raw = interleaved_medians_us(
        [
            lambda: rules.move(deal, "ОП ВЗЯЛ В РАБОТУ", MANAGER, AT, sequence=2),
            lambda: rules._move(  # noqa: SLF001 - the machine path of the same move
                deal, "ОП ВЗЯЛ В РАБОТУ", MANAGER, AT, 2, None, "", force=False
            ),
            lambda: event.trigger(_Plain("НОВЫЙ ЛИД")),
        ]
    )
    return move, machine, raw


def bench_memory(count: int = 100_000, bound: int = 1_000) -> tuple[float, float]:
    """Bytes per idle deal held in a list, and per deal bound to a Machine of its own."""
    ROOFING.compile()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    deals = [roofing_deal(number) for number in range(count)]
    per_deal = (tracemalloc.get_traced_memory()[0] - before) / count
    del deals
    gc.collect()
    states = [stage.key for stage in ROOFING.stages]
    before = tracemalloc.get_traced_memory()[0]
    models = []
    for _ in range(bound):
        model = _Bindable("НОВЫЙ ЛИД")
        # The pattern funnelkit avoids: transitions binds a machine to each model object.
        Machine(model=model, states=states, initial=states[0], auto_transitions=False)
        models.append(model)
    per_bound = (tracemalloc.get_traced_memory()[0] - before) / bound
    tracemalloc.stop()
    del models
    return per_deal, per_bound


def build_histories(count: int) -> list[list[fk.events.Event]]:
    """Five moves per deal along the roofing pipeline, as a store would hand them back."""
    rules = ROOFING.compile()
    histories = []
    for number in range(count):
        deal = attrs.evolve(roofing_deal(number), amount=None)
        deal = attrs.evolve(
            deal, fields=deal.fields.set("construction_stage", "стены").set("buys_when", "май")
        )
        history: list[fk.events.Event] = []
        for sequence, dest in enumerate(PATH[1:], start=1):
            if dest == "КП ГОТОВО":
                deal = attrs.evolve(deal, amount=fk.Money.of("480000", "RUB"))
            actor = (
                fk.Actor(id="турал", roles=frozenset({"engineer"})) if sequence == 4 else MANAGER
            )
            result = rules.move(
                deal,
                dest,
                actor,
                AT + timedelta(hours=sequence),
                sequence=sequence,
                context=NO_OPEN_TASKS,  # the calls of ГОРЯЧИЕ are done
            )
            deal = result.entity
            history.extend(result.events)
        histories.append(history)
    return histories


def _moves_again(
    rules: fk.pipelines.CompiledPipeline, histories: list[list[fk.events.Event]]
) -> None:
    """Re-execute each history's moves with `move` (every guard), from a fresh roofing deal."""
    for number, history in enumerate(histories):
        deal = attrs.evolve(roofing_deal(number), amount=None)
        deal = attrs.evolve(
            deal, fields=deal.fields.set("construction_stage", "стены").set("buys_when", "май")
        )
        for event in history:
            if not isinstance(event, fk.events.MoveEvent):
                continue
            if event.to_stage == "КП ГОТОВО":
                deal = attrs.evolve(deal, amount=fk.Money.of("480000", "RUB"))
            actor = fk.Actor(id=event.actor, roles=frozenset({"engineer", "manager"}))
            deal = rules.move(
                deal,
                event.to_stage,
                actor,
                event.at,
                sequence=event.sequence,
                context=NO_OPEN_TASKS,
            ).entity


def bench_replay(count: int) -> tuple[float, float, float, int]:
    """Seconds to replay `count` histories through the rules; raw triggers scaled to `count`."""
    print(f"building {count:,} histories of 5 moves...", flush=True)
    histories = build_histories(count)
    rules = ROOFING.compile()
    gc.collect()
    start = time.perf_counter()
    problems = sum(len(rules.replay(history).problems) for history in histories)
    replay_seconds = time.perf_counter() - start
    machine = raw_machine()
    events = machine.events
    sample = histories[: min(count, SAMPLES)]
    start = time.perf_counter()
    for history in sample:
        cursor = _Plain("НОВЫЙ ЛИД")
        for event in history:
            if isinstance(event, fk.events.MoveEvent):
                events["to:" + event.to_stage].trigger(cursor)
    raw_seconds = (time.perf_counter() - start) * count / len(sample)
    start = time.perf_counter()
    _moves_again(rules, sample)
    again_seconds = (time.perf_counter() - start) * count / len(sample)
    return replay_seconds, raw_seconds, again_seconds, problems


def main() -> None:
    """Run every measurement and print the figures with their ratios."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    move, machine, raw = bench_move()
    print(
        f"validated move: fast path median {move:.1f} µs, machine path {machine:.1f} µs; "
        f"raw trigger: {raw:.1f} µs; raw/fast = {raw / move:.2f}, machine/raw = {machine / raw:.2f}"
    )
    per_deal, per_bound = bench_memory()
    print(
        f"memory per idle deal: {per_deal:,.0f} B; per deal bound to its own Machine: "
        f"{per_bound:,.0f} B ({per_bound / per_deal:.0f}x)"
    )
    replay_seconds, raw_seconds, again_seconds, problems = bench_replay(count)
    print(
        f"replay of {count:,} deals x 5 moves: {replay_seconds:.1f} s ({problems} problems); "
        f"raw triggers (scaled from {min(count, SAMPLES):,}): {raw_seconds:.1f} s; "
        f"raw/replay = {raw_seconds / replay_seconds:.1f}; re-executing the moves with every "
        f"guard (scaled): {again_seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
