"""
Storage: the ports funnelkit needs from a store, and the in-memory reference store.

See `UnitOfWork` for the contract every store follows, and ``funnelkit.testing`` for the kit
that checks an adapter against it.
"""

from funnelkit._public import publish
from funnelkit.storage._memory import InMemoryStore, InMemoryUnitOfWork, basic_contact_keys
from funnelkit.storage._ports import (
    ContactKeys,
    ContactRepository,
    DealRepository,
    EventStore,
    LeadRepository,
    RecordedEvent,
    Store,
    TaskRepository,
    UnitOfWork,
)


__all__ = [
    "ContactKeys",
    "ContactRepository",
    "DealRepository",
    "EventStore",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "LeadRepository",
    "RecordedEvent",
    "Store",
    "TaskRepository",
    "UnitOfWork",
    "basic_contact_keys",
]

publish(__name__, globals())
