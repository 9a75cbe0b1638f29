"""
A season of the roofing company of seed 002, played through `funnelkit.Service`.

Two months of requests from two sites, a chat and calls, with a fixed seed: clients who write
twice, spam, contractors on the blocked list. Each request is taken in (matched, qualified,
placed), good ones become deals in the amoCRM roofing pipeline, and three managers and the
engineer Турал move them under the stage rules: fields filled before a stage may be entered,
only the engineer moves a deal out of "ОБЪЕМЫ У ТУРАЛА", proposals and estimates in versions,
tasks created by the stages and completed with results (some left overdue), prepayments and
final payments. Every step is scheduled at its own time and played in time order.

Before the season the old client base is imported from a spreadsheet, where some clients were
typed twice; the duplicates are found, merged (each merge planned, then applied) and old clients
who write again are recognised. Then it prints the merges done, the funnel, lost reasons by
stage, bottlenecks, the sources table, one manager's agenda with its workload and the SLA
breaches. Given a folder, it writes the
pipeline's Mermaid diagram, the Sankey of stage flows and Vega-Lite specs there (the library
itself writes nothing).

Run it with ``python3 dev.py example [folder]`` (see README.md).
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import sys
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import funnelkit as fk
from funnelkit import analytics as fa
from funnelkit.pipelines import Funnel, to_mermaid
from funnelkit.qualification import (
    BlockedPhones,
    Intake,
    OpenDuplicate,
    QualificationPolicy,
    SpamPattern,
)


if TYPE_CHECKING:
    from collections.abc import Callable

sys.path.insert(0, str(Path(__file__).parent.parent))  # run as a script from anywhere
from funnelkit.seeds.pipelines import LEADS, ROOFING


MSK = timezone(timedelta(hours=3), "MSK")
START = datetime(2026, 4, 1, 8, 0, tzinfo=MSK)
DAYS = 60
REQUESTS_PER_DAY = 30
MANAGERS = [fk.Actor(id=name, roles=frozenset({"manager"})) for name in ("анна", "борис", "ирина")]
ENGINEER = fk.Actor(id="турал", roles=frozenset({"engineer"}))
CONTRACTORS = ("+79110000001", "+79110000002", "+79110000003")
CHANNELS = [
    fk.LeadSource(channel="site_form", site="krovlya-spb.ru", campaign="весна-2026"),
    fk.LeadSource(channel="site_form", site="fasad-spb.ru"),
    fk.LeadSource(channel="chat", site="krovlya-spb.ru"),
    fk.LeadSource(channel="call"),
]
OLD_CLIENTS = 300
SURNAMES = ["Строитель", "Иванов", "Петрова", "Сидоров", "Кузнецова"]
NAMES = ["Алмаз", "Ирина", "Пётр", "Ольга", "Сергей", "Марина", "Тимур", "Елена", "Дмитрий"]
SETTLEMENTS = ["Всеволожск", "Кудрово", "Мурино", "Сертолово", "Колтуши", "п. Званка"]


class Season:
    """The company, its calendar of things to do, and what happened."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.clock = fk.FixedClock(START)
        intake = Intake(
            pipeline=LEADS,
            qualification=QualificationPolicy(
                rules=(
                    SpamPattern(patterns=("казино", "ставки", "раскрутка сайтов")),
                    BlockedPhones(phones=frozenset(CONTRACTORS)),
                    OpenDuplicate(),
                )
            ),
            junk_stages={"spam": "Спам", "contractor": "Подрядчик", "duplicate": "Дубль"},
        )
        self.crm = fk.Service(
            clock=self.clock,
            ids=fk.SequentialIds(),
            funnel=Funnel(key="кровля", leads=LEADS, deals=(ROOFING,), chained=False),
            store=fk.InMemoryStore(contact_keys=intake.matching.contact_keys),
            intake=intake,
        )
        self.clients = [self._client(n) for n in range(DAYS * REQUESTS_PER_DAY * 2)]
        self._calendar: list[tuple[datetime, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self.end = START + timedelta(days=DAYS)
        self.requests = 0
        self.merges: list[fk.matching.UndoRecord] = []
        self.imported = 0

    def chance(self, probability: float) -> bool:
        """Whether something that happens with `probability` happens this time."""
        return self.rng.random() < probability

    # --- the calendar ---------------------------------------------------------------------

    def at(self, when: datetime, step: Callable[[], object]) -> None:
        """Do `step` at `when` (if the season is not over by then)."""
        if when < self.end:
            heapq.heappush(self._calendar, (when, next(self._order), step))

    def later(self, low: timedelta, high: timedelta, step: Callable[[], object]) -> None:
        """Do `step` some time between `low` and `high` from now."""
        seconds = self.rng.uniform(low.total_seconds(), high.total_seconds())
        self.at(self.clock.now() + timedelta(seconds=seconds), step)

    def import_base(self, clients: int = OLD_CLIENTS) -> None:
        """Load last year's clients from the spreadsheet; some rows are the same client twice."""
        importer = fk.Actor(id="импорт", roles=frozenset({"admin"}))
        for number in range(clients):
            client = self._client(number + len(self.clients))
            self.clients.append(client)  # an old client may write again this season
            rows: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
                (client["name"], (self._phone(client["digits"]),), ())
            ]
            if self.chance(0.12):  # typed again by another manager, with more details
                full = f"{client['name']} {self.rng.choice(SURNAMES)}"
                rows.append((full, (self._phone(client["digits"]),), (f"old{number}@mail.ru",)))
            for name, phones, emails in rows:
                self.imported += 1
                contact = fk.Contact(
                    id=f"К-{self.imported}",
                    created_at=self.clock.now() - timedelta(days=365),
                    names=(name,),
                    phones=phones,
                    emails=emails,
                    fields={"client_type": "частник"},
                )
                self.crm.add_contact(contact, actor=importer)

    def clean_base(self) -> None:
        """Find the duplicates of the imported base and merge each group: plan, then apply."""
        for cluster in self.crm.find_duplicates().clusters:
            plan = self.crm.plan_merge(
                fk.EntityRef.contact(c) for c in sorted(cluster)
            )  # a dry run a person could review
            self.merges.append(self.crm.merge(plan, actor=MANAGERS[0]))

    def play(self) -> None:
        """Schedule the requests, then play every step in time order, with progress."""
        for day in range(DAYS):
            for _ in range(REQUESTS_PER_DAY):
                minute = self.rng.randrange(14 * 60)
                self.at(START + timedelta(days=day, minutes=minute), self.request)
        shown = -1
        while self._calendar:
            when, _, step = heapq.heappop(self._calendar)
            self.clock.set(when)
            step()
            day = (when - START).days
            if day % 10 == 0 and day != shown:
                shown = day
                print(
                    f"  day {day + 1:>2} of {DAYS}: {self.requests:,} requests so far", flush=True
                )

    # --- the clients and their requests ---------------------------------------------------

    def _client(self, number: int) -> dict[str, Any]:
        rng = self.rng
        digits = f"9{rng.randrange(10**9):09d}"
        return {
            "name": rng.choice(NAMES),
            "digits": digits,
            "email": f"client{number}@mail.ru" if self.chance(0.3) else None,
            "settlement": rng.choice(SETTLEMENTS),
        }

    def _phone(self, digits: str) -> str:
        """The same number as clients type it: 8 (912) 345-67-89, +7 912 345 67 89, 8912..."""
        style = self.rng.randrange(3)
        if style == 0:
            return f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
        if style == 1:
            return f"+7 {digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}"
        return f"8{digits}"

    def request(self, client: dict[str, Any] | None = None) -> None:
        """A request arrives: a client (sometimes writing twice), spam, or a contractor."""
        rng = self.rng
        self.requests += 1
        source = rng.choice(CHANNELS)
        if client is None and self.chance(0.05):
            data = fk.ContactData(phones=(self._phone(f"9{rng.randrange(10**9):09d}"),))
            message = "Казино онлайн, бонус за регистрацию"
        elif client is None and self.chance(0.03):
            data = fk.ContactData(name="Бригада", phones=(rng.choice(CONTRACTORS),))
            message = "Предлагаем услуги кровельщиков"
        else:
            if client is None:
                client = rng.choice(self.clients)
                if self.chance(0.1):  # writes again minutes later, through another channel
                    again = client
                    self.later(
                        timedelta(minutes=1), timedelta(minutes=20), lambda: self.request(again)
                    )
            emails = (client["email"],) if client["email"] else ()
            data = fk.ContactData(
                name=client["name"], phones=(self._phone(client["digits"]),), emails=emails
            )
            area = rng.randrange(80, 400, 10)
            message = f"Нужна кровля {area} м², {client['settlement']}"
        lead = fk.Lead(
            id=f"Л-{self.requests}",
            created_at=self.clock.now(),
            pipeline=LEADS.key,
            stage="Новое обращение",
            source=source,
            contact_data=data,
            message=message,
        )
        manager = MANAGERS[self.requests % len(MANAGERS)]
        taken = self.crm.take_in(lead, actor=manager)
        if taken.lead.status is fk.LeadStatus.OPEN:
            lead_id = taken.lead.id
            self.later(
                timedelta(minutes=1), timedelta(minutes=40), lambda: self.qualify(lead_id, manager)
            )

    def qualify(self, lead_id: str, manager: fk.Actor) -> None:
        """A manager calls back: most requests become deals, some were random visitors."""
        if self.chance(0.15):
            ref = fk.EntityRef.lead(lead_id)
            self.crm.move(ref, "Случайный посетитель", actor=manager, reason="random_visitor")
            return
        deal = self.crm.convert(fk.EntityRef.lead(lead_id), actor=manager).deal
        self.later(
            timedelta(seconds=30), timedelta(minutes=10), lambda: self.take(deal.id, manager)
        )

    # --- a deal through the roofing pipeline ---------------------------------------------

    def take(self, deal_id: str, manager: fk.Actor) -> None:
        """ОП ВЗЯЛ В РАБОТУ: the product and the client type first (the stage requires them)."""
        ref = fk.EntityRef.deal(deal_id)
        self._finish_tasks(deal_id, manager, "Позвонили, взяли в работу", forgetful=False)
        product = "КРОВЛЯ" if self.chance(0.8) else "ФАСАД"
        client_type = "строитель" if self.chance(0.2) else "частник"
        self.crm.update(ref, actor=manager, fields={"product": product, "client_type": client_type})
        self.crm.move(ref, "ОП ВЗЯЛ В РАБОТУ", actor=manager)
        call = self.crm.create_task(
            ref,
            actor=manager,
            kind=fk.TaskKind.CALL,
            title="Выяснить этап стройки и сроки",
            assignee=manager.id,
            due_at=self.clock.now() + timedelta(days=1),
        )
        self.later(
            timedelta(hours=3), timedelta(days=2), lambda: self.heat(deal_id, call.id, manager)
        )

    def heat(self, deal_id: str, call_id: str, manager: fk.Actor) -> None:
        """ГОРЯЧИЕ, or lost: the client answered (or not)."""
        ref = fk.EntityRef.deal(deal_id)
        if self.chance(0.2):
            self.lose(deal_id, manager, self.rng.choice(["no_answer", "postponed"]))
            return
        self.crm.complete_task(
            fk.EntityRef.task(call_id),
            "Строят коробку, покупают летом",
            actor=manager,
            client_reached=True,
        )
        self.crm.update(
            ref,
            actor=manager,
            fields={"construction_stage": "коробка", "buys_when": "летом"},
        )
        self.crm.move(ref, "ГОРЯЧИЕ", actor=manager)
        if self.chance(0.05):
            return  # forgotten: it will outstay the stage's two weeks
        self.later(timedelta(days=1), timedelta(days=4), lambda: self.measure(deal_id, manager))

    def _open_tasks(self, deal_id: str) -> list[fk.Task]:
        return self.crm.tasks(subject=fk.EntityRef.deal(deal_id), status=fk.TaskStatus.OPEN)

    def _finish_tasks(
        self, deal_id: str, manager: fk.Actor, result: str, *, forgetful: bool = True
    ) -> None:
        """Complete the deal's open tasks; some are forgotten (and go overdue) where allowed."""
        for task in self._open_tasks(deal_id):
            if not forgetful or self.chance(0.95):
                self.crm.complete_task(task.ref, result, actor=manager, client_reached=True)

    def lose(self, deal_id: str, manager: fk.Actor, reason: str) -> None:
        """Close the deal as lost; its open tasks are cancelled, not left to go overdue."""
        for task in self._open_tasks(deal_id):
            self.crm.cancel_task(task.ref, "Сделка закрыта", actor=manager)
        self.crm.lose(fk.EntityRef.deal(deal_id), reason, actor=manager)

    def measure(self, deal_id: str, manager: fk.Actor) -> None:
        """The plan of the roof is in (its call done: the stage insists): Турал counts volumes."""
        self._finish_tasks(deal_id, manager, "Получили план кровли", forgetful=False)
        self.crm.move(fk.EntityRef.deal(deal_id), "ОБЪЕМЫ У ТУРАЛА", actor=manager)
        self.later(timedelta(days=1), timedelta(days=3), lambda: self.propose(deal_id, manager))

    def propose(self, deal_id: str, manager: fk.Actor) -> None:
        """Турал prices the roof and moves the deal on: only he may."""
        ref = fk.EntityRef.deal(deal_id)
        amount = fk.Money.of(self.rng.randrange(250, 1_500) * 1000, "RUB")
        self.crm.update(ref, actor=ENGINEER, amount=amount)
        self.crm.move(ref, "КП ГОТОВО", actor=ENGINEER)
        self.crm.add_document(
            fk.EntityRef.deal(deal_id), fk.DocumentKind.PROPOSAL, actor=manager, amount=amount
        )
        if self.chance(0.3):
            self.later(timedelta(hours=4), timedelta(days=1), lambda: self.rework(deal_id, manager))
        self.later(timedelta(hours=12), timedelta(days=4), lambda: self.decide(deal_id, manager))

    def rework(self, deal_id: str, manager: fk.Actor) -> None:
        """The client asks for another version of the proposal."""
        deal = self.crm.get_deal(fk.EntityRef.deal(deal_id))
        if deal.is_open:
            self.crm.add_document(
                fk.EntityRef.deal(deal_id),
                fk.DocumentKind.PROPOSAL,
                actor=manager,
                amount=deal.amount,
            )

    def decide(self, deal_id: str, manager: fk.Actor) -> None:
        """Pay on the proposal, ask for an estimate, or go elsewhere."""
        if self.chance(0.25):
            self.lose(deal_id, manager, self.rng.choice(["expensive", "bought_elsewhere"]))
            return
        if self.chance(0.45):
            self.win(deal_id, manager)
            return
        self._finish_tasks(deal_id, manager, "Клиент попросил смету")
        self.crm.move(fk.EntityRef.deal(deal_id), "СМЕТА ГОТОВА", actor=manager)
        self.crm.add_document(fk.EntityRef.deal(deal_id), fk.DocumentKind.ESTIMATE, actor=manager)
        self.later(timedelta(days=2), timedelta(days=5), lambda: self.close(deal_id, manager))

    def close(self, deal_id: str, manager: fk.Actor) -> None:
        """After the estimate: most pay, some find it too expensive."""
        if self.chance(0.2):
            self.lose(deal_id, manager, "expensive")
        else:
            self.win(deal_id, manager)

    def win(self, deal_id: str, manager: fk.Actor) -> None:
        """Half paid up front ("деньги в кассе"), the deal won, the rest after the works."""
        self._finish_tasks(deal_id, manager, "Оплатил предоплату")
        amount = self.crm.get_deal(fk.EntityRef.deal(deal_id)).amount
        assert amount is not None  # noqa: S101 - priced by Турал before any proposal
        half = fk.Money(amount=amount.amount / 2, currency=amount.currency)
        self.crm.record_payment(fk.EntityRef.deal(deal_id), half, actor=manager)
        self.crm.win(fk.EntityRef.deal(deal_id), actor=manager)
        self.later(
            timedelta(days=7),
            timedelta(days=21),
            lambda: self.crm.record_payment(
                fk.EntityRef.deal(deal_id), half, actor=manager, kind=fk.PaymentKind.FINAL
            ),
        )


def print_merges(season: Season) -> None:
    """Print the merges done on the imported base."""
    merged = sum(len(record.before) - 1 for record in season.merges)
    print(
        f"\nmerges done: {len(season.merges)} groups of the imported base, {merged} contacts "
        "folded into their survivors"
    )
    if season.merges:
        survivor = season.merges[0].after[0]
        assert isinstance(survivor, fk.Contact)  # noqa: S101 - a merge's first write
        print(
            f"  e.g. {season.merges[0].merge_id}: {survivor.id} now holds "
            f"{' / '.join(survivor.names)}, {', '.join(survivor.phones)}, "
            f"{', '.join(survivor.emails)}"
        )


def report(season: Season, folder: Path | None) -> None:
    """Print what the season shows; write the charts into `folder` if given."""
    as_of = season.end
    folded = season.crm.histories(as_of)
    flow = fa.lead_flow(folded)
    print(
        f"\n{season.requests:,} requests → {flow.leads:,} leads: {flow.junk:,} junk, "
        f"{flow.repeat:,} repeat requests, {flow.converted:,} deals, {flow.won_from_leads:,} won"
    )
    print_merges(season)
    print("\nfunnel of «кровля» (reached: entered or passed):")
    funnel = fa.conversion(folded, ROOFING, reach=fa.Reach.IMPLIED)
    for row in funnel.rows():
        print(f"  {row['stage']:<22} {row['reached']:>5}  {row['cumulative_rate']:>6.1%}")
    print("\nlost and junk reasons by stage:")
    for row in fa.lost_reasons(folded).rows()[:8]:
        print(f"  {row['outcome']:<5} {row['stage']:<22} {row['reason']:<18} {row['count']:>5}")
    print("\nbottlenecks (dropped, median days, deals waiting):")
    for row in fa.bottlenecks(folded, ROOFING).rows():
        median = row["median_days"] or 0.0
        print(f"  {row['stage']:<22} {row['dropped']:>5} {median:>7.2f} {row['in_stage']:>5}")
    print("\nsources:")
    for row in fa.sources(folded, by="site").rows():
        share = row["junk_share"] or 0.0
        print(
            f"  {row['site'] or '(call)':<16} leads {row['leads']:>5}  junk {share:>6.1%}  "
            f"deals {row['deals']:>5}  won {row['won']:>4}  revenue {row['revenue'] or '-'}"
        )
    last_day = (as_of - timedelta(days=1)).date()
    season.clock.set(datetime.combine(last_day, time(9, 0), tzinfo=MSK))  # the morning
    day = season.crm.agendas(last_day, MSK)
    owner = MANAGERS[0].id
    agenda = day.get(owner)
    if agenda is not None:
        print(
            f"\n{owner}'s day, {last_day}, at 09:00: {len(agenda.items)} items, {agenda.duration} "
            f"({sum(i.overdue for i in agenda.items)} overdue)"
        )
        for item in agenda.items[:5]:
            title = item.task.title if item.task else "новый лид: взять в работу"
            print(f"  {item.stage or '':<20} {title}")
    print("\nstages held past their SLA, by owner:")
    for row in fa.sla_report(folded, [LEADS, ROOFING]).rows():
        print(f"  {row['owner'] or '(nobody)':<8} {row['stage']:<20} {row['late']:>5}")
    print("\nopen tasks and overdue, by manager:", fa.task_load(folded).rows())
    due = fa.receivables(folded, currency="RUB").by_owner()
    print("receivables of won deals, by owner:", [(r["owner"], r["due"]) for r in due])
    if folder is None:
        print("\n(give a folder to write the diagram and the chart specs)")
        return
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "pipeline.mmd": to_mermaid(ROOFING),
        "flows.mmd": fa.sankey(fa.stage_flows(folded, ROOFING)),
        "funnel.vl.json": json.dumps(fa.funnel_chart(funnel), ensure_ascii=False, indent=2),
        "time_in_stage.vl.json": json.dumps(
            fa.time_in_stage_chart(fa.time_in_stage(folded, ROOFING)), ensure_ascii=False, indent=2
        ),
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    print(f"\nwrote {', '.join(files)} to {folder}")


def main(argv: list[str] | None = None) -> Season:
    """Play the season with the fixed seed and report it."""
    args = sys.argv[1:] if argv is None else argv
    print(f"playing {DAYS} days of the roofing company, {REQUESTS_PER_DAY} requests a day...")
    season = Season(seed=2026)
    season.import_base()
    season.clean_base()
    print(f"imported {season.imported} contacts of old clients, {len(season.merges)} merged")
    season.play()
    report(season, Path(args[0]) if args else None)
    return season


if __name__ == "__main__":
    main()
