"""
Pipelines: stages with rules, moves that explain themselves, built on `transitions`.

Define a `Pipeline` of `Stage` values (in code, or from data with ``funnelkit.from_data``), with
your own conditions and callbacks if you like, then ``pipeline.compile()`` once: the compiled
`transitions` machine decides every `check` and `move`, and lists `allowed_moves`, for any
number of leads or deals.
"""

from funnelkit._public import publish
from funnelkit.exceptions import MoveRefusedError
from funnelkit.pipelines._compiled import (
    CompiledPipeline,
)
from funnelkit.pipelines._definition import (
    DEAL_FIELDS,
    LEAD_FIELDS,
    OPEN_TASKS,
    Action,
    Callback,
    Condition,
    CreateTask,
    Effect,
    EntryAction,
    ExtraMove,
    Message,
    MoveAttempt,
    MovePolicy,
    PaymentRule,
    Pipeline,
    PipelineKind,
    Reason,
    SetField,
    Stage,
    StageKind,
    Unless,
)
from funnelkit.pipelines._funnel import Funnel, LeadConversion, NextDeal
from funnelkit.pipelines._guards import (
    Guard,
)
from funnelkit.pipelines._mermaid import to_mermaid
from funnelkit.pipelines._results import (
    BulkMove,
    MoveResult,
    PlannedTask,
    Replay,
    ReplayProblem,
)


__all__ = [
    "DEAL_FIELDS",
    "LEAD_FIELDS",
    "OPEN_TASKS",
    "Action",
    "BulkMove",
    "Callback",
    "CompiledPipeline",
    "Condition",
    "CreateTask",
    "Effect",
    "EntryAction",
    "ExtraMove",
    "Funnel",
    "Guard",
    "LeadConversion",
    "Message",
    "MoveAttempt",
    "MovePolicy",
    "MoveRefusedError",
    "MoveResult",
    "NextDeal",
    "PaymentRule",
    "Pipeline",
    "PipelineKind",
    "PlannedTask",
    "Reason",
    "Replay",
    "ReplayProblem",
    "SetField",
    "Stage",
    "StageKind",
    "Unless",
    "to_mermaid",
]

publish(__name__, globals())
