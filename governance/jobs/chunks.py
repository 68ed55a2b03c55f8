"""Chunks of a large explainability job, taken by any worker, and the merge when all are done.

Each chunk is claimed with a conditional UPDATE and a lease of its own, like an assessment; its
SHAP values are stored as an .npz file by digest. The worker that finishes the last chunk (it
sees every chunk done after its own commit) moves the assessment to "merging chunks" with a
conditional UPDATE, so exactly one merge is queued. A chunk whose worker dies leaves an expired
lease, and the reaper fails the whole assessment: partial SHAP values are never reported.
"""

import logging
import time
import uuid
from datetime import timedelta

from django.utils import timezone

from governance.jobs import dispatch, explain_job, state
from governance.models import Assessment, AssessmentChunk, AssessmentStatus
from governance.sandbox import watching
from registry import storage

logger = logging.getLogger(__name__)

RUNNING = AssessmentStatus.RUNNING


def execute_chunk(chunk_id: int) -> None:
    state.reap()
    token = uuid.uuid4().hex
    claimed = AssessmentChunk.objects.filter(
        pk=chunk_id, status=AssessmentStatus.QUEUED, assessment__status=RUNNING
    ).update(
        status=RUNNING,
        run_token=token,
        worker=state.worker_name(),
        lease_expires_at=_expiry(),
    )
    if not claimed:
        logger.info("chunk %s is not queued; nothing to do", chunk_id)
        return
    chunk = AssessmentChunk.objects.select_related(
        "assessment__model_version", "assessment__dataset_version"
    ).get(pk=chunk_id)
    assessment = chunk.assessment
    mine = AssessmentChunk.objects.filter(pk=chunk_id, status=RUNNING, run_token=token)
    started = time.monotonic()
    last = [0.0]

    def renew(_stage: str) -> None:
        if time.monotonic() - last[0] >= 2.0:
            last[0] = time.monotonic()
            if not mine.update(lease_expires_at=_expiry()):
                raise state.LeaseLost(f"chunk {chunk_id} was taken from this worker")

    try:
        with watching(renew):
            the_plan = explain_job.plan(assessment)
            output = explain_job.explain_rows(assessment, the_plan, chunk.row_start, chunk.row_stop)
        key, sha, size = storage.put_bytes("assessment-chunks", explain_job.to_npz(output))
    except state.LeaseLost:
        return
    except Exception as exc:
        from governance.jobs.runner import describe_failure

        code, message = describe_failure(exc)
        state.fail(
            assessment.pk,
            code,
            f"chunk {chunk.index} (rows {chunk.row_start}-{chunk.row_stop}): {message}",
        )
        return
    if not mine.update(
        status=AssessmentStatus.SUCCEEDED,
        result_key=key,
        result_sha256=sha,
        result_size=size,
        seconds=time.monotonic() - started,
        lease_expires_at=None,
    ):
        return
    _after_chunk(assessment.pk)


def _after_chunk(assessment_id: int) -> None:
    chunks = AssessmentChunk.objects.filter(assessment_id=assessment_id)
    total = chunks.count()
    done = chunks.filter(status=AssessmentStatus.SUCCEEDED).count()
    waiting = Assessment.objects.filter(pk=assessment_id, status=RUNNING).exclude(
        stage=explain_job.MERGING
    )
    waiting.update(
        progress=10 + int(75 * done / total), stage=f"SHAP values: {done} of {total} chunks done"
    )
    if done == total and waiting.update(stage=explain_job.MERGING, progress=86):
        dispatch.enqueue_finish(assessment_id)


def finish(assessment_id: int) -> None:
    """Merge the chunks of an assessment whose chunks are all done, and end it."""
    from governance.jobs.runner import guarded

    run = state.resume(assessment_id, stage=explain_job.MERGING)
    if run is None:
        return

    def merge(timings: dict[str, float]) -> object:
        assessment = Assessment.objects.select_related(
            "model_version__model", "dataset_version__dataset"
        ).get(pk=assessment_id)
        chunks = list(assessment.chunks.order_by("index"))
        if any(c.status != AssessmentStatus.SUCCEEDED for c in chunks):
            raise RuntimeError("merge started before every chunk was done")
        outputs = []
        for chunk in chunks:
            with storage.verified_copy(
                chunk.result_key, sha256=chunk.result_sha256, size=chunk.result_size
            ) as path:
                outputs.append(explain_job.from_npz(path))
        timings["chunk_seconds"] = sum(c.seconds or 0.0 for c in chunks)
        run.report(88, "summarising SHAP values", force=True)
        the_plan = explain_job.plan(assessment)
        return explain_job.outcome(assessment, the_plan, outputs, chunks=len(chunks))

    guarded(run, merge)


def _expiry() -> object:
    return timezone.now() + timedelta(seconds=state.lease_seconds())
