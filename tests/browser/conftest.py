"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

The browser is the system's (`apt-get install chromium`, done by .ci/run when missing), never
one that Playwright downloads. One browser per session, a fresh context (cookies, storage) per
test. Data is made by fixtures through the services and committed (`transactional_db`): the live
server answers from its own thread and database connection.

Screenshots of every page a test visits go to $MODELGATE_SCREENSHOTS (default
artifacts/screenshots in the checkout), named `<test>-<nn>-<name>.png`; CI keeps the folder.
"""

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser import submit

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# there in between (fixtures, assertions on the audit trail) are plain synchronous calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
# Every wait fails after this: a missing selector is reported in seconds, not after 30 s.
TIMEOUT_MS = 10_000
PASSWORD = "correct horse battery staple"  # tests/factories.py UserFactory's; sign_in sets it


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        reason = (
            "Debian's chromium is not installed (apt-get install -y --no-install-recommends "
            "chromium fonts-dejavu-core; .ci/run does it); Playwright never downloads a browser"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs it: a skip there would hide the acceptance tests
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def base_url(live_server: Any) -> str:
    return live_server.url


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[Any]:
    """A page in a context of its own; uncaught JavaScript errors and requests to any host but
    the live server fail the test."""
    context = browser.new_context(viewport=VIEWPORT, base_url=base_url, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    # Pages are self-contained (vendored htmx, local CSS, no CDN): anything else is refused
    # and fails the test.
    outside: list[str] = []

    def only_the_live_server(route: Any) -> None:
        url = route.request.url
        if url.startswith((base_url, "data:", "blob:", "about:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", only_the_live_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
    assert not outside, f"the pages requested other hosts: {outside}"


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("MODELGATE_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


Shot = Callable[..., Path]


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shot:
    """shot(page, name, width=None): a full-page screenshot, numbered in the test's order;
    `width` takes it at that viewport width (then restores the viewport)."""
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    taken = 0

    def take(page: Any, name: str, *, width: int | None = None) -> Path:
        nonlocal taken
        taken += 1
        path = screenshot_dir() / f"{test}-{taken:02d}-{name}.png"
        if width is not None:
            page.set_viewport_size({"width": width, "height": VIEWPORT["height"]})
        try:
            page.screenshot(path=str(path), full_page=True)
            if width is not None:
                # Usable on a narrow screen: wide tables scroll in their own box, the page
                # itself never scrolls sideways.
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width, f"{name}: {scroll_width} px wide at {width} px"
        finally:
            if width is not None:
                page.set_viewport_size(VIEWPORT)
        return path

    return take


SignIn = Callable[[Any, Any], None]


@pytest.fixture
def sign_in() -> SignIn:
    """sign_in(page, user): signs out whoever was signed in (fresh cookies) and signs `user` in
    through the login form, as a person would."""

    def signin(page: Any, user: Any) -> None:
        if not user.check_password(PASSWORD):  # a user not made by UserFactory
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        page.context.clear_cookies()
        page.goto("/accounts/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", PASSWORD)
        submit(page, page.get_by_role("button", name="Sign in"))
        signed_in = page.locator("[data-testid=signed-in-user]")
        assert signed_in.inner_text().strip() == user.get_username(), page.url

    return signin


# --- data, made through the services (committed: the live server reads it) ----------------


@dataclass
class Story:
    """A high-risk model whose v1 is in production (promoted through the services) and whose
    v2, registered by the data scientist, has complete evidence but fails the fairness check."""

    model: Any
    production: Any
    candidate: Any

    def version_url(self, version: Any) -> str:
        return f"/models/{self.model.name}/versions/{version.version}/"

    @property
    def model_url(self) -> str:
        return f"/models/{self.model.name}/"


# Above the shipped high-risk pack's demographic parity limit (0.10) on `sex`.
FAILING_FAIRNESS = {
    "sex": {"demographic_parity_difference": 0.18, "equalized_odds_difference": 0.07},
    "race": {"demographic_parity_difference": 0.06, "equalized_odds_difference": 0.05},
}


@pytest.fixture
def story(team: Any, data_scientist: Any, validator: Any, risk_officer: Any) -> Story:
    from governance.services import promotions
    from registry.models import Stage
    from tests.governance.gate_setup import (
        fairness_results,
        full_evidence,
        governed_version,
        install_default_pack,
    )

    install_default_pack(risk_officer)
    v1 = governed_version(registrant=data_scientist, team=team, description="first release")
    full_evidence(v1)
    first = promotions.open_request(
        by=data_scientist,
        version=v1,
        target_stage=Stage.PRODUCTION,
        justification="first release of the income classifier",
    )
    promotions.review(by=validator, request=first, decision="approve", comment="validated")
    promotions.review(by=risk_officer, request=first, decision="approve", comment="accepted")
    v1.refresh_from_db()
    assert v1.stage == Stage.PRODUCTION, "the setup's first promotion did not complete"
    v2 = governed_version(
        registrant=data_scientist, team=team, model=v1.model, description="retrained"
    )
    full_evidence(v2, fairness=fairness_results(FAILING_FAIRNESS))
    return Story(model=v1.model, production=v1, candidate=v2)


@pytest.fixture
def open_request(story: Story, data_scientist: Any) -> Any:
    """The data scientist's open request to promote v2 to production."""
    from governance.services import promotions

    return promotions.open_request(
        by=data_scientist,
        version=story.candidate,
        target_stage="production",
        justification="retrained on the latest quarter",
    )


@pytest.fixture
def finding(open_request: Any, validator: Any, data_scientist: Any) -> Any:
    """A high-severity finding the validator raised on the request, owned by the data
    scientist."""
    from governance.services import findings

    return findings.raise_finding(
        by=validator,
        version=open_request.model_version,
        title="Selection rate gap between sexes",
        severity="high",
        description="Demographic parity difference on sex is above the policy's limit.",
        owner=data_scientist,
        due_date=date.today() + timedelta(days=14),
        request=open_request,
    )
