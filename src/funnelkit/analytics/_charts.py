"""
Charts as data: Vega-Lite specs and Mermaid text a host app renders; nothing drawn or written.

Every spec carries its (already aggregated) data inline, so it is small whatever the size of
the log: `funnel_chart` is a centred bar per funnel stage with its rates,
`time_in_stage_chart` a box per stage built from precomputed quantiles (Vega-Lite's
"box plot with pre-calculated summaries"), `sankey` the stage flows as Mermaid ``sankey-beta``
(backward moves go to "back to …" nodes, because a Sankey has no cycles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from funnelkit.analytics._funnel import ConversionReport, StageFlows, TimeInStage


__all__ = ["funnel_chart", "sankey", "time_in_stage_chart"]

_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_HOUR = 3_600.0


def funnel_chart(result: ConversionReport, *, title: str | None = None) -> dict[str, Any]:
    """A Vega-Lite v5 funnel: one centred bar per stage, labelled with its count and rates."""
    values = [
        {
            "order": row["position"],
            "stage": row["stage"],
            "reached": row["reached"],
            "step_rate": row["step_rate"],
            "cumulative_rate": row["cumulative_rate"],
        }
        for row in result.rows()
    ]
    stage_axis = {
        "field": "stage",
        "type": "nominal",
        "sort": {"field": "order"},
        "title": None,
    }
    return {
        "$schema": _SCHEMA,
        "title": title or f"{result.pipeline}: reached ({result.reach.value})",
        "data": {"values": values},
        "encoding": {"y": stage_axis},
        "layer": [
            {
                "mark": "bar",
                "encoding": {
                    "x": {
                        "field": "reached",
                        "type": "quantitative",
                        "stack": "center",
                        "axis": None,
                    },
                    "color": {"field": "stage", "type": "nominal", "legend": None},
                    "tooltip": [
                        {"field": "stage", "type": "nominal"},
                        {"field": "reached", "type": "quantitative"},
                        {"field": "step_rate", "type": "quantitative", "format": ".1%"},
                        {"field": "cumulative_rate", "type": "quantitative", "format": ".1%"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "color": "black"},
                "encoding": {"text": {"field": "reached", "type": "quantitative"}},
            },
        ],
    }


def time_in_stage_chart(result: TimeInStage, *, title: str | None = None) -> dict[str, Any]:
    """
    A Vega-Lite v5 box per stage from precomputed quantiles, in hours.

    The whiskers run from the 10th to the 90th percentile, the box from the 25th to the 75th,
    the tick is the median (type 7 quantiles). Stages without a completed visit are left out.
    """
    values = []
    for order, times in enumerate(result.stages, start=1):
        if not times.durations:
            continue
        points = {
            name: times.quantile(q)
            for name, q in (
                ("p10", 0.1),
                ("p25", 0.25),
                ("median", 0.5),
                ("p75", 0.75),
                ("p90", 0.9),
            )
        }
        values.append(
            {"order": order, "stage": times.stage, "count": len(times.durations)}
            | {name: (value or 0.0) / _HOUR for name, value in points.items()}
        )
    stage_axis = {"field": "stage", "type": "nominal", "sort": {"field": "order"}, "title": None}
    return {
        "$schema": _SCHEMA,
        "title": title or f"{result.pipeline}: time in stage, hours (per {result.per.value})",
        "data": {"values": values},
        "encoding": {"y": stage_axis},
        "layer": [
            {
                "mark": {"type": "rule"},
                "encoding": {
                    "x": {"field": "p10", "type": "quantitative", "title": "hours"},
                    "x2": {"field": "p90"},
                },
            },
            {
                "mark": {"type": "bar", "size": 14},
                "encoding": {
                    "x": {"field": "p25", "type": "quantitative"},
                    "x2": {"field": "p75"},
                    "tooltip": [
                        {"field": "stage", "type": "nominal"},
                        {"field": "count", "type": "quantitative"},
                        {"field": "median", "type": "quantitative", "format": ".1f"},
                        {"field": "p90", "type": "quantitative", "format": ".1f"},
                    ],
                },
            },
            {
                "mark": {"type": "tick", "color": "white", "size": 14},
                "encoding": {"x": {"field": "median", "type": "quantitative"}},
            },
        ],
    }


def _node(name: str) -> str:
    """A Mermaid Sankey CSV field: quoted when it holds a comma or a quote."""
    if any(ch in name for ch in ',"\n'):
        return '"' + name.replace('"', '""') + '"'
    return name


def sankey(result: StageFlows) -> str:
    """The stage flows as Mermaid ``sankey-beta`` text; backward moves go to "back to …"."""
    lines = ["sankey-beta", ""]
    for from_stage, to_stage, moves in result.counts:
        if from_stage == to_stage:
            continue
        target = f"back to {to_stage}" if result.is_backward(from_stage, to_stage) else to_stage
        lines.append(f"{_node(from_stage)},{_node(target)},{moves}")
    return "\n".join(lines) + "\n"
