"""The one error a policy document can raise: it names the offending field."""

from core.errors import InvalidInput


class PolicyDocumentError(InvalidInput):
    code = "invalid_policy"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field=field)
        self.field = field
