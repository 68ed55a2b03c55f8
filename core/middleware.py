"""Request id middleware: every audit event can name the request that caused it."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core import request_context


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # An id from the client goes into the audit trail, so it is taken only from a proxy the
        # deployment trusts to set it (MODELGATE_TRUST_REQUEST_ID_HEADER).
        incoming = (
            request.headers.get("X-Request-ID")
            if settings.MODELGATE_TRUST_REQUEST_ID_HEADER
            else None
        )
        request_id = request_context.new_request_id(incoming)
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_context.set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_context.reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


class UploadSizeLimitMiddleware:
    """Refuse a request body larger than any upload we accept before reading a byte of it.

    The services enforce the exact per-kind limits while streaming; this stops a client from
    filling the temporary disk with a body that could never be accepted anyway.
    """

    SLACK = 1024 * 1024  # multipart boundaries and form fields

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = (
            max(settings.MODELGATE_MAX_ARTIFACT_BYTES, settings.MODELGATE_MAX_DATASET_BYTES)
            + self.SLACK
        )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return JsonResponse(
                {
                    "code": "too_large",
                    "detail": f"the request body ({length} bytes) is larger than the "
                    f"largest accepted upload ({limit} bytes)",
                },
                status=413,
            )
        return self.get_response(request)
