"""A raw YAML request body is a policy's source text, kept verbatim.

The parser does not read the YAML itself: the policy service parses and validates it, so a
syntax error is reported like every other policy error (code invalid_policy, naming the line).
"""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from core.errors import TooLarge
from governance.policies.document import MAX_SOURCE_BYTES


class YAMLSourceParser(BaseParser):
    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # Read one byte more than a policy may have: a huge body is refused without being held.
        raw = stream.read(MAX_SOURCE_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_SOURCE_BYTES:
            raise TooLarge(f"a policy source is at most {MAX_SOURCE_BYTES // 1024} KiB")
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"the YAML body is not valid {encoding} text") from exc
        return {"source": text, "format": "yaml"}


class TextYAMLSourceParser(YAMLSourceParser):
    media_type = "text/yaml"


class LegacyYAMLSourceParser(YAMLSourceParser):
    media_type = "application/x-yaml"


YAML_PARSERS = [YAMLSourceParser, TextYAMLSourceParser, LegacyYAMLSourceParser]
