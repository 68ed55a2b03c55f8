"""Model-risk validation findings: what a validator or risk officer asks the owners to fix."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class FindingSeverity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


# Ordered from least to most severe: a policy threshold "medium" covers medium and high.
SEVERITY_ORDER = (FindingSeverity.LOW, FindingSeverity.MEDIUM, FindingSeverity.HIGH)


def at_least(severity: str) -> list[str]:
    """The severities at or above `severity`."""
    return [s.value for s in SEVERITY_ORDER[SEVERITY_ORDER.index(FindingSeverity(severity)) :]]


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"  # the owner sent a remediation note; not yet closed
    CLOSED = "closed", "Closed"


UNRESOLVED = (FindingStatus.OPEN, FindingStatus.ANSWERED)


class Finding(models.Model):
    """One finding on one model version. Written only by governance.services.findings.

    A finding stays unresolved (blocking, when severe enough) until the person who raised it, or
    another reviewer holding the role they raised it in, closes it: the owner's answer alone
    does not resolve it.
    """

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="findings"
    )
    # The request it was raised from, when it was raised while reviewing one.
    promotion_request = models.ForeignKey(
        "governance.PromotionRequest",
        on_delete=models.PROTECT,
        related_name="findings",
        null=True,
        blank=True,
    )
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=8, choices=FindingSeverity.choices)
    description = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_findings"
    )
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="raised_findings"
    )
    raised_role = models.CharField(max_length=30)
    remediation = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    closing_note = models.TextField(blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(fields=("model_version", "status"), name="finding_version_status"),
            models.Index(fields=("status", "severity"), name="finding_status_severity"),
        )
        constraints = (
            models.CheckConstraint(condition=~Q(title=""), name="finding_has_title"),
            models.CheckConstraint(condition=~Q(description=""), name="finding_has_description"),
            models.CheckConstraint(
                condition=Q(status="closed", closed_at__isnull=False)
                | (~Q(status="closed") & Q(closed_at__isnull=True)),
                name="finding_closed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="answered") | ~Q(remediation=""),
                name="finding_answer_has_note",
            ),
        )

    def __str__(self) -> str:
        return f"finding #{self.pk} on {self.model_version}: {self.title}"

    @property
    def is_unresolved(self) -> bool:
        return self.status in UNRESOLVED
