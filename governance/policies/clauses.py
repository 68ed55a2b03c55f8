"""The regulatory clauses a policy check can say it evidences.

A check's `clauses` are validated against this catalogue, so a tag cannot be misspelt; the
dossier's regulatory mapping reads titles and coverage from here. SR 26-2 (April 2026, which
replaced SR 11-7) is tagged by theme rather than by section number: the themes follow the
guidance's structure (development and use, validation, monitoring, governance), and the pack's
tags should be re-checked against the published text by the model-risk team that adopts it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    key: str
    title: str
    clauses: dict[str, str]


FRAMEWORKS: tuple[Framework, ...] = (
    Framework(
        "eu-ai-act",
        "EU AI Act (Regulation (EU) 2024/1689)",
        {
            "art-9": "Article 9: risk management system",
            "art-10": "Article 10: data and data governance",
            "art-11": "Article 11: technical documentation",
            "art-12": "Article 12: record-keeping",
            "art-13": "Article 13: transparency and provision of information to deployers",
            "art-14": "Article 14: human oversight",
            "art-15": "Article 15: accuracy, robustness and cybersecurity",
            "annex-iv-1": "Annex IV(1): general description of the AI system",
            "annex-iv-2": "Annex IV(2): elements of the system and its development process",
            "annex-iv-3": "Annex IV(3): monitoring, functioning and control",
            "annex-iv-4": "Annex IV(4): appropriateness of the performance metrics",
            "annex-iv-5": "Annex IV(5): the risk management system",
            "annex-iv-6": "Annex IV(6): relevant changes through the lifecycle",
            "annex-iv-7": "Annex IV(7): harmonised standards applied",
            "annex-iv-8": "Annex IV(8): EU declaration of conformity",
            "annex-iv-9": "Annex IV(9): post-market monitoring",
        },
    ),
    Framework(
        "nist-ai-rmf",
        "NIST AI Risk Management Framework 1.0",
        {
            "govern-1.1": "GOVERN 1.1: legal and regulatory requirements understood and documented",
            "govern-1.4": "GOVERN 1.4: risk management process established through policies",
            "govern-2.1": "GOVERN 2.1: roles and responsibilities documented",
            "map-1.1": "MAP 1.1: intended purposes and context documented",
            "map-2.2": "MAP 2.2: knowledge limits and human oversight documented",
            "measure-2.1": "MEASURE 2.1: test sets, metrics and tools documented",
            "measure-2.3": "MEASURE 2.3: performance measured for deployment-like conditions",
            "measure-2.5": "MEASURE 2.5: the system is demonstrated to be valid and reliable",
            "measure-2.7": "MEASURE 2.7: security and resilience evaluated",
            "measure-2.8": "MEASURE 2.8: transparency and accountability risks examined",
            "measure-2.9": "MEASURE 2.9: the model is explained and its output interpreted",
            "measure-2.11": "MEASURE 2.11: fairness and bias evaluated and documented",
            "manage-1.1": "MANAGE 1.1: whether development or deployment should proceed",
            "manage-4.1": "MANAGE 4.1: post-deployment monitoring plans implemented",
        },
    ),
    Framework(
        "iso-42001",
        "ISO/IEC 42001:2023 Annex A",
        {
            "a.3.2": "A.3.2: AI roles and responsibilities",
            "a.5.2": "A.5.2: AI system impact assessment process",
            "a.6.2.4": "A.6.2.4: AI system verification and validation",
            "a.6.2.5": "A.6.2.5: AI system deployment",
            "a.6.2.6": "A.6.2.6: AI system operation and monitoring",
            "a.6.2.7": "A.6.2.7: AI system technical documentation",
            "a.6.2.8": "A.6.2.8: AI system recording of event logs",
            "a.7.4": "A.7.4: quality of data for AI systems",
            "a.7.5": "A.7.5: data provenance",
            "a.8.2": "A.8.2: system documentation and information for users",
        },
    ),
    Framework(
        "sr-26-2",
        "SR 26-2 model risk management (supersedes SR 11-7)",
        {
            "development": "Model development, implementation and use: design, data, testing",
            "documentation": "Documentation sufficient for independent understanding",
            "validation": "Independent validation: conceptual soundness and outcomes analysis",
            "monitoring": "Ongoing monitoring, with re-review triggered by change and materiality",
            "governance": "Governance, policies and controls: approvals, roles, inventory",
        },
    ),
)

BY_KEY = {framework.key: framework for framework in FRAMEWORKS}


def title_of(tag: str) -> str | None:
    """'eu-ai-act:art-10' -> its title, or None when the catalogue does not know the tag."""
    framework_key, _, clause = tag.partition(":")
    framework = BY_KEY.get(framework_key)
    return framework.clauses.get(clause) if framework else None


def known_tags() -> list[str]:
    return [f"{f.key}:{clause}" for f in FRAMEWORKS for clause in f.clauses]
