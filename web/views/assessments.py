"""Placeholder until this page lands (being built)."""

from django.http import Http404


def progress(request, *args, **kwargs):
    raise Http404("not built yet")


def chart(request, *args, **kwargs):
    raise Http404("not built yet")
