"""What is allowed and what it rests on: assessments, policies, promotions and notifications."""

from governance.models.assessments import (
    ACTIVE,
    FINISHED,
    Assessment,
    AssessmentChart,
    AssessmentChunk,
    AssessmentKind,
    AssessmentStatus,
    ChartFormat,
    ImmutableAssessment,
)
from governance.models.findings import (
    SEVERITY_ORDER,
    UNRESOLVED,
    Finding,
    FindingSeverity,
    FindingStatus,
)
from governance.models.immutable import ImmutableRecord, WriteOnceModel
from governance.models.notifications import (
    DUE_STATUSES,
    PROMOTION_EVENTS,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from governance.models.policies import (
    CheckResult,
    EvaluationPurpose,
    Policy,
    PolicyEvaluation,
    PolicyVersion,
)
from governance.models.promotions import (
    ACTIVE_REQUEST,
    CLOSED_REQUEST,
    PromotionRequest,
    PromotionStatus,
    Review,
    ReviewDecision,
    StageChange,
    StageChangeKind,
    TargetStage,
)

__all__ = [
    "ACTIVE",
    "ACTIVE_REQUEST",
    "CLOSED_REQUEST",
    "DUE_STATUSES",
    "FINISHED",
    "PROMOTION_EVENTS",
    "SEVERITY_ORDER",
    "UNRESOLVED",
    "Assessment",
    "AssessmentChart",
    "AssessmentChunk",
    "AssessmentKind",
    "AssessmentStatus",
    "ChartFormat",
    "CheckResult",
    "DeliveryStatus",
    "EvaluationPurpose",
    "Finding",
    "FindingSeverity",
    "FindingStatus",
    "ImmutableAssessment",
    "ImmutableRecord",
    "Policy",
    "PolicyEvaluation",
    "PolicyVersion",
    "PromotionRequest",
    "PromotionStatus",
    "Review",
    "ReviewDecision",
    "StageChange",
    "StageChangeKind",
    "TargetStage",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WriteOnceModel",
]
