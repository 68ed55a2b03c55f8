"""Promotion requests, reviews and stage history: read-only rows; approve, reject, withdraw and
retry the gate as actions (and buttons) that call `governance.services.promotions`."""

from collections import Counter
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core import roles
from governance.admin import _admin_link
from governance.admin_governance.evaluations import evaluation_tables
from governance.admin_governance.forms import CommentForm, NoInputForm, WithdrawForm
from governance.admin_governance.steps import Done, ReadOnlyAdmin, Step, StepsMixin
from governance.models import (
    ACTIVE_REQUEST,
    PromotionRequest,
    PromotionStatus,
    Review,
    ReviewDecision,
    StageChange,
)
from governance.policies.checks.approvals import describe
from governance.services import promotions
from registry.admin import ReadOnlyInline


class ReviewInline(ReadOnlyInline):
    model = Review
    fields = readonly_fields = ("reviewer", "decision", "role", "comment", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Review]:
        return super().get_queryset(request).select_related("reviewer", "request")


class StageChangeInline(ReadOnlyInline):
    model = StageChange
    verbose_name_plural = "stage history"
    fields = readonly_fields = (
        "created_at", "model_version", "from_stage", "to_stage", "kind", "promotion_request",
        "changed_by", "reason",
    )  # fmt: skip
    ordering = ("-created_at", "-id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[StageChange]:
        return (
            super()
            .get_queryset(request)
            .select_related("model_version__model", "promotion_request", "changed_by")
        )


class RequestStageChangeInline(StageChangeInline):
    fk_name = "promotion_request"


class VersionStageChangeInline(StageChangeInline):
    fk_name = "model_version"


@admin.register(PromotionRequest)
class PromotionRequestAdmin(StepsMixin, ReadOnlyAdmin):
    """Requests are opened through the API, the commands or a version's page; reviewed here."""

    list_display = (
        "id", "model", "version", "target_stage", "status", "requested_by", "created_at",
        "approvals",
    )  # fmt: skip
    list_filter = ("status", "target_stage", "risk_tier", "is_rollback")
    list_select_related = ("model", "model_version", "requested_by")
    search_fields = ("model__name", "requested_by__username", "justification")
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": (
            "model", "model_version", "from_stage", "target_stage", "is_rollback", "status",
            "status_reason", "justification", "requested_by", "created_at", "closed_at",
        )}),
        ("Decision", {"fields": ("approvals", "required", "blocking_table", "evaluations_table")}),
        ("Pinned when it opened", {"fields": (
            "risk_tier", "artifact_sha256", "policies", "approval_validity_days", "revision",
        )}),
    )  # fmt: skip
    readonly_fields = tuple(f for _, options in fieldsets for f in options["fields"])
    inlines = (ReviewInline, RequestStageChangeInline)
    actions = ("approve", "reject", "withdraw", "promote")
    steps = (
        Step(
            "approve", "Approve", "Approve", CommentForm, "review",
            "Your approval counts once, for a role the request still needs. The last required "
            "approval runs the policy gate, which promotes the version if every check passes.",
        ),
        Step("reject", "Reject", "Reject", CommentForm, "review", "A rejection closes the request."),
        Step("withdraw", "Withdraw", "Withdraw", WithdrawForm, "withdraw"),
        Step(
            "promote", "Retry the gate", "Run the gate", NoInputForm, "promote",
            "Evaluate the policies again for an approved request whose checks blocked it; the "
            "version is promoted if every check now passes.",
        ),
    )  # fmt: skip

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromotionRequest]:
        approved = Count("reviews", filter=Q(reviews__decision=ReviewDecision.APPROVE))
        return (
            super()
            .get_queryset(request)
            .select_related("model", "model_version__model", "requested_by")
            .annotate(approvals_given=approved)
        )

    @admin.display(description="version", ordering="model_version__version")
    def version(self, obj: PromotionRequest) -> int:
        return obj.model_version.version

    @admin.display(description="approvals", ordering="approvals_given")
    def approvals(self, obj: PromotionRequest) -> str:
        required = sum(obj.required_approvals.values())
        return f"{obj.approvals_given}/{required}"  # type: ignore[attr-defined]

    @admin.display(description="required approvals")
    def required(self, obj: PromotionRequest) -> str:
        return describe(obj.required_approvals) or "-"

    @admin.display(description="policy versions")
    def policies(self, obj: PromotionRequest) -> SafeString | str:
        versions = obj.policy_versions.select_related("policy").order_by("policy__name")
        return format_html_join(", ", "{}", ((_admin_link(v),) for v in versions)) or "-"

    @admin.display(description="blocking reasons")
    def blocking_table(self, obj: PromotionRequest) -> SafeString | str:
        if not obj.blocking:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (b.get("policy") or "gate", b.get("check"), b.get("type"), b.get("reason"))
                for b in obj.blocking
            ),
        )
        return format_html(
            "<table><thead><tr><th>policy</th><th>check</th><th>type</th><th>reason</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="evaluations")
    def evaluations_table(self, obj: PromotionRequest) -> SafeString | str:
        evaluations = (
            obj.evaluations.select_related("evaluated_by")
            .prefetch_related("checks__policy_version__policy")
            .order_by("created_at", "id")
        )
        return evaluation_tables(list(evaluations))

    # Whether to offer each action at all; the service decides for each request.
    def has_review_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(request.user, *promotions.REVIEWING_ROLES)

    def has_withdraw_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(request.user, roles.DATA_SCIENTIST, roles.ADMIN)

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(request.user, *promotions.REVIEWING_ROLES)

    @admin.action(description="Approve…", permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self.run_action(request, "approve", queryset)

    @admin.action(description="Reject…", permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self.run_action(request, "reject", queryset)

    @admin.action(description="Withdraw…", permissions=["withdraw"])
    def withdraw(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self.run_action(request, "withdraw", queryset)

    @admin.action(description="Retry the gate (promote)", permissions=["promote"])
    def promote(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        return self.run_action(request, "promote", queryset)

    def do_approve(self, request: HttpRequest, obj: PromotionRequest, data: dict) -> Done:
        return self._review(request, obj, ReviewDecision.APPROVE, data["comment"])

    def do_reject(self, request: HttpRequest, obj: PromotionRequest, data: dict) -> Done:
        return self._review(request, obj, ReviewDecision.REJECT, data["comment"])

    def _review(
        self, request: HttpRequest, obj: PromotionRequest, decision: str, comment: str
    ) -> Done:
        result = promotions.review(by=request.user, request=obj, decision=decision, comment=comment)
        return Done(format_html("{} {}: {}", decision, _admin_link(result), outcome(result)))

    def do_withdraw(self, request: HttpRequest, obj: PromotionRequest, data: dict) -> Done:
        result = promotions.withdraw(by=request.user, request=obj, reason=data["reason"])
        return Done(format_html("{}: {}", _admin_link(result), outcome(result)))

    def do_promote(self, request: HttpRequest, obj: PromotionRequest, data: dict) -> Done:
        result = promotions.promote(by=request.user, request=obj)
        return Done(format_html("{}: {}", _admin_link(result), outcome(result)))

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
            active = obj.status in ACTIVE_REQUEST
            reviewing = active and self.has_review_permission(request)
            refusal = promotions.review_refusal(request.user, obj) if reviewing else None
            context = {
                "can_review": reviewing,
                "review_refusal": refusal.detail if refusal else "",
                "can_withdraw": active and self.has_withdraw_permission(request),
                "can_promote": obj.status == PromotionStatus.APPROVED
                and self.has_promote_permission(request),
            }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )


def outcome(request: PromotionRequest) -> str:
    """Where a request stands, in a sentence."""
    status = request.status
    if status == PromotionStatus.COMPLETED:
        return f"completed: {request.model_version} is in {request.target_stage}"
    if status == PromotionStatus.APPROVED:
        reasons = "; ".join(f"{b['check']}: {b['reason']}" for b in request.blocking)
        return f"approved, but the policy gate is blocked ({reasons})"
    if status == PromotionStatus.OPEN:
        given = Counter(
            request.reviews.filter(decision=ReviewDecision.APPROVE).values_list("role", flat=True)
        )
        missing = {
            role: count - given[role]
            for role, count in request.required_approvals.items()
            if given[role] < count
        }
        return f"open, waiting for {describe(missing) or 'the gate'}"
    return f"{status}: {request.status_reason}"


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "request_link",
        "model_version",
        "reviewer",
        "decision",
        "role",
        "created_at",
    )
    list_filter = ("decision", "role")
    list_select_related = ("request__model_version__model", "reviewer")
    search_fields = ("reviewer__username", "request__model__name", "comment")
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "request_link", "model_version", "reviewer", "decision", "role", "comment", "created_at",
    )  # fmt: skip

    @admin.display(description="request", ordering="request")
    def request_link(self, obj: Review) -> SafeString | str:
        return _admin_link(obj.request, f"#{obj.request_id}")

    @admin.display(description="model version")
    def model_version(self, obj: Review) -> SafeString | str:
        return _admin_link(obj.request.model_version)


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    """The stage history: which version was where, when, moved by whom, under which request."""

    list_display = (
        "created_at", "model", "model_version", "from_stage", "to_stage", "kind", "request",
        "changed_by", "reason",
    )  # fmt: skip
    list_filter = (
        ("model", admin.RelatedOnlyFieldListFilter), "to_stage", "from_stage", "kind",
    )  # fmt: skip
    list_select_related = ("model", "model_version__model", "promotion_request", "changed_by")
    search_fields = ("model__name", "changed_by__username", "reason")
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "model", "model_version", "from_stage", "to_stage", "kind", "request", "evaluation",
        "reason", "changed_by", "created_at",
    )  # fmt: skip

    @admin.display(description="promotion request", ordering="promotion_request")
    def request(self, obj: StageChange) -> SafeString | str:
        return _admin_link(obj.promotion_request, f"#{obj.promotion_request_id}")
