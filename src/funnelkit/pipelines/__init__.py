"""
Pipelines: stages with rules, moves that explain themselves, built on `transitions`.

Define a `Pipeline` of `Stage` values (in code, or from data with ``funnelkit.from_data``), then
``pipeline.compile()`` once and use the compiled rules to `check`, `move` and list
`allowed_moves` for any number of leads or deals.
"""

from funnelkit.exceptions import MoveRefusedError
from funnelkit.pipelines._compiled import (
    BulkMove,
    CompiledPipeline,
    Guard,
    MoveResult,
    Replay,
    ReplayProblem,
    TaskToCreate,
)
from funnelkit.pipelines._definition import (
    DEAL_FIELDS,
    LEAD_FIELDS,
    CreateTask,
    EntryAction,
    ExtraMove,
    MovePolicy,
    Pipeline,
    PipelineKind,
    Reason,
    SetField,
    Stage,
    StageKind,
)
from funnelkit.pipelines._funnel import Conversion, Funnel, NextDeal
from funnelkit.pipelines._mermaid import to_mermaid


__all__ = [
    "DEAL_FIELDS",
    "LEAD_FIELDS",
    "BulkMove",
    "CompiledPipeline",
    "Conversion",
    "CreateTask",
    "EntryAction",
    "ExtraMove",
    "Funnel",
    "Guard",
    "MovePolicy",
    "MoveRefusedError",
    "MoveResult",
    "NextDeal",
    "Pipeline",
    "PipelineKind",
    "Reason",
    "Replay",
    "ReplayProblem",
    "SetField",
    "Stage",
    "StageKind",
    "TaskToCreate",
    "to_mermaid",
]
