"""Domain errors. They know nothing of HTTP: core.api.exceptions maps them to status codes."""

from typing import Any


class ModelGateError(Exception):
    """Base of every refusal the services make; `code` is stable and machine-readable."""

    code = "error"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InvalidInput(ModelGateError):
    """The request itself is wrong: a malformed file, an unknown column, a bad reference."""

    code = "invalid"


class Forbidden(ModelGateError):
    """The actor may not do this."""

    code = "permission_denied"


class NotFound(ModelGateError):
    code = "not_found"


class Conflict(ModelGateError):
    """The state of the world does not allow it: a duplicate, a cycle, a changed state."""

    code = "conflict"


class TooLarge(ModelGateError):
    code = "too_large"


class IntegrityFailure(ModelGateError):
    """Stored content no longer matches its recorded digest: never use it."""

    code = "integrity_failure"
