"""Each public class reports the public module it is exported from, not its private home."""

from __future__ import annotations

from typing import Any

import attrs


def publish(module: str, namespace: dict[str, Any]) -> None:
    """
    Set ``__module__`` of the classes `namespace` exports to `module`, as httpx does.

    So ``fk.model.Deal.__module__`` is ``"funnelkit.model"``: what a reader, a traceback or a
    documentation tool should show. Only classes still in a private module (one with a part
    starting with ``_``) move, so a class keeps the first public module that exports it. An
    attrs class has its annotations resolved first, where they were written: type hints are
    read in the module a class names.
    """
    moving = []
    for name in namespace["__all__"]:
        value = namespace.get(name)
        home = getattr(value, "__module__", "")
        private = any(part.startswith("_") for part in home.split("."))
        if isinstance(value, type) and home.startswith("funnelkit.") and private:
            moving.append(value)
    for value in moving:  # all first: a subclass's hints are read through its bases' modules
        if attrs.has(value):
            attrs.resolve_types(value)
    for value in moving:
        value.__module__ = module
