"""Policies, promotion requests, reviews, evaluations, stage history and findings in the admin.

Every row here is read-only for every role, admins included: policies change by saving a new
version through `policies.save_policy`, requests move through `promotions.*`, evaluations and
stage changes are written by the gate. The actions and buttons collect what a service
needs (a comment, a reason, a document) and call it; its refusal is shown as the page's error,
and it records the refused attempt in the audit trail itself.

The model version admin (registry's, already extended with assessments in governance.admin) is
extended once more: a dry run of the production policies, a promotion request, demotion, and the
version's stage history.

Imported once, from the end of governance.admin: the model version admin extended in
`versions` is the one registered there.
"""

from governance.admin_governance import evaluations, findings, policies, promotions, steps, versions

__all__ = ["evaluations", "findings", "policies", "promotions", "steps", "versions"]
