"""The governance admin's forms: what each action asks before it calls its service.

The forms only collect input. Whether it is acceptable (an empty comment, a malformed policy, a
reviewer who made the request) is the service's answer, shown on the page: the rules stay in one
place, the same for the admin, the API and the management commands.
"""

from typing import Any

from django import forms

from core.errors import InvalidInput, ModelGateError
from governance.models import PolicyVersion, TargetStage
from governance.policies.checks import REGISTRY
from governance.services import policies as policy_service

_MONOSPACE = "font-family: monospace; width: 100%; max-width: 60em"


class NoInputForm(forms.Form):
    """A confirmation: the action needs nothing but a click."""


class CommentForm(forms.Form):
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        required=False,
        help_text="Required with every decision; it is kept with the review and in the audit "
        "trail.",
    )


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        required=False,
        help_text="Optional; recorded with the request.",
    )


class DemoteForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        required=False,
        help_text="Required: why the version is taken out of service (recorded in its stage "
        "history and the audit trail).",
    )


class OpenRequestForm(forms.Form):
    target_stage = forms.ChoiceField(choices=TargetStage.choices, initial=TargetStage.PRODUCTION)
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        required=False,
        help_text="Required: why this version should move (the reviewers read it first).",
    )


class PolicySourceForm(forms.Form):
    """A policy document as its author writes it; saving it makes the next policy version."""

    source = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 28, "spellcheck": "false", "style": _MONOSPACE}),
        required=False,
        strip=False,
        help_text="The whole document, YAML or JSON: name, title, description, enabled, scope "
        "(risk_tiers, target_stages) and checks. Check types: " + ", ".join(sorted(REGISTRY)) + ".",
    )
    source_format = forms.ChoiceField(
        choices=(
            ("", "detect (JSON if it starts with “{”, else YAML)"),
            ("yaml", "YAML"),
            ("json", "JSON"),
        ),
        required=False,
        label="Format",
    )
    change_note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        required=False,
        help_text="What changed and why; kept with the version.",
    )

    def save(self, actor: Any, *, policy_name: str | None) -> PolicyVersion | None:
        """The new version, or None with the service's refusal added to the form. With a
        `policy_name` the document must be that policy's next version; without, a new policy."""
        data = self.cleaned_data
        try:
            return policy_service.save_policy(
                by=actor,
                source=data["source"],
                source_format=data["source_format"] or None,
                name=policy_name,
                change_note=data["change_note"],
                create=policy_name is None,
            )
        except InvalidInput as exc:
            # The message starts with the offending field of the document ("checks[2].max: ...").
            self.add_error("source", f"{exc.detail} [{exc.code}]")
        except ModelGateError as exc:
            self.add_error(None, f"{exc.detail} [{exc.code}]")
        return None
