"""Placeholder until this page lands (being built)."""

from django.http import Http404


def raise_finding(request, *args, **kwargs):
    raise Http404("not built yet")


def detail(request, *args, **kwargs):
    raise Http404("not built yet")


def answer(request, *args, **kwargs):
    raise Http404("not built yet")


def close(request, *args, **kwargs):
    raise Http404("not built yet")
