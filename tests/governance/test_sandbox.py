"""The sandbox runs real models in a child process and turns every way a hostile or broken model
can fail into a clear reason, without harm to the parent. Each test starts a real child (3-5 s:
most of it importing scikit-learn and friends in the child)."""

from __future__ import annotations

import os
import pickle
import resource
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression, Ridge

from governance.sandbox import (
    SandboxError,
    SandboxLimits,
    SandboxResult,
    predict_in_sandbox,
    run_in_sandbox,
)
from registry.artifacts import load_model
from tests.governance import sandbox_targets as targets

MiB = 1024**2
FEATURES = np.random.default_rng(0).normal(size=(40, 3))


@pytest.fixture
def isolated() -> None:
    facts = run_in_sandbox("probe", {}, inputs={}).details["isolation"]
    if not facts["complete"]:
        pytest.skip(f"this kernel does not isolate unprivileged processes: {facts.get('error')}")


def run_pickle(
    tmp_path: Path, model: object, limits: SandboxLimits | None = None, allow_pickle: bool = True
) -> SandboxResult:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    return predict_in_sandbox(
        path,
        "pickle",
        FEATURES,
        trusted_types=[],
        allow_pickle=allow_pickle,
        want_proba=False,
        limits=limits or SandboxLimits(),
    )


def failure(tmp_path: Path, model: object, **limits: Any) -> SandboxError:
    with pytest.raises(SandboxError) as caught:
        run_pickle(tmp_path, model, SandboxLimits(**limits))
    return caught.value


def test_a_skops_model_predicts_in_the_sandbox_exactly_as_in_process(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["age", "income", "tenure"])
    y = np.where(X["age"] + X["income"] > 0, "approve", "decline")
    path = tmp_path / "model.skops"
    skops.io.dump(LogisticRegression().fit(X, y), path)
    in_process = load_model(path, "skops", trusted_types=[], allow_pickle=False)

    result = predict_in_sandbox(
        path, "skops", X, trusted_types=[], allow_pickle=False, want_proba=True
    )

    np.testing.assert_array_equal(result.predictions, in_process.predict(X))
    assert result.probabilities is not None
    np.testing.assert_array_equal(result.probabilities, in_process.predict_proba(X))  # type: ignore[attr-defined]
    assert result.classes == ["approve", "decline"]
    assert result.details["model_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    assert result.details["feature_names"] == ["age", "income", "tenure"]
    assert result.details["django_imported"] is False
    assert "sklearn" in result.details["library_versions"]


def test_a_regressor_predicts_from_an_npy_file_and_has_no_probabilities(tmp_path: Path) -> None:
    path = tmp_path / "ridge.skops"
    model = Ridge().fit(FEATURES, FEATURES @ [1.0, -2.0, 0.5])
    skops.io.dump(model, path)
    np.save(tmp_path / "features.npy", FEATURES)

    result = predict_in_sandbox(
        path,
        "skops",
        tmp_path / "features.npy",
        trusted_types=[],
        allow_pickle=False,
        want_proba=True,
    )

    np.testing.assert_array_equal(result.predictions, model.predict(FEATURES))
    assert result.probabilities is None
    assert result.classes is None


def test_the_child_gets_no_secret_from_the_parent_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {
        "DATABASE_URL": "postgres://admin:hunter2@db/modelgate",
        "SECRET_KEY": "not-for-models",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "AWS_SECRET_ACCESS_KEY": "also-not",
        "OPENBLAS_CORETYPE": "Haswell",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)

    seen = run_in_sandbox("probe", {}, inputs={}, limits=SandboxLimits(threads=2)).data

    environment = seen["environment"]
    assert not set(environment) & (set(secrets) - {"OPENBLAS_CORETYPE"})
    assert environment["OPENBLAS_CORETYPE"] == "Haswell"  # needed for correct BLAS results
    assert environment["OMP_NUM_THREADS"] == environment["OPENBLAS_NUM_THREADS"] == "2"
    assert environment["HOME"] == seen["cwd"]
    assert all(
        secret not in value
        for value in environment.values()
        for secret in secrets.values()
        if secret != "Haswell"
    )
    assert seen["modules"] == []  # neither Django nor even numpy before the operation needs it


def test_the_child_runs_under_the_configured_limits() -> None:
    limits = SandboxLimits(memory_bytes=3 * 1024**3, output_bytes=100 * MiB, open_files=64)

    seen = run_in_sandbox("probe", {}, inputs={}, limits=limits).data["limits"]

    assert seen["RLIMIT_AS"] == [3 * 1024**3] * 2
    assert seen["RLIMIT_FSIZE"] == [100 * MiB] * 2
    assert seen["RLIMIT_NOFILE"] == [64, 64]
    assert seen["RLIMIT_CORE"] == [0, 0]
    assert seen["RLIMIT_CPU"][0] >= 600  # start-up time plus the budget


def test_the_model_reaches_no_network_unix_socket_or_parent_process(
    isolated: None, tmp_path: Path
) -> None:
    with socket.socket() as server, socket.socket(socket.AF_UNIX) as local:
        server.bind(("127.0.0.1", 0))
        server.listen()
        local.bind(str(tmp_path / "daemon.sock"))  # like PostgreSQL's socket in /run/postgresql
        local.listen()
        params = {
            "parent_pid": os.getpid(),
            "connect": ["127.0.0.1", server.getsockname()[1]],
            "connect_unix": str(tmp_path / "daemon.sock"),
        }

        seen = run_in_sandbox("probe", params, inputs={}).data

    assert seen["connect"] == "Network is unreachable"
    assert seen["connect_unix"] == "No such file or directory"  # /tmp is empty in the sandbox
    assert seen["parent_environ"] == "Permission denied"
    assert seen["parent_signal"] == "No such process"


def test_the_deployments_data_directories_are_hidden_from_the_model(isolated: None) -> None:
    # Outside /tmp (always emptied), where var/ with the SQLite file and media usually lives.
    private = Path(__file__).resolve().parents[2] / f".sandbox-test-{os.getpid()}"
    private.mkdir()
    try:
        secret = private / "modelgate.sqlite3"
        secret.write_bytes(b"SQLite format 3\x00")
        params = {"read_file": str(secret)}
        assert run_in_sandbox("probe", params, inputs={}).data["read_file"] == "ok"  # control
        hidden = SandboxLimits(hidden_paths=(str(private),))
        seen = run_in_sandbox("probe", params, inputs={}, limits=hidden).data
        assert seen["read_file"] == "No such file or directory"
    finally:
        secret.unlink()
        private.rmdir()


def test_a_segfault_fails_as_crashed_with_the_signal_named(tmp_path: Path) -> None:
    error = failure(tmp_path, targets.Segfaults())

    assert error.code == "crashed"
    assert "SIGSEGV" in error.detail
    assert "while predicting" in error.detail
    assert "Segmentation fault" in error.stderr_tail  # faulthandler's report, for diagnosis


def test_a_model_that_exits_fails_as_crashed_with_its_status(tmp_path: Path) -> None:
    error = failure(tmp_path, targets.ExitsQuietly())

    assert error.code == "crashed"
    assert "exited with status 3 while predicting" in error.detail


def test_a_hanging_model_times_out_and_leaves_no_process_behind(tmp_path: Path) -> None:
    started = time.monotonic()
    error = failure(tmp_path, targets.SleepsForever(), wall_seconds=6)

    assert error.code == "timeout"
    assert "within 6 s" in error.detail
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.killpg(error.extra["pid"], 0)
    for pid in (error.extra["pid"], error.extra["worker_pid"]):
        if pid:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def test_a_model_that_eats_memory_fails_at_the_limit_and_spares_the_parent(
    tmp_path: Path,
) -> None:
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    error = failure(tmp_path, targets.EatsMemory(), memory_bytes=1024 * MiB)

    assert error.code == "memory_limit"
    assert "memory limit of 1 GiB while predicting" in error.detail
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - parent_peak
    assert grown * 1024 < 50 * MiB


def test_a_spinning_model_fails_at_its_cpu_limit(tmp_path: Path) -> None:
    error = failure(tmp_path, targets.Spins(), cpu_seconds=1, wall_seconds=60)

    assert error.code == "cpu_limit"
    assert error.extra["signal"] == "SIGXCPU"
    assert "CPU-time limit of 1 s while predicting" in error.detail


def test_an_exception_in_the_model_is_reported_with_its_message(tmp_path: Path) -> None:
    error = failure(tmp_path, targets.Raises())

    assert error.code == "model_error"
    assert error.detail == (
        "the model failed while predicting: ValueError: feature 'age' must not be negative"
    )
    assert any("sandbox_targets.py" in frame for frame in error.extra["frames"])


def test_a_model_returning_the_wrong_number_of_rows_is_invalid_output(tmp_path: Path) -> None:
    error = failure(tmp_path, targets.ReturnsTooFewRows())

    assert error.code == "invalid_output"
    assert "shape (1,) for 40 rows" in error.detail


def test_a_pickle_is_refused_unless_allowed_and_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    with pytest.raises(SandboxError) as caught:
        run_pickle(tmp_path, targets.WritesMarkerWhenUnpickled(marker), allow_pickle=False)

    assert caught.value.code == "refused"
    assert caught.value.extra["refusal_code"] == "unsafe_format"
    assert not marker.exists()


def test_an_allowed_pickle_cannot_write_outside_its_working_directory(
    isolated: None, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"

    with pytest.raises(SandboxError) as caught:
        run_pickle(tmp_path, targets.WritesMarkerWhenUnpickled(marker), allow_pickle=True)

    assert caught.value.code == "refused"
    assert caught.value.extra["refusal_code"] == "corrupt_artifact"
    assert not marker.exists()
