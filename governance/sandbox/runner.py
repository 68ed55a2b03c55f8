"""Run model code in a child process and get back only plain data.

Unpickling a model runs its code, and even safe formats hand the bytes to native libraries that
can crash or exhaust memory. So the parent never loads a model: it writes the inputs to a private
directory, starts `governance.sandbox.child` with a scrubbed environment and resource limits,
waits with a wall-clock deadline, kills the child's whole process group afterwards, and reads back
.npy files (np.load with allow_pickle=False) and JSON. Every failure becomes a SandboxError with a
stable reason code and a message an assessment can show as is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from core.errors import ModelGateError
from governance.sandbox.child import (
    LOG,
    OPERATIONS,
    REPORTED_CODES,
    REQUEST,
    RESULT,
    STATUS,
    format_bytes,
    looks_out_of_memory,
)

logger = logging.getLogger(__name__)

GiB = 1024**3
PROJECT_ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.05
GROUP_EXIT_SECONDS = 5.0
STDERR_TAIL_BYTES = 4096
RESULT_JSON_LIMIT = 64 * 1024**2
MESSAGE_LIMIT = 2000
REPORTED_EXTRAS = ("refusal_code", "frames")  # what the child may add to an error
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

# Locale and search path only. Everything else, DATABASE_URL, SECRET_KEY, CELERY_BROKER_URL,
# DJANGO_SETTINGS_MODULE and cloud credentials among it, stays with the parent.
PASSED_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "BLIS_NUM_THREADS",
)


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed run may use. Each limit applies to every process the model starts."""

    # RLIMIT_AS: address space, not resident memory. Python with scikit-learn, xgboost,
    # lightgbm and onnxruntime imported already maps about 0.7 GB before the model loads.
    memory_bytes: int = 4 * GiB
    # RLIMIT_CPU, counted from when the operation starts (after the libraries are imported).
    cpu_seconds: int = 600
    # From launch, including the 3-4 s it takes to start Python and import the libraries.
    wall_seconds: float = 900
    # RLIMIT_FSIZE: the largest file the child may write (outputs, its log).
    output_bytes: int = GiB
    open_files: int = 256
    # BLAS/OpenMP threads: one gives reproducible floating-point sums and predictable memory.
    threads: int = 1
    # Refuse to run a model when the kernel cannot isolate it (see child.isolate).
    require_isolation: bool = False
    # Directories the model must not see even read-only (the database file, stored artifacts and
    # datasets): each gets an empty tmpfs mounted over it in the child's mount namespace.
    hidden_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        numbers = asdict(self)
        del numbers["require_isolation"], numbers["hidden_paths"]
        if not all(value > 0 for value in numbers.values()):
            raise ValueError(f"sandbox limits must be positive: {numbers}")


class SandboxError(ModelGateError):
    """A sandboxed run failed. `code` is one of: timeout, cpu_limit, memory_limit, crashed,
    model_error, invalid_input, invalid_output, refused; the message is fit for an assessment."""

    code = "sandbox_error"

    def __init__(self, code: str, message: str, *, stderr_tail: str = "", **extra: Any) -> None:
        super().__init__(message, code=code, stderr_tail=stderr_tail, **extra)
        self.stderr_tail = stderr_tail

    @property
    def reason_code(self) -> str:
        return self.code


@dataclass(frozen=True)
class SandboxOutput:
    arrays: dict[str, np.ndarray]
    data: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SandboxResult:
    """Predictions of one model on one feature table, made in the sandbox."""

    predictions: np.ndarray | None  # None only when probabilities came and labels were not asked
    probabilities: np.ndarray | None  # (rows, classes), when asked for and the model has them
    classes: list[Any] | None
    details: dict[str, Any]  # model class, feature names, timings, peak memory, isolation...


@dataclass(frozen=True)
class _Finished:
    pid: int
    returncode: int | None  # None: the exit status was lost (reaped by someone else)
    timed_out: bool
    cpu_seconds: float
    wall_seconds: float
    peak_vm_bytes: int


Input = Path | pd.DataFrame | np.ndarray

# Called with the child's current stage label while the parent waits (every POLL_SECONDS), so a
# job can renew its lease and report progress without a thread of its own. An exception raised
# by the watcher stops the child and propagates: that is how a job that lost its lease aborts.
_watcher: ContextVar[Callable[[str], None] | None] = ContextVar("sandbox_watcher", default=None)


@contextlib.contextmanager
def watching(callback: Callable[[str], None]) -> Iterator[None]:
    """Call `callback(stage)` while any sandboxed run started in this context is waiting."""
    token = _watcher.set(callback)
    try:
        yield
    finally:
        _watcher.reset(token)


def run_in_sandbox(
    operation: str,
    params: Mapping[str, Any],
    *,
    inputs: Mapping[str, Input],
    limits: SandboxLimits = SandboxLimits(),
) -> SandboxOutput:
    """Run a registered operation (child.OPERATIONS) in a fresh child process.

    Files are copied in, DataFrames written as parquet and arrays as .npy: the child works on
    copies in its own directory and can change nothing of the caller's. Raises SandboxError.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown sandbox operation {operation!r}")
    workdir = Path(tempfile.mkdtemp(prefix="modelgate-sandbox-"))
    try:
        (workdir / "tmp").mkdir()
        request = {
            "operation": operation,
            "params": dict(params),
            "inputs": {name: _stage_input(workdir, name, value) for name, value in inputs.items()},
            "limits": asdict(limits),
            "parent_pid": os.getpid(),
        }
        (workdir / REQUEST).write_text(json.dumps(request))
        finished = _launch_and_wait(workdir, limits)
        return _collect(workdir, finished, limits)
    finally:
        _remove(workdir)


def predict_in_sandbox(
    artifact_path: Path,
    artifact_format: str,
    data: Path | pd.DataFrame | np.ndarray,
    *,
    trusted_types: Sequence[str],
    allow_pickle: bool,
    want_proba: bool,
    want_labels: bool = True,
    limits: SandboxLimits = SandboxLimits(),
) -> SandboxResult:
    """Load an artifact with registry.artifacts.load_model in the sandbox and predict on `data`
    (a DataFrame, an array, or a .parquet or .npy file). The caller verifies the artifact's
    digest first (storage.verified_copy); the safety settings travel as parameters."""
    rows = _row_count(data)
    output = run_in_sandbox(
        "predict",
        {
            "artifact_format": artifact_format,
            "trusted_types": list(trusted_types),
            "allow_pickle": allow_pickle,
            "want_proba": want_proba,
            # False: when there are probabilities, skip predict() (half the time on large data).
            "want_labels": want_labels,
        },
        inputs={"artifact": Path(artifact_path), "features": data},
        limits=limits,
    )
    classes = output.data.get("classes")
    predictions = output.arrays.get("predictions")
    probabilities = output.arrays.get("probabilities")
    context = {"stage": "predicting", "details": output.details}
    if predictions is None and (want_labels or probabilities is None):
        raise _invalid("the model returned no predictions", context)
    if predictions is not None and (predictions.ndim == 0 or predictions.shape[0] != rows):
        shape = predictions.shape
        raise _invalid(f"the model returned predictions of shape {shape} for {rows} rows", context)
    if probabilities is not None and (
        probabilities.ndim != 2
        or probabilities.shape[0] != rows
        or (classes is not None and probabilities.shape[1] != len(classes))
    ):
        raise _invalid(
            f"the model returned probabilities of shape {probabilities.shape} for {rows} rows"
            f" and {'unknown' if classes is None else len(classes)} classes",
            context,
        )
    if classes is not None and not isinstance(classes, list):
        raise _invalid("the model's classes are not a list", context)
    details = {**output.details, **{k: v for k, v in output.data.items() if k != "classes"}}
    return SandboxResult(predictions, probabilities, classes, details)


def _row_count(data: Path | pd.DataFrame | np.ndarray) -> int:
    if isinstance(data, pd.DataFrame | np.ndarray):
        return len(data)
    path = Path(data)
    if path.suffix == ".npy":
        return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    if path.suffix == ".parquet":
        import pyarrow.parquet

        return int(pyarrow.parquet.read_metadata(path).num_rows)
    raise ValueError(f"features must be a DataFrame, an array, or a .npy or .parquet file: {path}")


def child_environment(workdir: Path, limits: SandboxLimits) -> dict[str, str]:
    """The whole environment of the child: an allow-list, never the parent's environment."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    # OpenBLAS core type and cache size are set on some machines for correct results.
    env.update(
        (name, value)
        for name, value in os.environ.items()
        if name.startswith("OPENBLAS_") and name not in THREAD_VARIABLES
    )
    env.update(dict.fromkeys(THREAD_VARIABLES, str(limits.threads)))
    env.update(
        HOME=str(workdir),
        TMPDIR=str(workdir / "tmp"),
        PYTHONPATH=str(PROJECT_ROOT),
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
        PYTHONUNBUFFERED="1",  # the log tail must hold the last words of a crashing model
        # RLIMIT_AS counts reserved address space, resident or not: each thread's malloc arena
        # reserves 64 MB, and pyarrow's default mimalloc pool reserves 1 GiB on import.
        MALLOC_ARENA_MAX="2",
        ARROW_DEFAULT_MEMORY_POOL="system",
    )
    return env


def _stage_input(workdir: Path, name: str, value: Input) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"input names are lower-case identifiers, not {name!r}")
    if isinstance(value, pd.DataFrame):
        filename = f"{name}.parquet"
        value.to_parquet(workdir / filename)
    elif isinstance(value, np.ndarray):
        filename = f"{name}.npy"
        np.save(workdir / filename, value, allow_pickle=False)
    else:
        # A copy, never a link: the child may write in its directory, and the source may be
        # the stored artifact itself.
        filename = f"{name}{Path(value).suffix}"
        shutil.copyfile(value, workdir / filename)
    return filename


def _launch_and_wait(workdir: Path, limits: SandboxLimits) -> _Finished:
    command = [sys.executable, "-P", "-m", "governance.sandbox.child", str(workdir)]
    started = time.monotonic()
    with (workdir / LOG).open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command,
            cwd=workdir,
            env=child_environment(workdir, limits),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,  # no database socket or other descriptor of ours reaches the model
            start_new_session=True,  # its own process group, killed as one
        )
    timed_out, peak = True, 0
    status, usage = None, None
    try:
        timed_out, peak = _wait_for_exit(process.pid, started + limits.wall_seconds, workdir)
    finally:
        if timed_out:  # or interrupted
            _stop(process.pid)
        # The child has exited but is not reaped yet, so its pid still names its group and
        # cannot be reused: anything it left behind in the group dies here.
        _kill_group(process.pid)
        try:
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            process.returncode = -1  # someone else reaped it; stop Popen from trying again
        _await_group_gone(process.pid)
    return _Finished(
        pid=process.pid,
        returncode=None if status is None else process.returncode,
        timed_out=timed_out,
        cpu_seconds=0.0 if usage is None else usage.ru_utime + usage.ru_stime,
        wall_seconds=time.monotonic() - started,
        peak_vm_bytes=peak,
    )


def _wait_for_exit(pid: int, deadline: float, workdir: Path) -> tuple[bool, int]:
    """Poll until the child exits or the deadline passes, sampling the worker's peak address
    space on the way: the only evidence of memory exhaustion when a library crashes on it."""
    peak, worker = 0, 0
    watcher = _watcher.get()
    while True:
        try:
            exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False, peak
        if exited is not None:
            return False, peak
        if time.monotonic() >= deadline:
            return True, peak
        worker = worker or int(_read_status(workdir).get("pid") or 0)
        peak = max(peak, _vm_peak(worker))
        if watcher is not None:
            watcher(str(_read_status(workdir).get("stage", "starting")))
        time.sleep(POLL_SECONDS)


def _stop(pid: int) -> None:
    """Kill a running child's own children first: the PID namespace's init among them, whose
    death takes every process of the model with it and which the child then reaps, leaving
    nothing for the system's init to collect (slowly, or in some containers never)."""
    with contextlib.suppress(OSError, ValueError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                time.sleep(0.01)
                continue
        return


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _await_group_gone(pgid: int) -> None:
    """Killed grandchildren are reaped by the system's init: wait for that, so that on return no
    process of the run exists any more, not even as a zombie."""
    deadline = time.monotonic() + GROUP_EXIT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.01)
    logger.warning("processes of sandbox group %s outlived it by %s s", pgid, GROUP_EXIT_SECONDS)


def _vm_peak(pid: int) -> int:
    if not pid:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmPeak:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


# --- reading the outcome ----------------------------------------------------------------------


def _collect(workdir: Path, run: _Finished, limits: SandboxLimits) -> SandboxOutput:
    status = _read_status(workdir)
    stage = str(status.get("stage", "starting"))
    context = {
        "pid": run.pid,
        "worker_pid": status.get("pid"),
        "stage": stage,
        "stderr_tail": _tail(workdir / LOG),
    }
    if run.timed_out:
        raise SandboxError(
            "timeout",
            f"the model did not finish within {limits.wall_seconds:g} s (it was {stage})",
            **context,
        )
    if run.returncode:  # None: the status was lost, so the result file must tell
        raise _death(run.returncode, run, status, limits, context)
    result = _read_result(workdir, context)
    if result["status"] == "error":
        extra = {k: v for k, v in result["extra"].items() if k in REPORTED_EXTRAS}
        raise SandboxError(result["code"], result["message"][:MESSAGE_LIMIT], **extra, **context)
    arrays = {name: _read_array(workdir, name, limits, context) for name in result["arrays"]}
    details = {
        **result["details"],
        "wall_seconds": run.wall_seconds,
        "cpu_seconds": run.cpu_seconds,  # the whole run, start-up included
        "peak_address_space_bytes": run.peak_vm_bytes,  # sampled: what RLIMIT_AS measures
        "limits": asdict(limits),
    }
    if not details.get("isolation", {}).get("complete"):
        logger.warning("sandbox ran without full isolation: %s", details.get("isolation"))
    return SandboxOutput(arrays=arrays, data=result["data"], details=details)


def _death(
    returncode: int,
    run: _Finished,
    status: dict[str, Any],
    limits: SandboxLimits,
    context: dict[str, Any],
) -> SandboxError:
    """Classify a child that ended without a trustworthy result."""
    stage = context["stage"]
    memory = f"the model exceeded the memory limit of {format_bytes(limits.memory_bytes)}"
    out_of_memory = looks_out_of_memory(context["stderr_tail"])
    if returncode > 0:
        if out_of_memory:
            return SandboxError("memory_limit", f"{memory} while {stage}", **context)
        return SandboxError(
            "crashed",
            f"the model process exited with status {returncode} while {stage}, "
            "without reporting a result",
            **context,
        )
    number = -returncode
    name = _signal_name(number)
    cpu_limit_at = status.get("cpu_limit_at")
    if number == signal.SIGXCPU or (
        number == signal.SIGKILL and cpu_limit_at and run.cpu_seconds >= cpu_limit_at
    ):
        return SandboxError(
            "cpu_limit",
            f"the model used more than its CPU-time limit of {limits.cpu_seconds} s while {stage}",
            signal=name,
            **context,
        )
    if out_of_memory or run.peak_vm_bytes >= 0.9 * limits.memory_bytes:
        return SandboxError(
            "memory_limit", f"{memory} while {stage} (killed by {name})", signal=name, **context
        )
    if number == signal.SIGKILL:
        # Not sent by us (timeouts are handled above) and not the CPU limit: on Linux that is
        # the kernel's out-of-memory killer, when the machine runs out before the limit does.
        return SandboxError(
            "memory_limit",
            f"the model process was killed by SIGKILL while {stage}; the sandbox did not send "
            "it, which on Linux means the kernel's out-of-memory killer",
            signal=name,
            **context,
        )
    return SandboxError(
        "crashed",
        f"the model process was killed by {name} ({signal.strsignal(number)}) while {stage}",
        signal=name,
        **context,
    )


def _read_result(workdir: Path, context: dict[str, Any]) -> dict[str, Any]:
    """result.json, checked field by field: the model ran in that process and could have
    written anything there."""
    try:
        with _open_regular(workdir / RESULT, limit=RESULT_JSON_LIMIT) as handle:
            result = json.load(handle)
    except (OSError, ValueError, RecursionError) as exc:
        raise _invalid(f"the child left no readable result ({exc})", context) from None
    shapes: dict[str, dict[str, type | tuple[type, ...]]] = {
        "ok": {"arrays": list, "data": dict, "details": dict},
        "error": {"code": str, "message": str, "extra": dict},
    }
    expected = shapes.get(result.get("status")) if isinstance(result, dict) else None
    if expected is None or any(not isinstance(result.get(k), t) for k, t in expected.items()):
        raise _invalid("the child's result has an unexpected structure", context)
    if result["status"] == "error" and result["code"] not in REPORTED_CODES:
        raise _invalid(f"the child reported an unknown failure {result['code']!r}", context)
    if result["status"] == "ok" and not all(
        isinstance(n, str) and _NAME.fullmatch(n) for n in result["arrays"]
    ):
        raise _invalid("the child's result names an invalid output file", context)
    return result


def _read_array(
    workdir: Path, name: str, limits: SandboxLimits, context: dict[str, Any]
) -> np.ndarray:
    try:
        with _open_regular(workdir / f"{name}.npy", limit=limits.output_bytes) as handle:
            return np.load(handle, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _invalid(f"output {name!r} is not a readable array ({exc})", context) from None


def _open_regular(path: Path, limit: int | None) -> IO[bytes]:
    """Open a file the child wrote. The model ran there and may have swapped it for a symlink
    (to a secret the parent can read and would then put in an error message), a FIFO (which
    would block us) or something huge."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or (limit is not None and info.st_size > limit):
        os.close(fd)
        raise OSError(f"{path.name} is not a regular file of at most {limit} bytes")
    return os.fdopen(fd, "rb")


def _invalid(message: str, context: dict[str, Any]) -> SandboxError:
    return SandboxError("invalid_output", message, **context)


def _read_status(workdir: Path) -> dict[str, Any]:
    try:
        with _open_regular(workdir / STATUS, limit=64 * 1024) as handle:
            status = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return {}
    return status if isinstance(status, dict) else {}


def _tail(path: Path) -> str:
    try:
        with _open_regular(path, limit=None) as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4 * STDERR_TAIL_BYTES))
            text = handle.read(4 * STDERR_TAIL_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""
    # After a fatal signal Python lists every extension module on one long line, which would
    # push the message and traceback out of the tail.
    lines = [line for line in text.splitlines() if not line.startswith("Extension modules:")]
    return "\n".join(lines)[-STDERR_TAIL_BYTES:]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _remove(workdir: Path) -> None:
    def make_writable(function: Any, path: str, _exc: BaseException) -> None:
        os.chmod(os.path.dirname(path), 0o700)  # the model may have locked a directory
        function(path)

    try:
        shutil.rmtree(workdir, onexc=make_writable)
    except OSError:
        logger.warning("could not remove sandbox directory %s", workdir, exc_info=True)
