"""The requester of a promotion sees why they may not decide it, and a forged decision from
their browser is refused by the service, with the same reason, and audited."""

from typing import Any

import pytest
from playwright.sync_api import expect

from audit.models import AuditEvent
from governance.models import PromotionStatus, Review
from tests.browser import selector

pytestmark = pytest.mark.django_db(transaction=True)


def test_requester_sees_no_decision_form_and_a_forged_post_is_refused(
    page: Any, shot: Any, sign_in: Any, open_request: Any, data_scientist: Any
) -> None:
    request = open_request
    sign_in(page, data_scientist)
    page.goto(f"/review/requests/{request.pk}/")
    refusal = page.locator(selector("decision-refusal"))
    expect(refusal).to_have_attribute("data-code", "self_review")
    expect(refusal).to_contain_text("you made this request")
    expect(page.locator(selector("decision-form"))).to_have_count(0)
    expect(page.locator("form button[name=decision]")).to_have_count(0)
    shot(page, "request-requester-refusal")

    # A forged form, built in the page and posted by the browser with the session's cookie and
    # CSRF token: what a person editing the HTML could send.
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    with page.expect_navigation() as navigation:
        page.evaluate(
            """([action, token]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = action;
                for (const [name, value] of Object.entries({
                    csrfmiddlewaretoken: token, decision: "approve", comment: "looks fine to me",
                })) {
                    const input = document.createElement("input");
                    input.type = "hidden";
                    input.name = name;
                    input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            [f"/review/requests/{request.pk}/review/", token],
        )
    response = navigation.value
    assert response is not None and response.status == 403, response and response.status
    expect(page.locator("main")).to_contain_text("you made this request")
    shot(page, "forged-post-refused")

    # The same through the browser context's HTTP client (session cookie, CSRF header).
    answer = page.request.post(
        f"/review/requests/{request.pk}/review/",
        form={"decision": "reject", "comment": "forged"},
        headers={"X-CSRFToken": token, "Referer": page.url},
    )
    assert answer.status == 403
    assert "you made this request" in answer.text()

    request.refresh_from_db()
    assert request.status == PromotionStatus.OPEN
    assert not Review.objects.filter(request=request).exists()
    refused = AuditEvent.objects.filter(
        action="promotion.refused",
        target_type="governance.promotionrequest",
        target_id=str(request.pk),
        actor_username=data_scientist.username,
    ).order_by("id")
    assert [(e.data["decision"], e.data["code"]) for e in refused] == [
        ("approve", "self_review"),
        ("reject", "self_review"),
    ]
    assert "you made this request" in refused[0].data["reason"]
