"""Browser tests (Playwright + Debian's Chromium against the live server); see conftest.py."""

from typing import Any
from urllib.parse import urljoin

# The narrow screenshots' viewport width (a phone).
NARROW = 390


def selector(name: str, **attributes: str) -> str:
    """A CSS selector for a data-testid and data-* attributes:
    selector("check-row", check_id="x") -> [data-testid="check-row"][data-check-id="x"]."""
    css = f'[data-testid="{name}"]'
    for key, value in attributes.items():
        css += f'[data-{key.replace("_", "-")}="{value}"]'
    return css


def submit(page: Any, button: Any) -> Any:
    """Click a form's submit button and wait for its POST's answer and, when that answer sends
    the browser elsewhere (a redirect, or htmx's HX-Redirect), for the page it lands on. Returns
    the POST's response: a plain form post and an htmx one are waited for alike."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        button.click()
    response = posted.value
    target = response.headers.get("location") or response.headers.get("hx-redirect")
    if target:
        page.wait_for_url(urljoin(response.url, target))
    page.wait_for_load_state()
    return response
