"""The model inventory over the API: a CSV download, streamed."""

from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from governance.dossier import inventory


class CSVRenderer(BaseRenderer):
    """Lets a client ask for text/csv; errors still come as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, context: Any = None) -> bytes:
        return JSONRenderer().render(data)


class InventoryCSVView(APIView):
    renderer_classes = (JSONRenderer, CSVRenderer)

    @extend_schema(
        summary="The model inventory as CSV",
        description=(
            "Every registered model: risk tier, owner team, production version and since when, "
            "last validation, unresolved findings by severity, when the production approvals "
            "expire, and regulatory coverage per framework. Validators, risk officers, "
            "auditors and admins."
        ),
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        inventory.require_reader(request.user)
        now = timezone.now()
        response = StreamingHttpResponse(
            inventory.csv_chunks(inventory.rows(now=now)), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="modelgate-inventory-{now:%Y%m%d}.csv"'
        )
        return response
