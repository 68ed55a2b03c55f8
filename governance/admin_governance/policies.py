"""Policies in the admin: read-only versions; a new policy or version is a whole document saved
through `policies.save_policy`, its validation message (naming the field) the form's error."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.safestring import SafeString

from governance.admin import _admin_link, _pretty_json
from governance.admin_governance.forms import PolicySourceForm
from governance.admin_governance.steps import STEP_TEMPLATE, ReadOnlyAdmin, change_url, short
from governance.models import Policy, PolicyVersion
from governance.services import policies as policy_service
from registry.admin import ReadOnlyInline


class PolicyVersionInline(ReadOnlyInline):
    model = PolicyVersion
    verbose_name_plural = "versions"
    fields = readonly_fields = (
        "version", "title", "enabled", "short_sha256", "change_note", "created_by", "created_at",
    )  # fmt: skip
    ordering = ("-version",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PolicyVersion]:
        return super().get_queryset(request).select_related("policy", "created_by")

    @admin.display(description="SHA-256")
    def short_sha256(self, obj: PolicyVersion) -> str:
        return short(obj.sha256)


@admin.register(Policy)
class PolicyAdmin(ReadOnlyAdmin):
    """Adding a policy or a version of one goes through `save_policy` with the whole document."""

    list_display = (
        "name", "title", "current", "enabled", "risk_tiers", "target_stages", "version_count",
        "updated_at",
    )  # fmt: skip
    list_filter = (("current_version__enabled", admin.BooleanFieldListFilter),)
    list_select_related = ("current_version",)
    search_fields = ("name", "current_version__title")
    fields = readonly_fields = (
        "name", "title", "current", "enabled", "risk_tiers", "target_stages", "description",
        "current_source", "created_by", "created_at",
    )  # fmt: skip
    inlines = (PolicyVersionInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Policy]:
        return (
            super()
            .get_queryset(request)
            .select_related("current_version__created_by", "created_by")
            .annotate(version_count=Count("versions"))
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return policy_service.can_write(request.user)

    @admin.display(description="current version", ordering="current_version__version")
    def current(self, obj: Policy) -> SafeString | str:
        version = obj.current_version
        return _admin_link(version, f"v{version.version}") if version else "-"

    @admin.display(description="title")
    def title(self, obj: Policy) -> str:
        return obj.current_version.title if obj.current_version else ""

    @admin.display(description="enabled", boolean=True)
    def enabled(self, obj: Policy) -> bool | None:
        return obj.current_version.enabled if obj.current_version else None

    @admin.display(description="risk tiers")
    def risk_tiers(self, obj: Policy) -> str:
        return ", ".join(obj.current_version.risk_tiers) if obj.current_version else "-"

    @admin.display(description="target stages")
    def target_stages(self, obj: Policy) -> str:
        return ", ".join(obj.current_version.target_stages) if obj.current_version else "-"

    @admin.display(description="versions", ordering="version_count")
    def version_count(self, obj: Policy) -> int:
        return obj.version_count  # type: ignore[attr-defined,no-any-return]

    @admin.display(description="updated", ordering="current_version__created_at")
    def updated_at(self, obj: Policy) -> Any:
        return obj.current_version.created_at if obj.current_version else None

    @admin.display(description="description")
    def description(self, obj: Policy) -> str:
        return obj.current_version.document.get("description", "") if obj.current_version else ""

    @admin.display(description="source of the current version")
    def current_source(self, obj: Policy) -> SafeString | str:
        return (
            format_html("<pre>{}</pre>", obj.current_version.source) if obj.current_version else "-"
        )

    def get_urls(self) -> list[URLPattern]:
        new_version = path(
            "<path:object_id>/new-version/",
            self.admin_site.admin_view(self.new_version_view),
            name="governance_policy_new_version",
        )
        return [new_version, *super().get_urls()]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._source_view(request, None)

    def new_version_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        policy = self.get_object(request, unquote(object_id))
        if policy is None:
            raise Http404("no such policy")
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self._source_view(request, policy)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_write": self.has_add_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _source_view(self, request: HttpRequest, policy: Policy | None) -> HttpResponse:
        if request.method == "POST":
            form = PolicySourceForm(request.POST)
            version = (
                form.save(request.user, policy_name=policy.name if policy else None)
                if form.is_valid()
                else None
            )
            if version is not None:
                self.message_user(
                    request,
                    format_html(
                        "Saved {} (SHA-256 {}). Open promotion requests that the change affects "
                        "went stale.",
                        _admin_link(version),
                        short(version.sha256),
                    ),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(change_url(version.policy))
        else:
            current = policy.current_version if policy else None
            form = PolicySourceForm(
                initial={"source": current.source, "source_format": current.source_format}
                if current
                else None
            )
        intro = (
            f"Edit the document of {policy.name} (now at v{policy.current_version.version}); "
            f"saving it makes the next version."
            if policy and policy.current_version
            else "Write the policy document; its name is the policy's name. Saving it makes "
            "version 1."
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"New version of {policy}" if policy else "Add policy",
            "intro": intro,
            "opts": self.opts,
            "form": form,
            "objects": [],
            "original": policy,
            "action_name": None,
            "submit": "Save the new version" if policy else "Save the policy",
        }
        return TemplateResponse(request, STEP_TEMPLATE, context)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__", "title", "enabled", "risk_tiers", "target_stages", "short_sha256",
        "created_by", "created_at",
    )  # fmt: skip
    list_filter = ("enabled", ("policy", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("policy", "created_by")
    search_fields = ("policy__name", "title", "=sha256")
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "policy", "version", "title", "enabled", "risk_tiers", "target_stages", "change_note",
        "sha256", "source_format", "source_text", "document_json", "created_by", "created_at",
    )  # fmt: skip

    @admin.display(description="SHA-256", ordering="sha256")
    def short_sha256(self, obj: PolicyVersion) -> str:
        return short(obj.sha256)

    @admin.display(description="source (as submitted)")
    def source_text(self, obj: PolicyVersion) -> SafeString:
        return format_html("<pre>{}</pre>", obj.source)

    @admin.display(description="document (validated, defaults filled in)")
    def document_json(self, obj: PolicyVersion) -> SafeString:
        return _pretty_json(obj.document)
