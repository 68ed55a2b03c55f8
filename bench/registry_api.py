"""Registry API benchmark: median latencies over real HTTP, and the audit chain's verify rate.

    .venv/bin/python bench/registry_api.py [--sizes 1000 10000] [--samples 50]

For each size it seeds that many model versions (rows plus one audit event each, written through
audit.trail.record so the chain is real), then times create-version (multipart upload of a real
skops artifact, inspected and stored), get-version and list-versions (page of 50) through a WSGI
server on a loopback socket, and times `verify_chain()` over the whole trail. Uses DATABASE_URL
when set (e.g. PostgreSQL), otherwise a fresh SQLite file in a temporary directory. Prints figures;
asserts nothing about speed.
"""

import argparse
import http.client
import io
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="modelgate-bench-"))
os.environ.setdefault("MODELGATE_VAR_DIR", str(WORK))
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from audit import trail  # noqa: E402
from core import roles  # noqa: E402
from core.models import Team  # noqa: E402
from registry.models import ModelVersion, RegisteredModel  # noqa: E402


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def skops_artifact() -> bytes:
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return skops.io.dumps(LogisticRegression().fit(X, y))


def multipart(fields: dict[str, str], file_field: str, payload: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    body.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="m.skops"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    body.write(payload + f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


class Api:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Token {token}", "Host": "127.0.0.1"}

    def call(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> float:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status}: {data[:300]!r}")
        return elapsed


def seed_versions(model: RegisteredModel, user: User, upto: int, template: ModelVersion) -> None:
    """Bring the model to `upto` versions: bulk rows, one real audit event each."""
    have = model.versions.count()
    batch = 1000
    while have < upto:
        n = min(batch, upto - have)
        with transaction.atomic():
            rows = ModelVersion.objects.bulk_create(
                [
                    ModelVersion(
                        model=model,
                        version=have + i + 1,
                        artifact_key=template.artifact_key,
                        artifact_sha256=template.artifact_sha256,
                        artifact_size=template.artifact_size,
                        artifact_format=template.artifact_format,
                        artifact_details=template.artifact_details,
                        feature_names=template.feature_names,
                        metrics={"roc_auc": 0.8},
                        created_by=user,
                    )
                    for i in range(n)
                ]
            )
            for row in rows:
                trail.record(
                    ("registry.modelversion", str(row.pk), f"{model.name}:{row.version}"),
                    "registry.version.registered",
                    by=user,
                    data={"artifact_sha256": row.artifact_sha256, "seeded": True},
                )
        have += n


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms (p90 {statistics.quantiles(samples, n=10)[-1] * 1000:.1f} ms)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password=uuid.uuid4().hex)
    user.groups.add(Group.objects.get(name=roles.DATA_SCIENTIST))
    team = Team.objects.create(name=f"bench-{uuid.uuid4().hex[:6]}")
    team.members.add(user)
    token = Token.objects.create(user=user).key
    model_name = f"bench-{uuid.uuid4().hex[:6]}"

    server: WSGIServer = make_server(
        "127.0.0.1", 0, get_wsgi_application(), handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = Api(server.server_port, token)
    artifact = skops_artifact()
    import json

    body = json.dumps({"name": model_name, "owner_team": team.name, "risk_tier": "high"}).encode()
    api.call("POST", "/api/v1/models/", body, "application/json")
    upload, ctype = multipart({"artifact_format": "skops"}, "artifact", artifact)
    api.call("POST", f"/api/v1/models/{model_name}/versions/", upload, ctype)
    model = RegisteredModel.objects.get(name=model_name)
    template = model.versions.get()

    print(
        f"database: {connection.vendor}; artifact: {len(artifact)} bytes skops LogisticRegression"
    )
    print(
        f"samples per figure: {args.samples}; HTTP/1.1 over loopback to a WSGI server (wsgiref)\n"
    )
    for size in sorted(args.sizes):
        started = time.perf_counter()
        seed_versions(model, user, size, template)
        seeded = time.perf_counter() - started
        if connection.vendor == "postgresql":
            # What autovacuum does for a live database after a bulk load: fresh planner statistics.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        create = []
        for _ in range(args.samples):
            upload, ctype = multipart(
                {"artifact_format": "skops", "metrics": '{"roc_auc": 0.81}'}, "artifact", artifact
            )
            create.append(api.call("POST", f"/api/v1/models/{model_name}/versions/", upload, ctype))
        total = model.versions.count()
        get = [
            api.call("GET", f"/api/v1/models/{model_name}/versions/{1 + (i * 7919) % total}/")
            for i in range(args.samples * 4)
        ]
        listing = [
            api.call(
                "GET",
                f"/api/v1/models/{model_name}/versions/?page={1 + i % max(1, total // 50)}&page_size=50",
            )
            for i in range(args.samples)
        ]
        started = time.perf_counter()
        result = trail.verify_chain()
        verify_seconds = time.perf_counter() - started
        assert result.valid, result
        print(f"== {total} versions (seeded in {seeded:.1f} s)")
        print(f"   create-version  {median_ms(create)}")
        print(f"   get-version     {median_ms(get)}")
        print(f"   list-versions   {median_ms(listing)}  (page_size=50)")
        print(
            f"   verify chain    {result.event_count} events in {verify_seconds:.2f} s = "
            f"{result.event_count / verify_seconds:,.0f} events/s"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
