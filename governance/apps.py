from typing import Any

from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from registry import signals

        signals.model_updated.connect(_model_updated, dispatch_uid="governance.model_updated")


def _model_updated(sender: Any, *, model: Any, changed: dict[str, Any], by: Any, **_: Any) -> None:
    from governance.services import staleness

    staleness.model_changed(model, changed, by=by)
