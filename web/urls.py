"""The reviewer pages' URLs. Keep the page paths stable: tests, e-mails and links rely on them."""

from django.contrib.auth import views as auth_views
from django.urls import path, re_path
from django.views.generic import RedirectView

from web.views import assessments, catalogue, findings, inbox, requests

app_name = "web"

accounts = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=False),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]

urlpatterns = [
    path("", RedirectView.as_view(url="/review/", permanent=False), name="home"),
    # Review: the inbox and a promotion request with its actions.
    path("review/", inbox.inbox, name="inbox"),
    path("review/requests/<int:pk>/", requests.detail, name="request"),
    path("review/requests/<int:pk>/review/", requests.decide, name="request-review"),
    path("review/requests/<int:pk>/evaluate/", requests.evaluate, name="request-evaluate"),
    path("review/requests/<int:pk>/assess/", requests.assess, name="request-assess"),
    path("review/requests/<int:pk>/withdraw/", requests.withdraw, name="request-withdraw"),
    path("review/requests/<int:pk>/promote/", requests.promote, name="request-promote"),
    # Assessments: progress of a running job (polled by htmx).
    path("assessments/<int:pk>/progress/", assessments.progress, name="assessment-progress"),
    re_path(
        r"^assessments/(?P<pk>[0-9]+)/charts/(?P<name>[-a-zA-Z0-9_]+)\.(?P<extension>png|svg)$",
        assessments.chart,
        name="assessment-chart",
    ),
    # Catalogue: models, a model, a version.
    path("models/", catalogue.catalogue, name="catalogue"),
    path("models/<slug:name>/", catalogue.model, name="model"),
    path("models/<slug:name>/versions/<int:version>/", catalogue.version, name="version"),
    path(
        "models/<slug:name>/versions/<int:version>/request/",
        catalogue.request_promotion,
        name="version-request",
    ),
    path(
        "models/<slug:name>/versions/<int:version>/assess/",
        catalogue.assess,
        name="version-assess",
    ),
    # Findings: raised on a version, answered by the owner, closed by a reviewer.
    path(
        "models/<slug:name>/versions/<int:version>/findings/",
        findings.raise_finding,
        name="finding-raise",
    ),
    path("findings/<int:pk>/", findings.detail, name="finding"),
    path("findings/<int:pk>/answer/", findings.answer, name="finding-answer"),
    path("findings/<int:pk>/close/", findings.close, name="finding-close"),
]
