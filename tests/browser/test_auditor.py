"""An auditor opens every page and can change nothing: no form that posts (the sign-out form
aside) and no htmx action, only the read-only GET filters."""

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser import NARROW, selector

pytestmark = pytest.mark.django_db(transaction=True)

# GET forms only filter or query what is shown; none of them changes anything.
READ_ONLY_FORMS = {"inbox-filters", "catalogue-filters", "stage-at-form"}
HTMX_WRITES = "[hx-post], [hx-put], [hx-patch], [hx-delete]"


def test_auditor_opens_every_page_and_has_no_action(
    page: Any, shot: Any, sign_in: Any, story: Any, finding: Any, auditor: Any
) -> None:
    request = finding.promotion_request
    pages = {
        "inbox": "/review/",
        "request": f"/review/requests/{request.pk}/",
        "catalogue": "/models/",
        "model": story.model_url,
        "version": story.version_url(story.candidate),
        "production-version": story.version_url(story.production),
        "finding": f"/findings/{finding.pk}/",
    }
    sign_in(page, auditor)
    for name, url in pages.items():
        response = page.goto(url)
        assert response is not None and response.status == 200, (url, response and response.status)
        shot(page, name)
        shot(page, f"{name}-narrow", width=NARROW)  # and no sideways scrolling at 390 px
        forms = page.locator("form").evaluate_all(
            """forms => forms.map(f => ({
                method: (f.getAttribute("method") || "get").toLowerCase(),
                action: f.getAttribute("action") || "",
                testid: f.dataset.testid || "",
            }))"""
        )
        posting = [f for f in forms if f["method"] != "get"]
        assert [f["action"] for f in posting] == ["/accounts/logout/"], (url, posting)
        assert {f["testid"] for f in forms if f["method"] == "get"} <= READ_ONLY_FORMS, (url, forms)
        expect(page.locator(HTMX_WRITES)).to_have_count(0)

    page.goto(pages["request"])
    expect(page.locator(selector("decision-form"))).to_have_count(0)
    expect(page.locator(selector("decision-refusal"))).to_have_attribute(
        "data-code", "not_a_reviewer"
    )
    expect(page.locator(selector("re-evaluate"))).to_have_count(0)
    expect(page.locator(selector("finding", finding_id=str(finding.pk)))).to_be_visible()
