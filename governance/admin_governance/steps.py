"""The machinery of the governance admin's actions: one service call per object, its form
first, its refusal a message; and the read-only base every governance record shares."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.safestring import SafeString

from core.admin_permissions import RolePermissions
from core.errors import ModelGateError

STEP_TEMPLATE = "admin/governance/service_step.html"


def verdict(passed: bool | None) -> SafeString:
    return display_for_value(passed, "-", boolean=True)  # type: ignore[no-any-return]


def short(digest: str) -> str:
    return digest[:12]


def change_url(obj: Model) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


@dataclass(frozen=True)
class Step:
    """One service call offered as an admin action and as a button on the object's page."""

    name: str  # the action's and the URL's name
    title: str
    submit: str
    form: type[forms.Form]
    permission: str  # has_<permission>_permission(request) decides whether it is offered
    intro: str = ""


@dataclass(frozen=True)
class Done:
    message: SafeString | str
    url: str | None = None  # where the button leads once done (one object)


class StepsMixin:
    """`<object>/<step>/` pages and admin actions running `do_<step>(request, obj, data)`:
    the form first (unless it asks nothing and came from the list), then one service call per
    object, each outcome (a success or the service's refusal) a message. Mix in before the
    ModelAdmin."""

    steps: tuple[Step, ...] = ()
    admin_site: admin.AdminSite
    opts: Any
    message_user: Callable[..., None]
    get_object: Callable[..., Any]
    has_view_permission: Callable[..., bool]

    def step_named(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        own = [
            path(
                f"<path:object_id>/{step.name.replace('_', '-')}/",
                self.admin_site.admin_view(partial(self.step_view, step=step)),
                name=f"{prefix}_{step.name}",
            )
            for step in self.steps
        ]
        return [*own, *super().get_urls()]  # type: ignore[misc]

    def may(self, request: HttpRequest, step: Step) -> bool:
        return bool(getattr(self, f"has_{step.permission}_permission")(request))

    def step_view(self, request: HttpRequest, object_id: str, step: Step) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"no such {self.opts.verbose_name}")
        if not (self.has_view_permission(request, obj) and self.may(request, step)):
            raise PermissionDenied
        outcome = self.run_step(request, step, [obj], from_action=False)
        if isinstance(outcome, HttpResponse):
            return outcome
        return HttpResponseRedirect((outcome[0].url if outcome else None) or change_url(obj))

    def run_action(
        self, request: HttpRequest, name: str, queryset: QuerySet[Any]
    ) -> HttpResponse | None:
        outcome = self.run_step(request, self.step_named(name), list(queryset), from_action=True)
        return outcome if isinstance(outcome, HttpResponse) else None

    def run_step(
        self, request: HttpRequest, step: Step, objects: list[Any], *, from_action: bool
    ) -> HttpResponse | list[Done]:
        applying = "apply" in request.POST or (from_action and not step.form.base_fields)
        form = step.form(request.POST if applying else None)
        if applying and form.is_valid():
            done = []
            for obj in objects:
                try:
                    outcome: Done = getattr(self, f"do_{step.name}")(
                        request, obj, form.cleaned_data
                    )
                except ModelGateError as exc:
                    self.message_user(
                        request, f"{obj}: refused: {exc.detail} [{exc.code}]", messages.ERROR
                    )
                    continue
                done.append(outcome)
                self.message_user(request, outcome.message, messages.SUCCESS)
            # Back to the list or the page, with the messages; a form that asks something is
            # shown again (with what was typed) when every call was refused.
            if done or not step.form.base_fields:
                return done
        context = {
            **self.admin_site.each_context(request),
            "title": step.title,
            "intro": step.intro,
            "opts": self.opts,
            "form": form,
            "objects": objects,
            "original": None if from_action else objects[0],
            "action_name": step.name if from_action else None,
            "submit": step.submit,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, STEP_TEMPLATE, context)


class ReadOnlyAdmin(RolePermissions, admin.ModelAdmin):  # type: ignore[type-arg]
    writers = ()  # records: read by every role, changed by their services only
