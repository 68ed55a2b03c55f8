"""Run model code in an isolated child process: see runner (parent side) and child.

Exports are loaded on first use: `python -m governance.sandbox.child` imports this package
first, and the child must not import numpy before it has isolated itself (see child.isolate).
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import (
        SandboxError,
        SandboxLimits,
        SandboxOutput,
        SandboxResult,
        predict_in_sandbox,
        run_in_sandbox,
        watching,
    )

__all__ = [
    "SandboxError",
    "SandboxLimits",
    "SandboxOutput",
    "SandboxResult",
    "predict_in_sandbox",
    "run_in_sandbox",
    "watching",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module(".runner", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
