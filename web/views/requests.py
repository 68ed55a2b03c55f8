"""Placeholder until this page lands (being built)."""

from django.http import Http404


def detail(request, *args, **kwargs):
    raise Http404("not built yet")


def decide(request, *args, **kwargs):
    raise Http404("not built yet")


def evaluate(request, *args, **kwargs):
    raise Http404("not built yet")


def assess(request, *args, **kwargs):
    raise Http404("not built yet")


def withdraw(request, *args, **kwargs):
    raise Http404("not built yet")


def promote(request, *args, **kwargs):
    raise Http404("not built yet")
