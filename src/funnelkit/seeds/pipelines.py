"""
The seeds' pipelines, ready to use: the roofing company's amoCRM pipeline and two textbook schemes.

- `ROOFING`: the deal pipeline of the amoCRM regulation for the product "Кровля" (seed 002), with
  its card fields (budget, product, builder/private, construction stage, when the client buys),
  the engineer's stage "ОБЪЕМЫ У ТУРАЛА", the work order of the stages, and its entry tasks.
- The lead/deal scheme of seed 000: a lead pipeline with enough junk stages (`LEADS`), and
  the deal pipelines a good lead converts into, chained meeting → proposal → contract → main
  sale (`MEETING`, `PROPOSAL`, `CONTRACT`, `MAIN_SALE`).
- The temperature-based lead pipeline of seed 001 (`TEMPERATURE_LEADS`), and its variant for a
  CRM without the lead/deal split: one pipeline with a lead block and a deal block
  (`TWO_BLOCKS`).

Use them as they are, or as templates for your own (``attrs.evolve`` a stage or a pipeline).
"""

from __future__ import annotations

from datetime import timedelta

import funnelkit as fk
from funnelkit.pipelines import (
    CreateTask,
    ExtraMove,
    Funnel,
    MovePolicy,
    PaymentRule,
    Pipeline,
    PipelineKind,
    Reason,
    Stage,
    StageKind,
)


__all__ = [
    "ALL",
    "ANY_JUNK_REASONS",
    "CONTRACT",
    "JUNK_REASONS",
    "LEADS",
    "MAIN_SALE",
    "MEETING",
    "OTHER",
    "PROPOSAL",
    "ROOFING",
    "ROOFING_FIELDS",
    "SEED_000",
    "TEMPERATURE_LEADS",
    "TWO_BLOCKS",
]

OTHER = Reason(key="other", title="Другое", needs_note=True)
"""The reason "other", which needs a note saying what it was."""

# --- seed 002: the roofing company's amoCRM pipeline ------------------------------------------

ROOFING_FIELDS = fk.model.CustomFieldSchema(
    fields=(
        fk.model.FieldDef(
            key="product",
            type=fk.model.FieldType.CHOICE,
            title="Продукт",
            choices=("КРОВЛЯ", "ФАСАД"),
        ),
        fk.model.FieldDef(
            key="client_type",
            type=fk.model.FieldType.CHOICE,
            title="Строитель/Частник",
            choices=("строитель", "частник"),
        ),
        fk.model.FieldDef(key="lead_date", type=fk.model.FieldType.DATE, title="Дата лида"),
        fk.model.FieldDef(
            key="construction_stage", type=fk.model.FieldType.TEXT, title="Этап стройки"
        ),
        fk.model.FieldDef(key="buys_when", type=fk.model.FieldType.TEXT, title="Когда покупает"),
        fk.model.FieldDef(
            key="settlement", type=fk.model.FieldType.TEXT, title="Посёлок или улица"
        ),
        fk.model.FieldDef(key="houses", type=fk.model.FieldType.INTEGER, title="Сколько домов"),
    )
)
"""The card fields of seed 002's roofing deals (product, client type, stage of the build...)."""

ROOFING = Pipeline(
    key="кровля",
    title="Кровля",
    kind=PipelineKind.DEAL,
    stages=(
        Stage(
            key="НОВЫЙ ЛИД",
            priority=1,
            sla=timedelta(minutes=1),
            probability=5,
            # "в ту же минуту должен взять в работу": every new deal gets its call at once.
            on_enter=(
                CreateTask(
                    kind=fk.TaskKind.CALL,
                    title="Взять в работу: позвонить клиенту",
                    due_in=timedelta(minutes=1),
                ),
            ),
        ),
        Stage(
            key="ОП ВЗЯЛ В РАБОТУ",
            priority=4,
            probability=10,
            required_fields=("owner", "product", "client_type"),
        ),
        Stage(
            key="ГОРЯЧИЕ",
            priority=3,
            sla=timedelta(days=14),
            probability=30,
            required_fields=("construction_stage", "buys_when"),
            on_enter=(
                CreateTask(
                    kind=fk.TaskKind.CALL,
                    title="Получить проект, план кровли или рисунок с размерами крыши",
                    due_in=timedelta(days=1),
                ),
            ),
            # The plan must be in hand (the task done, with its result) before the volumes.
            blocking_tasks=frozenset({fk.TaskKind.CALL}),
        ),
        # The manager hands the deal to the engineer; only the engineer moves it on.
        Stage(
            key="ОБЪЕМЫ У ТУРАЛА",
            probability=50,
            entry_roles=frozenset({"manager"}),
            exit_roles=frozenset({"engineer"}),
        ),
        Stage(
            key="КП ГОТОВО",
            priority=2,
            probability=70,
            required_fields=("amount",),
            on_enter=(
                CreateTask(
                    kind=fk.TaskKind.CLOSE_FOR_PAYMENT,
                    title="Закрыть в оплату",
                    due_in=timedelta(days=1),
                ),
            ),
        ),
        Stage(key="СМЕТА ГОТОВА", priority=2, probability=80, required_fields=("amount",)),
        # "Деньги от клиента в кассе": won only with money received.
        Stage(key="УСПЕШНО РЕАЛИЗОВАНО", kind=StageKind.WON, payment=PaymentRule.RECEIVED),
        Stage(key="ЗАКРЫТО И НЕ РЕАЛИЗОВАНО", kind=StageKind.LOST),
    ),
    # Forward, stage by stage; a client who pays on the proposal skips the estimate.
    extra_moves=(ExtraMove(source="КП ГОТОВО", dest="УСПЕШНО РЕАЛИЗОВАНО"),),
    reasons=(
        Reason(key="bought_elsewhere", title="Купил в другом месте"),
        Reason(key="expensive", title="Дорого"),
        Reason(key="no_answer", title="Не выходит на связь"),
        Reason(key="postponed", title="Отложил стройку"),
        OTHER,
    ),
    fields=ROOFING_FIELDS,
)
"""
Seed 002, the amoCRM roofing pipeline.

A new deal gets its call at once; the plan of the roof is asked for in "ГОРЯЧИЕ" and must be
in hand before the volumes; the manager moves a deal into "ОБЪЕМЫ У ТУРАЛА" and only the
engineer out of it; a deal is won with money received.
"""

# --- seed 000: leads, then meeting → proposal → contract → main sale ---------------------------

JUNK_REASONS = (  # each kind of junk has its own stage (seed 000: "отказные стадии")
    Reason(key="spam", title="Спам", stages=frozenset({"Спам"})),
    Reason(key="contractor", title="Подрядчик", stages=frozenset({"Подрядчик"})),
    Reason(
        key="random_visitor",
        title="Случайный посетитель",
        stages=frozenset({"Случайный посетитель"}),
    ),
    Reason(key="duplicate", title="Дубль", stages=frozenset({"Дубль"})),
    OTHER,
)
"""Seed 000's kinds of junk, each closing a lead into its own junk stage."""
ANY_JUNK_REASONS = tuple(
    Reason(key=r.key, title=r.title, needs_note=r.needs_note) for r in JUNK_REASONS
)
"""The same reasons, not tied to stages, for pipelines with one junk stage."""

LEADS = Pipeline(
    key="лиды",
    title="Лиды",
    kind=PipelineKind.LEAD,
    stages=(
        Stage(key="Новое обращение", priority=1, sla=timedelta(minutes=15)),
        Stage(key="Квалификация", priority=2, sla=timedelta(days=1)),
        Stage(key="Хороший лид", kind=StageKind.WON),
        Stage(key="Спам", kind=StageKind.JUNK),
        Stage(key="Подрядчик", kind=StageKind.JUNK),
        Stage(key="Случайный посетитель", kind=StageKind.JUNK),
        Stage(key="Дубль", kind=StageKind.JUNK),
    ),
    policy=MovePolicy(allow_skip=True),
    reasons=JUNK_REASONS,
)
"""Seed 000; where every request lands, is de-duplicated and qualified; junk has four stages."""


def _chain_link(key: str, title: str, steps: tuple[str, ...], won: str, lost: str) -> Pipeline:
    return Pipeline(
        key=key,
        title=title,
        stages=(
            *(Stage(key=step) for step in steps),
            Stage(key=won, kind=StageKind.WON),
            Stage(key=lost, kind=StageKind.LOST),
        ),
        reasons=(
            Reason(key="not_interested", title="Не заинтересован"),
            Reason(key="expensive", title="Дорого"),
            Reason(key="competitor", title="Выбрал конкурента"),
            OTHER,
        ),
    )


MEETING = _chain_link(
    "встреча", "Встреча", ("Назначить встречу", "Встреча назначена"), "Встреча проведена", "Отказ"
)
"""Seed 000, the meeting deal; a meeting set, then held (won) or refused."""
PROPOSAL = _chain_link(
    "кп", "КП", ("Готовим КП", "КП отправлено"), "КП согласовано", "КП отклонено"
)
"""Seed 000, the proposal deal; a proposal prepared and sent, then agreed (won) or rejected."""
CONTRACT = _chain_link(
    "договор", "Договор", ("Готовим договор", "Договор отправлен"), "Договор подписан", "Отказ"
)
"""Seed 000, the contract deal; a contract prepared and sent, then signed (won) or refused."""

MAIN_SALE = Pipeline(
    key="продажа",
    title="Продажа",
    stages=(
        Stage(key="Документы"),
        Stage(key="Предоплата", required_fields=("amount",)),
        Stage(key="Производство"),
        Stage(key="Проверка качества"),
        Stage(key="Обратная связь"),
        Stage(key="Устранение недочётов"),
        Stage(key="Доплата"),
        Stage(key="Успешно реализовано", kind=StageKind.WON, payment=PaymentRule.IN_FULL),
        Stage(key="Не реализовано", kind=StageKind.LOST),
    ),
    # Defects are fixed only if there are any.
    extra_moves=(ExtraMove(source="Обратная связь", dest="Доплата"),),
    reasons=(Reason(key="refused", title="Клиент отказался"), OTHER),
)
"""Seed 000; the main sale, from documents to the final payment (won when paid in full)."""

# --- seed 001: temperature-based leads, and the two-block single pipeline ----------------------

TEMPERATURE_LEADS = Pipeline(
    key="лиды по температуре",
    kind=PipelineKind.LEAD,
    stages=(
        Stage(key="Новые", priority=1, sla=timedelta(hours=1)),
        Stage(key="Молчуны", priority=4),
        Stage(key="Холодные", priority=3),
        Stage(key="Заинтересованные", priority=2),
        Stage(key="Передан в сделки", kind=StageKind.WON),
        Stage(key="Нецелевой", kind=StageKind.JUNK),
    ),
    # A lead warms up and cools down: its temperature may move either way.
    policy=MovePolicy(allow_back=True, allow_skip=True),
    reasons=ANY_JUNK_REASONS,
)
"""Seed 001; leads sorted by the client's state, from silent to very interested."""

TWO_BLOCKS = Pipeline(
    key="продажи",
    stages=(
        Stage(key="Новые", group="Лиды", priority=1),
        Stage(key="Молчуны", group="Лиды"),
        Stage(key="Холодные", group="Лиды"),
        Stage(key="Заинтересованные", group="Лиды", priority=2),
        Stage(key="Встреча", group="Сделки", required_fields=("owner",)),
        Stage(key="КП", group="Сделки", required_fields=("amount",)),
        Stage(key="Договор", group="Сделки"),
        Stage(key="Оплачено", kind=StageKind.WON),
        Stage(key="Нецелевой", kind=StageKind.LOST),
        Stage(key="Не купил", kind=StageKind.LOST),
    ),
    policy=MovePolicy(allow_back=True, allow_skip=True),
    reasons=(*ANY_JUNK_REASONS, Reason(key="expensive", title="Дорого")),
)
"""Seed 001, for a CRM without the lead/deal split; a lead block, then a deal block."""

SEED_000 = Funnel(key="заявки", leads=LEADS, deals=(MEETING, PROPOSAL, CONTRACT, MAIN_SALE))
"""Seed 000; leads convert into a meeting, proposal, contract or sale deal; won deals chain on."""

ALL = (ROOFING, LEADS, MEETING, PROPOSAL, CONTRACT, MAIN_SALE, TEMPERATURE_LEADS, TWO_BLOCKS)
"""Every pipeline of this module."""
