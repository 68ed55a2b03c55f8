"""The one way to turn a registered version into a model that predicts.

Assessments call `load_version`: it re-checks the stored artifact's digest and size, then loads
it with the deployment's safety settings (skops allow-list, pickle switch) applied again, so a
file changed on disk or a setting tightened since registration is never silently ignored.
"""

from typing import TYPE_CHECKING

from django.conf import settings

from core.errors import InvalidInput
from registry import storage
from registry.models import ModelVersion

if TYPE_CHECKING:
    from registry.artifacts import LoadedModel


def load_version(version: ModelVersion) -> "LoadedModel":
    from registry import artifacts

    if version.artifact_format in artifacts.UNSAFE_FORMATS:
        # Unpickling runs the file's code: never in a process that holds database credentials.
        raise InvalidInput(
            f"{version} is a {version.artifact_format} artifact: it is only ever loaded inside "
            "the isolated sandbox process, not in the application",
            code="sandbox_required",
        )
    with storage.verified_copy(
        version.artifact_key, sha256=version.artifact_sha256, size=version.artifact_size
    ) as path:
        return artifacts.load_model(
            path,
            version.artifact_format,
            trusted_types=settings.MODELGATE_SKOPS_TRUSTED_TYPES,
            allow_pickle=settings.MODELGATE_ALLOW_PICKLE,
        )
