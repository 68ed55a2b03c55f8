"""E-mails about validation findings: whoever has the next step hears of it.

- `finding.raised`: the owner, who must answer it;
- `finding.answered`: the person who raised it, who may now close it;
- `finding.closed`: the owner, whose finding no longer blocks anything.

Each links to the finding's page. Sent after the change commits, through Django's default mailer
(settings.MAILERS); someone without an e-mail address is skipped.
"""

import logging

from django.core.mail import EmailMessage, mailers
from django.urls import reverse

from governance.models import Finding
from governance.notifications.events import absolute

logger = logging.getLogger(__name__)

SUBJECT_PREFIX = "[ModelGate] "
EVENTS = ("finding.raised", "finding.answered", "finding.closed")


def message_for(event: str, finding: Finding) -> EmailMessage | None:
    version = finding.model_version
    link = absolute(reverse("web:finding", args=[finding.pk]))
    version_link = absolute(reverse("web:version", args=[version.model.name, version.version]))
    due = f"Due: {finding.due_date:%Y-%m-%d}\n" if finding.due_date else ""
    if event == "finding.raised":
        to = finding.owner
        subject = f"Finding #{finding.pk} ({finding.severity}) on {version}: {finding.title}"
        text = (
            f"{finding.raised_by.get_username()} ({finding.raised_role}) raised a "
            f"{finding.severity}-severity finding on {version} and made you its owner.\n\n"
            f"{finding.description}\n\n{due}"
            "Answer it with a remediation note on its page.\n"
        )
    elif event == "finding.answered":
        to = finding.raised_by
        subject = f"Finding #{finding.pk} answered: {finding.title}"
        text = (
            f"{finding.owner.get_username()} answered the finding you raised on {version}:\n\n"
            f"{finding.remediation}\n\nClose it on its page once the remediation is verified.\n"
        )
    elif event == "finding.closed":
        to = finding.owner
        subject = f"Finding #{finding.pk} closed: {finding.title}"
        closer = finding.closed_by.get_username() if finding.closed_by else "a reviewer"
        text = f"{closer} closed the finding on {version}:\n\n{finding.closing_note}\n"
    else:
        raise ValueError(f"unknown finding event {event!r}")
    if not to.email:
        return None
    body = f"{text}\nFinding: {link}\nModel version: {version_link}\n"
    return EmailMessage(subject=SUBJECT_PREFIX + subject, body=body, to=[to.email])


def send(event: str, finding_id: int) -> int:
    """Send the e-mail of `event` (after commit); failures are logged, never raised."""
    try:
        finding = Finding.objects.select_related(
            "model_version__model", "owner", "raised_by", "closed_by"
        ).get(pk=finding_id)
        message = message_for(event, finding)
        if message is None:
            return 0
        return mailers.default.send_messages([message]) or 0
    except Exception:
        logger.exception("e-mail for %s on finding #%s not sent", event, finding_id)
        return 0
