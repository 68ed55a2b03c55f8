from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from audit.api.views import AuditEventViewSet
from governance.api import finding_views, inventory_views, policy_views, promotion_views
from governance.api import views as governance_views
from registry.api import views as registry_views
from web import urls as web_urls

router = SimpleRouter()
router.register("models", registry_views.RegisteredModelViewSet, basename="model")
router.register("datasets", registry_views.DatasetViewSet, basename="dataset")
router.register("lineage-edges", registry_views.LineageEdgeViewSet, basename="lineage-edge")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("assessments", governance_views.AssessmentViewSet, basename="assessment")
router.register("policies", policy_views.PolicyViewSet, basename="policy")
router.register("evaluations", policy_views.EvaluationViewSet, basename="evaluation")
router.register(
    "promotion-requests", promotion_views.PromotionRequestViewSet, basename="promotion-request"
)
router.register("stage-changes", promotion_views.StageChangeViewSet, basename="stage-change")
router.register("findings", finding_views.FindingViewSet, basename="finding")

versions = registry_views.ModelVersionViewSet
dataset_versions = registry_views.DatasetVersionViewSet
version_assessments = governance_views.VersionAssessmentViewSet
version_evaluations = policy_views.VersionEvaluationViewSet
policy_versions = policy_views.PolicyVersionViewSet
model_stages = promotion_views.ModelStageViewSet

api_v1 = [
    path(
        "models/<slug:name>/versions/",
        versions.as_view({"get": "list", "post": "create"}),
        name="model-version-list",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/",
        versions.as_view({"get": "retrieve"}),
        name="model-version-detail",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/lineage/",
        versions.as_view({"get": "lineage"}),
        name="model-version-lineage",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/assessments/",
        version_assessments.as_view({"get": "list", "post": "create"}),
        name="model-version-assessments",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/evaluation/",
        version_evaluations.as_view({"post": "create"}),
        name="model-version-evaluation",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/evaluations/",
        version_evaluations.as_view({"get": "list"}),
        name="model-version-evaluations",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/demote/",
        model_stages.as_view({"post": "demote"}),
        name="model-version-demote",
    ),
    path(
        "models/<slug:name>/rollback/",
        model_stages.as_view({"post": "rollback"}),
        name="model-rollback",
    ),
    path(
        "models/<slug:name>/stage-history/",
        promotion_views.StageHistoryViewSet.as_view({"get": "list"}),
        name="model-stage-history",
    ),
    path(
        "policies/<slug:name>/versions/",
        policy_versions.as_view({"get": "list"}),
        name="policy-version-list",
    ),
    path(
        "policies/<slug:name>/versions/<int:version>/",
        policy_versions.as_view({"get": "retrieve"}),
        name="policy-version-detail",
    ),
    re_path(
        r"^assessments/(?P<pk>[0-9]+)/charts/(?P<name>[-a-zA-Z0-9_]+)\.(?P<extension>png|svg)$",
        governance_views.AssessmentViewSet.as_view({"get": "chart"}),
        name="assessment-chart",
    ),
    path(
        "datasets/<slug:name>/versions/",
        dataset_versions.as_view({"get": "list", "post": "create"}),
        name="dataset-version-list",
    ),
    path(
        "datasets/<slug:name>/versions/<int:version>/",
        dataset_versions.as_view({"get": "retrieve"}),
        name="dataset-version-detail",
    ),
    path(
        "datasets/<slug:name>/versions/<int:version>/lineage/",
        dataset_versions.as_view({"get": "lineage"}),
        name="dataset-version-lineage",
    ),
    path("inventory.csv", inventory_views.InventoryCSVView.as_view(), name="inventory-csv"),
    *router.urls,
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(web_urls.accounts)),
    path("api/v1/", include((api_v1, "api"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include(web_urls)),
]

handler400 = "core.api.handlers.bad_request"
handler403 = "core.api.handlers.permission_denied"
handler404 = "core.api.handlers.not_found"
handler500 = "core.api.handlers.server_error"
