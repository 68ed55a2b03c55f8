"""Input checks every registry service applies, whatever interface the input came through."""

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from core.errors import InvalidInput

NAME_MAX_LENGTH = 100


def check_name(name: Any, *, field: str = "name") -> str:
    """A slug: letters, digits, hyphens and underscores; it becomes part of URLs."""
    if not isinstance(name, str) or not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(
            f"{field} must be a non-empty slug of at most {NAME_MAX_LENGTH} characters",
            field=field,
        )
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise InvalidInput(
            f"{field}: {name!r} is not a slug (letters, digits, hyphens, underscores)",
            field=field,
        ) from exc
    return name


def check_json(value: Any, kind: type, field: str) -> Any:
    """A JSON value of `kind` that both databases can store: no NaN or infinity (not JSON), no
    NUL characters (PostgreSQL's jsonb refuses them)."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise InvalidInput(f"{field} must be a JSON {kind.__name__}", field=field)
    try:
        text = json.dumps(value, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidInput(
            f"{field} must be plain JSON without NaN or infinity ({exc})", field=field
        ) from exc
    if "\\u0000" in text:
        raise InvalidInput(f"{field} must not contain NUL characters", field=field)
    return value


def is_violation_of(exc: Exception, constraint: str) -> bool:
    return constraint in str(exc)
