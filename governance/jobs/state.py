"""The life of an assessment run: claim, lease, progress, finish, and the reaper.

Every transition is one conditional UPDATE whose conditions are on the row it changes, so two
workers given the same task (a broker redelivers it after a crash, or the reaper re-sends it)
cannot both run it: the first claims it, the second finds it no longer queued and does nothing.
A run holds a lease that a heartbeat thread renews while the work goes on; if the worker dies, the
lease runs out and `reap()` fails the assessment. A finish only lands while the row is running
under the same run token with a live lease, so a worker that lost its lease can never mark
anything succeeded.

The reaper also re-sends what a lost message would leave waiting for ever: queued assessments and
chunks, and merges of chunked assessments whose chunks are all done. Re-sending is safe because
every task starts with a claim.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from audit import trail
from governance.models import Assessment, AssessmentChunk, AssessmentStatus

logger = logging.getLogger(__name__)

RUNNING = AssessmentStatus.RUNNING
QUEUED = AssessmentStatus.QUEUED
FAILED = AssessmentStatus.FAILED
SUCCEEDED = AssessmentStatus.SUCCEEDED
MERGING = "merging chunks"


class LeaseLost(Exception):
    """The run no longer owns the assessment (reaped, or finished by someone else): stop."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds() -> int:
    return settings.MODELGATE_ASSESSMENT_LEASE_SECONDS


def expiry() -> Any:
    return timezone.now() + timedelta(seconds=lease_seconds())


def claim(assessment_id: int) -> "Run | None":
    """Take a queued assessment; None when it is not queued (already taken, or finished)."""
    token = uuid.uuid4().hex
    taken = Assessment.objects.filter(pk=assessment_id, status=QUEUED).update(
        status=RUNNING,
        run_token=token,
        worker=worker_name(),
        started_at=timezone.now(),
        lease_expires_at=expiry(),
        attempts=F("attempts") + 1,
        stage="starting",
        progress=1,
    )
    return Run(assessment_id, token) if taken else None


def resume(assessment_id: int) -> "Run | None":
    """Take over a chunked assessment whose chunks are all done, to merge them; None when it is
    not waiting for its merge (finished, or a merge is already running under a live lease)."""
    token = uuid.uuid4().hex
    now = timezone.now()
    taken = (
        Assessment.objects.filter(pk=assessment_id, status=RUNNING, stage=MERGING)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .update(run_token=token, worker=worker_name(), lease_expires_at=expiry())
    )
    return Run(assessment_id, token, stage=MERGING, progress=86) if taken else None


class Heartbeat:
    """Renews a lease from a thread of its own until stopped, so long steps that report no
    progress (reading a large file, drawing charts) do not look like a dead worker.

    Not started inside a transaction (the inline mode of the test suite): another connection
    could not write the row the transaction holds, and there is no other process to reap it.
    """

    def __init__(self, renew: Callable[[], bool]) -> None:
        self._renew = renew
        self._stop = threading.Event()
        self.lost = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Heartbeat":
        if not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        interval = min(30.0, max(0.5, lease_seconds() / 4))
        try:
            while not self._stop.wait(interval):
                if not self._renew():
                    self.lost = True
                    return
        except Exception:
            logger.exception("lease heartbeat failed")
        finally:
            connections.close_all()


@dataclass
class Run:
    """One worker's hold on one running assessment."""

    assessment_id: int
    token: str
    progress: int = 1
    stage: str = "starting"
    last_write: float = 0.0
    # Progress costs a write; at most one per interval (the heartbeat keeps the lease meanwhile).
    interval: float = 2.0
    heartbeat: Heartbeat | None = field(default=None, repr=False)

    def _mine(self) -> Any:
        return Assessment.objects.filter(
            pk=self.assessment_id, status=RUNNING, run_token=self.token
        )

    def renew(self) -> bool:
        return bool(self._mine().update(lease_expires_at=expiry()))

    def keep_alive(self) -> Heartbeat:
        self.heartbeat = Heartbeat(self.renew)
        return self.heartbeat

    def _check(self) -> None:
        if self.heartbeat is not None and self.heartbeat.lost:
            raise LeaseLost(f"assessment #{self.assessment_id} is no longer held by this run")

    def report(
        self, progress: float | None = None, stage: str | None = None, *, force: bool = False
    ) -> None:
        """Record progress (0-100) and renew the lease; raises LeaseLost if the run was taken."""
        self._check()
        if progress is not None:
            self.progress = max(self.progress, min(99, int(progress)))
        if stage is not None:
            self.stage = stage[:120]
        now = time.monotonic()
        if not force and now - self.last_write < self.interval:
            return
        self.last_write = now
        if not self._mine().update(
            progress=self.progress, stage=self.stage, lease_expires_at=expiry()
        ):
            raise LeaseLost(f"assessment #{self.assessment_id} is no longer held by this run")

    def hand_over_to_chunks(self) -> None:
        """Chunks on other workers carry the assessment now; their own leases count instead."""
        if not self._mine().update(lease_expires_at=None, run_token="", enqueued_at=timezone.now()):
            raise LeaseLost(f"assessment #{self.assessment_id} is no longer held by this run")

    def fail(self, code: str, message: str, *, timings: dict | None = None) -> bool:
        return fail(self.assessment_id, code, message, token=self.token, timings=timings)

    def succeed(
        self,
        *,
        results: dict[str, Any],
        results_sha256: str,
        provenance: dict[str, Any],
        timings: dict[str, Any],
        charts: list[dict[str, Any]],
    ) -> bool:
        """Store the outcome and its charts in one transaction; False if the lease was lost."""
        from governance.models import AssessmentChart

        self._check()
        with transaction.atomic():
            done = (
                self._mine()
                .filter(lease_expires_at__gt=timezone.now())
                .update(
                    status=SUCCEEDED,
                    results=results,
                    results_sha256=results_sha256,
                    provenance=provenance,
                    timings=timings,
                    progress=100,
                    stage="done",
                    finished_at=timezone.now(),
                    lease_expires_at=None,
                )
            )
            if not done:
                return False
            assessment = Assessment.objects.get(pk=self.assessment_id)
            AssessmentChart.objects.bulk_create(
                AssessmentChart(assessment=assessment, **chart) for chart in charts
            )
            trail.record(
                assessment,
                "assessment.succeeded",
                by=None,
                data={
                    "results_sha256": results_sha256,
                    "artifact_sha256": assessment.artifact_sha256,
                    "dataset_sha256": assessment.dataset_sha256,
                    "charts": sorted(f"{c['name']}.{c['format']}" for c in charts),
                },
            )
            from governance.services import staleness

            staleness.evidence_changed(assessment)
        return True


def fail(
    assessment_id: int,
    code: str,
    message: str,
    *,
    token: str | None = None,
    timings: dict | None = None,
    only_if: Q | None = None,
) -> bool:
    """Fail a queued or running assessment with its reason; False if it had already finished
    (or, with `token`, if another run holds it; with `only_if`, if that no longer holds)."""
    with transaction.atomic():
        query = Assessment.objects.filter(pk=assessment_id, status__in=(QUEUED, RUNNING))
        if token is not None:
            query = query.filter(run_token=token)
        if only_if is not None:
            query = query.filter(only_if)
        done = query.update(
            status=FAILED,
            error_code=code[:60],
            error_message=message,
            finished_at=timezone.now(),
            lease_expires_at=None,
            timings=timings or {},
        )
        if not done:
            return False
        assessment = Assessment.objects.get(pk=assessment_id)
        AssessmentChunk.objects.filter(
            assessment_id=assessment_id, status__in=(QUEUED, RUNNING)
        ).update(status=FAILED)
        trail.record(
            assessment,
            "assessment.failed",
            by=None,
            data={"code": code, "message": message[:2000], "stage": assessment.stage},
        )
    return True


def _dead_chunk(now: Any) -> Exists:
    return Exists(
        AssessmentChunk.objects.filter(
            assessment=OuterRef("pk"), status=RUNNING, lease_expires_at__lt=now
        )
    )


def reap(now: Any = None) -> list[int]:
    """Fail every running assessment whose worker stopped renewing its lease (killed, crashed,
    machine lost), or one of whose chunks' workers did; re-send what lost messages left waiting.
    Returns the ids failed."""
    now = now or timezone.now()
    # Conditions stay on the assessment row itself (no join), so the UPDATE re-checks them on
    # the row it changes: a worker that renewed its lease meanwhile keeps its run.
    still_dead = Q(lease_expires_at__lt=now) | _dead_chunk(now)
    candidates = Assessment.objects.filter(status=RUNNING).filter(still_dead)
    failed = []
    for assessment in candidates.only("pk", "progress", "stage", "worker"):
        message = (
            f"the worker running this assessment ({assessment.worker or 'unknown'}) stopped "
            f"renewing its lease (killed, crashed or lost) while it was at {assessment.progress}% "
            f"({assessment.stage}); it was not completed and no result was stored. Request the "
            "assessment again."
        )
        if fail(assessment.pk, "worker_lost", message, only_if=still_dead):
            failed.append(assessment.pk)
    _resend_waiting(now)
    return failed


def reap_safely() -> None:
    """The reaper as a task's first step: its failure must not stop the task's own work."""
    try:
        reap()
    except Exception:
        logger.exception("the assessment reaper failed; the task goes on")


def _resend_waiting(now: Any) -> None:
    from governance.jobs import chunks, dispatch

    cutoff = now - timedelta(seconds=settings.MODELGATE_REQUEUE_AFTER_SECONDS)
    stale = Q(enqueued_at__lt=cutoff)
    for pk in Assessment.objects.filter(stale, status=QUEUED).values_list("pk", flat=True):
        if Assessment.objects.filter(stale, pk=pk, status=QUEUED).update(enqueued_at=now):
            logger.warning("re-sending assessment %s, queued since before %s", pk, cutoff)
            dispatch.enqueue(pk)
    waiting_chunks = AssessmentChunk.objects.filter(
        stale, status=QUEUED, assessment__status=RUNNING
    )
    for chunk in waiting_chunks.only("pk", "assessment_id"):
        if AssessmentChunk.objects.filter(stale, pk=chunk.pk, status=QUEUED).update(
            enqueued_at=now
        ):
            logger.warning("re-sending chunk %s of assessment %s", chunk.pk, chunk.assessment_id)
            dispatch.enqueue_chunk(chunk.assessment_id, chunk.pk)
    # Chunked assessments between their last chunk and their merge: move them on.
    handed_over = Assessment.objects.filter(stale, status=RUNNING, lease_expires_at__isnull=True)
    for pk in handed_over.values_list("pk", flat=True):
        if Assessment.objects.filter(stale, pk=pk, status=RUNNING).update(enqueued_at=now):
            chunks.after_chunk(pk, resend=True)
