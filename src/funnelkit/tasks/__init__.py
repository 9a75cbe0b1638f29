"""
Tasks: the lifecycle of the next steps on leads, deals and contacts.

`TaskPolicy` creates (by hand or from a stage's entry actions), reschedules, reassigns,
completes and cancels tasks as pure operations that return the new task and its event;
`agenda` builds a manager's day in seed 002's order with the time it takes (`agendas` every
manager's at once, `agendas_in` straight from a store); the checks
(`overdue_tasks`, `without_next_step`, `sla_breaches`, `idle`, `closed_with_open_tasks`)
return alerts as data; `next_steps` lists every open deal of a manager with its next action,
and `contact_card` gathers one client's deals and open tasks.
"""

from funnelkit._public import publish
from funnelkit.tasks._day import (
    DEFAULT_MINUTES,
    Agenda,
    AgendaItem,
    Alert,
    ContactCard,
    NextStep,
    agenda,
    agendas,
    agendas_in,
    closed_with_open_tasks,
    contact_card,
    idle,
    next_steps,
    overdue_tasks,
    sla_breaches,
    stage_entries,
    without_next_step,
)
from funnelkit.tasks._lifecycle import TaskPolicy


__all__ = [
    "DEFAULT_MINUTES",
    "Agenda",
    "AgendaItem",
    "Alert",
    "ContactCard",
    "NextStep",
    "TaskPolicy",
    "agenda",
    "agendas",
    "agendas_in",
    "closed_with_open_tasks",
    "contact_card",
    "idle",
    "next_steps",
    "overdue_tasks",
    "sla_breaches",
    "stage_entries",
    "without_next_step",
]

publish(__name__, globals())
