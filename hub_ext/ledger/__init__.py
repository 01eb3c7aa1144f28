"""The ledger: the one place where quota is counted (reservations of workloads, holds of uploads).

``reservations`` admits and releases workloads atomically across processes,
``holds`` keeps the bytes of uploads in progress against their group's storage
quota under the same lock, and ``amounts`` is what they count and how a refusal
reads.
"""

from .amounts import Amount, QuotaExceeded, Request, Snapshot, Usage
from .reservations import _PG_GROUP_NS, Ledger

__all__ = ["Amount", "Ledger", "QuotaExceeded", "Request", "Snapshot", "Usage", "_PG_GROUP_NS"]
