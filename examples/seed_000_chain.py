"""
Seed 000's chain played through `funnelkit.Service`: lead → meeting → proposal → contract → sale.

Every request lands in the lead pipeline; a good one becomes a meeting deal, and each won deal
opens the next one in the chain (`Service.open_next`): proposal versions are sent until one is
agreed, the contract is signed, and the main sale goes from documents through prepayment,
production, quality check and feedback to the final payment. Some clients buy at once: their
lead is converted straight into the main sale. With a fixed seed; run it to print what the
chain shows.
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.qualification import Intake, QualificationPolicy, SpamPattern


sys.path.insert(0, str(Path(__file__).parent.parent))  # run as a script from anywhere
from funnelkit.seeds.pipelines import (
    CONTRACT,
    LEADS,
    MAIN_SALE,
    MEETING,
    PROPOSAL,
    SEED_000,
)


MSK = timezone(timedelta(hours=3), "MSK")
START = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
MANAGER = fk.Actor(id="ольга", roles=frozenset({"manager"}))
REQUESTS = 200


class Chain:
    """The company of seed 000 and its clients' way through the chain."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.clock = fk.FixedClock(START)
        intake = Intake(
            pipeline=LEADS,
            qualification=QualificationPolicy(rules=(SpamPattern(patterns=("казино",)),)),
            junk_stages={"spam": "Спам"},
        )
        self.crm = fk.Service(
            clock=self.clock,
            ids=fk.SequentialIds(),
            funnel=SEED_000,
            store=fk.InMemoryStore(contact_keys=intake.matching.contact_keys),
            intake=intake,
        )

    def chance(self, probability: float) -> bool:
        """Whether something that happens with `probability` happens this time."""
        return self.rng.random() < probability

    def wait(self, days: float) -> None:
        """Let some time pass (up to `days`)."""
        self.clock.advance(timedelta(days=self.rng.uniform(0.1, days)))

    def play(self) -> None:
        """Each request on its own timeline, starting three hours after the one before."""
        for number in range(1, REQUESTS + 1):
            self.clock.set(START + timedelta(hours=3 * number))
            self.request(number)

    def request(self, number: int) -> None:
        """A request: spam, a random visitor, a client who buys at once, or the whole chain."""
        spam = self.chance(0.05)
        lead = fk.Lead(
            id=f"Л-{number}",
            created_at=self.clock.now(),
            pipeline=LEADS.key,
            stage="Новое обращение",
            source=fk.LeadSource(channel=self.rng.choice(["site_form", "chat", "call"])),
            contact_data=fk.ContactData(name="Клиент", phones=(f"+7921{number:07d}",)),
            message="Казино и ставки" if spam else "Хочу обсудить проект дома",
        )
        taken = self.crm.take_in(lead, actor=MANAGER)
        if taken.lead.status is not fk.LeadStatus.OPEN:
            return
        self.wait(0.05)
        if self.chance(0.1):
            self.crm.move(
                taken.lead.ref, "Случайный посетитель", actor=MANAGER, reason="random_visitor"
            )
            return
        amount = fk.Money.of(self.rng.randrange(300, 3_000) * 1000, "RUB")
        self.crm.move(taken.lead.ref, "Квалификация", actor=MANAGER)
        if self.chance(0.1):  # knows what he wants: straight to the main sale
            deal = self.crm.convert(
                lead.ref, actor=MANAGER, pipeline=MAIN_SALE.key, amount=amount
            ).deal
            self.sell(deal.id)
            return
        deal = self.crm.convert(lead.ref, actor=MANAGER, amount=amount).deal
        self.meet(deal.id)

    def step(self, deal_id: str, *stages: str) -> None:
        """Move a deal through stages, some time apart."""
        for stage in stages:
            self.wait(2)
            self.crm.move(fk.EntityRef.deal(deal_id), stage, actor=MANAGER)

    def meet(self, deal_id: str) -> None:
        """One or two meetings; most clients want a proposal afterwards."""
        for _ in range(2 if self.chance(0.3) else 1):
            task = self.crm.create_task(
                fk.EntityRef.deal(deal_id),
                actor=MANAGER,
                kind=fk.TaskKind.MEETING,
                title="Встреча в офисе",
                assignee=MANAGER.id,
                due_at=self.clock.now() + timedelta(days=2),
            )
            self.wait(2)
            self.crm.complete_task(task.ref, "Обсудили проект", actor=MANAGER, client_reached=True)
        self.step(deal_id, "Встреча назначена")
        if self.chance(0.2):
            self.crm.lose(fk.EntityRef.deal(deal_id), "not_interested", actor=MANAGER)
            return
        self.crm.win(fk.EntityRef.deal(deal_id), actor=MANAGER)
        self.propose(self.crm.open_next(fk.EntityRef.deal(deal_id), actor=MANAGER).id)

    def propose(self, deal_id: str) -> None:
        """Proposal versions until one is agreed, or the client goes."""
        self.crm.add_document(fk.EntityRef.deal(deal_id), fk.DocumentKind.PROPOSAL, actor=MANAGER)
        self.step(deal_id, "КП отправлено")
        for _ in range(self.rng.randrange(3)):
            self.wait(3)
            self.crm.add_document(
                fk.EntityRef.deal(deal_id), fk.DocumentKind.PROPOSAL, actor=MANAGER
            )
        if self.chance(0.25):
            self.crm.lose(fk.EntityRef.deal(deal_id), "expensive", actor=MANAGER)
            return
        self.crm.win(fk.EntityRef.deal(deal_id), actor=MANAGER)
        self.contract(self.crm.open_next(fk.EntityRef.deal(deal_id), actor=MANAGER).id)

    def contract(self, deal_id: str) -> None:
        """The contract is drafted, sent and (mostly) signed."""
        self.crm.add_document(fk.EntityRef.deal(deal_id), fk.DocumentKind.CONTRACT, actor=MANAGER)
        self.step(deal_id, "Договор отправлен")
        if self.chance(0.1):
            self.crm.lose(fk.EntityRef.deal(deal_id), "competitor", actor=MANAGER)
            return
        self.crm.win(fk.EntityRef.deal(deal_id), actor=MANAGER)
        self.sell(self.crm.open_next(fk.EntityRef.deal(deal_id), actor=MANAGER).id)

    def sell(self, deal_id: str) -> None:
        """The main sale: prepayment, production, checks, feedback, the final payment."""
        amount = self.crm.get_deal(fk.EntityRef.deal(deal_id)).amount
        assert amount is not None  # noqa: S101 - every deal here is priced at conversion
        half = fk.Money(amount=amount.amount / 2, currency=amount.currency)
        self.step(deal_id, "Предоплата")
        self.crm.record_payment(fk.EntityRef.deal(deal_id), half, actor=MANAGER)
        self.step(deal_id, "Производство", "Проверка качества", "Обратная связь")
        if self.chance(0.3):
            self.step(deal_id, "Устранение недочётов")
        self.step(deal_id, "Доплата")
        if self.chance(0.85):  # the rest are still waiting for the final payment
            self.crm.record_payment(
                fk.EntityRef.deal(deal_id), half, actor=MANAGER, kind=fk.PaymentKind.FINAL
            )
            self.crm.win(fk.EntityRef.deal(deal_id), actor=MANAGER)


def main() -> Chain:
    """Play the requests and print what the chain shows, per client and per pipeline."""
    chain = Chain(seed=2000)
    chain.play()
    folded = chain.crm.histories(as_of=START + timedelta(days=120))
    flow = fa.lead_flow(folded)  # a request and the deals that follow it count once
    print(
        f"{flow.leads} requests: {flow.junk} junk, {flow.good} good, {flow.waiting} waiting; "
        f"{flow.deals_from_leads} got a deal, {flow.won_from_leads} ended in a sale"
    )
    for pipeline in (MEETING, PROPOSAL, CONTRACT, MAIN_SALE):
        wins = fa.win_rate(folded, pipeline=pipeline).total
        print(
            f"  {pipeline.key:<8} deals {wins.created:>4}  won {wins.won:>4}  lost {wins.lost:>3}"
            f"  open {wins.open:>3}"
        )
    steps = fa.deal_steps(folded)  # per customer journey
    print(f"bought at once, without meetings or proposals: {steps.bought_at_once}")
    print("meetings before the first proposal:", dict(steps.meetings_before_proposal))
    print("proposal versions before the contract:", dict(steps.versions_before_contract))
    print(f"median days from the first request to the sale: {steps.median_cycle_days:.1f}")
    print("lost reasons by stage:", fa.lost_reasons(folded).rows()[:4])
    debts = fa.receivables(folded, currency="RUB", pipeline=MAIN_SALE).by_owner()
    print("the main sale's money, by owner:", debts)
    return chain


if __name__ == "__main__":
    main()
