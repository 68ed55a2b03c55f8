"""Findings: raised on a version, answered by their owner, closed by a reviewer. Every action is
the service's; these views only read the form and say where to go back."""

from datetime import date

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core.errors import InvalidInput, ModelGateError
from governance.models import PromotionRequest
from governance.pages import access, version_page
from governance.pages.findings import find_finding, finding_page
from governance.services import findings as service
from web.views.base import done, page, refused


def _next(request: HttpRequest, fallback: str) -> str:
    """Where to go back: the form's `next`, if it is a page of this site, else `fallback`."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return fallback


def _id(value: str) -> int | None:
    """A row id typed into a form, or None when it cannot be one (the database never sees it)."""
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 18 else None


def _owner(value: str) -> object | None:
    if not value.strip():
        return None
    pk = _id(value)
    owner = get_user_model().objects.filter(pk=pk).first() if pk is not None else None
    if owner is None:
        raise InvalidInput(f"no user #{value}", field="owner")
    return owner


def _due_date(value: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as error:
        raise InvalidInput("the due date must be a date (YYYY-MM-DD)", field="due_date") from error


def _promotion_request(value: str) -> PromotionRequest | None:
    if not value.strip():
        return None
    pk = _id(value)
    found = PromotionRequest.objects.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise InvalidInput(f"no promotion request #{value}", field="promotion_request")
    return found


def _raise_inputs(form: QueryDict) -> dict[str, object]:
    return {
        "title": form.get("title", ""),
        "severity": form.get("severity", ""),
        "description": form.get("description", ""),
        "owner": _owner(form.get("owner", "")),
        "due_date": _due_date(form.get("due_date", "")),
        "request": _promotion_request(form.get("promotion_request", "")),
    }


@page
@require_POST
def raise_finding(request: HttpRequest, name: str, version: int) -> HttpResponse:
    the_version = version_page.find_version(name, version)  # unknown: the 404 page
    access.require_model(request.user, the_version.model)  # not visible: the 403 page
    back = _next(request, reverse("web:version", args=(name, version)))
    try:
        # Who may raise comes before what they sent: a forged post learns the real reason.
        refusal = service.raise_refusal(request.user)
        if refusal is not None:
            raise refusal
        finding = service.raise_finding(
            by=request.user,
            version=the_version,
            **_raise_inputs(request.POST),  # type: ignore[arg-type]
        )
    except ModelGateError as error:
        return refused(request, error, back=back)
    return done(request, f"Finding #{finding.pk} raised on {the_version}.", back)


@page
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    here = reverse("web:finding", args=(pk,))
    context = {
        "page": finding_page(request.user, pk, next_url=here),
        "nav_section": "review",
    }
    return render(request, "web/finding.html", context)


@page
@require_POST
def answer(request: HttpRequest, pk: int) -> HttpResponse:
    finding = find_finding(pk)
    access.require_model(request.user, finding.model_version.model)
    back = _next(request, reverse("web:finding", args=(pk,)))
    try:
        service.answer(
            by=request.user, finding=finding, remediation=request.POST.get("remediation", "")
        )
    except ModelGateError as error:
        return refused(request, error, back=back)
    return done(request, f"Answer sent on finding #{pk}.", back)


@page
@require_POST
def close(request: HttpRequest, pk: int) -> HttpResponse:
    finding = find_finding(pk)
    access.require_model(request.user, finding.model_version.model)
    back = _next(request, reverse("web:finding", args=(pk,)))
    try:
        service.close(by=request.user, finding=finding, note=request.POST.get("note", ""))
    except ModelGateError as error:
        return refused(request, error, back=back)
    return done(request, f"Finding #{pk} closed.", back)
