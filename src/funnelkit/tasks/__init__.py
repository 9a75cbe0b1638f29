"""
Tasks: the lifecycle of the next steps on leads, deals and contacts.

`TaskPolicy` creates (by hand or from a stage's entry actions), reschedules, reassigns,
completes and cancels tasks as pure operations that return the new task and its event.
"""

from funnelkit.tasks._lifecycle import TaskPolicy


__all__ = ["TaskPolicy"]
