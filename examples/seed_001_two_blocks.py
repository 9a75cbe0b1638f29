"""
Seed 001's recipe for a CRM without the lead/deal split: one pipeline in two blocks.

The "Лиды" block holds every new request, sorted by the client's state ("Молчуны",
"Холодные", "Заинтересованные"); a client who made a target action (an online consultation, a
visit to the office, a showing on site) moves on to the "Сделки" block, which is set up for
selling: meeting, proposal, contract, paid. Non-target requests leave from the lead block.

Three months of requests are played through `funnelkit.Service` with a fixed seed. Then the
two blocks are measured apart, as the seed asks: the quality of the incoming flow and the
speed of the first handling in the lead block, the selling cycle and win rate in the deal
block, and why cards left each block.

Run it with ``python examples/seed_001_two_blocks.py`` inside the project's environment.
"""

from __future__ import annotations

import random
import statistics
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import funnelkit as fk
from funnelkit import analytics as fa


sys.path.insert(0, str(Path(__file__).parent.parent))  # run as a script from anywhere
from funnelkit.seeds.pipelines import TEMPERATURE_LEADS, TWO_BLOCKS


MSK = timezone(timedelta(hours=3), "MSK")
START = datetime(2026, 2, 2, 9, 0, tzinfo=MSK)
DAYS = 90
REQUESTS_PER_DAY = 8
MANAGERS = [fk.Actor(id=name, roles=frozenset({"manager"})) for name in ("ольга", "тимур")]
DEALS_BLOCK = "Сделки"
NOT_TARGET = 0.2  # spam, random visitors, contractors
INTERESTED = 0.55  # of the target requests: interested at once (the rest are silent or cold)
TARGET_ACTIONS = ("онлайн-консультация", "встреча в офисе", "показ на объекте")


class Company:
    """A sales team working one two-block pipeline through the service."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.clock = fk.FixedClock(START)
        # The service needs a funnel; this company only uses its deal pipeline, TWO_BLOCKS.
        funnel = fk.Funnel(key="продажи", leads=TEMPERATURE_LEADS, deals=(TWO_BLOCKS,))
        self.crm = fk.Service(clock=self.clock, ids=fk.SequentialIds(), funnel=funnel)
        self.cards = 0

    def after(self, low_hours: float, high_hours: float) -> None:
        """Let between `low_hours` and `high_hours` pass."""
        self.clock.advance(timedelta(hours=self.rng.uniform(low_hours, high_hours)))

    def request(self, when: datetime) -> None:
        """A request arrives and lives its life through both blocks."""
        self.clock.set(when)  # each card's life is played step by step in its own time
        self.cards += 1
        manager = MANAGERS[self.cards % len(MANAGERS)]
        card = self.crm.add_deal(
            fk.Deal(
                id=f"К-{self.cards}",
                created_at=when,
                pipeline=TWO_BLOCKS.key,
                stage="Новые",
                title=f"Заявка {self.cards}",
                owner=manager.id,
                source=fk.LeadSource(channel=self.rng.choice(("site_form", "call", "chat"))),
            ),
            actor=manager,
        )
        self.after(0.1, 3)  # the first handling
        if self.chance(NOT_TARGET):
            reason = self.rng.choice(("spam", "random_visitor", "contractor"))
            self.crm.move(card.ref, "Нецелевой", actor=manager, reason=reason)
            return
        self.warm_up(card.ref, manager, interested=self.chance(INTERESTED))

    def warm_up(self, ref: fk.EntityRef, manager: fk.Actor, *, interested: bool) -> None:
        """Sort the client by temperature; silent and cold ones may warm up later."""
        stage = "Заинтересованные" if interested else self.rng.choice(("Молчуны", "Холодные"))
        self.crm.move(ref, stage, actor=manager)
        while stage != "Заинтересованные":
            self.after(24, 24 * 10)
            if self.chance(0.45):
                self.crm.move(
                    ref, "Не купил", actor=manager, reason="other", note="не выходит на связь"
                )
                return
            stage = "Холодные" if stage == "Молчуны" else "Заинтересованные"
            self.crm.move(ref, stage, actor=manager)
        self.after(24, 24 * 7)
        if self.chance(0.25):
            self.crm.move(ref, "Не купил", actor=manager, reason="expensive")
            return
        self.sell(ref, manager)

    def sell(self, ref: fk.EntityRef, manager: fk.Actor) -> None:
        """A target action moves the card to the deal block; then meeting, proposal, contract."""
        self.crm.move(ref, "Встреча", actor=manager, note=self.rng.choice(TARGET_ACTIONS))
        self.after(24, 24 * 5)
        area = self.rng.randrange(90, 250, 10)
        self.crm.update(ref, actor=manager, amount=fk.Money.of(str(area * 52_000), "RUB"))
        self.crm.move(ref, "КП", actor=manager)
        self.after(24 * 2, 24 * 14)
        if self.chance(0.3):
            self.crm.move(ref, "Не купил", actor=manager, reason="expensive")
            return
        self.crm.move(ref, "Договор", actor=manager)
        self.after(24, 24 * 10)
        self.crm.move(ref, "Оплачено", actor=manager, reason=None)

    def chance(self, probability: float) -> bool:
        """Whether something that happens with `probability` happens this time."""
        return self.rng.random() < probability

    def play(self) -> None:
        """Every request of the season, in the order they arrive."""
        arrivals = sorted(
            START + timedelta(days=day, minutes=self.rng.randrange(10 * 60))
            for day in range(DAYS)
            for _ in range(REQUESTS_PER_DAY)
        )
        for when in arrivals:
            self.request(when)


def _days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86_400


def report(company: Company) -> dict[str, float]:
    """Measure the two blocks apart; return the main figures (for the tests)."""
    as_of = START + timedelta(days=DAYS)  # the season's last evening: young cards are open
    folded = company.crm.histories(as_of)
    block = {stage.key: stage.group for stage in TWO_BLOCKS.stages}
    cards = [h for h in folded.deals.values() if h.pipeline == TWO_BLOCKS.key]
    entered_deals: list[tuple[fa.History, datetime]] = []
    first_handling: list[float] = []
    for card in cards:
        visits = card.visits
        if len(visits) > 1 and card.created_at is not None:
            first_handling.append(_days(card.created_at, visits[1][1]) * 24)
        entry = next((at for stage, at in visits if block.get(stage) == DEALS_BLOCK), None)
        if entry is not None:
            entered_deals.append((card, entry))
    not_target = sum(1 for card in cards if card.stage == "Нецелевой")
    won = [(card, entry) for card, entry in entered_deals if card.outcome is fa.Outcome.WON]
    cycle = [_days(entry, card.closed_at) for card, entry in won if card.closed_at is not None]
    figures = {
        "cards": len(cards),
        "not_target_share": not_target / len(cards),
        "to_deals_share": len(entered_deals) / len(cards),
        "first_handling_hours": statistics.median(first_handling),
        "deal_block_win_rate": len(won) / len(entered_deals),
        "cycle_days": statistics.median(cycle),
    }
    print(f"{len(cards)} requests in {DAYS} days, as of {as_of:%Y-%m-%d}")
    print("\nblock «Лиды» — the quality of the incoming flow:")
    print(f"  not target (left as «Нецелевой»):   {figures['not_target_share']:6.1%}")
    print(f"  warmed up into «Сделки»:            {figures['to_deals_share']:6.1%}")
    print(f"  first handling, median hours:       {figures['first_handling_hours']:6.2f}")
    print("\nblock «Сделки» — the selling cycle:")
    print(f"  entered the block:                  {len(entered_deals):6d}")
    print(f"  paid, of those that entered:        {figures['deal_block_win_rate']:6.1%}")
    print(f"  cycle from the target action, days: {figures['cycle_days']:6.1f} (median)")
    print("\nwhy cards left, by the block and stage they left from:")
    for row in fa.lost_reasons(folded).rows():
        print(
            f"  {block.get(row['stage']) or '-':<7} {row['stage']:<17} {row['reason']:<15} "
            f"{row['count']:>4}"
        )
    print("\nwhere the open cards are:")
    open_cards = [card.stage for card in cards if card.is_open]
    for stage in TWO_BLOCKS.stages:
        if stage.key in open_cards:
            print(f"  {stage.group or '-':<7} {stage.key:<17} {open_cards.count(stage.key):>4}")
    return figures


def main() -> dict[str, float]:
    """Play the season with the fixed seed and report it."""
    company = Company(seed=1)
    company.play()
    return report(company)


if __name__ == "__main__":
    main()
