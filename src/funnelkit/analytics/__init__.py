"""
Analytics from events: conversion, stage flows, time in stage, outcomes, closing times, sources.

`histories` folds the events (in any order, as of an explicit snapshot time) into one
`History` per lead and deal, in one pass; every report takes that fold or the events
themselves. Reports are frozen values that keep their sufficient statistics, so the reports of
parts of a log `merge` into the report of the whole, and turn into plain `rows` or chart data
(`funnel_chart`, `time_in_stage_chart` as Vega-Lite, `sankey` as Mermaid text). The definitions
are in the guide "Metric definitions".
"""

from funnelkit.analytics._charts import funnel_chart, sankey, time_in_stage_chart
from funnelkit.analytics._history import Histories, History, Outcome, histories
from funnelkit.analytics._reports import (
    Basis,
    ClosingTimes,
    Conversion,
    Filters,
    GroupOutcomes,
    LostReasons,
    Per,
    Reach,
    SourceRow,
    Sources,
    StageTimes,
    TimeInStage,
    Transitions,
    WinRate,
    closing_times,
    conversion,
    lost_reasons,
    sources,
    time_in_stage,
    transitions,
    win_rate,
)
from funnelkit.analytics._stats import Curve, aalen_johansen, kaplan_meier, quantile


__all__ = [
    "Basis",
    "ClosingTimes",
    "Conversion",
    "Curve",
    "Filters",
    "GroupOutcomes",
    "Histories",
    "History",
    "LostReasons",
    "Outcome",
    "Per",
    "Reach",
    "SourceRow",
    "Sources",
    "StageTimes",
    "TimeInStage",
    "Transitions",
    "WinRate",
    "aalen_johansen",
    "closing_times",
    "conversion",
    "funnel_chart",
    "histories",
    "kaplan_meier",
    "lost_reasons",
    "quantile",
    "sankey",
    "sources",
    "time_in_stage",
    "time_in_stage_chart",
    "transitions",
    "win_rate",
]
