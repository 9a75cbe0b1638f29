"""
How a move's result is built: the one place funnelkit writes a frozen value's slots itself.

A move builds a new lead or deal, its `EntityRef`, its event and a `MoveResult` from parts
already checked (the entity, the pipeline's keys, the actor, the time, the sequence), so it
skips the validators that make `attrs.evolve` cost most of a move. The construction paths:

- `CompiledPipeline._apply` builds the result of a move the compiled machine made (the
  machine path: forced moves, closing moves, moves that run callbacks or entry actions);
- `CompiledPipeline._fast_result` builds the result of an unforced move between open stages
  whose transition runs no callback (the fast path, a table read off the machine);
- both write through `trusted` and `replaced` below. The property test
  ``test_the_fast_path_and_the_machine_path_agree`` (``tests/test_pipeline_machine.py``) shows
  that the two paths give identical entities, events, effects and refusals, and the property
  kit re-validates every result it sees, so a mistake here cannot go unnoticed.

The functions are straight-line code generated per class (and per set of changed fields), as
attrs generates ``__init__``: one slot write per line, measured about twice as fast as a loop
over the slots. Their source is registered with `linecache` under a file name that says what
they build, so a traceback through them shows the line.
"""

from __future__ import annotations

import linecache
from typing import TYPE_CHECKING, Any, TypeVar

import attrs


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


__all__ = ["replaced", "trusted"]

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
