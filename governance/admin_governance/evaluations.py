"""Policy evaluations and their check results: read-only, each check with its verdict."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from governance.admin import _admin_link, _pretty_json
from governance.admin_governance.steps import ReadOnlyAdmin, verdict
from governance.models import CheckResult, PolicyEvaluation
from registry.admin import ReadOnlyInline


class CheckResultInline(ReadOnlyInline):
    model = CheckResult
    verbose_name_plural = "checks"
    fields = readonly_fields = (
        "position", "policy", "check_id", "check_type", "title", "passed", "reason", "observed",
        "threshold", "clauses",
    )  # fmt: skip
    ordering = ("position",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[CheckResult]:
        return super().get_queryset(request).select_related("policy_version__policy")

    @admin.display(description="policy")
    def policy(self, obj: CheckResult) -> str:
        return str(obj.policy_version) if obj.policy_version else "gate"


@admin.register(PolicyEvaluation)
class PolicyEvaluationAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "model_version", "target_stage", "purpose", "passed", "failed_of", "request",
        "evaluated_by", "created_at",
    )  # fmt: skip
    list_filter = ("passed", "purpose", "target_stage", "risk_tier")
    list_select_related = ("model_version__model", "promotion_request", "evaluated_by")
    search_fields = ("model_version__model__name", "=artifact_sha256")
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "model_version", "target_stage", "purpose", "passed", "failed_of", "request",
        "risk_tier", "artifact_sha256", "policies", "assessment_links", "baseline_version",
        "evaluated_by", "created_at",
    )  # fmt: skip
    inlines = (CheckResultInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyEvaluation]:
        return (
            super()
            .get_queryset(request)
            .select_related("model_version__model", "promotion_request", "evaluated_by")
        )

    @admin.display(description="failed checks", ordering="failed_count")
    def failed_of(self, obj: PolicyEvaluation) -> str:
        return f"{obj.failed_count} of {obj.check_count}"

    @admin.display(description="promotion request", ordering="promotion_request")
    def request(self, obj: PolicyEvaluation) -> SafeString | str:
        return _admin_link(obj.promotion_request, f"#{obj.promotion_request_id}")

    @admin.display(description="policy versions")
    def policies(self, obj: PolicyEvaluation) -> SafeString | str:
        versions = obj.policy_versions.select_related("policy").order_by("policy__name")
        return format_html_join(", ", "{}", ((_admin_link(v),) for v in versions)) or "-"

    @admin.display(description="assessments")
    def assessment_links(self, obj: PolicyEvaluation) -> SafeString | str:
        rows = obj.assessments.order_by("id")
        return (
            format_html_join(", ", "{}", ((_admin_link(a, f"#{a.pk} {a.kind}"),) for a in rows))
            or "-"
        )


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ("evaluation", "position", "check_id", "check_type", "passed", "reason")
    list_filter = ("passed", "check_type")
    list_select_related = ("evaluation__model_version__model",)
    search_fields = ("check_id", "check_type", "reason")
    fields = readonly_fields = (
        "evaluation", "policy_version", "position", "check_id", "check_type", "title", "passed",
        "reason", "observed_json", "threshold_json", "evidence_json", "clauses",
    )  # fmt: skip

    @admin.display(description="observed")
    def observed_json(self, obj: CheckResult) -> SafeString:
        return _pretty_json(obj.observed)

    @admin.display(description="threshold")
    def threshold_json(self, obj: CheckResult) -> SafeString:
        return _pretty_json(obj.threshold)

    @admin.display(description="evidence")
    def evidence_json(self, obj: CheckResult) -> SafeString:
        return _pretty_json(obj.evidence)


def evaluation_tables(evaluations: list[PolicyEvaluation]) -> SafeString | str:
    """Each evaluation with its checks, oldest first: what the reviewers and the gate saw."""
    parts = []
    for evaluation in evaluations:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    str(c.policy_version) if c.policy_version else "gate",
                    c.check_id,
                    c.check_type,
                    verdict(c.passed),
                    c.reason,
                )
                for c in evaluation.checks.all()
            ),
        )
        parts.append(
            format_html(
                "<p>{} ({}, {}) {} {} by {}</p><table><thead><tr><th>policy</th><th>check</th>"
                "<th>type</th><th>verdict</th><th>reason</th></tr></thead><tbody>{}</tbody>"
                "</table>",
                _admin_link(evaluation, f"evaluation #{evaluation.pk}"),
                evaluation.get_purpose_display(),
                "passed" if evaluation.passed else f"{evaluation.failed_count} failed",
                verdict(evaluation.passed),
                evaluation.created_at.strftime("%Y-%m-%d %H:%M:%S %Z"),
                evaluation.evaluated_by or "-",
                rows,
            )
        )
    return format_html_join("", "{}", ((part,) for part in parts)) or "-"
