"""Assessments: the fairness, explainability and performance evidence that policies read."""

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AssessmentKind(models.TextChoices):
    FAIRNESS = "fairness", "Fairness"
    EXPLAINABILITY = "explainability", "Explainability"
    PERFORMANCE = "performance", "Performance"


class AssessmentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


FINISHED = (AssessmentStatus.SUCCEEDED, AssessmentStatus.FAILED)
ACTIVE = (AssessmentStatus.QUEUED, AssessmentStatus.RUNNING)


class ImmutableAssessment(Exception):
    """A finished assessment is evidence: it is never changed or deleted."""


class Assessment(models.Model):
    """One analysis of one model version (or of a predictions file) on one dataset version.

    Written only by governance.services.assessments and governance.jobs. `artifact_sha256` and
    `dataset_sha256` are copied when the assessment is requested and re-checked against the
    files the job actually reads, so a policy can tell evidence about these exact bytes from
    evidence about something else. Results hold no timings: the same inputs give the same bytes
    (`results_sha256`); how long it took lives in `timings`.
    """

    kind = models.CharField(max_length=20, choices=AssessmentKind.choices)
    # Null for a predictions-only assessment: the dataset carries the model's predictions.
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="assessments",
        null=True,
        blank=True,
    )
    dataset_version = models.ForeignKey(
        "registry.DatasetVersion", on_delete=models.PROTECT, related_name="assessments"
    )
    sensitive_features = models.JSONField(default=list, blank=True)
    # Every parameter with its default filled in: what was computed, not what was typed.
    parameters = models.JSONField(default=dict, blank=True)
    # SHA-256 of the canonical request; at most one active assessment per key.
    request_key = models.CharField(max_length=64, editable=False)
    artifact_sha256 = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    dataset_sha256 = models.CharField(max_length=64, editable=False, db_index=True)

    status = models.CharField(
        max_length=12, choices=AssessmentStatus.choices, default=AssessmentStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=120, default="queued")
    error_code = models.CharField(max_length=60, blank=True)
    error_message = models.TextField(blank=True)

    results = models.JSONField(null=True, blank=True)
    results_sha256 = models.CharField(max_length=64, blank=True)
    # Library versions, digests, seed and sample sizes the job actually used.
    provenance = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assessments"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The running job holds a lease it keeps renewing; a lease that runs out means the worker
    # died, and the reaper fails the assessment instead of leaving it "running" for ever.
    run_token = models.CharField(max_length=32, blank=True, editable=False)
    worker = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # When its task was last sent: the reaper re-sends one a lost message left waiting.
    enqueued_at = models.DateTimeField(default=timezone.now)
    # How many times a worker claimed it (one; more would mean a retry).
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(
                fields=("model_version", "kind", "status"), name="assessment_version_kind"
            ),
            models.Index(fields=("status", "lease_expires_at"), name="assessment_lease"),
        )
        constraints = (
            models.UniqueConstraint(
                fields=("request_key",),
                condition=Q(status__in=("queued", "running")),
                name="one_active_identical_assessment",
            ),
            models.CheckConstraint(
                condition=Q(progress__gte=0) & Q(progress__lte=100),
                name="assessment_progress_0_100",
            ),
            models.CheckConstraint(
                condition=~Q(kind="explainability", model_version__isnull=True),
                name="explainability_needs_a_model",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded", results__isnull=True),
                name="succeeded_assessment_has_results",
            ),
        )

    def __str__(self) -> str:
        subject = self.model_version if self.model_version_id else "predictions"
        return f"{self.kind} assessment #{self.pk} of {subject}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and self._finished_in_database():
            raise ImmutableAssessment(f"{self} is finished and cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableAssessment(f"{self} is evidence and cannot be deleted")

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    def _finished_in_database(self) -> bool:
        return (
            type(self).objects.filter(pk=self.pk, status__in=[s.value for s in FINISHED]).exists()
        )


class ChartFormat(models.TextChoices):
    PNG = "png", "PNG"
    SVG = "svg", "SVG"


class AssessmentChart(models.Model):
    """A chart file of a finished assessment, stored content-addressed like artifacts."""

    assessment = models.ForeignKey(Assessment, on_delete=models.PROTECT, related_name="charts")
    name = models.SlugField(max_length=120)
    title = models.CharField(max_length=200)
    format = models.CharField(max_length=3, choices=ChartFormat.choices)
    file_key = models.CharField(max_length=200, editable=False)
    sha256 = models.CharField(max_length=64, editable=False)
    size = models.BigIntegerField(editable=False)

    class Meta:
        ordering = ("assessment", "id")
        constraints = (
            models.UniqueConstraint(
                fields=("assessment", "name", "format"), name="one_chart_per_name_and_format"
            ),
        )

    def __str__(self) -> str:
        return f"{self.name}.{self.format}"

    @property
    def media_type(self) -> str:
        return "image/svg+xml" if self.format == ChartFormat.SVG else "image/png"


class AssessmentChunk(models.Model):
    """A slice of the rows of a large explainability assessment that any worker may take.

    Chunk boundaries depend only on the parameters (`chunk_rows`), never on how many workers
    there are, so results are the same with one worker or ten.
    """

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    row_start = models.BigIntegerField()
    row_stop = models.BigIntegerField()
    status = models.CharField(
        max_length=12, choices=AssessmentStatus.choices, default=AssessmentStatus.QUEUED
    )
    run_token = models.CharField(max_length=32, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(default=timezone.now)
    result_key = models.CharField(max_length=200, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    result_size = models.BigIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("assessment", "index")
        indexes = (models.Index(fields=("status", "lease_expires_at"), name="chunk_lease"),)
        constraints = (
            models.UniqueConstraint(fields=("assessment", "index"), name="one_chunk_per_index"),
        )

    def __str__(self) -> str:
        return f"chunk {self.index} of assessment #{self.assessment_id}"
