"""Reviewer pages benchmark: server time and SQL queries of the inbox, a request page and a
model page with 10k versions and 100 open requests in the database.

    .venv/bin/python bench/pages.py [--versions 10000] [--per-model 10] [--big-model 1000]
        [--requests 100] [--samples 30] [--quick]

Seeds `--versions` model versions with bench/gate.py's helpers (bulk rows: high-risk models of
`--per-model` versions, lineage, three succeeded assessments each, "registered" audit events
chained as trail.record() chains them), plus one model of `--big-model` versions (the model page
measured at that size). Through the services, as the pages' users would: the default policy
pack, a production version for each model that gets a request (open_request + a validator's and
a risk officer's approval), `--requests` open promotion requests (open_request, which runs the
policies once), the validator's approval on a third of them, and a finding on the measured one.

Each page is requested in-process through Django's test Client (URL resolution, middleware,
session, view, services, template rendering: the whole request/response, no socket), signed in
as the validator; `--samples` timed requests after one warm-up. Prints the median and p95, the
SQL query count of one request, and the same page's query count on a small model: the pages
must issue a bounded number of queries whatever the number of rows. Target: median < 150 ms.

Uses DATABASE_URL when set (a throwaway PostgreSQL database: created if missing, migrated and
written to), otherwise a fresh SQLite file in a temporary directory. Asserts nothing about speed;
exits non-zero when a page does not answer 200.
"""

import argparse
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The test client's host; gate.py sets the rest of the environment (settings, temporary var dir).
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

import gate
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from governance.models import PromotionRequest
from governance.services import findings, policies, promotions
from registry.models import ModelVersion, RegisteredModel, Stage

TARGET_MS = 150.0


def open_requests(cast: gate.Cast, models: list[list[int]], approved_share: int = 3) -> list[int]:
    """One request per model for its newest version; every `approved_share`-th one already has
    the validator's approval (so the inbox mixes reviewable and reviewed rows)."""
    opened = []
    for i, versions in enumerate(models):
        version = gate.version_for(versions[-1])
        request = promotions.open_request(
            by=cast.data_scientist,
            version=version,
            target_stage=Stage.PRODUCTION,
            justification=f"retrained on the latest quarter (bench {i})",
        )
        if i % approved_share == 1:
            promotions.review(
                by=cast.validator, request=request, decision="approve", comment="validated"
            )
        opened.append(request.pk)
    return opened


def timed(client: Client, url: str, samples: int) -> tuple[list[float], int, int]:
    """Seconds per request, the status, and the SQL queries of one request."""
    response = client.get(url)  # warm-up: caches, template loading
    status = response.status_code
    if status != 200:
        return [], status, 0
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    # Read now: the next request empties the connection's query log the capture points into.
    queries = len(captured.captured_queries)
    seconds = []
    for _ in range(samples):
        began = time.perf_counter()
        response = client.get(url)
        response.content  # noqa: B018  (a streamed body would be rendered here)
        seconds.append(time.perf_counter() - began)
    return seconds, status, queries


def queries_of(client: Client, url: str) -> int | None:
    with CaptureQueriesContext(connection) as captured:
        status = client.get(url).status_code
    return len(captured.captured_queries) if status == 200 else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, default=10_000, help="model versions to seed")
    parser.add_argument("--per-model", type=int, default=10, help="versions per model")
    parser.add_argument("--big-model", type=int, default=1_000, help="versions of the big model")
    parser.add_argument("--requests", type=int, default=100, help="open promotion requests")
    parser.add_argument("--samples", type=int, default=30, help="timed requests per page")
    parser.add_argument(
        "--quick", action="store_true", help="1,000 versions, 20 requests, 5 samples"
    )
    args = parser.parse_args()
    if args.quick:
        args.versions, args.big_model, args.requests, args.samples = 1_000, 200, 20, 5
    if args.per_model < 2 or args.requests < 2 or args.samples < 2:
        parser.error("--per-model >= 2, --requests >= 2, --samples >= 2")

    if connection.vendor == "postgresql":
        gate.ensure_postgres_database()
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    prefix = f"pages-{uuid.uuid4().hex[:6]}"
    cast = gate.make_cast(prefix)
    policies.install_pack(by=cast.risk_officer)

    # Models that get a request: a production version each (so every request page compares
    # against a baseline), then the request for the newest version.
    with_requests = gate.seed_models(cast, prefix, [args.per_model] * args.requests, start=0)
    big = gate.seed_models(cast, prefix, [args.big_model], start=args.requests)[0]
    rest = max(0, args.versions - args.per_model * args.requests - args.big_model)
    filler = [args.per_model] * (rest // args.per_model) + (
        [rest % args.per_model] if rest % args.per_model else []
    )
    gate.seed_models(cast, prefix, filler, start=args.requests + 1)
    seeded = time.perf_counter() - started

    began = time.perf_counter()
    for versions in [*with_requests, big]:
        gate.cycle(cast, versions[0])
    request_ids = open_requests(cast, with_requests)
    measured = PromotionRequest.objects.select_related("model_version__model").get(
        pk=request_ids[0]
    )
    findings.raise_finding(
        by=cast.validator,
        version=measured.model_version,
        title="Selection rate gap between sexes",
        severity="high",
        description="Demographic parity difference on sex close to the policy's limit.",
        owner=cast.data_scientist,
        request=measured,
    )
    through_services = time.perf_counter() - began
    gate.analyze()

    big_model = ModelVersion.objects.select_related("model").get(pk=big[0]).model
    small_model = measured.model_version.model
    print(
        f"database: {connection.vendor}; {ModelVersion.objects.count():,} model versions in "
        f"{RegisteredModel.objects.count():,} models (bulk-seeded in {seeded:.1f} s), "
        f"{PromotionRequest.objects.filter(status='open').count()} open requests and "
        f"{len(with_requests) + 1} promotions through the services ({through_services:.1f} s); "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"in-process Django test Client, signed in as the validator ({cast.validator}); "
        f"{args.samples} timed requests per page after a warm-up; target median < "
        f"{TARGET_MS:.0f} ms\n"
    )

    client = Client()
    client.force_login(cast.validator)
    requester = Client()
    requester.force_login(cast.data_scientist)
    pages: list[tuple[str, str, Callable[[], int | None] | None, str]] = [
        (
            "inbox /review/ (validator)",
            "/review/",
            lambda: queries_of(requester, "/review/"),
            f"the data scientist's, {args.requests} requests of theirs",
        ),
        (
            "request /review/requests/<id>/ (with a finding)",
            f"/review/requests/{measured.pk}/",
            lambda: queries_of(client, f"/review/requests/{request_ids[2]}/"),
            "another request, no finding",
        ),
        (
            f"model /models/<name>/ ({args.big_model:,} versions)",
            f"/models/{big_model.name}/",
            lambda: queries_of(client, f"/models/{small_model.name}/"),
            f"a model of {args.per_model} versions",
        ),
        (
            "version /models/<name>/versions/<v>/",
            f"/models/{small_model.name}/versions/{measured.model_version.version}/",
            None,
            "",
        ),
    ]
    failed = []
    for title, url, compare, compare_label in pages:
        try:
            seconds, status, queries = timed(client, url, args.samples)
        except Exception as exc:  # a page that crashes is reported, the others still measured
            print(f"== {title}: not measured, {url} raised {type(exc).__name__}: {exc}")
            failed.append(f"{url} -> {type(exc).__name__}")
            continue
        if status != 200:
            print(f"== {title}: not measured, {url} answered {status}")
            failed.append(f"{url} -> {status}")
            continue
        median = statistics.median(seconds) * 1000
        verdict = "ok" if median < TARGET_MS else f"OVER the {TARGET_MS:.0f} ms target"
        print(f"== {title}: {url}")
        print(f"   server time  {gate.figure(seconds)}  [{verdict}]")
        line = f"   SQL queries  {queries}"
        if compare is not None:
            other = compare()
            if other is not None:
                line += f" ({compare_label}: {other})"
        print(line)
    if failed:
        raise SystemExit("pages not measured: " + ", ".join(failed))


if __name__ == "__main__":
    main()
