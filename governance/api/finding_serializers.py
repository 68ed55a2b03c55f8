"""Validation finding representations and the small input serializers of its verbs.

A finding's representation reads only rows loaded with it (its version and model, its people),
so a page of findings costs a constant number of queries. `can_answer` / `can_close` ask the
finding service with those rows: the same answer the web page and the admin give.
"""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import StrictInputSerializer
from governance.api.policy_serializers import absolute
from governance.api.promotion_serializers import RefusalSerializer, request_path
from governance.models import Finding
from governance.services import findings as finding_service

MAX_ID = 2**63 - 1  # beyond it the database would fail rather than find nothing


def finding_path(pk: int) -> str:
    return reverse("api:finding-detail", kwargs={"pk": pk})


class FindingSerializer(serializers.ModelSerializer[Finding]):
    """One finding: on which version, how severe, who owns it, where it stands."""

    url = serializers.SerializerMethodField()
    model = serializers.CharField(source="model_version.model.name")
    version = serializers.IntegerField(source="model_version.version")
    promotion_request = serializers.IntegerField(source="promotion_request_id", allow_null=True)
    promotion_request_url = serializers.SerializerMethodField()
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    raised_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    answered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    answer_refusal = serializers.SerializerMethodField()
    close_refusal = serializers.SerializerMethodField()

    class Meta:
        model = Finding
        fields = [
            "id", "url", "model", "version", "promotion_request", "promotion_request_url",
            "title", "severity", "description", "owner", "due_date", "status", "raised_by",
            "raised_role", "remediation", "answered_by", "answered_at", "closing_note",
            "closed_by", "closed_at", "created_at", "updated_at", "answer_refusal",
            "close_refusal",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, finding: Finding) -> str:
        return absolute(self.context, finding_path(finding.pk))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_promotion_request_url(self, finding: Finding) -> str | None:
        if finding.promotion_request_id is None:
            return None
        return absolute(self.context, request_path(finding.promotion_request_id))

    def _user(self) -> Any:
        return self.context["request"].user

    def _requested(self) -> set[int]:
        """The versions the user asks to promote, among those of the whole page: one query
        for a list, not one per finding."""
        if "requested_versions" not in self.context:
            many = getattr(self.parent, "instance", None)
            rows = list(many) if many is not None else [self.instance]
            self.context["requested_versions"] = finding_service.requested_versions(
                self._user(), sorted({f.model_version_id for f in rows})
            )
        return self.context["requested_versions"]

    @extend_schema_field(RefusalSerializer(allow_null=True))
    def get_answer_refusal(self, finding: Finding) -> dict[str, str] | None:
        """Why the signed-in user may not answer it now (null: they may)."""
        refusal = finding_service.answer_refusal(self._user(), finding)
        return None if refusal is None else {"code": refusal.code, "detail": refusal.detail}

    @extend_schema_field(RefusalSerializer(allow_null=True))
    def get_close_refusal(self, finding: Finding) -> dict[str, str] | None:
        """Why the signed-in user may not close it now (null: they may)."""
        refusal = finding_service.close_refusal(
            self._user(), finding, requester=finding.model_version_id in self._requested()
        )
        return None if refusal is None else {"code": refusal.code, "detail": refusal.detail}


class FindingCreateSerializer(StrictInputSerializer):
    model = serializers.SlugField(max_length=100, required=False, help_text="with `version`")
    version = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    model_version = serializers.CharField(
        max_length=200, required=False, help_text='instead of model and version: "<name>:<n>"'
    )
    title = serializers.CharField(allow_blank=True, max_length=1000)
    severity = serializers.CharField(max_length=10, help_text="low, medium or high")
    description = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(
        max_length=150, help_text="username of an active data scientist of the owning team"
    )
    due_date = serializers.DateField(required=False, allow_null=True, default=None)
    promotion_request = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        default=None,
        help_text="raised while reviewing it",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        ref = attrs.get("model_version")
        pair = "model" in attrs or "version" in attrs
        if ref and pair:
            raise serializers.ValidationError("give model and version, or model_version, not both")
        if not ref and not ("model" in attrs and "version" in attrs):
            raise serializers.ValidationError("model and version (or model_version) are required")
        attrs["ref"] = ref or f"{attrs['model']}:{attrs['version']}"
        return attrs


class RemediationSerializer(StrictInputSerializer):
    remediation = serializers.CharField(allow_blank=True, help_text="what was done (required)")


class CloseSerializer(StrictInputSerializer):
    note = serializers.CharField(allow_blank=True, help_text="why it is resolved (required)")
