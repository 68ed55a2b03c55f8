"""The sandbox child: runs one registered operation on a model, away from everything else.

Started by `governance.sandbox.runner` as `python -P -m governance.sandbox.child WORKDIR`. It reads
WORKDIR/request.json (written by the parent), applies the resource limits, isolates itself (see
`isolate`), runs the operation and writes its outputs to WORKDIR as .npy files plus result.json.
Only plain data goes back: the parent never unpickles anything.

Nothing heavy is imported at module level, because unshare(CLONE_NEWUSER) needs a single-threaded
process and numpy starts its BLAS threads on import. The operations import their libraries
inside the worker, after isolation. No Django: the child must never read settings or secrets.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import importlib
import json
import math
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

REQUEST = "request.json"
RESULT = "result.json"
STATUS = "status.json"
LOG = "child.log"

# Reasons the child itself reports in result.json; the parent adds timeout, cpu_limit, crashed.
REPORTED_CODES = frozenset(
    {"memory_limit", "model_error", "refused", "invalid_input", "invalid_output", "crashed"}
)
# Native libraries report a failed allocation in their own words instead of raising MemoryError.
OUT_OF_MEMORY_HINTS = (
    "memoryerror",
    "bad_alloc",
    "cannot allocate memory",
    "out of memory",
    "failed to allocate",
    "thread creation failed",
)
# Reported with each result, for provenance: the versions that actually ran the model.
LIBRARIES = (
    "numpy pandas pyarrow scipy sklearn skops xgboost lightgbm onnx onnxruntime shap fairlearn"
)


def looks_out_of_memory(text: str) -> bool:
    lowered = text.lower()
    return any(hint in lowered for hint in OUT_OF_MEMORY_HINTS)


def format_bytes(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


# --- operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """A function the child may run, named "module:function", taking a Job and returning an
    Outcome. `preload` modules are imported before the CPU budget starts, so the limit measures
    the model's work, not the few seconds scikit-learn and friends take to import."""

    target: str
    preload: tuple[str, ...] = ()


OPERATIONS: dict[str, Operation] = {
    "predict": Operation(
        "governance.sandbox.child:predict",
        preload=("numpy", "pandas", "pyarrow.parquet", "registry.artifacts"),
    ),
    "probe": Operation("governance.sandbox.child:probe"),
    "explain": Operation(
        "governance.sandbox.explain:explain",
        preload=("numpy", "pandas", "pyarrow.parquet", "registry.artifacts", "shap"),
    ),
}


class OperationError(Exception):
    """A failure an operation classifies itself (code is one of REPORTED_CODES)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Outcome:
    arrays: dict[str, Any] = field(default_factory=dict)  # name -> numpy array or None
    data: dict[str, Any] = field(default_factory=dict)  # JSON-serialisable


@dataclass
class Job:
    workdir: Path
    params: dict[str, Any]
    inputs: dict[str, str]
    status: dict[str, Any]
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def current_stage(self) -> str:
        return str(self.status.get("stage", "starting"))

    def stage(self, label: str) -> None:
        """Record progress, so a hang or a crash is reported with what the model was doing."""
        self.stages[label] = time.monotonic()
        self.status["stage"] = label
        write_json(self.workdir / STATUS, self.status)

    def input(self, name: str) -> Path:
        if name not in self.inputs:
            raise OperationError("invalid_input", f"the operation needs an input named {name!r}")
        return self.workdir / self.inputs[name]

    def read_table(self, name: str) -> Any:
        """A .npy array or a parquet DataFrame; never a pickle."""
        path = self.input(name)
        try:
            if path.suffix == ".npy":
                import numpy as np

                return np.load(path, allow_pickle=False)
            if path.suffix == ".parquet":
                import pandas as pd

                return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            message = f"{name} could not be read: {describe(exc)}"
            raise OperationError("invalid_input", message) from exc
        raise OperationError("invalid_input", f"{name} must be a .npy or .parquet file")


def predict(job: Job) -> Outcome:
    """Load the artifact with the deployment's safety settings and predict on the features."""
    from registry.artifacts import load_model

    job.stage("reading the features")
    features = job.read_table("features")
    job.stage("loading the model")
    model = load_model(
        job.input("artifact"),
        job.params["artifact_format"],
        trusted_types=job.params["trusted_types"],
        allow_pickle=job.params["allow_pickle"],
    )
    probabilities = None
    if job.params.get("want_proba") and hasattr(model, "predict_proba"):
        job.stage("predicting probabilities")
        probabilities = model.predict_proba(features)
    predictions = None
    if probabilities is None or job.params.get("want_labels", True):
        job.stage("predicting")
        predictions = model.predict(features)
    inner = getattr(model, "estimator", getattr(model, "booster", model))
    return Outcome(
        arrays={"predictions": predictions, "probabilities": probabilities},
        data={
            "classes": model.classes_,
            "feature_names": model.feature_names,
            "model_class": f"{type(inner).__module__}.{type(inner).__qualname__}",
            "rows": len(features),
        },
    )


def probe(job: Job) -> Outcome:
    """Diagnostics: what a model running here can see and reach. Used to check a deployment."""
    import socket

    limits = {
        name: resource.getrlimit(getattr(resource, name))
        for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_NOFILE")
    }
    facts: dict[str, Any] = {
        "environment": dict(os.environ),
        "cwd": os.getcwd(),
        "limits": limits,
        "modules": sorted(m for m in sys.modules if m.split(".")[0] in {"django", "numpy"}),
    }
    parent = job.params.get("parent_pid")
    if parent:
        facts["parent_environ"] = _try(lambda: Path(f"/proc/{parent}/environ").read_bytes())
        facts["parent_signal"] = _try(lambda: os.kill(parent, 0))
    if target := job.params.get("connect"):
        facts["connect"] = _try(lambda: socket.create_connection(tuple(target), timeout=2).close())
    if target := job.params.get("connect_unix"):
        facts["connect_unix"] = _try(lambda: _connect_unix(target))
    if target := job.params.get("read_file"):
        facts["read_file"] = _try(lambda: Path(target).read_bytes())
    return Outcome(data=facts)


def _connect_unix(path: str) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as client:
        client.connect(path)


def _try(action: Callable[[], object]) -> str:
    try:
        action()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return "ok"


# --- worker ------------------------------------------------------------------------------------


def run_worker(workdir: Path, request: dict[str, Any], facts: dict[str, Any]) -> NoReturn:
    """Run the requested operation and report; exits without interpreter teardown, so a native
    library that crashes or hangs while unloading cannot spoil a finished result."""
    faulthandler.enable()
    job = Job(workdir, request["params"], request["inputs"], {"pid": _outer_pid()})
    started = time.monotonic()
    try:
        job.stage("starting")
        operation = OPERATIONS[request["operation"]]
        for module in operation.preload:
            importlib.import_module(module)
        module_name, _, function_name = operation.target.partition(":")
        function = getattr(importlib.import_module(module_name), function_name)
        cpu_before = _cpu_seconds()
        job.status["cpu_limit_at"] = _start_cpu_budget(request["limits"]["cpu_seconds"])
        job.stage("running")
        outcome = function(job)
        job.stage("writing results")
        details = {
            "isolation": facts,
            "stages": _durations(job.stages, time.monotonic()),
            "worker_seconds": time.monotonic() - started,
            "operation_cpu_seconds": _cpu_seconds() - cpu_before,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "python": sys.version.split()[0],
            "library_versions": _library_versions(),
            "django_imported": "django" in sys.modules,
        }
        _write_outcome(workdir, outcome, details)
    except BaseException as exc:
        try:
            report = failure(exc, job.current_stage, request["limits"])
            write_json(workdir / RESULT, {"status": "error", **report})
        except BaseException:
            # Out of memory or disk even for the report: the log tail will say which.
            traceback.print_exc()
            os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def failure(exc: BaseException, stage: str, limits: dict[str, Any]) -> dict[str, Any]:
    """Turn an exception into {code, message, extra}: what the assessment will say."""
    from core.errors import InvalidInput

    chain = _exception_chain(exc)
    described = describe(exc)
    if any(isinstance(e, MemoryError) for e in chain) or any(
        looks_out_of_memory(describe(e)) for e in chain
    ):
        limit = format_bytes(limits["memory_bytes"])
        return _report(
            "memory_limit",
            f"the model exceeded the memory limit of {limit} while {stage} ({described})",
        )
    if isinstance(exc, OperationError):
        return _report(exc.code, exc.message)
    if isinstance(exc, InvalidInput):
        return _report("refused", exc.detail, refusal_code=exc.code)
    if stage == "starting":
        return _report("crashed", f"the sandbox could not start: {described}", frames=_frames(exc))
    return _report(
        "model_error", f"the model failed while {stage}: {described}", frames=_frames(exc)
    )


def describe(exc: BaseException) -> str:
    """Exception type and first line: native libraries append whole stack traces to messages."""
    lines = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {lines[0][:500]}" if lines else name


def _report(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra}


def _exception_chain(exc: BaseException) -> list[BaseException]:
    # load_model wraps loader errors (a MemoryError while unpickling among them) as InvalidInput.
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _frames(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)[-5:]
    return [f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno} in {f.name}" for f in frames]


def _write_outcome(workdir: Path, outcome: Outcome, details: dict[str, Any]) -> None:
    import numpy as np

    names = []
    for name, value in outcome.arrays.items():
        if value is None:
            continue
        np.save(workdir / f"{name}.npy", _plain_array(name, value), allow_pickle=False)
        names.append(name)
    try:
        document = {"status": "ok", "arrays": names, "data": outcome.data, "details": details}
        write_json(workdir / RESULT, document)
    except (TypeError, ValueError) as exc:
        message = f"the result is not plain data: {describe(exc)}"
        raise OperationError("invalid_output", message) from exc


def _plain_array(name: str, value: Any) -> Any:
    """An array np.save can write without pickle: labels such as strings come back from
    scikit-learn as object arrays, so convert those when every element has the same plain type."""
    import numpy as np

    array = np.asarray(value)
    if not array.dtype.hasobject:
        return array
    kinds = {type(item) for item in array.ravel().tolist()}
    if len(kinds) == 1 and kinds <= {str, int, float, bool}:
        return np.array(array.tolist())
    names = ", ".join(sorted(kind.__name__ for kind in kinds))
    raise OperationError("invalid_output", f"{name} holds values that are not plain data: {names}")


def write_json(path: Path, document: dict[str, Any]) -> None:
    # Written whole then renamed: the parent never reads half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, default=_json_default))
    partial.replace(path)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _durations(stages: dict[str, float], end: float) -> dict[str, float]:
    times = [*stages.values(), end]
    return {label: round(times[i + 1] - times[i], 6) for i, label in enumerate(stages)}


def _library_versions() -> dict[str, str]:
    return {
        name: str(getattr(sys.modules[name], "__version__", "unknown"))
        for name in LIBRARIES.split()
        if name in sys.modules
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _start_cpu_budget(seconds: int) -> int:
    """RLIMIT_CPU counts from process start, so the budget is added to what start-up used. The
    kernel sends SIGXCPU at the soft limit and SIGKILL one second later at the hard limit, for a
    model that catches SIGXCPU."""
    soft = math.ceil(_cpu_seconds() + seconds)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    return soft


def _outer_pid() -> int:
    # /proc is still the parent's procfs, so /proc/self names this process as the parent sees it.
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


# --- isolation (Linux namespaces) -----------------------------------------------------------

# Emptied for the model: daemon sockets (PostgreSQL, MySQL, Docker, ssh-agent, tmux) live here, and
# a Unix socket still connects on a read-only mount. Also hides other runs' working directories.
HIDDEN_DIRECTORIES = ("/tmp", "/var/tmp", "/run", "/dev/shm")  # noqa: S108
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (added in Linux 5.12)
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 0x1
PR_SET_PDEATHSIG = 1


class _MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("set", "clear", "propagation", "userns")]


def isolate(workdir: Path, *, parent_pid: int, hidden: tuple[str, ...] = ()) -> dict[str, Any]:
    """Best effort: new user, mount, network and PID namespaces, and a file system that is
    read-only except the working directory. Unprivileged, so it works for any worker user.

    The user namespace drops every capability the worker had towards the rest of the machine: a
    model run by a root worker can no longer raise its limits, read other processes' memory or
    environment, or signal them. No network interface but a down loopback: no database, broker or
    exfiltration over TCP. What is done is reported in `facts` and kept with the result.
    """
    facts: dict[str, Any] = {"pid_namespace": False, "network": "host", "complete": False}
    facts["filesystem"] = "writable"
    if sys.platform != "linux":
        facts["error"] = f"namespaces need Linux, not {sys.platform}"
        return facts
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.geteuid(), os.getegid()
    try:
        os.unshare(os.CLONE_NEWUSER | os.CLONE_NEWNS | os.CLONE_NEWNET | os.CLONE_NEWPID)
    except OSError as exc:
        facts["error"] = f"unshare: {exc.strerror}"
        _die_with_parent(libc, parent_pid)
        return facts
    # After unshare: entering a user namespace changes credentials, which clears the death signal.
    _die_with_parent(libc, parent_pid)
    facts.update(pid_namespace=True, network="none")
    try:
        # Our own ids, mapped to themselves: files created in the new tmpfs need a mapped owner.
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        _read_only_except(workdir, libc, hidden)
    except OSError as exc:
        facts["error"] = f"{exc.filename}: {exc.strerror}"
        return facts
    facts["filesystem"] = "read-only but the working directory; " + ", ".join(
        f"{d} empty" for d in (*HIDDEN_DIRECTORIES, *hidden)
    )
    facts["complete"] = True
    return facts


def _read_only_except(workdir: Path, libc: ctypes.CDLL, hidden: tuple[str, ...] = ()) -> None:
    # Every step leaves a usable state if the next one fails, except the last, which cannot fail
    # once the one before it worked: the workdir mount is ours, so its read-only flag is not locked.
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here reaches the host
    for directory in HIDDEN_DIRECTORIES:
        if os.path.islink(directory) or not os.path.isdir(directory):
            continue
        # The code itself may live under a hidden directory (a checkout or a virtualenv in /tmp):
        # hold those directories open, then mount them back into the empty tmpfs.
        kept = [
            (path, os.open(path, os.O_PATH | os.O_DIRECTORY))
            for path in _code_directories()
            if Path(path).is_relative_to(directory) and not workdir.is_relative_to(path)
        ]
        try:
            _mount(libc, "tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
            for path, fd in kept:
                Path(path).mkdir(parents=True, exist_ok=True)
                _mount(libc, f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        finally:
            for _, fd in kept:
                os.close(fd)
        if workdir.is_relative_to(directory):
            try:
                workdir.mkdir(parents=True)
                _mount(libc, ".", str(workdir), None, MS_BIND)  # cwd is still the real workdir
            except OSError:
                libc.umount2(directory.encode(), 0)
                raise
    for directory in hidden:
        # The deployment's own data (database file, stored artifacts): emptied, not merely
        # read-only, so a model cannot read other models or the database and leak them.
        if os.path.isdir(directory) and not os.path.islink(directory):
            if workdir.is_relative_to(directory):
                continue
            _mount(libc, "tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    if not os.path.ismount(workdir):
        _mount(libc, ".", str(workdir), None, MS_BIND)  # its own mount, to be left writable
    os.chdir(workdir)
    _mount_setattr(libc, "/", set_flags=MOUNT_ATTR_RDONLY, recursive=True)
    _mount_setattr(libc, str(workdir), clear_flags=MOUNT_ATTR_RDONLY, recursive=False)


def _code_directories() -> list[str]:
    """The project and the Python installation the child imports from, outermost first."""
    candidates = {
        os.path.realpath(p)
        for p in (str(Path(__file__).resolve().parents[2]), sys.prefix, sys.base_prefix, *sys.path)
        if p and os.path.isdir(p)
    }
    outermost: list[str] = []
    for path in sorted(candidates, key=len):
        if not any(Path(path).is_relative_to(kept) for kept in outermost):
            outermost.append(path)
    return outermost


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, kind: str | None, flags: int, data: str = ""
) -> None:
    encoded = [None if v is None else v.encode() for v in (source, target, kind, data or None)]
    if libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3]) != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), target)


def _mount_setattr(
    libc: ctypes.CDLL, path: str, *, set_flags: int = 0, clear_flags: int = 0, recursive: bool
) -> None:
    attr = _MountAttr(set_flags, clear_flags, 0, 0)
    result = libc.syscall(
        ctypes.c_long(SYS_MOUNT_SETATTR),
        ctypes.c_int(AT_FDCWD),
        path.encode(),
        ctypes.c_uint(AT_RECURSIVE if recursive else 0),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number), path)


def _die_with_parent(libc: ctypes.CDLL, parent_pid: int) -> None:
    """A worker killed mid-job must not leave a model running: the kernel kills us with it."""
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the line above
        os._exit(1)


def run_as_namespace_init(work: Callable[[], NoReturn]) -> NoReturn:
    """After unshare(CLONE_NEWPID) our next child is PID 1 of the new namespace: when it exits,
    the kernel kills everything the model started, and kill(-1) from inside reaches nothing
    outside. PID 1 ignores signals it has no handler for, a model's own SIGSEGV included, so the
    model runs one level down as PID 2, and its exit status is relayed up unchanged."""
    read_end, write_end = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(read_end)
        _be_init(write_end, work)
    os.close(write_end)
    _, status = os.waitpid(init, 0)
    with os.fdopen(read_end, "rb") as pipe:
        reported = pipe.read()
    _exit_like(int(reported) if reported else status)


def _be_init(report_to: int, work: Callable[[], NoReturn]) -> NoReturn:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the outer child's death ends all
        worker = os.fork()
        if worker == 0:
            os.close(report_to)  # the model must not be able to forge its own exit status
            try:
                work()
            finally:
                os._exit(1)  # work() exits by itself; this only stops it returning into init
        while True:  # PID 1 reaps every orphan until the worker itself ends
            pid, status = os.wait()
            if pid == worker:
                os.write(report_to, str(status).encode())
                break
    finally:
        os._exit(0)


def _exit_like(status: int) -> NoReturn:
    """End this process the way the worker ended, so the parent sees the real signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):
            signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {number})
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


# --- start-up ----------------------------------------------------------------------------------


def apply_limits(limits: dict[str, Any]) -> None:
    """Soft = hard, so the model cannot raise them again; inherited by every process it starts."""
    for name, value in (
        ("RLIMIT_AS", limits["memory_bytes"]),
        ("RLIMIT_FSIZE", limits["output_bytes"]),
        ("RLIMIT_NOFILE", limits["open_files"]),
        ("RLIMIT_CORE", 0),
    ):
        kind = getattr(resource, name)
        _, hard = resource.getrlimit(kind)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def main(argv: list[str]) -> NoReturn:
    workdir = Path(argv[1])
    request = json.loads((workdir / REQUEST).read_text())
    apply_limits(request["limits"])
    facts = isolate(
        workdir,
        parent_pid=request["parent_pid"],
        hidden=tuple(request["limits"].get("hidden_paths") or ()),
    )
    if request["limits"]["require_isolation"] and not facts["complete"]:
        reason = facts.get("error", "namespaces are not available")
        message = f"the sandbox could not isolate the model ({reason}) and isolation is required"
        document = _report("refused", message, refusal_code="isolation_unavailable")
        write_json(workdir / RESULT, {"status": "error", **document})
        os._exit(0)
    if facts["pid_namespace"]:
        run_as_namespace_init(lambda: run_worker(workdir, request, facts))
    run_worker(workdir, request, facts)


if __name__ == "__main__":
    # Operations in other modules import this one by name: let them get this very module, so
    # the OperationError they raise is the class failure() recognises.
    sys.modules.setdefault("governance.sandbox.child", sys.modules[__name__])
    main(sys.argv)
