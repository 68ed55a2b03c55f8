"""Chunks of a large explainability job, taken by any worker, and the merge when all are done.

Each chunk is claimed with a conditional UPDATE and a lease of its own (renewed by a heartbeat),
like an assessment; its SHAP values are stored as an .npz file by digest. After a chunk is done
its worker checks whether every chunk is: the last one to commit sees them all and moves the
assessment to "merging chunks" with a conditional UPDATE, so exactly one merge is queued (the
reaper re-sends it if that message is lost). A chunk whose worker dies leaves an expired lease,
and the reaper fails the whole assessment: partial SHAP values are never reported.
"""

import logging
import time
import uuid

from django.db.models import Exists, OuterRef
from django.utils import timezone

from governance.jobs import dispatch, explain_job, state
from governance.models import Assessment, AssessmentChunk, AssessmentStatus
from governance.sandbox import watching
from registry import storage

logger = logging.getLogger(__name__)

RUNNING = AssessmentStatus.RUNNING
SUCCEEDED = AssessmentStatus.SUCCEEDED


def execute_chunk(chunk_id: int) -> None:
    state.reap_safely()
    token = uuid.uuid4().hex
    parent_running = Exists(Assessment.objects.filter(pk=OuterRef("assessment_id"), status=RUNNING))
    claimed = (
        AssessmentChunk.objects.filter(pk=chunk_id, status=AssessmentStatus.QUEUED)
        .filter(parent_running)
        .update(
            status=RUNNING,
            run_token=token,
            worker=state.worker_name(),
            lease_expires_at=state.expiry(),
        )
    )
    if not claimed:
        done = AssessmentChunk.objects.filter(pk=chunk_id, status=SUCCEEDED).first()
        if done is not None:
            # Redelivered after its worker finished the chunk but died before moving on.
            after_chunk(done.assessment_id)
        logger.info("chunk %s is not queued; nothing to do", chunk_id)
        return
    chunk = AssessmentChunk.objects.select_related(
        "assessment__model_version", "assessment__dataset_version"
    ).get(pk=chunk_id)
    assessment = chunk.assessment
    mine = AssessmentChunk.objects.filter(pk=chunk_id, status=RUNNING, run_token=token)
    started = time.monotonic()
    heartbeat = state.Heartbeat(lambda: bool(mine.update(lease_expires_at=state.expiry())))

    def check(_stage: str) -> None:
        if heartbeat.lost:
            raise state.LeaseLost(f"chunk {chunk_id} was taken from this worker")

    try:
        with heartbeat, watching(check):
            output = explain_job.explain_rows(
                assessment,
                explain_job.select(assessment),
                explain_job.read_features(assessment),
                chunk.row_start,
                chunk.row_stop,
            )
            key, sha, size = storage.put_bytes("assessment-chunks", explain_job.to_npz(output))
    except state.LeaseLost:
        return
    except Exception as exc:
        from governance.jobs.runner import describe_failure

        code, message = describe_failure(exc)
        where = f"chunk {chunk.index + 1} (rows {chunk.row_start}-{chunk.row_stop - 1})"
        state.fail(assessment.pk, code, f"{where}: {message}")
        return
    if mine.update(
        status=SUCCEEDED,
        result_key=key,
        result_sha256=sha,
        result_size=size,
        seconds=time.monotonic() - started,
        lease_expires_at=None,
    ):
        after_chunk(assessment.pk)


def after_chunk(assessment_id: int, *, resend: bool = False) -> None:
    """Report chunk progress; when every chunk is done, queue the one merge (`resend`: again,
    because the reaper found the merge never started)."""
    try:
        chunks = AssessmentChunk.objects.filter(assessment_id=assessment_id)
        total = chunks.count()
        done = chunks.filter(status=SUCCEEDED).count()
        if total == 0:
            return
        waiting = Assessment.objects.filter(
            pk=assessment_id, status=RUNNING, lease_expires_at__isnull=True
        ).exclude(stage=state.MERGING)
        if done < total:
            waiting.update(
                progress=10 + int(75 * done / total),
                stage=f"SHAP values: {done} of {total} chunks done",
            )
            return
        moved = waiting.update(stage=state.MERGING, progress=86, enqueued_at=timezone.now())
        if moved or resend:
            dispatch.enqueue_finish(assessment_id)
    except Exception:
        # The reaper moves a finished set of chunks on later; never lose the chunk itself.
        logger.exception("could not move assessment %s on after a chunk", assessment_id)


def finish(assessment_id: int) -> None:
    """Merge the chunks of an assessment whose chunks are all done, and end it."""
    from governance.jobs.runner import Outcome, guarded

    state.reap_safely()
    run = state.resume(assessment_id)
    if run is None:
        return

    def merge(timings: dict[str, float]) -> Outcome:
        assessment = Assessment.objects.select_related(
            "model_version__model", "dataset_version__dataset"
        ).get(pk=assessment_id)
        chunks = list(assessment.chunks.order_by("index"))
        if any(c.status != SUCCEEDED for c in chunks):
            raise RuntimeError("merge started before every chunk was done")
        outputs = []
        for chunk in chunks:
            with storage.verified_copy(
                chunk.result_key, sha256=chunk.result_sha256, size=chunk.result_size
            ) as path:
                outputs.append((chunk.row_start, chunk.row_stop, explain_job.from_npz(path)))
        timings["chunk_seconds"] = sum(c.seconds or 0.0 for c in chunks)
        run.report(88, "summarising SHAP values", force=True)
        selection = explain_job.select(assessment)  # from the record: no file is read here
        return explain_job.outcome(assessment, selection, outputs, chunks=len(chunks))

    guarded(run, merge)
