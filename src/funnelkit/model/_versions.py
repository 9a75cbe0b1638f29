"""
Event schema versions: how the plain data of an earlier version of an event is read today.

Every event class has a ``VERSION``, and its plain-data form carries it (``"version": 2``);
data without one was written before versions existed and is version 1. When an event's form
changes, its ``VERSION`` goes up by one and an *upcaster* is registered here for the version
before: a function from the fields of version ``n`` to the fields of version ``n + 1``. Reading
version ``n`` data runs the upcasters of ``n``, ``n + 1``... in turn, then builds the event.
This is how eventsourcing's ``upcast_vN_vN+1`` methods work; stored events are never
rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from funnelkit.model._events import DealWon, LeadConverted, StageChanged


__all__ = ["UPCASTERS", "Upcaster"]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""
Turns the fields of one version of an event into those of the next version.

It receives the fields of the plain-data form without ``"type"`` and ``"version"`` (a fresh
dict it may change) and returns the fields of the next version.
"""

_REGISTERED: dict[tuple[str, int], Upcaster] = {}


def _upcaster(cls: type[Any], version: int) -> Callable[[Upcaster], Upcaster]:
    """Register the function reading `version` of `cls` (an event class) as version + 1."""

    def register(function: Upcaster) -> Upcaster:
        key = (cls.TYPE, version)
        if key in _REGISTERED or not 1 <= version < cls.VERSION:
            msg = f"upcaster {key} duplicated or outside versions 1..{cls.VERSION - 1}"
            raise AssertionError(msg)
        _REGISTERED[key] = function
        return function

    return register


# --- version 2 of the moves without a reason: the move's note --------------------------------


@_upcaster(StageChanged, 1)
@_upcaster(LeadConverted, 1)
@_upcaster(DealWon, 1)
def _note_kept(fields: dict[str, Any]) -> dict[str, Any]:
    """Version 1 dropped the note of a move that had no reason: none was kept."""
    fields.setdefault("note", "")
    return fields


UPCASTERS: Mapping[tuple[str, int], Upcaster] = MappingProxyType(_REGISTERED)
"""
funnelkit's upcasters by ``(wire name, version they read)``.

``UPCASTERS[("stage_changed", 1)]`` reads version 1 of `StageChanged` as version 2. Every
version below an event class's ``VERSION`` has one.
"""
