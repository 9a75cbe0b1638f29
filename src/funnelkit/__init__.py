"""
funnelkit: sales-funnel workflows as a pure, typed domain library.

Leads, deals, contacts and tasks are immutable values; every change is an immutable event;
storage plugs in through small protocols (`funnelkit.storage`); plain data goes in and out through
one strict converter (`to_data`, `from_data`).
funnelkit does no I/O of its own: time and ids come from the caller or from injected providers.

``import funnelkit as fk`` gives what an application needs day to day: the entities and
values, pipelines and funnels, the `Service` and the in-memory store, the intake and its
policies, plans, the converter and the errors. Each topic module holds its full list:
`funnelkit.model`, `funnelkit.events`, `funnelkit.pipelines`, `funnelkit.matching`,
`funnelkit.qualification`,
`funnelkit.tasks`, `funnelkit.plans`, `funnelkit.analytics`, `funnelkit.storage` and
`funnelkit.exceptions`.
"""

from typing import Any

from funnelkit import (
    analytics,
    events,
    exceptions,
    matching,
    model,
    pipelines,
    plans,
    qualification,
    service,
    storage,
    tasks,
)
from funnelkit._converter import (
    Converter,
    configure_converter,
    event_from_data,
    events_from_data,
    from_data,
    to_data,
)
from funnelkit._public import publish
from funnelkit.exceptions import (
    ConflictError,
    FunnelkitError,
    MoveRefusedError,
    NotFoundError,
    StoreNotReadyError,
    StructureError,
    UnitOfWorkError,
    ValidationError,
)
from funnelkit.matching import MatchPolicy, MergePolicy
from funnelkit.model import (
    Actor,
    Contact,
    ContactData,
    Deal,
    DealStatus,
    Document,
    DocumentKind,
    EntityKind,
    EntityRef,
    FixedClock,
    Lead,
    LeadSource,
    LeadStatus,
    Money,
    Payment,
    PaymentKind,
    Period,
    SequentialIds,
    Task,
    TaskKind,
    TaskStatus,
    Violation,
)
from funnelkit.pipelines import CreateTask, Funnel, Pipeline, Reason, SetField, Stage, StageKind
from funnelkit.plans import Plan, Target
from funnelkit.qualification import Intake, QualificationPolicy
from funnelkit.service import Service
from funnelkit.storage import InMemoryStore
from funnelkit.tasks import TaskPolicy


__all__ = [
    "Actor",
    "ConflictError",
    "Contact",
    "ContactData",
    "Converter",
    "CreateTask",
    "Deal",
    "DealStatus",
    "Document",
    "DocumentKind",
    "EntityKind",
    "EntityRef",
    "FixedClock",
    "Funnel",
    "FunnelkitError",
    "InMemoryStore",
    "Intake",
    "Lead",
    "LeadSource",
    "LeadStatus",
    "MatchPolicy",
    "MergePolicy",
    "Money",
    "MoveRefusedError",
    "NotFoundError",
    "Payment",
    "PaymentKind",
    "Period",
    "Pipeline",
    "Plan",
    "QualificationPolicy",
    "Reason",
    "SequentialIds",
    "Service",
    "SetField",
    "Stage",
    "StageKind",
    "StoreNotReadyError",
    "StructureError",
    "Target",
    "Task",
    "TaskKind",
    "TaskPolicy",
    "TaskStatus",
    "UnitOfWorkError",
    "ValidationError",
    "Violation",
    "__version__",
    "analytics",
    "configure_converter",
    "event_from_data",
    "events",
    "events_from_data",
    "exceptions",
    "from_data",
    "matching",
    "model",
    "pipelines",
    "plans",
    "qualification",
    "service",
    "storage",
    "tasks",
    "to_data",
]

publish(__name__, globals())


def __getattr__(name: str) -> Any:
    """``__version__``, read from the installed distribution when first asked for."""
    if name == "__version__":
        from importlib import metadata  # noqa: PLC0415 - about 29 ms, paid by who asks

        version = metadata.version("funnelkit")
        globals()["__version__"] = version
        return version
    msg = f"module 'funnelkit' has no attribute {name!r}"
    raise AttributeError(msg)
