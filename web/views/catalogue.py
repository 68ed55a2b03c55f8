"""Placeholder until this page lands (being built)."""

from django.http import Http404


def catalogue(request, *args, **kwargs):
    raise Http404("not built yet")


def model(request, *args, **kwargs):
    raise Http404("not built yet")


def version(request, *args, **kwargs):
    raise Http404("not built yet")


def request_promotion(request, *args, **kwargs):
    raise Http404("not built yet")


def assess(request, *args, **kwargs):
    raise Http404("not built yet")
