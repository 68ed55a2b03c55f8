"""Governance gate benchmark: dry-run evaluation, approve-and-promote, concurrent promotions.

    .venv/bin/python bench/gate.py [--versions 10000] [--per-model 10] [--samples 50]
        [--cycles 30] [--clients 8] [--seconds 10 | --promotions N] [--no-http]

Seeds `--versions` registered model versions (high-risk models of `--per-model` versions each,
bulk rows: every version has a trained_on and an evaluated_on lineage edge and three succeeded
assessments whose results have the jobs' shape, from tests/governance/gate_setup.py), installs
the default policy pack, and creates real users with roles (a data scientist of the owning team,
a validator, a risk officer). Everything below runs through the services, as the API calls them:

  dry-run          governance.services.evaluation.evaluate(version, "production") of a high-risk
                   version whose model has a production version (the baseline comparison runs);
                   latency and the number of SQL queries, before and after the bulk of the seed
  approve+promote  promotions.open_request, the validator's approval, the risk officer's approval
                   (the gate re-evaluates in that transaction, promotes, archives the previous
                   production version); the whole cycle and each step, with query counts and,
                   on PostgreSQL, how long the audit chain's lock is held per cycle
  concurrent       `--clients` threads, each with its own database connection, each looping
                   open_request + 2 approvals: (a) on a model of its own, (b) all on one model
                   (serialised by the per-model lock); promotions per second, on PostgreSQL
                   the clients waiting on each kind of lock (sampled from pg_locks), then the
                   invariants: at most one production version per model, completed requests ==
                   promotion StageChange rows, the audit chain verifies, errors by type

When the REST endpoints exist (`/evaluation/`, `/promotion-requests/`), the dry-run and the
cycle are also timed over HTTP through a WSGI server on a loopback socket.

Uses DATABASE_URL when set (a PostgreSQL database is created if it does not exist; use a
throwaway one: it is migrated and written to), otherwise a fresh SQLite file in a temporary
directory. Each seeded version has its "registered" audit event, chained and hashed as
trail.record() does it (in bulk), so the chain verifies at the end.
Prints figures; asserts nothing about speed (it exits non-zero if an invariant is broken).
"""

import argparse
import atexit
import http.client
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="modelgate-bench-gate-"))
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
os.environ.setdefault("MODELGATE_VAR_DIR", str(WORK))
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

# Reviewer e-mails are rendered and sent as usual, into memory (the console mailer would print
# every one of them).
settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit import trail  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from core import locks, roles  # noqa: E402
from core.errors import ModelGateError  # noqa: E402
from core.models import Team  # noqa: E402
from governance.assessments import results_json  # noqa: E402
from governance.models import (  # noqa: E402
    ACTIVE_REQUEST,
    Assessment,
    AssessmentStatus,
    PromotionRequest,
    PromotionStatus,
    StageChange,
    StageChangeKind,
)
from governance.services import evaluation, policies, promotions  # noqa: E402
from registry.models import (  # noqa: E402
    Dataset,
    DatasetVersion,
    EdgeKind,
    LineageEdge,
    ModelVersion,
    RegisteredModel,
    Stage,
)
from tests.governance.gate_setup import (  # noqa: E402
    SENSITIVE,
    explainability_results,
    fairness_results,
    performance_results,
)

BATCH = 2000
PRODUCTION = Stage.PRODUCTION


# --- database and seed ---------------------------------------------------------------------


def ensure_postgres_database() -> None:
    """Create the database DATABASE_URL names if it does not exist yet."""
    import psycopg
    from psycopg import sql

    db = settings.DATABASES["default"]
    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            return
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        print(f"created PostgreSQL database {db['NAME']!r}")


@dataclass
class Cast:
    team: Team
    data_scientist: User
    validator: User
    risk_officer: User
    eval_dataset: DatasetVersion

    def fresh(self) -> "Cast":
        """The same people loaded again: a thread's own user objects (roles are cached on them)."""
        users = User.objects.in_bulk(
            [self.data_scientist.pk, self.validator.pk, self.risk_officer.pk]
        )
        return Cast(
            self.team,
            users[self.data_scientist.pk],
            users[self.validator.pk],
            users[self.risk_officer.pk],
            self.eval_dataset,
        )


def make_cast(prefix: str) -> Cast:
    def user(name: str, role: str) -> User:
        person = User.objects.create_user(
            f"{prefix}-{name}", email=f"{name}@example.org", password=uuid.uuid4().hex
        )
        person.groups.add(Group.objects.get(name=role))
        return person

    team = Team.objects.create(name=prefix, title="Credit risk (bench)")
    dana = user("dana", roles.DATA_SCIENTIST)
    team.members.add(dana)
    vera = user("vera", roles.VALIDATOR)
    rita = user("rita", roles.RISK_OFFICER)
    dataset = Dataset.objects.create(name=f"{prefix}-adult-eval", created_by=dana)
    eval_dataset = DatasetVersion.objects.create(
        dataset=dataset,
        version=1,
        file_key=f"datasets/sha256/ee/{'e' * 64}",
        sha256=uuid.uuid4().hex * 2,
        size=2_000_000,
        file_format="parquet",
        row_count=16_281,
        schema=[{"name": "income", "dtype": "string", "nullable": False}],
        target_column="income",
        sensitive_features=list(SENSITIVE),
        created_by=dana,
    )
    return Cast(team, dana, vera, rita, eval_dataset)


def chain(events: list[tuple[tuple[str, str, str], str, dict[str, Any]]], *, by: User) -> None:
    """Append seeded events to the audit chain in bulk, hashed exactly as trail.record() hashes
    them (so the chain verifies), inside the caller's transaction."""
    locks.serialize("audit.chain")
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    rows = []
    for (target_type, target_id, target_repr), action, data in events:
        row = AuditEvent(
            created_at=timezone.now(),
            actor_id=by.pk,
            actor_username=by.get_username(),
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_repr=target_repr,
            data=data,
            request_id="",
            prev_hash=last or trail.GENESIS_HASH,
        )
        row.hash = last = trail.compute_hash(row)
        rows.append(row)
    AuditEvent.objects.bulk_create(rows, batch_size=BATCH)


def seed_models(cast: Cast, prefix: str, sizes: list[int], start: int) -> list[list[int]]:
    """High-risk models with `sizes[i]` versions each, lineage and evidence: the version ids of
    each model, oldest first."""
    dana = cast.data_scientist
    now = timezone.now()
    seeded: list[list[int]] = []
    # Results differ a little from version to version, as real assessments do.
    shapes = [
        (
            performance_results(roc_auc=0.88 + 0.001 * (k % 10)),
            fairness_results(
                {
                    "sex": {
                        "demographic_parity_difference": 0.04 + 0.002 * (k % 5),
                        "equalized_odds_difference": 0.05,
                    },
                    "race": {
                        "demographic_parity_difference": 0.05,
                        "equalized_odds_difference": 0.06,
                    },
                }
            ),
            explainability_results(0.04 + 0.001 * (k % 7)),
        )
        for k in range(10)
    ]
    digests = {id(r): results_json.sha256(r) for shape in shapes for r in shape}
    chunk = max(1, BATCH // max(1, max(sizes, default=1)))
    for first in range(0, len(sizes), chunk):
        part = sizes[first : first + chunk]
        with transaction.atomic():
            datasets = Dataset.objects.bulk_create(
                [
                    Dataset(name=f"{prefix}-train-{start + first + i}", created_by=dana)
                    for i in range(len(part))
                ]
            )
            train = DatasetVersion.objects.bulk_create(
                [
                    DatasetVersion(
                        dataset=d,
                        version=1,
                        file_key=f"datasets/sha256/00/{d.name}",
                        sha256=uuid.uuid4().hex * 2,
                        size=10_000_000,
                        file_format="parquet",
                        row_count=32_561,
                        schema=[{"name": "income", "dtype": "string", "nullable": False}],
                        target_column="income",
                        sensitive_features=list(SENSITIVE),
                        created_by=dana,
                    )
                    for d in datasets
                ]
            )
            models = RegisteredModel.objects.bulk_create(
                [
                    RegisteredModel(
                        name=f"{prefix}-model-{start + first + i}",
                        title="Income classifier",
                        description="Predicts whether income exceeds 50K.",
                        owner_team=cast.team,
                        risk_tier="high",
                        intended_use="Pre-screening of credit applications, reviewed by a person.",
                        limitations="Trained on 1994 US census data.",
                        tags=["credit", "bench"],
                        created_by=dana,
                    )
                    for i in range(len(part))
                ]
            )
            versions = ModelVersion.objects.bulk_create(
                [
                    ModelVersion(
                        model=model,
                        version=n + 1,
                        artifact_key=f"artifacts/sha256/00/{digest}",
                        artifact_sha256=digest,
                        artifact_size=250_000,
                        artifact_format="skops",
                        artifact_details={"classes": ["sklearn.linear_model.LogisticRegression"]},
                        framework="scikit-learn",
                        feature_names=["age", "education_num", "hours_per_week", "sex", "race"],
                        metrics={"roc_auc": 0.9},
                        code_repository="https://git.example.org/credit/income",
                        code_commit=f"{n + 1:040x}",
                        description=f"retrained, run {n + 1}",
                        created_by=dana,
                    )
                    for model, size in zip(models, part, strict=True)
                    for n in range(size)
                    for digest in [uuid.uuid4().hex * 2]
                ]
            )
            train_of = {m.pk: t for m, t in zip(models, train, strict=True)}
            LineageEdge.objects.bulk_create(
                [
                    LineageEdge(
                        kind=kind,
                        subject_model_version=v,
                        object_dataset_version=dv,
                        created_by=dana,
                    )
                    for v in versions
                    for kind, dv in (
                        (EdgeKind.TRAINED_ON, train_of[v.model_id]),
                        (EdgeKind.EVALUATED_ON, cast.eval_dataset),
                    )
                ]
            )
            Assessment.objects.bulk_create(
                [
                    Assessment(
                        kind=results["kind"],
                        model_version=v,
                        dataset_version=cast.eval_dataset,
                        sensitive_features=[] if results["kind"] == "performance" else SENSITIVE,
                        parameters={},
                        request_key=uuid.uuid4().hex,
                        artifact_sha256=v.artifact_sha256,
                        dataset_sha256=cast.eval_dataset.sha256,
                        status=AssessmentStatus.SUCCEEDED,
                        progress=100,
                        stage="done",
                        results=results,
                        results_sha256=digests[id(results)],
                        requested_by=dana,
                        started_at=now - timedelta(hours=1, minutes=5),
                        finished_at=now - timedelta(hours=1),
                    )
                    for v in versions
                    for results in shapes[v.pk % 10]
                ]
            )
            chain(
                [
                    (
                        ("registry.modelversion", str(v.pk), f"{v.model.name}:{v.version}"),
                        "registry.version.registered",
                        {"artifact_sha256": v.artifact_sha256, "seeded": True},
                    )
                    for v in versions
                ],
                by=dana,
            )
        at = 0
        for size in part:
            seeded.append([v.pk for v in versions[at : at + size]])
            at += size
    return seeded


def analyze() -> None:
    if connection.vendor == "postgresql":
        # What autovacuum does for a live database after a bulk load: fresh planner statistics.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


# --- timing --------------------------------------------------------------------------------


def figure(samples: list[float]) -> str:
    if not samples:
        return "     n/a"
    p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]
    return (
        f"{statistics.median(samples) * 1000:8.1f} ms median, p95 {p95 * 1000:.1f} ms "
        f"(n={len(samples)})"
    )


def count_queries(call: Callable[[], Any]) -> tuple[Any, int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, len(captured.captured_queries), [q["sql"] for q in captured.captured_queries]


def version_for(version_id: int) -> ModelVersion:
    """A version as a view loads it (model and owning team joined)."""
    return ModelVersion.objects.select_related("model__owner_team").get(pk=version_id)


def dry_run(cast: Cast, version: ModelVersion) -> Any:
    return evaluation.evaluate(version, PRODUCTION, by=cast.data_scientist)


STEPS = ("open_request", "validator approves", "risk officer approves (gate + promotion)")


def cycle(
    cast: Cast, version_id: int, queries: bool = False
) -> tuple[list[float], list[list[str]]]:
    """One approve-and-promote cycle; the seconds (and the SQL, when asked) of each step."""
    version = version_for(version_id)
    steps: list[Callable[[Any], Any]] = [
        lambda _: promotions.open_request(
            by=cast.data_scientist,
            version=version,
            target_stage=PRODUCTION,
            justification="retrained on the latest quarter; evidence attached",
        ),
        lambda request: promotions.review(
            by=cast.validator, request=request, decision="approve", comment="validated"
        ),
        lambda request: promotions.review(
            by=cast.risk_officer, request=request, decision="approve", comment="risk accepted"
        ),
    ]
    seconds: list[float] = []
    counts: list[list[str]] = []
    value = None
    for step in steps:
        started = time.perf_counter()
        if queries:
            value, _, sqls = count_queries(lambda step=step, value=value: step(value))
            counts.append(sqls)
        else:
            value = step(value)
        seconds.append(time.perf_counter() - started)
    if value.status != PromotionStatus.COMPLETED:
        raise RuntimeError(f"{version}: request {value.status}: {value.blocking}")
    return seconds, counts


def repeated_queries(sqls: list[str]) -> list[str]:
    """Statements of the same shape (literals masked) issued more than once, other than the
    audit chain's own two per event: where a constant query count could still shrink."""
    import re

    shapes: Counter = Counter()
    for sql in sqls:
        if "audit_auditevent" in sql and sql.lstrip().startswith(("INSERT", 'SELECT "audit')):
            continue
        if "pg_advisory_xact_lock" in sql or sql.startswith(("SAVEPOINT", "RELEASE")):
            continue
        verb = sql.split(None, 1)[0]
        table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql)
        where = re.search(r" WHERE (.*?)(?: ORDER BY| LIMIT| FOR UPDATE|$)", sql)
        shape = f"{verb} {table.group(1) if table else '?'}"
        if where:
            masked = re.sub(r"'[^']*'|\b\d+\b", "?", where.group(1))
            shape += " WHERE " + re.sub(r'"\w+"\.', "", masked)[:90]
        shapes[shape] += 1
    return [f"x{n} {shape}" for shape, n in shapes.most_common() if n > 1]


class AuditLockTimer:
    """PostgreSQL: how long each transaction holds the audit chain's advisory lock, from its
    first audit event to its commit (core.locks.serialize observed while in the block; one
    thread only)."""

    def __init__(self) -> None:
        self.held: list[float] = []
        self._since: float | None = None

    def __enter__(self) -> "AuditLockTimer":
        self._serialize = locks.serialize

        def observed(name: str) -> None:
            self._serialize(name)
            if name == "audit.chain" and self._since is None:
                self._since = time.perf_counter()
                # Registered before the services' own on_commit hooks: runs first after COMMIT.
                transaction.on_commit(self._released)

        locks.serialize = observed
        return self

    def _released(self) -> None:
        if self._since is not None:
            self.held.append(time.perf_counter() - self._since)
        self._since = None

    def __exit__(self, *exc: object) -> None:
        locks.serialize = self._serialize


# --- concurrency ---------------------------------------------------------------------------


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    locks: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


def worker(
    cast: Cast,
    own: list[int],
    start: int,
    barrier: threading.Barrier,
    keep_going: Callable[[], bool],
    run: Run,
) -> None:
    """Loop approve-and-promote over this client's own versions (round robin: the one after the
    version it promoted last is never in production)."""
    from django.db import connection as thread_connection

    try:
        try:
            people = cast.fresh()
        except Exception:
            barrier.abort()
            raise
        position = start
        barrier.wait()
        while keep_going():
            version_id = own[position % len(own)]
            position += 1
            started = time.perf_counter()
            try:
                cycle(people, version_id)
            except ModelGateError as exc:
                with run.lock:
                    run.errors[f"{type(exc).__name__}:{exc.code}"] += 1
                continue
            except Exception as exc:  # counted and shown: the invariants below judge the run
                with run.lock:
                    run.errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1
                continue
            with run.lock:
                run.latencies.append(time.perf_counter() - started)
    finally:
        thread_connection.close()


class LockSampler(threading.Thread):
    """PostgreSQL only: every 20 ms, how many clients wait for the audit chain's advisory lock,
    for a model's promotion lock, or for anything else (row locks)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.samples: list[tuple[int, int, int]] = []
        self.audit_key = zlib.crc32(b"audit.chain")

    def run(self) -> None:
        from django.db import connection as own

        try:
            with own.cursor() as cursor:
                while not self.stop.wait(0.02):
                    cursor.execute(
                        "SELECT locktype = 'advisory' AND objid::bigint = %s, "
                        "locktype = 'advisory' FROM pg_locks "
                        "WHERE NOT granted AND database = "
                        "(SELECT oid FROM pg_database WHERE datname = current_database())",
                        [self.audit_key],
                    )
                    rows = cursor.fetchall()
                    audit = sum(1 for a, _ in rows if a)
                    advisory = sum(1 for _, b in rows if b)
                    self.samples.append((audit, advisory - audit, len(rows) - advisory))
        finally:
            own.close()

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        n = len(self.samples)
        audit, model, other = (sum(s[i] for s in self.samples) / n for i in range(3))
        return (
            f"clients waiting, on average: {audit:.1f} for the audit chain lock, "
            f"{model:.1f} for a model's promotion lock, {other:.1f} for row locks ({n} samples)"
        )


def concurrent(
    cast: Cast, owned: list[list[int]], starts: list[int], seconds: float, total: int
) -> tuple[Run, float]:
    run = Run()
    barrier = threading.Barrier(len(owned) + 1)
    tickets = itertools.count()
    ticket_lock = threading.Lock()
    deadline: list[float] = [0.0]

    def keep_going() -> bool:
        if total:
            with ticket_lock:
                return next(tickets) < total
        return time.perf_counter() < deadline[0]

    threads = [
        threading.Thread(target=worker, args=(cast, own, start, barrier, keep_going, run))
        for own, start in zip(owned, starts, strict=True)
    ]
    sampler = LockSampler() if connection.vendor == "postgresql" else None
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + seconds
    barrier.wait()
    started = time.perf_counter()
    deadline[0] = started + seconds
    if sampler is not None:
        sampler.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if sampler is not None:
        sampler.stop.set()
        sampler.join()
        run.locks = sampler.summary()
    return run, elapsed


def invariants(model_ids: list[int], promoted_before: int, run: Run) -> list[str]:
    """What must hold after a concurrent run; the broken ones, described."""
    broken = []
    doubled = (
        ModelVersion.objects.filter(stage=PRODUCTION)
        .values("model_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    if doubled:
        broken.append(f"{doubled} models have more than one production version")
    completed = PromotionRequest.objects.filter(
        model_id__in=model_ids, status=PromotionStatus.COMPLETED
    ).count()
    changes = StageChange.objects.filter(
        model_id__in=model_ids, kind=StageChangeKind.PROMOTION
    ).count()
    if completed != changes:
        broken.append(f"{completed} completed requests but {changes} promotion StageChange rows")
    if completed - promoted_before != len(run.latencies):
        broken.append(
            f"clients counted {len(run.latencies)} promotions, the database "
            f"{completed - promoted_before}"
        )
    left_open = PromotionRequest.objects.filter(
        model_id__in=model_ids, status__in=ACTIVE_REQUEST
    ).count()
    if left_open and not run.errors:
        broken.append(f"{left_open} requests left open without an error")
    print(
        f"   check: production versions per model <= 1: {'ok' if not doubled else 'BROKEN'}; "
        f"completed requests {completed} == promotion StageChange rows {changes}: "
        f"{'ok' if completed == changes else 'BROKEN'}; requests left open: {left_open}"
    )
    return broken


# --- HTTP (when the endpoints exist) -------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {
            "Authorization": f"Token {token}",
            "Host": "127.0.0.1",
            "Content-Type": "application/json",
        }

    def post(self, path: str, payload: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        self.conn.request("POST", path, body=json.dumps(payload).encode(), headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status >= 400:
            raise RuntimeError(f"POST {path} -> {response.status}: {data[:300]!r}")
        return elapsed, json.loads(data or b"{}")


def endpoints_missing() -> list[str]:
    from django.urls import Resolver404, resolve

    missing = []
    for path in (
        "/api/v1/models/m/versions/1/evaluation/",
        "/api/v1/promotion-requests/",
        "/api/v1/promotion-requests/1/reviews/",
    ):
        try:
            resolve(path)
        except Resolver404:
            missing.append(path)
    return missing


def http_figures(cast: Cast, dry_version: int, rotation: list[int], start: int, args: Any) -> None:
    """The dry-run and the cycle through the REST API; `rotation[start]` is not in production."""
    missing = endpoints_missing()
    if missing:
        print(f"\n== HTTP: not measured, endpoints not present yet: {', '.join(missing)}")
        return
    from django.core.wsgi import get_wsgi_application
    from rest_framework.authtoken.models import Token

    server: WSGIServer = make_server(
        "127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    ds, val, ro = (
        Api(port, Token.objects.get_or_create(user=u)[0].key)
        for u in (cast.data_scientist, cast.validator, cast.risk_officer)
    )
    version = ModelVersion.objects.select_related("model").get(pk=dry_version)
    path = f"/api/v1/models/{version.model.name}/versions/{version.version}/evaluation/"
    dry = [ds.post(path, {"target_stage": PRODUCTION})[0] for _ in range(args.samples)]
    whole, final = [], []
    for i in range(args.cycles):
        version = ModelVersion.objects.select_related("model").get(
            pk=rotation[(start + i) % len(rotation)]
        )
        opened, body = ds.post(
            "/api/v1/promotion-requests/",
            {
                "model": version.model.name,
                "version": version.version,
                "target_stage": PRODUCTION,
                "justification": "retrained on the latest quarter; evidence attached",
            },
        )
        request_id = body.get("id") or (
            PromotionRequest.objects.get(model_version=version, status__in=ACTIVE_REQUEST).pk
        )
        reviews = f"/api/v1/promotion-requests/{request_id}/reviews/"
        first, _ = val.post(reviews, {"decision": "approve", "comment": "validated"})
        last, _ = ro.post(reviews, {"decision": "approve", "comment": "risk accepted"})
        status = PromotionRequest.objects.get(pk=request_id).status
        if status != PromotionStatus.COMPLETED:
            raise RuntimeError(f"HTTP cycle left request {request_id} {status}")
        whole.append(opened + first + last)
        final.append(last)
    server.shutdown()
    print("\n== HTTP/1.1 over loopback to a WSGI server (wsgiref), token authentication")
    print(f"   dry-run POST .../evaluation/      {figure(dry)}")
    print(f"   approve-and-promote (3 POSTs)     {figure(whole)}")
    print(f"   final approval POST .../reviews/  {figure(final)}")


# --- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, default=10_000, help="model versions to seed")
    parser.add_argument("--per-model", type=int, default=10, help="versions per model")
    parser.add_argument("--samples", type=int, default=50, help="dry-run evaluations timed")
    parser.add_argument("--cycles", type=int, default=30, help="approve-and-promote cycles timed")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (threads)")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--seconds", type=float, default=10.0, help="per concurrent scenario")
    limit.add_argument(
        "--promotions", type=int, default=0, help="per concurrent scenario, instead of --seconds"
    )
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP figures")
    args = parser.parse_args()
    if args.per_model < 2 or args.clients < 1 or args.samples < 2 or args.cycles < 2:
        parser.error("--per-model >= 2, --clients >= 1, --samples >= 2, --cycles >= 2")

    if connection.vendor == "postgresql":
        ensure_postgres_database()
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    prefix = f"gate-{uuid.uuid4().hex[:6]}"
    cast = make_cast(prefix)
    policies.install_pack(by=cast.risk_officer)
    applicable = policies.applicable("high", PRODUCTION)

    # The models measured: dry-run, serial cycles, one per client, one shared by all clients.
    hot_size = max(args.per_model, 2 * args.clients)
    sizes = [args.per_model, args.per_model] + [args.per_model] * args.clients + [hot_size]
    measured = seed_models(cast, prefix, sizes, start=0)
    dry_model, serial_model, own_models, hot_model = (
        measured[0],
        measured[1],
        measured[2 : 2 + args.clients],
        measured[-1],
    )
    # Warm-up (untimed): each measured model gets a production version, so every timed
    # promotion archives one and the dry-run compares against a baseline.
    for versions in measured:
        cycle(cast, versions[0])
    dry_version = version_for(dry_model[-1])
    dry_run(cast, dry_version)
    small_total = ModelVersion.objects.count()
    _, small_dry_queries, _ = count_queries(lambda: dry_run(cast, dry_version))
    _, small_cycle_queries = cycle(cast, serial_model[1], queries=True)

    # The bulk: the rest of the versions, in other models.
    rest = max(0, args.versions - sum(sizes))
    filler = [args.per_model] * (rest // args.per_model) + (
        [rest % args.per_model] if rest % args.per_model else []
    )
    seed_models(cast, prefix, filler, start=len(sizes))
    analyze()
    seeded = time.perf_counter() - started
    total = ModelVersion.objects.count()

    print(
        f"database: {connection.vendor}; {total:,} model versions in the database "
        f"({sum(sizes) + rest:,} seeded by this run in {len(sizes) + len(filler):,} high-risk "
        f"models, {Assessment.objects.count():,} assessments, {LineageEdge.objects.count():,} "
        f"lineage edges), seeded and migrated in {seeded:.1f} s; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"policies applicable to high-risk -> production: "
        f"{', '.join(str(v) for v in applicable)} "
        f"({sum(len(v.checks) for v in applicable)} checks)\n"
    )

    # 1. Dry-run evaluation.
    # A dry-run has no request, so only the approvals check may fail: the evidence must pass.
    blocking = [
        b
        for b in evaluation.blocking_reasons(dry_run(cast, dry_version))
        if b["type"] not in ("approvals", "approval_validity")
    ]
    if blocking:
        raise SystemExit(f"the seeded evidence does not pass the gate: {blocking}")
    _, dry_queries, dry_sql = count_queries(lambda: dry_run(cast, dry_version))
    dry = []
    for _ in range(args.samples):
        began = time.perf_counter()
        dry_run(cast, dry_version)
        dry.append(time.perf_counter() - began)
    print(
        "== dry-run evaluation: evaluate(high-risk version, 'production'), stored with audit event"
    )
    print(f"   latency         {figure(dry)}")
    print(
        f"   SQL queries     {dry_queries} at {total:,} versions "
        f"({small_dry_queries} at {small_total:,} versions)"
    )
    for line in repeated_queries(dry_sql):
        print(f"      repeated: {line}")

    # 2. Approve-and-promote, serially.
    steps: list[list[float]] = [[], [], []]
    whole = []
    _, cycle_queries = cycle(cast, serial_model[2], queries=True)
    held: list[float] = []
    for i in range(args.cycles):
        with AuditLockTimer() as timer:
            seconds, _ = cycle(cast, serial_model[(3 + i) % len(serial_model)])
        next_serial = (4 + i) % len(serial_model)
        whole.append(sum(seconds))
        held.append(sum(timer.held))
        for step, value in zip(steps, seconds, strict=True):
            step.append(value)
    print("\n== approve-and-promote (one client): open_request + 2 approvals, archives the")
    print("   previous production version; each cycle promotes the next version of one model")
    print(f"   whole cycle     {figure(whole)}")
    for name, samples, sqls, small in zip(
        STEPS, steps, cycle_queries, small_cycle_queries, strict=True
    ):
        print(f"   {name:<42} {figure(samples)}")
        print(
            f"      {len(sqls)} SQL queries at {total:,} versions ({len(small)} at {small_total:,})"
        )
        for line in repeated_queries(sqls):
            print(f"      repeated: {line}")
    if connection.vendor == "postgresql":
        share = statistics.median(h / w for h, w in zip(held, whole, strict=True))
        print(
            f"   audit chain lock held (first audit event to commit, summed over the 3 "
            f"transactions): {statistics.median(held) * 1000:.1f} ms median per cycle, "
            f"{share:.0%} of the cycle: no two promotions, of any models, overlap there"
        )

    # 3. Concurrent clients.
    print(
        f"\n== {args.clients} concurrent clients (threads, one connection each), "
        + (f"{args.promotions} promotions" if args.promotions else f"{args.seconds:g} s")
        + " per scenario"
    )
    if connection.vendor == "sqlite":
        print(
            "   SQLite: every transaction begins IMMEDIATE and takes the database's single write "
            "lock, so writers serialise whatever model they touch (and the threads share the GIL)"
        )
    else:
        print(
            "   PostgreSQL: the per-model lock is a transaction-level advisory lock; every "
            "transaction that writes an audit event also holds the audit chain's advisory lock "
            "from that event until commit"
        )
    broken: list[str] = []
    # Client k owns its versions; round robin over them, the next one is never in production.
    scenarios = [
        # (a) a model per client, whose first version is in production since the warm-up.
        ("(a) different models", own_models, [1] * args.clients),
        # (b) one model, two versions per client; client 0's first one is in production.
        (
            "(b) one model",
            [[hot_model[k + j * args.clients] for j in range(2)] for k in range(args.clients)],
            [1] + [0] * (args.clients - 1),
        ),
    ]
    for title, owned, starts in scenarios:
        model_ids = list(
            ModelVersion.objects.filter(pk__in=[own[0] for own in owned])
            .values_list("model_id", flat=True)
            .distinct()
        )
        before = PromotionRequest.objects.filter(
            model_id__in=model_ids, status=PromotionStatus.COMPLETED
        ).count()
        run, elapsed = concurrent(cast, owned, starts, args.seconds, args.promotions)
        done = len(run.latencies)
        print(
            f"   {title}: {done} promotions in {elapsed:.2f} s = {done / elapsed:.1f} promotions/s"
        )
        print(f"   cycle latency   {figure(run.latencies)}")
        print(
            "   errors          "
            + (", ".join(f"{k} x{n}" for k, n in run.errors.most_common()) or "none")
        )
        if run.locks:
            print(f"   lock waits      {run.locks}")
        broken += [f"{title}: {b}" for b in invariants(model_ids, before, run)]

    started = time.perf_counter()
    chain = trail.verify_chain()
    print(
        f"\n   audit chain: {chain.event_count} events, "
        f"{'verifies' if chain.valid else 'BROKEN: ' + chain.reason} "
        f"({time.perf_counter() - started:.2f} s)"
    )
    if not chain.valid:
        broken.append(f"audit chain: {chain.reason}")

    print(f"   load average now {os.getloadavg()[0]:.1f}")
    if not args.no_http:
        http_figures(cast, dry_version.pk, serial_model, next_serial, args)
    if broken:
        raise SystemExit("invariants broken:\n  " + "\n  ".join(broken))


if __name__ == "__main__":
    main()
