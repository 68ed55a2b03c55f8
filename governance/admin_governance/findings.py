"""Validation findings: read-only rows; answer and close as actions (and buttons) that call
`governance.services.findings`. Findings are raised from the web pages, the API or the
`raise_finding` command."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from core import roles
from governance.admin import _admin_link
from governance.admin_governance.steps import Done, ReadOnlyAdmin, Step, StepsMixin
from governance.models import Finding
from governance.services import findings
from registry.admin import ReadOnlyInline


class RemediationForm(forms.Form):
    remediation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "cols": 80}),
        required=False,
        help_text="Required: what was done about the finding (replaces an earlier answer).",
    )


class CloseFindingForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        required=False,
        help_text="Required: why the finding is resolved; kept with it and in the audit trail.",
    )


class VersionFindingInline(ReadOnlyInline):
    model = Finding
    fk_name = "model_version"
    verbose_name_plural = "findings"
    fields = readonly_fields = (
        "created_at", "title", "severity", "status", "owner", "due_date", "raised_by",
    )  # fmt: skip
    ordering = ("-created_at", "-id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Finding]:
        return super().get_queryset(request).select_related("model_version", "owner", "raised_by")


@admin.register(Finding)
class FindingAdmin(StepsMixin, ReadOnlyAdmin):
    """Findings are raised on a version by validators and risk officers; answered and closed
    here (or on the web pages, the API, the commands) through the same service."""

    list_display = (
        "id", "title", "model_version_link", "severity", "status", "owner", "due_date",
        "raised_by", "created_at",
    )  # fmt: skip
    list_filter = (
        "status", "severity", "raised_role", ("model_version__model", admin.RelatedOnlyFieldListFilter),
    )  # fmt: skip
    list_select_related = ("model_version__model", "owner", "raised_by")
    search_fields = (
        "title", "description", "model_version__model__name", "owner__username",
        "raised_by__username",
    )  # fmt: skip
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": (
            "model_version_link", "promotion_request_link", "title", "severity", "status",
            "description", "owner", "due_date", "raised_by", "raised_role", "created_at",
        )}),
        ("Answer", {"fields": ("remediation", "answered_by", "answered_at")}),
        ("Closing", {"fields": ("closing_note", "closed_by", "closed_at")}),
    )  # fmt: skip
    readonly_fields = tuple(f for _, options in fieldsets for f in options["fields"])
    actions = ("answer", "close")
    steps = (
        Step(
            "answer", "Answer the finding", "Send answer", RemediationForm, "answer",
            "Only the finding's owner answers, while it is unresolved. The answer does not close "
            "the finding: the person who raised it (or another reviewer of that role) does.",
        ),
        Step(
            "close", "Close the finding", "Close finding", CloseFindingForm, "close",
            "The person who raised it, or another reviewer holding the role it was raised in, "
            "closes it; never its owner. Closed is final.",
        ),
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[Finding]:
        return (
            super()
            .get_queryset(request)
            .select_related(
                "model_version__model", "promotion_request", "owner", "raised_by", "answered_by",
                "closed_by",
            )
        )  # fmt: skip

    @admin.display(description="model version", ordering="model_version")
    def model_version_link(self, obj: Finding) -> Any:
        return _admin_link(obj.model_version)

    @admin.display(description="promotion request", ordering="promotion_request")
    def promotion_request_link(self, obj: Finding) -> Any:
        if obj.promotion_request_id is None:
            return "-"
        return _admin_link(obj.promotion_request, f"#{obj.promotion_request_id}")

    # Whether to offer each action at all; the service decides for each finding.
    def has_answer_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(request.user, roles.DATA_SCIENTIST)

    def has_close_permission(self, request: HttpRequest) -> bool:
        return findings.can_raise(request.user)

    @admin.action(description="Answer…", permissions=["answer"])
    def answer(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self.run_action(request, "answer", queryset)

    @admin.action(description="Close…", permissions=["close"])
    def close(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self.run_action(request, "close", queryset)

    def do_answer(self, request: HttpRequest, obj: Finding, data: dict) -> Done:
        result = findings.answer(by=request.user, finding=obj, remediation=data["remediation"])
        return Done(format_html("Answered {}.", _admin_link(result)))

    def do_close(self, request: HttpRequest, obj: Finding, data: dict) -> Done:
        result = findings.close(by=request.user, finding=obj, note=data["note"])
        return Done(format_html("Closed {}.", _admin_link(result)))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        context: dict[str, Any] = {}
        if obj is not None:
            close_refusal = (
                findings.close_refusal(request.user, obj)
                if self.has_close_permission(request)
                else None
            )
            context = {
                "can_answer": self.has_answer_permission(request)
                and findings.answer_refusal(request.user, obj) is None,
                "can_close": self.has_close_permission(request) and close_refusal is None,
                "close_refusal": close_refusal.detail if close_refusal else "",
            }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )
