"""
How a move's result is built: the one place funnelkit writes a frozen value's slots itself.

A move builds a new lead or deal, its `EntityRef`, its event and a `MoveResult` from parts
already checked (the entity, the pipeline's keys, the actor, the time, the sequence), so it
skips the validators that make `attrs.evolve` cost most of a move. The construction paths:

- `CompiledPipeline._apply` builds the result of a move the compiled machine made (the
  machine path: forced moves, closing moves, moves that run callbacks or entry actions);
- `CompiledPipeline._fast_result` builds the result of an unforced move between open stages
  whose transition runs no callback (the fast path, a table read off the machine), with
  `stage_changed` below, a function written by hand;
- both write through `trusted` and `replaced` below. The property test
  ``test_the_fast_path_and_the_machine_path_agree`` (``tests/test_pipeline_machine.py``) shows
  that the two paths give identical entities, events, effects and refusals, and the property
  kit re-validates every result it sees, so a mistake here cannot go unnoticed.

`trusted` and `replaced` are straight-line code generated per class (and per set of changed
fields), as attrs generates ``__init__``: one slot write per line, measured about twice as fast
as a loop over the slots. Their source is registered with `linecache` under a file name that
says what they build, so a traceback through them shows the line. `stage_changed` writes the
few fields of an `EntityRef`, a `StageChanged` event and a `MoveResult` by hand; the module
checks on import that those classes still have exactly the fields it writes.
"""

from __future__ import annotations

import linecache
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from funnelkit.events import StageChanged
from funnelkit.model import (
    Deal,
    EntityKind,
    EntityRef,
    Lead,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


__all__ = ["replaced", "stage_changed", "trusted"]

T = TypeVar("T")

_BUILDERS: dict[type[Any], Callable[[Mapping[str, Any]], Any]] = {}
_REPLACERS: dict[tuple[type[Any], tuple[str, ...]], Callable[[Any, Mapping[str, Any]], Any]] = {}


def _fields(cls: type[Any]) -> list[str]:
    return [attribute.name for attribute in attrs.fields(cls)]


def _compile(name: str, lines: list[str], cls: type[Any]) -> Callable[..., Any]:
    """Compile generated straight-line code that fills a new `cls`, traceable by `linecache`."""
    names = _fields(cls)
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    namespace.update((f"_w_{field}", getattr(cls, field).__set__) for field in names)
    source = "\n".join(lines) + "\n"
    filename = f"<funnelkit generated {name} {cls.__module__}.{cls.__qualname__}>"
    # Register the source, as attrs does, so tracebacks show the generated line.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - generated from field names
    function: Callable[..., Any] = namespace[name]
    return function


def trusted(cls: type[T], values: Mapping[str, Any]) -> T:
    """Build a frozen attrs instance from values known to be valid, skipping validators."""
    build = _BUILDERS.get(cls)
    if build is None:
        fields = _fields(cls)
        lines = ["def build(v):", "    new = _new(_cls)"]
        lines += [f"    _w_{field}(new, v[{field!r}])" for field in fields]
        lines.append("    return new")
        build = _BUILDERS[cls] = _compile("build", lines, cls)
    instance: T = build(values)
    return instance


def replaced(instance: T, changes: Mapping[str, Any]) -> T:
    """`attrs.evolve` for already-validated changes, without re-running validators."""
    cls = type(instance)
    key = (cls, tuple(changes))
    replace = _REPLACERS.get(key)
    if replace is None:
        lines = ["def replace(e, c):", "    new = _new(_cls)"]
        lines += [
            f"    _w_{field}(new, c[{field!r}])"
            if field in changes
            else f"    _w_{field}(new, e.{field})"
            for field in _fields(cls)
        ]
        lines.append("    return new")
        replace = _REPLACERS[key] = _compile("replace", lines, cls)
    moved: T = replace(instance, changes)
    return moved


def _writers(cls: type[Any], names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot writers of `names`, which must be every field of `cls`, in order."""
    found = tuple(_fields(cls))
    if found != names:  # pragma: no cover - guards the hand-written function below
        msg = f"{cls.__name__} has the fields {found}, but stage_changed writes {names}"
        raise AssertionError(msg)
    return tuple(getattr(cls, name).__set__ for name in names)


def _result_writers() -> tuple[Callable[[Any, Any], None], ...]:
    from funnelkit.pipelines._results import MoveResult  # noqa: PLC0415 - it imports this

    return _writers(MoveResult, ("entity", "events", "effects"))


_REF = _writers(EntityRef, ("kind", "id"))
_EVENT = _writers(
    StageChanged,
    (
        "entity",
        "sequence",
        "at",
        "actor",
        "pipeline",
        "from_stage",
        "to_stage",
        "forced",
        "overridden",
        "note",
    ),
)
_RESULT: list[tuple[Callable[[Any, Any], None], ...]] = []  # filled on first use (a cycle)
_NEW = object.__new__


def stage_changed(  # noqa: PLR0917 - the parts of the result, written in one go
    entity: Lead | Deal,
    kind: EntityKind,
    pipeline: str,
    changes: Mapping[str, Any],
    actor: str,
    at: Any,
    sequence: int,
    note: str,
    result_cls: type[Any],
) -> Any:
    """The `MoveResult` of an unforced move between open stages: entity, event, no effects."""
    ref = _NEW(EntityRef)
    write_kind, write_id = _REF
    write_kind(ref, kind)
    write_id(ref, entity.id)
    event = _NEW(StageChanged)
    (
        w_entity,
        w_sequence,
        w_at,
        w_actor,
        w_pipeline,
        w_from,
        w_to,
        w_forced,
        w_over,
        w_note,
    ) = _EVENT
    w_entity(event, ref)
    w_sequence(event, sequence)
    w_at(event, at)
    w_actor(event, actor)
    w_pipeline(event, pipeline)
    w_from(event, entity.stage)
    w_to(event, changes["stage"])
    w_forced(event, False)  # noqa: FBT003 - the value written
    w_over(event, ())
    w_note(event, note)
    if not _RESULT:
        _RESULT.append(_result_writers())
    w_moved, w_events, w_effects = _RESULT[0]
    result = _NEW(result_cls)
    w_moved(result, replaced(entity, changes))
    w_events(result, (event,))
    w_effects(result, ())
    return result
