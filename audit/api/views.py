"""Read-only audit trail API and chain verification."""

from typing import Any

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from audit import trail
from audit.models import AuditEvent


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    class Meta:
        model = AuditEvent
        fields = [
            "id", "created_at", "actor_id", "actor_username", "action", "target_type",
            "target_id", "target_repr", "data", "request_id", "prev_hash", "hash",
        ]  # fmt: skip
        read_only_fields = fields


class ChainVerificationSerializer(serializers.Serializer[Any]):
    valid = serializers.BooleanField()
    event_count = serializers.IntegerField()
    head_hash = serializers.CharField()
    first_event_id = serializers.IntegerField(allow_null=True)
    last_event_id = serializers.IntegerField(allow_null=True)
    first_bad_event_id = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.CharFilter(field_name="actor_username")
    action = django_filters.CharFilter(field_name="action", lookup_expr="startswith")
    since = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = AuditEvent
        fields = ["target_type", "target_id", "actor", "action", "request_id", "since", "until"]


class AuditEventViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[AuditEvent]
):
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    ordering_fields = ["id", "created_at"]
    queryset = AuditEvent.objects.order_by("id")

    @extend_schema(responses=ChainVerificationSerializer)
    @action(detail=False, methods=["get"])
    def verify(self, request: Request) -> Response:
        return Response(trail.verify_chain().as_dict())
