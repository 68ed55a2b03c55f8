"""The reviewer's inbox (/review/)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from governance.pages import inbox as inbox_page
from web.views.base import page


@page
def inbox(request: HttpRequest) -> HttpResponse:
    built = inbox_page.build(request.user, request.GET)
    return render(request, "web/inbox.html", {"page": built, "nav_section": "review"})
