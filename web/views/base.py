"""What every page view shares: sign-in, a ModelGate role, and refusals turned into pages."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core.errors import Conflict, Forbidden, InvalidInput, ModelGateError, NotFound, TooLarge
from governance.pages import access

STATUS = {Forbidden: 403, NotFound: 404, Conflict: 409, InvalidInput: 400, TooLarge: 413}

View = Callable[..., HttpResponse]


def status_of(error: ModelGateError) -> int:
    for kind, status in STATUS.items():
        if isinstance(error, kind):
            return status
    return 400


def page(view: View) -> View:
    """Sign-in required (else the login page), a role required (else a readable 403); a
    Forbidden or NotFound raised while building the page becomes the 403 or 404 page."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            access.require_reader(request.user)
            return view(request, *args, **kwargs)
        except Forbidden as refusal:
            raise PermissionDenied(refusal.detail) from refusal
        except NotFound as missing:
            raise Http404(missing.detail) from missing

    return wrapped


def refused(
    request: HttpRequest, error: ModelGateError, *, back: str | None = None
) -> HttpResponse:
    """A refused action: the service's reason, with the status the API would answer.

    A plain form post gets the refusal page (and a link back); an htmx post gets the same
    message as a fragment to swap in place."""
    context = {"error": error, "code": error.code, "back": back, "field": error.extra.get("field")}
    if request.headers.get("HX-Request"):
        return render(request, "web/_refusal.html", context, status=status_of(error))
    return render(request, "web/refused.html", context, status=status_of(error))


def done(request: HttpRequest, message: str, to: str) -> HttpResponse:
    """A successful action: a message and back to the page (post/redirect/get)."""
    messages.success(request, message)
    response = redirect(to)
    if request.headers.get("HX-Request"):
        # htmx follows redirects transparently; ask it to load the page as a whole instead.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = to
    return response
