"""A promotion request: the page, and its actions (decide, re-evaluate, queue missing evidence,
retry the gate, withdraw). Each action calls one service, which decides who may; a refusal is
the service's reason with the API's status, and the services record refused attempts."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from core.errors import ModelGateError
from governance.models import Assessment
from governance.pages import request_page
from governance.services import assessments as assessment_service
from governance.services import promotions
from web.views.assessments import progress_fragment
from web.views.base import done, page, refused


def _context(page_object: request_page.RequestPage, **extra: object) -> dict[str, object]:
    return {"page": page_object, "nav_section": "review", **extra}


@require_GET
@page
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "web/request.html", _context(request_page.build(request.user, pk)))


@require_POST
@page
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    promotion = request_page.load(pk)
    back = request_page.url_of(pk)
    decision = request.POST.get("decision", "")
    try:
        promotions.review(
            by=request.user,
            request=promotion,
            decision=decision,
            comment=request.POST.get("comment", ""),
        )
    except ModelGateError as refusal:
        return refused(request, refusal, back=back)
    verb = {"approve": "Approved", "reject": "Rejected"}.get(decision, decision)
    return done(request, f"{verb} request #{pk}.", back)


@require_POST
@page
def evaluate(request: HttpRequest, pk: int) -> HttpResponse:
    """A dry run of the policies now: the checks partial for htmx, the whole page otherwise."""
    back = request_page.url_of(pk)
    try:
        dry_run = request_page.re_evaluate(request.user, pk)
    except ModelGateError as refusal:
        return refused(request, refusal, back=back)
    if request.headers.get("HX-Request"):
        return render(request, "web/_request_dry_run.html", {"dry_run": dry_run})
    return render(
        request,
        "web/request.html",
        _context(request_page.build(request.user, pk), dry_run=dry_run),
    )


@require_POST
@page
def assess(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue a missing assessment on the declared evaluation data; htmx gets its progress."""
    promotion = request_page.load(pk)
    back = request_page.url_of(pk) + "#missing-evidence"
    try:
        assessment = assessment_service.assess_on_declared_data(
            by=request.user, version=promotion.model_version, kind=request.POST.get("kind", "")
        )
    except ModelGateError as refusal:
        return refused(request, refusal, back=back)
    if request.headers.get("HX-Request"):
        # Read again: a job run inline may have finished already.
        return progress_fragment(request, Assessment.objects.get(pk=assessment.pk))
    return done(request, f"Queued {assessment}.", back)


@require_POST
@page
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    promotion = request_page.load(pk)
    back = request_page.url_of(pk)
    try:
        promotions.withdraw(
            by=request.user, request=promotion, reason=request.POST.get("reason", "")
        )
    except ModelGateError as refusal:
        return refused(request, refusal, back=back)
    return done(request, f"Withdrew request #{pk}.", back)


@require_POST
@page
def promote(request: HttpRequest, pk: int) -> HttpResponse:
    promotion = request_page.load(pk)
    back = request_page.url_of(pk)
    try:
        promoted = promotions.promote(by=request.user, request=promotion)
    except ModelGateError as refusal:
        return refused(request, refusal, back=back)
    return done(
        request, f"The gate passed: {promoted.model_version} is now {promoted.target_stage}.", back
    )
