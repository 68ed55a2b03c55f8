"""The model version admin with governance: a dry run of the production policies, a promotion
request, demotion, and the version's stage history. The stage itself stays read-only."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html

from core import roles
from governance.admin import AssessedModelVersionAdmin, _admin_link
from governance.admin_governance.findings import VersionFindingInline
from governance.admin_governance.forms import DemoteForm, NoInputForm, OpenRequestForm
from governance.admin_governance.promotions import VersionStageChangeInline, outcome
from governance.admin_governance.steps import Done, Step, StepsMixin, change_url
from governance.models import TargetStage
from governance.services import evaluation as evaluation_service
from governance.services import promotions
from registry.models import ModelVersion, Stage

admin.site.unregister(ModelVersion)


@admin.register(ModelVersion)
class GovernedModelVersionAdmin(StepsMixin, AssessedModelVersionAdmin):
    """The version admin with governance: dry run, promotion request, demotion, stage history.
    The stage itself stays read-only: it changes through the promotion service only."""

    inlines = (*AssessedModelVersionAdmin.inlines, VersionStageChangeInline, VersionFindingInline)
    actions = (*AssessedModelVersionAdmin.actions, "dry_run_production", "demote")
    change_form_template = "admin/governance/modelversion/governed_change_form.html"
    steps = (
        Step(
            "dry_run", "Dry-run the production policies", "Run the policies", NoInputForm,
            "evaluate",
            "Evaluate every policy that applies to production now, without requesting anything; "
            "the evaluation is kept with its check results.",
        ),
        Step(
            "request_promotion", "Request promotion", "Open the request", OpenRequestForm,
            "request_promotion",
            "Reviewers that the applicable policies require decide the request; the policies are "
            "evaluated once now for them.",
        ),
        Step(
            "demote", "Demote", "Demote", DemoteForm, "demote",
            "Take the version out of production or staging at once (to archived). Putting it back "
            "goes through a promotion request and the gate.",
        ),
    )  # fmt: skip

    def has_evaluate_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(
            request.user, roles.DATA_SCIENTIST, roles.VALIDATOR, roles.RISK_OFFICER, roles.ADMIN
        )

    def has_request_promotion_permission(self, request: HttpRequest) -> bool:
        return roles.has_role(request.user, roles.DATA_SCIENTIST, roles.ADMIN)

    def has_demote_permission(self, request: HttpRequest) -> bool:
        return promotions.can_demote(request.user)

    @admin.action(description="Dry-run policies for production", permissions=["evaluate"])
    def dry_run_production(
        self, request: HttpRequest, queryset: QuerySet[ModelVersion]
    ) -> HttpResponse | None:
        return self.run_action(request, "dry_run", queryset.select_related("model__owner_team"))

    @admin.action(description="Demote…", permissions=["demote"])
    def demote(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> HttpResponse | None:
        return self.run_action(request, "demote", queryset)

    def do_dry_run(self, request: HttpRequest, obj: ModelVersion, data: dict) -> Done:
        evaluation = evaluation_service.evaluate(obj, TargetStage.PRODUCTION, by=request.user)
        failing = list(evaluation.checks.filter(passed=False).values_list("check_id", flat=True))
        verdict = (
            "every check passes"
            if evaluation.passed
            else f"blocked: {evaluation.failed_count} of {evaluation.check_count} checks fail "
            f"({', '.join(failing)})"
        )
        return Done(
            format_html(
                "{} for production: {} ({}).",
                obj,
                verdict,
                _admin_link(evaluation, f"evaluation #{evaluation.pk}"),
            ),
            change_url(evaluation),
        )

    def do_request_promotion(self, request: HttpRequest, obj: ModelVersion, data: dict) -> Done:
        result = promotions.open_request(
            by=request.user,
            version=obj,
            target_stage=data["target_stage"],
            justification=data["justification"],
        )
        return Done(
            format_html("Opened {}: {}", _admin_link(result), outcome(result)), change_url(result)
        )

    def do_demote(self, request: HttpRequest, obj: ModelVersion, data: dict) -> Done:
        change = promotions.demote(by=request.user, version=obj, reason=data["reason"])
        return Done(
            format_html(
                "{}: {} → {} ({})",
                obj,
                change.from_stage,
                change.to_stage,
                change.get_kind_display(),
            )
        )

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
            context = {
                "can_dry_run": self.has_evaluate_permission(request),
                "can_request_promotion": self.has_request_promotion_permission(request),
                "can_demote": obj.stage in (Stage.PRODUCTION, Stage.STAGING)
                and self.has_demote_permission(request),
            }
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )
