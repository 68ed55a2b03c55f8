"""Error pages for requests under /api/: JSON with a stable code, like every other API error.

Django answers these itself (no URL matched, a body over its limits, an unhandled exception)
before DRF's exception handler can; pages elsewhere keep Django's HTML.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "bad_request", "detail": "the request is malformed or too large"}, status=400
        )
    return defaults.bad_request(request, exception, **kwargs)


def permission_denied(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "permission_denied", "detail": "permission denied"}, status=403
        )
    return defaults.permission_denied(request, exception, **kwargs)


def not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "not_found", "detail": f"no such resource: {request.path}"}, status=404
        )
    return defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"code": "server_error", "detail": "internal error; it has been logged"}, status=500
        )
    return defaults.server_error(request, **kwargs)
