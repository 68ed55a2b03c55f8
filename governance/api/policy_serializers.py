"""Policy and policy-evaluation API representations, and the input serializers of their writes.

A policy's representation is its current version's (document, source, digest, scope, checks)
plus the list of its versions; every version has its own URL. An evaluation carries every check's
verdict with its evidence and a `blocking` summary of the failed ones.
"""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import StrictInputSerializer
from governance.api.serializers import assessment_path
from governance.models import CheckResult, Policy, PolicyEvaluation, PolicyVersion
from governance.policies.errors import PolicyDocumentError


def absolute(context: dict[str, Any], path: str) -> str:
    request = context.get("request")
    return request.build_absolute_uri(path) if request else path


def policy_path(name: str) -> str:
    return reverse("api:policy-detail", kwargs={"name": name})


def policy_version_path(name: str, version: int) -> str:
    return reverse("api:policy-version-detail", kwargs={"name": name, "version": version})


def evaluation_path(pk: int) -> str:
    return reverse("api:evaluation-detail", kwargs={"pk": pk})


class ScopeSerializer(serializers.Serializer[Any]):
    risk_tiers = serializers.ListField(child=serializers.CharField())
    target_stages = serializers.ListField(child=serializers.CharField())


def _scope(version: PolicyVersion) -> dict[str, list[str]]:
    return {"risk_tiers": list(version.risk_tiers), "target_stages": list(version.target_stages)}


class PolicySummarySerializer(serializers.ModelSerializer[Policy]):
    """One row of the policy list: what its current version says in brief."""

    url = serializers.SerializerMethodField()
    version = serializers.IntegerField(source="current_version.version", allow_null=True)
    title = serializers.CharField(source="current_version.title", allow_null=True)
    enabled = serializers.BooleanField(source="current_version.enabled", allow_null=True)
    scope = serializers.SerializerMethodField()
    sha256 = serializers.CharField(source="current_version.sha256", allow_null=True)
    check_count = serializers.SerializerMethodField()
    updated_at = serializers.DateTimeField(source="current_version.created_at", allow_null=True)
    updated_by = serializers.SlugRelatedField(
        source="current_version.created_by", slug_field="username", read_only=True
    )

    class Meta:
        model = Policy
        fields = [
            "name", "url", "version", "title", "enabled", "scope", "sha256", "check_count",
            "created_at", "updated_at", "updated_by",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, policy: Policy) -> str:
        return absolute(self.context, policy_path(policy.name))

    @extend_schema_field(ScopeSerializer(allow_null=True))
    def get_scope(self, policy: Policy) -> dict[str, list[str]] | None:
        return _scope(policy.current_version) if policy.current_version else None

    @extend_schema_field(serializers.IntegerField())
    def get_check_count(self, policy: Policy) -> int:
        return len(policy.current_version.checks) if policy.current_version else 0


class PolicyVersionSummarySerializer(serializers.ModelSerializer[PolicyVersion]):
    """One entry of a policy's version history."""

    url = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PolicyVersion
        fields = ["version", "url", "sha256", "enabled", "created_by", "created_at", "change_note"]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, version: PolicyVersion) -> str:
        return absolute(self.context, policy_version_path(version.policy.name, version.version))


class PolicyVersionSerializer(serializers.ModelSerializer[PolicyVersion]):
    """One version of a policy: the normalised document, the submitted source and its digest."""

    name = serializers.SlugRelatedField(source="policy", slug_field="name", read_only=True)
    url = serializers.SerializerMethodField()
    policy_url = serializers.SerializerMethodField()
    scope = serializers.SerializerMethodField()
    checks = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_current = serializers.SerializerMethodField()

    class Meta:
        model = PolicyVersion
        fields = [
            "name", "version", "url", "policy_url", "is_current", "title", "enabled", "scope",
            "checks", "document", "source", "source_format", "sha256", "change_note",
            "created_by", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, version: PolicyVersion) -> str:
        return absolute(self.context, policy_version_path(version.policy.name, version.version))

    @extend_schema_field(serializers.URLField())
    def get_policy_url(self, version: PolicyVersion) -> str:
        return absolute(self.context, policy_path(version.policy.name))

    @extend_schema_field(ScopeSerializer())
    def get_scope(self, version: PolicyVersion) -> dict[str, list[str]]:
        return _scope(version)

    @extend_schema_field(
        serializers.ListField(
            child=serializers.JSONField(),
            help_text="the normalised checks: id, type, title, description, clauses, params",
        )
    )
    def get_checks(self, version: PolicyVersion) -> list[dict[str, Any]]:
        return version.checks

    @extend_schema_field(serializers.BooleanField())
    def get_is_current(self, version: PolicyVersion) -> bool:
        return version.policy.current_version_id == version.pk


class PolicyDetailSerializer(PolicyVersionSerializer):
    """A policy: its current version, and every version it has had (newest first)."""

    versions = serializers.SerializerMethodField()

    class Meta(PolicyVersionSerializer.Meta):
        fields = [*PolicyVersionSerializer.Meta.fields, "versions"]
        read_only_fields = fields

    @extend_schema_field(PolicyVersionSummarySerializer(many=True))
    def get_versions(self, version: PolicyVersion) -> Any:
        history = self.context["versions"]
        return PolicyVersionSummarySerializer(history, many=True, context=self.context).data


class PolicyWriteSerializer(StrictInputSerializer):
    """A policy document: parsed (`document`) or as text (`source` + `format`). A raw request
    body with Content-Type application/yaml or text/yaml is the source itself."""

    document = serializers.JSONField(
        required=False, help_text="the policy as a JSON object (name, scope, checks, ...)"
    )
    source = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="the policy as YAML or JSON text, kept verbatim as the version's source",
    )
    format = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=10,
        help_text="yaml or json; default: json if the source starts with '{', else yaml",
    )
    change_note = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="why this version was made"
    )

    def validate_document(self, value: Any) -> Any:
        if not isinstance(value, dict):
            # The same refusal the policy parser gives, so every malformed document says
            # invalid_policy and names the field.
            raise PolicyDocumentError("document", "must be a mapping with name, scope and checks")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("document" in attrs) == ("source" in attrs):
            raise serializers.ValidationError(
                {"document": ["give either document (an object) or source (text), not both"]}
            )
        return attrs


# --- evaluations ---------------------------------------------------------------------------


class PolicyVersionRefSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(source="policy.name")
    version = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.URLField())
    def get_url(self, version: PolicyVersion) -> str:
        return absolute(self.context, policy_version_path(version.policy.name, version.version))


class AssessmentRefSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.URLField())
    def get_url(self, assessment: Any) -> str:
        return absolute(self.context, assessment_path(assessment))


class CheckResultSerializer(serializers.ModelSerializer[CheckResult]):
    policy = serializers.SerializerMethodField()
    policy_version = serializers.SerializerMethodField()
    type = serializers.CharField(source="check_type")

    class Meta:
        model = CheckResult
        fields = [
            "policy", "policy_version", "check_id", "type", "title", "passed", "reason",
            "observed", "threshold", "evidence", "clauses",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="null: the gate's own"))
    def get_policy(self, check: CheckResult) -> str | None:
        return check.policy_version.policy.name if check.policy_version else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_policy_version(self, check: CheckResult) -> int | None:
        return check.policy_version.version if check.policy_version else None


class BlockingSerializer(serializers.Serializer[Any]):
    """Why a version may not pass: one failed check (the shape of a request's `blocking`)."""

    policy = serializers.CharField(allow_null=True)
    check = serializers.CharField()
    type = serializers.CharField()
    title = serializers.CharField()
    reason = serializers.CharField()


def blocking_of(checks: list[CheckResult]) -> list[dict[str, Any]]:
    """The failed checks in the shape of `evaluation.blocking_reasons`, from prefetched rows."""
    return [
        {
            "policy": c.policy_version.policy.name if c.policy_version else None,
            "check": c.check_id,
            "type": c.check_type,
            "title": c.title,
            "reason": c.reason,
        }
        for c in checks
        if not c.passed
    ]


class EvaluationSummarySerializer(serializers.ModelSerializer[PolicyEvaluation]):
    """One row of an evaluation list: the verdict and what it was pinned to, no check detail."""

    url = serializers.SerializerMethodField()
    model = serializers.CharField(source="model_version.model.name")
    version = serializers.IntegerField(source="model_version.version")
    baseline_version = serializers.IntegerField(
        source="baseline_version.version",
        allow_null=True,
        help_text="the production version relative checks compared against",
    )
    promotion_request = serializers.IntegerField(source="promotion_request_id", allow_null=True)
    evaluated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PolicyEvaluation
        fields = [
            "id", "url", "model", "version", "target_stage", "purpose", "passed",
            "artifact_sha256", "risk_tier", "baseline_version", "promotion_request",
            "check_count", "failed_count", "created_at", "evaluated_by",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, evaluation: PolicyEvaluation) -> str:
        return absolute(self.context, evaluation_path(evaluation.pk))


class EvaluationSerializer(EvaluationSummarySerializer):
    """An evaluation with every check's verdict and evidence, and what blocks."""

    policy_versions = PolicyVersionRefSerializer(many=True, read_only=True)
    assessments = AssessmentRefSerializer(many=True, read_only=True)
    checks = CheckResultSerializer(many=True, read_only=True)
    blocking = serializers.SerializerMethodField()

    class Meta(EvaluationSummarySerializer.Meta):
        fields = [
            *EvaluationSummarySerializer.Meta.fields,
            "policy_versions", "assessments", "checks", "blocking",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(BlockingSerializer(many=True))
    def get_blocking(self, evaluation: PolicyEvaluation) -> list[dict[str, Any]]:
        return blocking_of(list(evaluation.checks.all()))


class EvaluationRequestSerializer(StrictInputSerializer):
    target_stage = serializers.CharField(
        max_length=20, help_text="staging or production: the stage the version would move to"
    )
