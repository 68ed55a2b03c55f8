"""The life of an assessment run: claim, lease, progress, finish, and the reaper.

Every transition is one conditional UPDATE, so two workers given the same task (a broker
redelivers it after a crash, or someone enqueues twice) cannot both run it: the first claims it,
the second finds it no longer queued and does nothing. A run holds a lease it renews while it
works (at every progress report and while it waits on the sandbox); if the worker dies, the lease
runs out and `reap()` fails the assessment. A finish only lands if the row is still running under
the same run token, so a worker that lost its lease can never mark anything succeeded.
"""

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from audit import trail
from governance.models import Assessment, AssessmentChunk, AssessmentStatus

RUNNING = AssessmentStatus.RUNNING
QUEUED = AssessmentStatus.QUEUED
FAILED = AssessmentStatus.FAILED


class LeaseLost(Exception):
    """The run no longer owns the assessment (reaped, or finished by someone else): stop."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds() -> int:
    return settings.MODELGATE_ASSESSMENT_LEASE_SECONDS


def _expiry() -> Any:
    return timezone.now() + timedelta(seconds=lease_seconds())


def claim(assessment_id: int) -> "Run | None":
    """Take a queued assessment; None when it is not queued (already taken, or finished)."""
    token = uuid.uuid4().hex
    now = timezone.now()
    taken = Assessment.objects.filter(pk=assessment_id, status=QUEUED).update(
        status=RUNNING,
        run_token=token,
        worker=worker_name(),
        started_at=now,
        lease_expires_at=_expiry(),
        attempts=F("attempts") + 1,
        stage="starting",
        progress=1,
    )
    return Run(assessment_id, token) if taken else None


def resume(assessment_id: int, *, stage: str) -> "Run | None":
    """Take over a running assessment that waits at `stage` (its chunks are done and it is to be
    merged); None when it is not running any more or not at that stage."""
    token = uuid.uuid4().hex
    taken = Assessment.objects.filter(pk=assessment_id, status=RUNNING, stage=stage).update(
        run_token=token, worker=worker_name(), lease_expires_at=_expiry()
    )
    return Run(assessment_id, token, stage=stage, progress=86) if taken else None


@dataclass
class Run:
    """One worker's hold on one running assessment."""

    assessment_id: int
    token: str
    last_write: float = 0.0
    progress: int = 1
    stage: str = "starting"
    # Renewing the lease costs a write; at most one per interval is plenty for a 2-minute lease.
    interval: float = 2.0

    def _mine(self) -> Any:
        return Assessment.objects.filter(
            pk=self.assessment_id, status=RUNNING, run_token=self.token
        )

    def report(
        self, progress: float | None = None, stage: str | None = None, *, force: bool = False
    ) -> None:
        """Record progress (0-100) and renew the lease; raises LeaseLost if the run was taken."""
        if progress is not None:
            self.progress = max(self.progress, min(99, int(progress)))
        if stage is not None:
            self.stage = stage[:120]
        now = time.monotonic()
        if not force and now - self.last_write < self.interval:
            return
        self.last_write = now
        if not self._mine().update(
            progress=self.progress, stage=self.stage, lease_expires_at=_expiry()
        ):
            raise LeaseLost(f"assessment #{self.assessment_id} is no longer held by this run")

    def release_lease(self) -> None:
        """Chunks on other workers carry the assessment now; their own leases count instead."""
        if not self._mine().update(lease_expires_at=None, run_token=""):
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

        with transaction.atomic():
            done = self._mine().update(
                status=AssessmentStatus.SUCCEEDED,
                results=results,
                results_sha256=results_sha256,
                provenance=provenance,
                timings=timings,
                progress=100,
                stage="done",
                finished_at=timezone.now(),
                lease_expires_at=None,
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
    (or, with `token`, if another run holds it)."""
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


def reap(now: Any = None) -> list[int]:
    """Fail every running assessment whose worker stopped renewing its lease (killed, crashed,
    machine lost), and those whose chunks' workers did. Returns the ids failed."""
    now = now or timezone.now()
    expired = Q(status=RUNNING, lease_expires_at__lt=now)
    dead_chunks = AssessmentChunk.objects.filter(status=RUNNING, lease_expires_at__lt=now)
    candidates = set(Assessment.objects.filter(expired).values_list("pk", flat=True))
    candidates |= set(dead_chunks.values_list("assessment_id", flat=True))
    failed = []
    for assessment_id in sorted(candidates):
        assessment = Assessment.objects.filter(pk=assessment_id).first()
        if assessment is None:
            continue
        message = (
            f"the worker running this assessment stopped renewing its lease (killed, crashed or "
            f"lost) while it was at {assessment.progress}% ({assessment.stage}); it was not "
            f"completed and no result was stored. Request the assessment again."
        )
        # Re-checked in the UPDATE: a worker that renewed its lease meanwhile keeps its run.
        still_dead = Q(lease_expires_at__lt=now) | Q(
            chunks__status=RUNNING, chunks__lease_expires_at__lt=now
        )
        if fail(assessment_id, "worker_lost", message, only_if=still_dead):
            failed.append(assessment_id)
    return failed
