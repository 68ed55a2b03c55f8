"""Assessments in the admin: read-only evidence for every role, and "Run an assessment" on versions.

An assessment is never added, changed or deleted here, admins included: it is requested through
`request_assessment` (the version admin's action and button below call it) and written by its job.
Charts are shown through the API's chart URL, which re-checks each file against its digest.

The version admin is registry's, subclassed here to add the assessments inline and the action:
registry does not import governance, so governance extends it instead.
"""

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.admin_permissions import RolePermissions
from core.errors import ModelGateError
from governance.admin_forms import RunAssessmentForm
from governance.api.serializers import chart_path
from governance.models import Assessment, AssessmentChart, ChartFormat
from governance.services import assessments as assessment_service
from registry.admin import ModelVersionAdmin, ReadOnlyInline
from registry.models import ModelVersion


def _pretty_json(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


def _progress(assessment: Assessment) -> SafeString:
    return format_html(
        '<progress value="{}" max="100"></progress> {}%', assessment.progress, assessment.progress
    )


def _admin_link(obj: Model | None, text: object = None) -> SafeString | str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if text is None else text)


def _charts(assessment: Assessment, *, height: int | None = None) -> SafeString | str:
    """PNG charts as images, each with a link to its SVG twin; from prefetched rows."""
    charts: list[AssessmentChart] = list(assessment.charts.all())
    svg = {c.name: chart_path(c) for c in charts if c.format == ChartFormat.SVG}
    style = f"height:{height}px" if height else "max-width:100%"
    figures = []
    for chart in charts:
        if chart.format != ChartFormat.PNG:
            continue
        png = chart_path(chart)
        twin = format_html('<a href="{}">SVG</a>', svg[chart.name]) if chart.name in svg else "-"
        figures.append((png, png, chart.title, chart.title, style, chart.title, twin))
    if not figures:
        return "-"
    return format_html_join(
        "",
        '<figure style="margin:0 0 1em"><a href="{}"><img src="{}" alt="{}" title="{}" '
        'style="{}" loading="lazy"></a><figcaption>{} ({})</figcaption></figure>',
        figures,
    )


@admin.register(Assessment)
class AssessmentAdmin(RolePermissions, admin.ModelAdmin):  # type: ignore[type-arg]
    writers = ()  # evidence: read-only for everyone, admins included
    list_display = (
        "id", "kind", "status", "progress_bar", "subject", "dataset", "requested_by",
        "created_at", "finished_at",
    )  # fmt: skip
    list_filter = (
        "kind",
        "status",
        ("model_version__model", admin.RelatedOnlyFieldListFilter),
        ("dataset_version__dataset", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("model_version__model", "dataset_version__dataset", "requested_by")
    search_fields = (
        "model_version__model__name", "dataset_version__dataset__name",
        "requested_by__username", "=results_sha256",
    )  # fmt: skip
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": (
            "kind", "status", "progress_bar", "stage", "subject", "dataset", "sensitive_features",
            "parameters_json", "requested_by", "created_at",
        )}),
        ("Outcome", {"fields": (
            "error_code", "error_message", "chart_images", "results_json", "results_sha256",
        )}),
        ("Provenance", {"fields": (
            "artifact_sha256", "dataset_sha256", "provenance_json", "timings_json", "worker",
            "attempts", "started_at", "finished_at",
        )}),
    )  # fmt: skip
    readonly_fields = tuple(f for _, options in fieldsets for f in options["fields"])

    def get_queryset(self, request: HttpRequest) -> QuerySet[Assessment]:
        return (
            super()
            .get_queryset(request)
            .select_related("model_version__model", "dataset_version__dataset", "requested_by")
            .prefetch_related("charts")
        )

    @admin.display(description="progress", ordering="progress")
    def progress_bar(self, obj: Assessment) -> SafeString:
        return _progress(obj)

    @admin.display(description="model version", ordering="model_version")
    def subject(self, obj: Assessment) -> SafeString | str:
        return _admin_link(obj.model_version) if obj.model_version_id else "predictions only"

    @admin.display(description="dataset version", ordering="dataset_version")
    def dataset(self, obj: Assessment) -> SafeString | str:
        return _admin_link(obj.dataset_version)

    @admin.display(description="charts")
    def chart_images(self, obj: Assessment) -> SafeString | str:
        return _charts(obj)

    @admin.display(description="results")
    def results_json(self, obj: Assessment) -> SafeString | str:
        return _pretty_json(obj.results) if obj.results is not None else "-"

    @admin.display(description="parameters")
    def parameters_json(self, obj: Assessment) -> SafeString:
        return _pretty_json(obj.parameters)

    @admin.display(description="provenance")
    def provenance_json(self, obj: Assessment) -> SafeString:
        return _pretty_json(obj.provenance)

    @admin.display(description="timings (seconds)")
    def timings_json(self, obj: Assessment) -> SafeString:
        return _pretty_json(obj.timings)


class AssessmentInline(ReadOnlyInline):
    model = Assessment
    fk_name = "model_version"
    verbose_name_plural = "assessments"
    fields = readonly_fields = (
        "kind", "status", "progress_bar", "dataset", "requested_by", "created_at", "charts",
    )  # fmt: skip
    ordering = ("-created_at", "-id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Assessment]:
        return (
            super()
            .get_queryset(request)
            .select_related("model_version__model", "dataset_version__dataset", "requested_by")
            .prefetch_related("charts")
        )

    @admin.display(description="progress")
    def progress_bar(self, obj: Assessment) -> SafeString:
        return _progress(obj)

    @admin.display(description="dataset version")
    def dataset(self, obj: Assessment) -> SafeString | str:
        return _admin_link(obj.dataset_version)

    @admin.display(description="charts")
    def charts(self, obj: Assessment) -> SafeString | str:
        return _charts(obj, height=80)


admin.site.unregister(ModelVersion)


@admin.register(ModelVersion)
class AssessedModelVersionAdmin(ModelVersionAdmin):
    """Registry's version admin, with its assessments and a way to request a new one."""

    inlines = (*ModelVersionAdmin.inlines, AssessmentInline)
    actions = ("run_assessment",)
    change_form_template = "admin/governance/modelversion/change_form.html"

    def has_assess_permission(self, request: HttpRequest) -> bool:
        """Whether to offer the action at all; the service decides for each version."""
        return assessment_service.can_request(request.user, None)

    @admin.action(description="Run an assessment…", permissions=["assess"])
    def run_assessment(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        versions = list(
            queryset.select_related("model__owner_team").order_by("model__name", "version")
        )
        return self._assess(request, versions, from_action=True)

    def get_urls(self) -> list[URLPattern]:
        assess = path(
            "<path:object_id>/assess/",
            self.admin_site.admin_view(self.assess_view),
            name="registry_modelversion_assess",
        )
        return [assess, *super().get_urls()]

    def assess_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        version = self.get_object(request, object_id)
        if version is None:
            raise Http404("no such model version")
        if not (self.has_view_permission(request, version) and self.has_assess_permission(request)):
            raise PermissionDenied
        response = self._assess(request, [version], from_action=False)
        if response is None:
            return HttpResponseRedirect(
                reverse("admin:registry_modelversion_change", args=[version.pk])
            )
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_assess": self.has_assess_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _assess(
        self, request: HttpRequest, versions: list[ModelVersion], *, from_action: bool
    ) -> HttpResponse | None:
        """The form; once it is valid, one `request_assessment` per version, each outcome a
        message. None (back to the list or the version) once anything was queued."""
        applying = "apply" in request.POST
        form = RunAssessmentForm(request.POST if applying else None)
        if applying and form.is_valid():
            queued = 0
            for version in versions:
                try:
                    assessment = form.request(version, request.user)
                except ModelGateError as exc:
                    self.message_user(
                        request, f"{version}: refused: {exc.detail} [{exc.code}]", messages.ERROR
                    )
                    continue
                queued += 1
                self.message_user(
                    request,
                    format_html(
                        "{} assessment {} of {} on {} is queued.",
                        assessment.kind,
                        _admin_link(assessment, f"#{assessment.pk}"),
                        version,
                        assessment.dataset_version,
                    ),
                    messages.SUCCESS,
                )
            if queued:
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Run an assessment",
            "opts": self.opts,
            "form": form,
            "versions": versions,
            "from_action": from_action,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/governance/run_assessment.html", context)


import governance.admin_governance  # noqa: E402  (policies, requests, reviews, stage history)
import governance.admin_notifications  # noqa: E402, F401  (webhook endpoints and deliveries)
