"""
Mermaid diagrams of pipelines and funnels, drawn from the compiled rules.

The text is a Mermaid ``flowchart``: stage groups become subgraphs, won and lost (or junk)
stages get their own shapes and classes, and every arrow is a move the compiled machine
declares, labelled with the names of its guards. The host app renders it (Mermaid's own
renderer, GitHub, GitLab, most wikis); funnelkit only writes text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from funnelkit._checks import describe
from funnelkit.exceptions import ValidationError
from funnelkit.pipelines._definition import Pipeline, Stage, StageKind
from funnelkit.pipelines._funnel import Funnel


if TYPE_CHECKING:
    from collections.abc import Iterator


__all__ = ["to_mermaid"]

_CLASSES = (
    "    classDef won fill:#d9f2d9,stroke:#2e7d32,color:#1b5e20",
    "    classDef lost fill:#f9dede,stroke:#c62828,color:#8e0000",
    "    classDef junk fill:#eeeeee,stroke:#757575,color:#424242",
)


def _text(value: str) -> str:
    """Quote a label for Mermaid: double quotes become the #quot; entity."""
    return '"' + value.replace('"', "#quot;") + '"'


def _node(node_id: str, stage: Stage) -> str:
    label = _text(stage.title)
    if stage.kind is StageKind.OPEN:
        return f"{node_id}[{label}]"
    return f"{node_id}([{label}]):::{stage.kind.value}"


def _pipeline_lines(pipeline: Pipeline, prefix: str, indent: str) -> Iterator[str]:
    ids = {stage.key: f"{prefix}s{i}" for i, stage in enumerate(pipeline.stages)}
    groups: dict[str | None, list[Stage]] = {}
    for stage in pipeline.stages:
        groups.setdefault(stage.group, []).append(stage)
    for number, (group, stages) in enumerate(groups.items()):
        if group is None:
            yield from (f"{indent}{_node(ids[s.key], s)}" for s in stages)
            continue
        yield f"{indent}subgraph {prefix}g{number}[{_text(group)}]"
        yield from (f"{indent}    {_node(ids[s.key], s)}" for s in stages)
        yield f"{indent}end"
    for source, dest, guards in pipeline.compile().moves():
        label = ", ".join(guard.name for guard in guards)
        arrow = f"-->|{_text(label)}|" if label else "-->"
        yield f"{indent}{ids[source]} {arrow} {ids[dest]}"


def _funnel_lines(funnel: Funnel) -> Iterator[str]:
    for number, pipeline in enumerate(funnel.pipelines):
        yield f"    subgraph p{number}[{_text(pipeline.title)}]"
        yield "        direction LR"
        yield from _pipeline_lines(pipeline, f"p{number}", "        ")
        yield "    end"
    first_deal = 0 if funnel.leads is None else 1
    if funnel.leads is not None:
        lead_won = [f"p0s{i}" for i, s in enumerate(funnel.leads.stages) if s.kind is StageKind.WON]
        for number in range(1, len(funnel.pipelines)):
            yield from (
                f"    {source} -.->|{_text('converts')}| p{number}s0" for source in lead_won
            )
    if funnel.chained:
        for number, pipeline in enumerate(funnel.deals[:-1], start=first_deal):
            yield from (
                f"    p{number}s{i} -.->|{_text('next')}| p{number + 1}s0"
                for i, stage in enumerate(pipeline.stages)
                if stage.kind is StageKind.WON
            )


def to_mermaid(subject: Pipeline | Funnel) -> str:
    """
    Return Mermaid flowchart text for a pipeline or a funnel.

    For a funnel, each pipeline is a subgraph; a dotted arrow leads from the lead pipeline's
    won stage to the first stage of each deal pipeline it can convert into, and from each
    deal pipeline's won stage to the next pipeline of the chain.

    Raises:
        ValidationError: If `subject` is neither a `Pipeline` nor a `Funnel`.
    """
    given: object = subject
    if isinstance(given, Pipeline):
        lines = ["flowchart LR", *_pipeline_lines(given, "", "    ")]
    elif isinstance(given, Funnel):
        lines = ["flowchart TB", *_funnel_lines(given)]
    else:
        msg = f"to_mermaid(subject): expected a Pipeline or a Funnel, got {describe(given)}"
        raise ValidationError(msg, field="subject", value=given, rule="type")
    return "\n".join([*lines, *_CLASSES]) + "\n"
