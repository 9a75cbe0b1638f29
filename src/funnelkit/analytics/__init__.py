"""
Analytics from events: conversion, stage flows, time in stage, outcomes, closing times, sources.

`histories` folds the events (in any order, as of an explicit snapshot time) into one
`History` per lead and deal, in one pass; every report takes that fold or the events
themselves. Reports are frozen values that keep their sufficient statistics, so the reports of
parts of a log `merge` into the report of the whole, and turn into plain `rows` or chart data
(`funnel_chart`, `time_in_stage_chart` as Vega-Lite, `sankey` as Mermaid text). The definitions
are in the guide "Metric definitions".
"""

from funnelkit._public import publish
from funnelkit.analytics._charts import funnel_chart, sankey, time_in_stage_chart
from funnelkit.analytics._columnar import LogEvent, StageLog
from funnelkit.analytics._common import (
    Counting,
    DateBasis,
    Filters,
)
from funnelkit.analytics._deals import (
    Bottleneck,
    Bottlenecks,
    Cohort,
    Cohorts,
    DealSteps,
    bottlenecks,
    cohorts,
    deal_steps,
)
from funnelkit.analytics._funnel import (
    ConversionReport,
    Per,
    Reach,
    StageFlows,
    StageTimes,
    TimeInStage,
    conversion,
    stage_flows,
    time_in_stage,
)
from funnelkit.analytics._history import (
    Bucket,
    Histories,
    History,
    Journey,
    Outcome,
    TaskHistory,
    histories,
)
from funnelkit.analytics._leads import (
    LeadFlow,
    ResponseTimes,
    SourceRow,
    Sources,
    lead_flow,
    response_times,
    sources,
)
from funnelkit.analytics._management import (
    PlanFact,
    PlanFacts,
    SlaReport,
    TaskLoad,
    plan_vs_fact,
    sla_report,
    task_load,
)
from funnelkit.analytics._money import (
    Forecast,
    ForecastStage,
    Receivable,
    Receivables,
    Velocity,
    forecast,
    receivables,
    velocity,
)
from funnelkit.analytics._outcomes import (
    ClosingTimes,
    GroupOutcomes,
    LostReasons,
    WinRate,
    closing_times,
    lost_reasons,
    win_rate,
)
from funnelkit.analytics._stats import Curve, aalen_johansen, kaplan_meier, quantile


__all__ = [
    "Bottleneck",
    "Bottlenecks",
    "Bucket",
    "ClosingTimes",
    "Cohort",
    "Cohorts",
    "ConversionReport",
    "Counting",
    "Curve",
    "DateBasis",
    "DealSteps",
    "Filters",
    "Forecast",
    "ForecastStage",
    "GroupOutcomes",
    "Histories",
    "History",
    "Journey",
    "LeadFlow",
    "LogEvent",
    "LostReasons",
    "Outcome",
    "Per",
    "PlanFact",
    "PlanFacts",
    "Reach",
    "Receivable",
    "Receivables",
    "ResponseTimes",
    "SlaReport",
    "SourceRow",
    "Sources",
    "StageFlows",
    "StageLog",
    "StageTimes",
    "TaskHistory",
    "TaskLoad",
    "TimeInStage",
    "Velocity",
    "WinRate",
    "aalen_johansen",
    "bottlenecks",
    "closing_times",
    "cohorts",
    "conversion",
    "deal_steps",
    "forecast",
    "funnel_chart",
    "histories",
    "kaplan_meier",
    "lead_flow",
    "lost_reasons",
    "plan_vs_fact",
    "quantile",
    "receivables",
    "response_times",
    "sankey",
    "sla_report",
    "sources",
    "stage_flows",
    "task_load",
    "time_in_stage",
    "time_in_stage_chart",
    "velocity",
    "win_rate",
]

publish(__name__, globals())
