"""An assessment's progress (polled by htmx while it runs) and its chart files."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from governance.api.views import CHART_CACHE_CONTROL, CHART_CSP
from governance.models import Assessment, AssessmentChart
from governance.pages import access
from registry import storage
from web.views.base import page


def _require_visible(request: HttpRequest, assessment: Assessment) -> None:
    """Whoever may see the model may see its assessments (predictions-only ones: any reader)."""
    if assessment.model_version_id is not None:
        access.require_model(request.user, assessment.model_version.model)


def progress_fragment(request: HttpRequest, assessment: Assessment) -> HttpResponse:
    """The progress bar while the assessment is queued or running (htmx polls it every
    second); once finished, its outcome, and for htmx a full reload so the page shows the new
    evidence. Without JavaScript the fragment says where it stands and links to a reload."""
    response = render(request, "web/_assessment_progress.html", {"assessment": assessment})
    if assessment.is_finished and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


@require_GET
@page
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    assessment = get_object_or_404(
        Assessment.objects.select_related("model_version__model__owner_team").defer(
            "results", "provenance", "timings"
        ),
        pk=pk,
    )
    _require_visible(request, assessment)
    return progress_fragment(request, assessment)


@require_GET
@page
def chart(request: HttpRequest, pk: int, name: str, extension: str) -> HttpResponse:
    """One chart file, re-checked against its recorded SHA-256 (the API's lookup and headers)."""
    found = get_object_or_404(
        AssessmentChart.objects.select_related("assessment__model_version__model__owner_team"),
        assessment_id=pk,
        name=name,
        format=extension,
    )
    _require_visible(request, found.assessment)
    etag = f'"{found.sha256}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        with storage.verified_copy(found.file_key, sha256=found.sha256, size=found.size) as path:
            response = HttpResponse(path.read_bytes(), content_type=found.media_type)
        response["Content-Disposition"] = (
            f'inline; filename="assessment-{found.assessment_id}-{found.name}.{found.format}"'
        )
        response["Content-Security-Policy"] = CHART_CSP
        response["X-Content-Type-Options"] = "nosniff"
    response["ETag"] = etag
    response["Cache-Control"] = CHART_CACHE_CONTROL
    return response
