"""Celery tasks: thin wrappers; the work and every rule live in governance.jobs.

Each task is idempotent: running it twice, or after its assessment finished, changes nothing.
"""

from celery import shared_task


@shared_task(name="governance.run_assessment", acks_late=True, reject_on_worker_lost=True)
def run_assessment(assessment_id: int) -> None:
    from governance.jobs import runner

    runner.execute(assessment_id)


@shared_task(name="governance.run_assessment_chunk", acks_late=True, reject_on_worker_lost=True)
def run_assessment_chunk(chunk_id: int) -> None:
    from governance.jobs import chunks

    chunks.execute_chunk(chunk_id)


@shared_task(
    name="governance.finish_chunked_assessment", acks_late=True, reject_on_worker_lost=True
)
def finish_chunked_assessment(assessment_id: int) -> None:
    from governance.jobs import chunks

    chunks.finish(assessment_id)


@shared_task(name="governance.reap_assessments")
def reap_assessments() -> list[int]:
    from governance.jobs import state

    return state.reap()


@shared_task(name="governance.email_promotion_event")
def email_promotion_event(event: str, request_id: int) -> int:
    from governance.notifications import dispatch

    return dispatch.email_now(event, request_id)


@shared_task(name="governance.send_webhook", acks_late=True, reject_on_worker_lost=True)
def send_webhook(delivery_id: int) -> None:
    # Idempotent: the attempt starts with a claim, so a redelivered message sends nothing twice.
    from governance.notifications import webhooks

    webhooks.send(delivery_id)


@shared_task(name="governance.deliver_webhooks")
def deliver_webhooks() -> int:
    from governance.notifications import webhooks

    return webhooks.deliver_due()
