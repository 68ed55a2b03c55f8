"""Hostile and broken "models" for the sandbox tests, pickled by the tests and unpickled in the
sandbox child, which imports this module by name (the project root is on its PYTHONPATH)."""

import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

MiB = 1024**2


class Segfaults:
    def predict(self, X: Any) -> np.ndarray:
        os.kill(os.getpid(), signal.SIGSEGV)
        return np.zeros(len(X))


class ExitsQuietly:
    def predict(self, X: Any) -> np.ndarray:
        os._exit(3)


class SleepsForever:
    def predict(self, X: Any) -> np.ndarray:
        while True:
            time.sleep(60)


class EatsMemory:
    def predict(self, X: Any) -> np.ndarray:
        blocks = []
        while True:
            blocks.append(np.ones(16 * MiB // 8))  # ones, not empty: the pages are touched


class Spins:
    def predict(self, X: Any) -> np.ndarray:
        while True:
            pass


class Raises:
    def predict(self, X: Any) -> np.ndarray:
        raise ValueError("feature 'age' must not be negative")


class Harmless:
    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))


def write_marker(path: str) -> Harmless:
    Path(path).write_text("this pickle ran code")
    return Harmless()


class WritesMarkerWhenUnpickled:
    """Unpickling this calls write_marker(path): the classic malicious __reduce__."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (write_marker, (self.path,))


class ReturnsTooFewRows:
    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(1)
