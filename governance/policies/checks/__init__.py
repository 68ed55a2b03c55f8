"""The check types. Importing this package registers every type in `base.REGISTRY`."""

from governance.policies.checks import (  # noqa: F401  (registration by import)
    approvals,
    explainability,
    fairness,
    findings,
    freshness,
    performance,
    records,
)
from governance.policies.checks.base import REGISTRY, Check, Verdict

__all__ = ["REGISTRY", "Check", "Verdict"]
