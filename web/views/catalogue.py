"""The catalogue (/models/), a model's page, a version's page and the version page's actions
(request promotion, queue an assessment): page objects to render, services to act."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import ModelGateError
from governance.pages import catalogue as catalogue_page
from governance.pages import model_page, version_page
from governance.services import assessments, promotions
from web.views.base import done, page, refused


@page
def catalogue(request: HttpRequest) -> HttpResponse:
    built = catalogue_page.build(request.user, request.GET)
    return render(request, "web/catalogue.html", {"page": built, "nav_section": "models"})


@page
def model(request: HttpRequest, name: str) -> HttpResponse:
    built = model_page.build(request.user, name, request.GET)
    return render(request, "web/model.html", {"page": built, "nav_section": "models"})


@page
def version(request: HttpRequest, name: str, version: int) -> HttpResponse:
    here = reverse("web:version", args=[name, version])
    built = version_page.build(request.user, name, version, next_url=here)
    return render(request, "web/version.html", {"page": built, "nav_section": "models"})


@page
@require_POST
def request_promotion(request: HttpRequest, name: str, version: int) -> HttpResponse:
    # No visibility check before the service: it refuses (and audits) anyone who may not ask.
    target = version_page.find_version(name, version)
    back = reverse("web:version", args=[name, version])
    try:
        opened = promotions.open_request(
            by=request.user,
            version=target,
            target_stage=request.POST.get("target_stage", ""),
            justification=request.POST.get("justification", ""),
        )
    except ModelGateError as error:
        return refused(request, error, back=back)
    return done(
        request,
        f"Promotion request #{opened.pk} opened: {target} to {opened.target_stage}",
        reverse("web:request", args=[opened.pk]),
    )


@page
@require_POST
def assess(request: HttpRequest, name: str, version: int) -> HttpResponse:
    target = version_page.find_version(name, version)
    back = reverse("web:version", args=[name, version])
    try:
        queued = assessments.assess_on_declared_data(
            by=request.user, version=target, kind=request.POST.get("kind", "")
        )
    except ModelGateError as error:
        return refused(request, error, back=back)
    return done(
        request,
        f"{queued.get_kind_display()} assessment #{queued.pk} of {target} on "
        f"{queued.dataset_version} queued",
        f"{back}#assessment-{queued.pk}",
    )
