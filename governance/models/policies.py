"""Policies as code: versioned documents, and the immutable evaluations they produce."""

from django.conf import settings
from django.db import models

from governance.models.immutable import WriteOnceModel


class Policy(models.Model):
    """A named policy; what it says lives in its versions (the latest one applies)."""

    name = models.SlugField(max_length=100, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Points at the latest version: set by the policy service in the same transaction.
    current_version = models.ForeignKey(
        "PolicyVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name


class PolicyVersion(WriteOnceModel):
    """One immutable version of a policy document.

    `document` is the validated, normalised form (defaults filled in); `source` is exactly what
    its author submitted. `sha256` digests the canonical JSON of `document`, so an evaluation can
    name the policy text it applied.
    """

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200, blank=True)
    document = models.JSONField()
    source = models.TextField()
    source_format = models.CharField(max_length=4, choices=(("yaml", "YAML"), ("json", "JSON")))
    sha256 = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    # Copied from document.scope so that "which policies apply" is a query.
    risk_tiers = models.JSONField(default=list)
    target_stages = models.JSONField(default=list)
    change_note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("policy_id", "-version")
        constraints = (
            models.UniqueConstraint(fields=("policy", "version"), name="unique_policy_version"),
        )

    def __str__(self) -> str:
        return f"{self.policy.name} v{self.version}"

    @property
    def checks(self) -> list[dict]:
        return list(self.document.get("checks", []))


class EvaluationPurpose(models.TextChoices):
    DRY_RUN = "dry_run", "Dry run"
    REQUEST = "request", "On request"
    PROMOTION = "promotion", "Promotion gate"


class PolicyEvaluation(WriteOnceModel):
    """The verdict of every applicable check for one version and target stage, at one moment.

    Pinned to what it looked at: the policy versions, the artifact digest, the assessments and
    the production version it compared against. Immutable.
    """

    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="policy_evaluations"
    )
    target_stage = models.CharField(max_length=16)
    purpose = models.CharField(max_length=12, choices=EvaluationPurpose.choices)
    promotion_request = models.ForeignKey(
        "governance.PromotionRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evaluations",
    )
    passed = models.BooleanField()
    artifact_sha256 = models.CharField(max_length=64)
    risk_tier = models.CharField(max_length=16)
    policy_versions = models.ManyToManyField(PolicyVersion, related_name="evaluations", blank=True)
    assessments = models.ManyToManyField(
        "governance.Assessment", related_name="policy_evaluations", blank=True
    )
    baseline_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The production version relative checks compared against.",
    )
    check_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "failed"
        return f"evaluation #{self.pk} of {self.model_version} for {self.target_stage}: {verdict}"


class CheckResult(WriteOnceModel):
    """One check's verdict with its evidence."""

    evaluation = models.ForeignKey(
        PolicyEvaluation, on_delete=models.PROTECT, related_name="checks"
    )
    # Null for the gate's own verdicts (no applicable policy, say).
    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    position = models.PositiveIntegerField()
    check_id = models.CharField(max_length=100)
    check_type = models.CharField(max_length=60)
    title = models.CharField(max_length=300, blank=True)
    passed = models.BooleanField()
    reason = models.TextField()
    observed = models.JSONField(null=True, blank=True)
    threshold = models.JSONField(null=True, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    clauses = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ("evaluation_id", "position")
        constraints = (
            models.UniqueConstraint(
                fields=("evaluation", "position"), name="unique_check_position"
            ),
        )

    def __str__(self) -> str:
        return f"{self.check_id}: {'pass' if self.passed else 'fail'}"
