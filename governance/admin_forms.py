"""The admin's "Run an assessment" form: its last step is `request_assessment`, like the API's."""

from typing import Any

from django import forms

from governance.models import Assessment, AssessmentKind
from governance.services.assessments import request_assessment
from registry.admin_forms import CommaSeparatedListField
from registry.models import DatasetVersion, ModelVersion


class RunAssessmentForm(forms.Form):
    """What to assess a model version on. Refusals come from the service, per version."""

    kind = forms.ChoiceField(choices=AssessmentKind.choices)
    dataset_version = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.select_related("dataset").order_by(
            "dataset__name", "-version"
        ),
        help_text="The evaluation data: it must hold the model's features and, for fairness and "
        "performance, a target column.",
    )
    sensitive_features = CommaSeparatedListField(
        required=False,
        help_text="Comma-separated column names; empty: those declared on the dataset version.",
    )
    parameters = forms.JSONField(
        required=False,
        initial=dict,
        help_text='A JSON object, e.g. {"n_bootstrap": 200, "threshold": 0.5}; parameters left '
        "out take their default.",
    )

    def clean_parameters(self) -> dict[str, Any] | None:
        value = self.cleaned_data.get("parameters")
        if value in (None, ""):
            return None
        if not isinstance(value, dict):
            raise forms.ValidationError('Enter a JSON object, such as {} or {"seed": 1}.')
        return value

    def request(self, version: ModelVersion, actor: Any) -> Assessment:
        data = self.cleaned_data
        return request_assessment(
            by=actor,
            kind=data["kind"],
            dataset_version=data["dataset_version"],
            model_version=version,
            sensitive_features=data["sensitive_features"] or None,
            parameters=data["parameters"],
        )
