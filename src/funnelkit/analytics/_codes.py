"""
What a `StageLog`'s columns hold: `LogEvent`, the codes of kinds and of "none", and numpy.

numpy comes with the ``columnar`` extra and is imported only when a log is built or read
(`_numpy`), with an error naming the extra if it is missing.
"""

from __future__ import annotations

import enum
import importlib
from datetime import datetime, timedelta, timezone
from typing import Any

from funnelkit._checks import raise_for
from funnelkit.events import Verdict


__all__ = ["LogEvent"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NONE = -1  # the code of "none" in every code column
_MICROSECOND = timedelta(microseconds=1)


class LogEvent(enum.IntEnum):
    """
    What one row of a `StageLog` records (its ``event`` column).

    Members:
        CREATED: The lead or deal was created, in its first stage.
        MOVED: It entered another open stage (a closed one entering it is reopened).
        WON: A deal was won.
        LOST: A deal was lost (with a reason).
        JUNK: A lead was closed as junk (with a reason).
        CONVERTED: A lead was converted into a deal.
        OWNER: Its owner changed (no stage).
        OTHER: Any other event about it (no stage): it exists as of that time.
    """

    CREATED = 0
    MOVED = 1
    WON = 2
    LOST = 3
    JUNK = 4
    CONVERTED = 5
    OWNER = 6
    OTHER = 7


_EVENT_NAMES = {member.name.lower(): member for member in LogEvent}
_KIND_NAMES = {"lead": 0, "deal": 1}
_STAGED = frozenset(
    {
        LogEvent.CREATED,
        LogEvent.MOVED,
        LogEvent.WON,
        LogEvent.LOST,
        LogEvent.JUNK,
        LogEvent.CONVERTED,
    }
)
VERDICTS: tuple[Verdict, ...] = tuple(Verdict)
"""The verdicts in the order of their codes in `StageLog.verdict` (0 good, 1 junk, 2 review)."""
_CLOSING = frozenset({LogEvent.WON, LogEvent.LOST, LogEvent.JUNK, LogEvent.CONVERTED})


def _numpy() -> Any:
    """numpy, or an error that names the extra to install."""
    try:
        return importlib.import_module("numpy")
    except ImportError:  # pragma: no cover - the extra is installed where the tests run
        raise_for(
            "StageLog",
            None,
            "the columnar analytics need numpy: pip install 'funnelkit[columnar]'",
            "missing_extra",
        )
