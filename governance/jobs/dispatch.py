"""Where a queued job runs: a Celery worker, a background thread, or right here (inline).

Called after the requesting transaction commits, so a worker never looks for a row that is not
there yet. A broker that cannot be reached fails the assessment with that reason rather than
leaving it queued for ever.
"""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

# One background thread: in the embedded default a second job would only compete for the same
# two cores, and SQLite takes one writer at a time anyway.
_threads: ThreadPoolExecutor | None = None
_threads_lock = threading.Lock()


def mode() -> str:
    return settings.MODELGATE_JOBS


def distributed() -> bool:
    """Whether chunks of one job can go to several workers."""
    return mode() == "celery"


def enqueue(assessment_id: int) -> None:
    _send("run_assessment", assessment_id, assessment_id)


def enqueue_chunk(assessment_id: int, chunk_id: int) -> None:
    _send("run_assessment_chunk", assessment_id, chunk_id)


def enqueue_finish(assessment_id: int) -> None:
    _send("finish_chunked_assessment", assessment_id, assessment_id)


def _send(task_name: str, assessment_id: int, argument: int) -> None:
    from governance import tasks

    task = getattr(tasks, task_name)
    if mode() == "inline":
        task.run(argument)
        return
    if mode() == "thread":
        try:
            _pool().submit(_in_thread, task, argument)
        except RuntimeError:  # the interpreter is shutting down: the reaper re-sends it later
            logger.warning("could not start %s(%s) in a thread", task_name, argument)
        return
    try:
        task.apply_async((argument,), retry=True, retry_policy={"max_retries": 3})
    except Exception as exc:  # the broker's own errors vary by transport
        logger.exception("could not queue %s(%s)", task_name, argument)
        from governance.jobs import state

        state.fail(
            assessment_id,
            "queue_unavailable",
            f"the job queue could not be reached ({type(exc).__name__}: {exc}); "
            "nothing was computed. Request the assessment again when the broker is back.",
        )


def _pool() -> ThreadPoolExecutor:
    """The job thread, and with it a reaper on a timer: there is no celery beat in this mode."""
    global _threads
    with _threads_lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelgate-job")
            threading.Thread(target=_reap_forever, name="modelgate-reaper", daemon=True).start()
    return _threads


def _reap_forever() -> None:
    from governance.jobs import state

    stop = threading.Event()
    while not stop.wait(settings.MODELGATE_REAP_INTERVAL_SECONDS):
        close_old_connections()
        state.reap_safely()
        connections.close_all()


def _in_thread(task: Any, argument: int) -> None:
    close_old_connections()
    try:
        task.run(argument)
    except Exception:
        logger.exception("background job %s(%s) failed", task.name, argument)
    finally:
        connections.close_all()
