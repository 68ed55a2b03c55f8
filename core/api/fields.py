"""Fields that accept JSON values inside multipart forms as well as in JSON bodies."""

import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.JSONField):
    """A JSON object; in multipart forms, a string holding one."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            try:
                data = json.loads(data) if data.strip() else {}
            except (ValueError, RecursionError) as exc:
                raise serializers.ValidationError(f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object")
        return data


class StringListField(serializers.ListField):
    """A list of strings: a JSON array, repeated form fields, or one form field holding a JSON
    array or comma-separated names."""

    child = serializers.CharField(max_length=200)

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)
        if value is empty:
            return value
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
            return self._split(value[0])
        if isinstance(value, str):
            return self._split(value)
        return value

    @staticmethod
    def _split(text: str) -> Any:
        text = text.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError) as exc:
                raise serializers.ValidationError(f"not valid JSON: {exc}") from exc
        return [part.strip() for part in text.split(",") if part.strip()]


class StrictInputSerializer(serializers.Serializer[Any]):
    """An input serializer that refuses fields it does not know instead of ignoring them, so a
    client that sends `name` to a PATCH learns that the name cannot be changed there."""

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["unknown or read-only field"] for name in unknown}
                )
        return super().to_internal_value(data)
