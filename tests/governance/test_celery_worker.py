"""Assessments through a real Celery worker process and the Redis on this machine.

The worker is started as production starts it (`celery -A config worker`), against the test
database (committed data: these tests use transactional_db) and a queue of its own, so that
other runs on the same Redis cannot take its tasks. Redis must be running; `.ci/run` starts it.
In CI a missing Redis fails these tests instead of skipping them.
"""

import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from audit.models import AuditEvent
from config.celery import app
from governance.models import Assessment
from governance.services.assessments import request_assessment
from tests.governance import assessment_setup as setup
from tests.governance import sandbox_targets as targets

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = ("127.0.0.1", 6379)
BROKER = "redis://127.0.0.1:6379/15"
PROJECT = Path(__file__).resolve().parents[2]


def _redis_up() -> bool:
    try:
        socket.create_connection(REDIS, timeout=1).close()
    except OSError:
        return False
    return True


if not _redis_up():
    if os.environ.get("CI"):
        raise RuntimeError("Redis is not running on 127.0.0.1:6379; .ci/run should start it")
    pytestmark = [pytestmark, pytest.mark.skip(reason="Redis is not running on 127.0.0.1:6379")]


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@pytest.fixture
def queue(settings) -> Iterator[str]:
    name = f"modelgate-test-{uuid.uuid4().hex[:12]}"
    settings.MODELGATE_JOBS = "celery"
    settings.CELERY_BROKER_URL = BROKER
    previous = (app.conf.broker_url, app.conf.task_default_queue)
    app.conf.broker_url = BROKER
    app.conf.task_default_queue = name
    yield name
    app.conf.broker_url, app.conf.task_default_queue = previous


@pytest.fixture
def start_worker(queue, tmp_path) -> Iterator[Callable[..., subprocess.Popen]]:
    started: list[subprocess.Popen] = []

    def start(
        *,
        lease_seconds: int = 120,
        extra_env: dict | None = None,
        concurrency: int = 1,
        beat: bool = False,
    ) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECRET_KEY": "celery-test-worker",
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
            "CELERY_BROKER_URL": BROKER,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "MODELGATE_JOBS": "celery",
            "MODELGATE_ASSESSMENT_LEASE_SECONDS": str(lease_seconds),
            "MODELGATE_REAP_INTERVAL_SECONDS": "1",
            "CELERY_VISIBILITY_TIMEOUT": "4",
            **(extra_env or {}),
        }
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"{queue}-{len(started)}@%h",
        ]
        if beat:
            command += ["--beat", "--schedule", str(tmp_path / f"beat-{len(started)}")]
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter
            command,
            cwd=PROJECT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        started.append(process)
        return process

    yield start
    for process in started:
        kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, logs: list) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(Path(p.log_path).read_text()[-3000:] for p in logs)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; worker logs:\n{tails}")


def test_a_celery_worker_runs_an_assessment_queued_after_commit(
    start_worker, data_scientist, validator
):
    worker = start_worker()
    version = setup.adult_model(data_scientist)
    dataset = setup.adult_dataset(data_scientist, rows=300)
    assessment = request_assessment(
        by=validator, kind="performance", model_version=version, dataset_version=dataset
    )

    def finished() -> bool:
        assessment.refresh_from_db()
        return assessment.is_finished

    wait_for(finished, 120, "the worker to finish the assessment", [worker])
    assert assessment.status == "succeeded", assessment.error_message
    _host, pid = assessment.worker.rsplit(":", 1)
    assert int(pid) != os.getpid()  # a worker process ran it, not this one
    assert 0.5 < assessment.results["metrics"]["roc_auc"] <= 1.0
    assert assessment.charts.exists()


def test_a_worker_killed_mid_job_leaves_the_assessment_failed_never_succeeded(
    start_worker, data_scientist, validator, settings
):
    settings.MODELGATE_ALLOW_PICKLE = True
    first = start_worker(lease_seconds=3, extra_env={"MODELGATE_ALLOW_PICKLE": "true"})
    dataset = setup.adult_dataset(data_scientist, rows=50)
    version = setup.artifact_version(
        data_scientist,
        pickle.dumps(targets.SleepsForever()),
        "pickle",
        name="slow",
        features=["age"],
    )
    assessment = request_assessment(
        by=validator,
        kind="performance",
        model_version=version,
        dataset_version=dataset,
        parameters={"task": "regression"},
    )

    def predicting() -> bool:
        assessment.refresh_from_db()
        return assessment.status == "running" and assessment.stage.startswith("model: predicting")

    wait_for(predicting, 120, "the job to be running the model", [first])
    kill_group(first)  # SIGKILL to the worker and everything it started: no clean-up runs
    assessment.refresh_from_db()
    assert assessment.status == "running"  # nobody has noticed yet

    # A new worker takes the redelivered message (acks_late) and its beat runs the reaper.
    second = start_worker(lease_seconds=3, beat=True, extra_env={"MODELGATE_ALLOW_PICKLE": "true"})
    seen: set[str] = set()

    def failed() -> bool:
        assessment.refresh_from_db()
        seen.add(assessment.status)
        return assessment.status == "failed"

    wait_for(failed, 90, "the reaper to fail the abandoned assessment", [first, second])
    assert assessment.error_code == "worker_lost"
    assert "model: predicting" in assessment.error_message
    assert assessment.results is None and not assessment.charts.exists()
    time.sleep(6)  # past the visibility timeout: a redelivered task must change nothing
    assessment.refresh_from_db()
    assert assessment.status == "failed" and "succeeded" not in seen
    assert Assessment.objects.filter(status="succeeded").count() == 0


def test_explainability_chunks_are_shared_by_several_workers_and_merged_once(
    start_worker, data_scientist, validator
):
    workers = [start_worker(), start_worker()]
    version = setup.adult_model(data_scientist)
    dataset = setup.adult_dataset(data_scientist, rows=300)
    parameters = {"max_rows": 300, "chunk_rows": 100}
    assessment = request_assessment(
        by=validator,
        kind="explainability",
        model_version=version,
        dataset_version=dataset,
        parameters=parameters,
    )

    def finished() -> bool:
        assessment.refresh_from_db()
        return assessment.is_finished

    wait_for(finished, 180, "the chunked explainability assessment", workers)
    assert assessment.status == "succeeded", assessment.error_message
    chunks = list(assessment.chunks.order_by("index"))
    assert [(c.row_start, c.row_stop, c.status) for c in chunks] == [
        (0, 100, "succeeded"),
        (100, 200, "succeeded"),
        (200, 300, "succeeded"),
    ]
    assert all(c.worker and len(c.result_sha256) == 64 for c in chunks)
    merged = AuditEvent.objects.filter(
        target_type="governance.assessment",
        target_id=str(assessment.pk),
        action="assessment.succeeded",
    )
    assert merged.count() == 1  # one merge, however many workers finished chunks
    assert assessment.results["n_rows_explained"] == 300

    # The same request computed in one pass here gives the same numbers.
    from governance.jobs import runner

    settings_jobs = django_settings.MODELGATE_JOBS
    try:
        django_settings.MODELGATE_JOBS = "inline"
        again = request_assessment(
            by=validator,
            kind="explainability",
            model_version=version,
            dataset_version=dataset,
            parameters=parameters,
            enqueue=False,
        )
        runner.execute(again.pk)
    finally:
        django_settings.MODELGATE_JOBS = settings_jobs
    again.refresh_from_db()
    assert again.results_sha256 == assessment.results_sha256
