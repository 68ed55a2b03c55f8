"""Policies as code: the document format, the check types and the evidence they read.

Nothing here touches the database: `document.parse` validates a policy, and every check's
`evaluate` is a pure function of an `EvidenceContext` that `governance.services.evidence`
builds. That keeps verdicts reproducible and checks testable without fixtures.
"""
