"""Placeholder until this page lands (being built)."""

from django.http import Http404


def inbox(request, *args, **kwargs):
    raise Http404("not built yet")
