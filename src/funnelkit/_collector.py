"""The cyclic garbage collector paused for bulk steps over many objects (matching, analytics)."""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Iterator


__all__ = ["paused_gc"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """
    Pause the cyclic garbage collector for a bulk step that makes no reference cycles.

    Each round of the collector walks every live object; a step that builds millions of small
    tuples (pairs of contacts, keys of events) would start many full rounds over the caller's
    whole heap, each longer as the heap grows. Memory is still freed by reference counting;
    a collector that was already off stays off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
