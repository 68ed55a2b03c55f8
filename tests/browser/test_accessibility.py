"""axe-core (shipped inside the axe-playwright-python wheel, injected into the page: nothing is
fetched) on the inbox and the request page, signed in as a validator with data present: no
serious or critical violation. Lesser ones are printed; each report is saved as JSON next to
the screenshots."""

import json
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser import selector
from tests.browser.conftest import screenshot_dir

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKING = {"serious", "critical"}


def audit(page: Any, name: str) -> list[dict[str, Any]]:
    """The axe violations of the page as it is now; its report saved as <name>.axe.json."""
    results = Axe().run(page)
    report = results.response
    (screenshot_dir() / f"{name}.axe.json").write_text(json.dumps(report, indent=2))
    assert report.get("passes"), f"axe checked nothing on {name}: {report.get('url')}"
    violations = report["violations"]
    for violation in violations:
        targets = [", ".join(map(str, node["target"])) for node in violation["nodes"]]
        print(
            f"axe {name}: {violation['id']} ({violation['impact']}): {violation['help']} "
            f"-> {targets[:5]}"
        )
    print(
        f"axe {report['testEngine']['name']} {report['testEngine']['version']} on {name}: "
        f"{len(violations)} violations, {len(report['passes'])} rules passed, "
        f"{len(report.get('incomplete', []))} to check by hand "
        f"({', '.join(i['id'] for i in report.get('incomplete', [])) or 'none'})"
    )
    return violations


def blocking(violations: list[dict[str, Any]]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(", ".join(map(str, n["target"])) for n in v["nodes"][:5])
        for v in violations
        if v["impact"] in BLOCKING
    ]


def test_inbox_and_request_page_have_no_serious_violation(
    page: Any, shot: Any, sign_in: Any, finding: Any, validator: Any
) -> None:
    request = finding.promotion_request
    sign_in(page, validator)
    page.goto("/review/")
    page.locator(selector("inbox-row", request_id=str(request.pk))).first.wait_for()
    shot(page, "inbox")
    inbox = audit(page, "test_accessibility-inbox")

    page.goto(f"/review/requests/{request.pk}/")
    page.locator(selector("decision-form")).wait_for()
    shot(page, "request")
    request_page = audit(page, "test_accessibility-request")

    problems = [f"inbox: {p}" for p in blocking(inbox)] + [
        f"request page: {p}" for p in blocking(request_page)
    ]
    assert not problems, "\n".join(problems)
