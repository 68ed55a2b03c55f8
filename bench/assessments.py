"""Assessment jobs benchmark: each job end to end next to the library call it wraps.

    .venv/bin/python bench/assessments.py [--sizes 16k,100k,1m]
        [--models xgboost,lightgbm,gbm,rf,logistic] [--kinds fairness,performance,explainability]
        [--quick] [--workers-scaling | --no-workers-scaling] [--postgres]

Five model families (300 trees each for the tree models) are trained on UCI Adult with the
categorical columns ordinal-encoded, so that all take the same numeric frame, and registered
through the registry services as a user would upload them (xgboost-json, lightgbm-text, skops).
The Adult test set (16,281 rows), and the same replicated to 100k and 1M rows, is written once
per size as Parquet and registered as a dataset version. For each size, model and kind the
assessment is requested through the service and run in this process with
`governance.jobs.runner.execute` (the model in its sandbox child process, results and charts
stored), then the library call the job wraps is timed here on the same rows:

  fairness        predict_proba + governance.assessments.fairness.fairness_report
                  (sex and race, 100 bootstrap resamples)
  performance     predict_proba + governance.assessments.performance.performance_report
  explainability  the exact native SHAP call the sandbox picks for the family

Model calls here run single-threaded, as the sandbox runs models (SandboxLimits.threads = 1).
Memory: the job process's peak RSS growth over the job (VmHWM reset through /proc/self/clear_refs
before each job), and the sandbox child's peak RSS as the child reports it to the parent.

Then: default `shap.Explainer(model, background)` (interventional Tree SHAP) against the native
exact call for XGBoost and LightGBM; and one large chunked explainability job run by 1 and then 2
Celery workers (Redis on 127.0.0.1:6379/14; the database is a SQLite file in a temporary
directory, or the PostgreSQL database in DATABASE_URL with --postgres). Prints figures; asserts
nothing about speed.
"""

import argparse
import contextlib
import ctypes
import gc
import io
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _assessment_models as bench_models  # noqa: E402

SIZES = {"16k": 0, "100k": 100_000, "1m": 1_000_000}  # 0: the test set as it is
KINDS = ("fairness", "performance", "explainability")
BROKER = "redis://127.0.0.1:6379/14"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="16k,100k,1m", help="of 16k, 100k, 1m")
    parser.add_argument("--models", default=",".join(bench_models.FAMILIES))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument(
        "--quick", action="store_true", help="16k rows only, 30 trees, 5k explained rows"
    )
    parser.add_argument(
        "--workers-scaling",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the 1-vs-2 Celery worker run (default: on, off with --quick)",
    )
    parser.add_argument("--trees", type=int, default=0, help="trees per model (default 300)")
    parser.add_argument(
        "--explain-rows",
        type=int,
        default=100_000,
        help="max_rows of explainability jobs on datasets larger than this (default 100k)",
    )
    parser.add_argument(
        "--forest-explain-rows",
        type=int,
        default=10_000,
        help="max_rows for the random forest at every size: its exact Tree SHAP explains "
        "about 150 rows/s (default 10k)",
    )
    parser.add_argument(
        "--chunk-rows", type=int, default=0, help="explainability chunk_rows (default: service's)"
    )
    parser.add_argument("--bootstrap", type=int, default=100, help="fairness resamples")
    parser.add_argument("--scaling-model", default="xgboost", choices=list(bench_models.FAMILIES))
    parser.add_argument("--scaling-rows", type=int, default=0, help="default 200k (quick: 20k)")
    parser.add_argument("--scaling-chunk-rows", type=int, default=0, help="default rows / 8")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="use the PostgreSQL database in DATABASE_URL (it is migrated and written to)",
    )
    args = parser.parse_args()
    args.sizes = _choices(args.sizes, SIZES, "--sizes")
    args.models = _choices(args.models, bench_models.FAMILIES, "--models")
    args.kinds = _choices(args.kinds, KINDS, "--kinds")
    if args.quick:
        args.sizes = ["16k"]
        args.trees = args.trees or 30
        args.explain_rows = min(args.explain_rows, 5_000)
        args.forest_explain_rows = min(args.forest_explain_rows, 5_000)
    args.trees = args.trees or 300
    if args.workers_scaling is None:
        args.workers_scaling = not args.quick
    args.scaling_rows = args.scaling_rows or (20_000 if args.quick else 200_000)
    args.scaling_chunk_rows = args.scaling_chunk_rows or max(100, args.scaling_rows // 8)
    return args


def _choices(text: str, known: Any, flag: str) -> list[str]:
    chosen = [item.strip().lower() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in known]
    if unknown or not chosen:
        raise SystemExit(f"{flag}: unknown {unknown}; choose from {', '.join(known)}")
    return [item for item in known if item in chosen]  # in the table's order


# Before django.setup(): --postgres decides the database, and the Celery workers started later
# must see the same database, media directory and skops allow-list as this process.
ARGS = parse_args()
WORK = Path(tempfile.mkdtemp(prefix="modelgate-bench-assessments-"))
os.environ["MODELGATE_VAR_DIR"] = str(WORK)
os.environ["MEDIA_ROOT"] = str(WORK / "media")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
os.environ["MODELGATE_JOBS"] = "inline"
os.environ["MODELGATE_SKOPS_TRUSTED_TYPES"] = ",".join(bench_models.SKOPS_TRUSTED_TYPES)
os.environ["LOG_LEVEL"] = "WARNING"
if ARGS.postgres:
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit("--postgres needs DATABASE_URL=postgres://... (a throwaway database)")
else:
    os.environ["DATABASE_URL"] = f"sqlite:///{WORK / 'bench.sqlite3'}"

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from core import roles  # noqa: E402
from core.models import Team  # noqa: E402
from governance.assessments import parameters as assessment_parameters  # noqa: E402
from governance.assessments.fairness import fairness_report  # noqa: E402
from governance.assessments.performance import performance_report  # noqa: E402
from governance.jobs import explain_job, runner  # noqa: E402
from governance.models import Assessment  # noqa: E402
from governance.sandbox import runner as sandbox_runner  # noqa: E402
from governance.services.assessments import request_assessment  # noqa: E402
from registry.models import DatasetVersion, ModelVersion  # noqa: E402
from registry.services.datasets import register_dataset, register_dataset_version  # noqa: E402
from registry.services.models import register_model  # noqa: E402
from registry.services.versions import register_version  # noqa: E402

MB = 1024**2

# --- what the sandbox reports -----------------------------------------------------------------
# The sandbox returns the child's peak RSS and stage durations with every result, but the job
# keeps only model facts in its provenance; they are read here as they pass.
SANDBOX_RUNS: list[dict[str, Any]] = []
_collect = sandbox_runner._collect


def _recording_collect(*args: Any, **kwargs: Any) -> Any:
    output = _collect(*args, **kwargs)
    SANDBOX_RUNS.append(output.details)
    return output


sandbox_runner._collect = _recording_collect


def sandbox_startup(details: dict[str, Any]) -> float:
    """Launch, isolation and library imports: the run's wall time less the operation itself."""
    stages = details.get("stages", {})
    working = details.get("worker_seconds", 0.0) - stages.get("starting", 0.0)
    return max(0.0, details.get("wall_seconds", 0.0) - working)


# --- memory -------------------------------------------------------------------------------------


def _status_kb(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def reset_peak_rss() -> int:
    """Reset this process's VmHWM to its current RSS (Linux), and return that RSS in bytes."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        # Freed heap that glibc keeps would otherwise hide the job's growth inside the baseline.
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError):  # not Linux: the peak then covers the whole process
        Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS") * 1024


def peak_rss() -> int:
    return _status_kb("VmHWM") * 1024


def mb(size: float | None) -> str:
    if size is None:
        return "-"
    return f"{size / MB:,.0f} MB"


# --- setup ----------------------------------------------------------------------------------------


@dataclass
class Measured:
    size: str
    family: str
    kind: str
    rows: int = 0  # rows assessed: the dataset's, or the explained ones
    job_seconds: float = 0.0
    raw_seconds: float = 0.0
    raw_parts: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    sandbox_runs: int = 0
    sandbox_startup: float = 0.0
    job_rss_delta: int = 0
    job_rss_start: int = 0  # this process's RSS when the job started (after trimming the heap)
    child_peak_rss: int = 0
    error: str = ""
    note: str = ""


def bench_user() -> User:
    user = User.objects.create_user("bench", password=uuid.uuid4().hex)
    user.groups.add(Group.objects.get(name=roles.DATA_SCIENTIST))
    team = Team.objects.create(name=f"bench-{uuid.uuid4().hex[:6]}")
    team.members.add(user)
    return user


def register_trained(
    user: User, trained: bench_models.Trained, features: list[str]
) -> ModelVersion:
    model = register_model(
        by=user,
        name=f"adult-{trained.family}",
        owner_team=user.teams.first(),
        risk_tier="high",
    )
    return register_version(
        model,
        by=user,
        artifact=io.BytesIO(trained.artifact),
        artifact_format=trained.artifact_format,
        feature_names=features,
        parameters={"label_encoding": bench_models.LABEL_ENCODING, "model": trained.description},
    )


def register_frame(user: User, frame: pd.DataFrame, label: str) -> DatasetVersion:
    path = bench_models.write_parquet(frame, WORK / f"adult-{label}.parquet")
    dataset = register_dataset(by=user, name=f"adult-{label}")
    with path.open("rb") as handle:
        return register_dataset_version(
            dataset,
            by=user,
            file=handle,
            target_column=bench_models.TARGET,
            sensitive_features=list(bench_models.SENSITIVE.values()),
        )


def parameters_for(kind: str, family: str, rows: int) -> dict[str, Any]:
    if kind == "fairness":
        return {"n_bootstrap": ARGS.bootstrap}
    if kind == "explainability":
        cap = ARGS.forest_explain_rows if family == "rf" else ARGS.explain_rows
        params: dict[str, Any] = {"max_rows": min(cap, rows)}
        if ARGS.chunk_rows:
            params["chunk_rows"] = ARGS.chunk_rows
        return params
    return {}


# --- one job, and its raw twin ----------------------------------------------------------------


def run_job(
    user: User, kind: str, version: ModelVersion, dataset: DatasetVersion, params: dict[str, Any]
) -> tuple[Assessment, float, tuple[int, int], list[dict[str, Any]]]:
    """(assessment, wall seconds, (RSS at start, peak growth), the sandbox runs' details)"""
    sensitive = list(bench_models.SENSITIVE.values()) if kind == "fairness" else None
    assessment = request_assessment(
        by=user,
        kind=kind,
        dataset_version=dataset,
        model_version=version,
        sensitive_features=sensitive,
        parameters=params,
        enqueue=False,
    )
    SANDBOX_RUNS.clear()
    before = reset_peak_rss()
    started = time.perf_counter()
    runner.execute(assessment.pk)
    seconds = time.perf_counter() - started
    grown = max(0, peak_rss() - before)
    assessment.refresh_from_db()
    return assessment, seconds, (before, grown), list(SANDBOX_RUNS)


def raw_call(
    kind: str,
    trained: bench_models.Trained,
    frame: pd.DataFrame,
    features: list[str],
    assessment: Assessment,
) -> tuple[dict[str, float], int, str]:
    """(seconds per part, rows, what was called) for the library calls under the job."""
    if kind == "explainability":
        the_plan = explain_job.plan(assessment)
        rows = the_plan.features.iloc[the_plan.rows].reset_index(drop=True)
        seconds, (_, what) = bench_models.timed(
            lambda: bench_models.native_shap(trained, rows, the_plan.background)
        )
        return {"shap": seconds}, len(rows), what
    X = frame[features]
    y_true = frame[bench_models.TARGET].map(bench_models.LABEL_ENCODING).to_numpy()
    predict_seconds, y_score = bench_models.timed(lambda: bench_models.predict_proba(trained, X))
    params = assessment.parameters
    started = time.perf_counter()  # the job computes reports in its own process, unthrottled
    if kind == "fairness":
        fairness_report(
            y_true=y_true,
            y_score=y_score,
            sensitive=frame[list(bench_models.SENSITIVE.values())],
            task="binary",
            threshold=params["threshold"],
            pos_label=1,
            n_bootstrap=params["n_bootstrap"],
            seed=params["seed"],
            min_group_size=params["min_group_size"],
            confidence=params["confidence"],
        )
        what = "predict_proba + fairness_report"
    else:
        performance_report(
            y_true=y_true,
            y_score=y_score,
            task="binary",
            threshold=params["threshold"],
            pos_label=1,
        )
        what = "predict_proba + performance_report"
    report_seconds = time.perf_counter() - started
    return {"predict": predict_seconds, "report": report_seconds}, len(frame), what


def measure(
    user: User,
    size: str,
    kind: str,
    trained: bench_models.Trained,
    version: ModelVersion,
    dataset: DatasetVersion,
    frame: pd.DataFrame,
    features: list[str],
) -> Measured:
    params = parameters_for(kind, trained.family, len(frame))
    assessment, seconds, (before, grown), runs = run_job(user, kind, version, dataset, params)
    result = Measured(size, trained.family, kind, job_seconds=seconds, job_rss_delta=grown)
    result.job_rss_start = before
    result.timings = dict(assessment.timings)
    result.sandbox_runs = len(runs)
    result.sandbox_startup = sum(sandbox_startup(d) for d in runs)
    result.child_peak_rss = max((int(d.get("peak_rss_bytes", 0)) for d in runs), default=0)
    if assessment.status != "succeeded":
        result.error = f"{assessment.error_code}: {assessment.error_message[:200]}"
        return result
    if kind == "explainability":
        result.rows = int(assessment.provenance["rows_used"])
        method = assessment.results.get("method", {}) if assessment.results else {}
        result.note = str(method.get("explainer", ""))
    else:
        result.rows = len(frame)
    gc.collect()
    result.raw_parts, _, what = raw_call(kind, trained, frame, features, assessment)
    result.raw_seconds = sum(result.raw_parts.values())
    if kind != "explainability":
        result.note = what
    return result


# --- default shap.Explainer against the native exact call --------------------------------------


def default_explainer_comparison(
    trained: bench_models.Trained, frame: pd.DataFrame, features: list[str], rows: int = 500
) -> dict[str, Any]:
    X = frame[features].iloc[:rows]
    background = frame[features].sample(100, random_state=0)
    native_seconds, _ = bench_models.timed(lambda: bench_models.native_shap(trained, X, background))
    default_seconds, _ = bench_models.timed(
        lambda: bench_models.default_shap_explainer(trained, X, background)
    )
    return {
        "family": trained.family,
        "rows": rows,
        "native": rows / native_seconds,
        "default": rows / default_seconds,
        "speedup": default_seconds / native_seconds,
    }


# --- Celery workers -------------------------------------------------------------------------------


def redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def start_worker(queue: str, index: int) -> tuple[subprocess.Popen, Path]:
    env = {
        **os.environ,
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "MODELGATE_JOBS": "celery",
        "LOG_LEVEL": "INFO",
    }
    log = WORK / f"worker-{queue}-{index}.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        queue,
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"{queue}-{index}@%h",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def stop_worker(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the worker and its children
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def wait_ready(logs: list[Path], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(" ready." in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.2)
    raise RuntimeError(f"Celery workers not ready after {timeout} s; see {logs}")


def wait_finished(
    assessment: Assessment, workers: list[tuple[subprocess.Popen, Path]], timeout: float = 3600
) -> None:
    """Until the assessment ends; a worker that died or a task nobody took ends the wait."""
    deadline = time.monotonic() + timeout
    queued_until = time.monotonic() + 120
    while True:
        assessment.refresh_from_db()
        if assessment.status in ("succeeded", "failed"):
            return
        dead = [process.pid for process, _ in workers if process.poll() is not None]
        stuck = assessment.status == "queued" and time.monotonic() > queued_until
        if dead or stuck or time.monotonic() > deadline:
            tail = workers[0][1].read_text(errors="replace")[-2000:]
            raise RuntimeError(
                f"assessment {assessment.pk} is {assessment.status} ({assessment.stage}); "
                f"dead workers {dead}; first worker's log ends:\n{tail}"
            )
        time.sleep(0.2)


def scaling_run(
    user: User, version: ModelVersion, dataset: DatasetVersion, workers: int
) -> dict[str, Any]:
    from config.celery import app

    queue = f"modelgate-bench-{uuid.uuid4().hex[:10]}"
    started_workers = [start_worker(queue, i) for i in range(workers)]
    previous = (
        settings.MODELGATE_JOBS,
        settings.CELERY_BROKER_URL,
        app.conf.broker_url,
        app.conf.task_default_queue,
    )
    try:
        wait_ready([log for _, log in started_workers])
        settings.MODELGATE_JOBS, settings.CELERY_BROKER_URL = "celery", BROKER
        app.conf.broker_url, app.conf.task_default_queue = BROKER, queue
        started = time.perf_counter()
        assessment = request_assessment(
            by=user,
            kind="explainability",
            dataset_version=dataset,
            model_version=version,
            parameters={
                "max_rows": ARGS.scaling_rows,
                "chunk_rows": ARGS.scaling_chunk_rows,
                "seed": workers,  # a new request each time, never "already running"
            },
        )
        wait_finished(assessment, started_workers)
        seconds = time.perf_counter() - started
    finally:
        settings.MODELGATE_JOBS, settings.CELERY_BROKER_URL = previous[:2]
        app.conf.broker_url, app.conf.task_default_queue = previous[2:]
        for process, _ in started_workers:
            stop_worker(process)
    chunks = list(assessment.chunks.all())
    return {
        "workers": workers,
        "status": assessment.status,
        "error": assessment.error_message[:300],
        "seconds": seconds,
        "rows": ARGS.scaling_rows,
        "chunks": len(chunks),
        "chunk_seconds": sum(c.seconds or 0.0 for c in chunks),
        "by_worker": sorted(
            {
                w: sum(1 for c in chunks if c.worker == w) for w in {c.worker for c in chunks}
            }.values()
        ),
    }


# --- printing ---------------------------------------------------------------------------------------


def print_results(results: list[Measured]) -> None:
    header = (
        f"{'size':>5} {'model':<9} {'kind':<14} {'rows':>9} {'job s':>8} {'rows/s':>10} "
        f"{'raw s':>8} {'job/raw':>8} {'start-up s':>10} {'job RSS +':>10} {'child peak':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.error:
            print(f"{r.size:>5} {r.family:<9} {r.kind:<14} FAILED {r.error}")
            continue
        ratio = r.job_seconds / r.raw_seconds if r.raw_seconds else float("nan")
        print(
            f"{r.size:>5} {r.family:<9} {r.kind:<14} {r.rows:>9,} {r.job_seconds:>8.2f} "
            f"{r.rows / r.job_seconds:>10,.0f} {r.raw_seconds:>8.2f} {ratio:>7.1f}x "
            f"{r.sandbox_startup:>10.1f} {mb(r.job_rss_delta):>10} {mb(r.child_peak_rss):>10}"
        )
    print()
    print(
        "Where the job's time goes (job timings in s; RSS start: this process's RSS when the "
        "job began, the base of 'job RSS +'; runs: sandbox runs; raw parts timed here):"
    )
    header = (
        f"{'size':>5} {'model':<9} {'kind':<14} {'read':>6} {'predict':>8} {'compute':>8} "
        f"{'shap':>7} {'charts':>7} {'total':>7} | {'RSS start':>9} {'runs':>4} {'raw parts'}"
    )
    print(header)
    print("-" * (len(header) + 30))
    for r in results:
        t = r.timings
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r.raw_parts.items())
        print(
            f"{r.size:>5} {r.family:<9} {r.kind:<14} {t.get('read_dataset', 0):>6.2f} "
            f"{t.get('predict', 0):>8.2f} {t.get('compute', 0):>8.2f} {t.get('shap', 0):>7.2f} "
            f"{t.get('charts', 0):>7.2f} {t.get('total', 0):>7.2f} | {mb(r.job_rss_start):>9} "
            f"{r.sandbox_runs:>4} {parts}" + (f"  [{r.note}]" if r.note else "")
        )


def code_state() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    changed = [line for line in git("status", "--porcelain").splitlines() if line]
    return f"commit {git('rev-parse', '--short', 'HEAD')}" + (
        f" with {len(changed)} uncommitted change(s)" if changed else ""
    )


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    call_command("migrate", verbosity=0)
    user = bench_user()
    print(f"database: {connection.vendor}; work directory: {WORK} (removed when done)")
    print(f"code: {code_state()}; load average at start: {load()}")
    print(
        f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; sandbox threads: 1; "
        f"skops trusted types added: {', '.join(bench_models.SKOPS_TRUSTED_TYPES)}"
    )
    adult = bench_models.load_adult()
    features = adult.features
    trained: dict[str, bench_models.Trained] = {}
    versions: dict[str, ModelVersion] = {}
    families = list(
        dict.fromkeys([*ARGS.models, *([ARGS.scaling_model] if ARGS.workers_scaling else [])])
    )
    print(
        f"\nmodels (trained on {len(adult.X_train):,} Adult rows, {len(features)} numeric features):"
    )
    for family in families:
        trained[family] = bench_models.train(family, adult, trees=ARGS.trees)
        versions[family] = register_trained(user, trained[family], features)
        t = trained[family]
        print(
            f"  {family:<9} {bench_models.FAMILIES[family]}; {t.description}; "
            f"{len(t.artifact) / MB:.1f} MB artifact; test ROC AUC {t.test_auc:.3f}; "
            f"trained in {t.seconds:.1f} s"
        )
    chunk_default = assessment_parameters.BY_KIND["explainability"]["chunk_rows"].default
    default_chunk_rows = f"service default ({chunk_default:,})"
    print(
        f"\nexplainability max_rows: all rows up to {ARGS.explain_rows:,}, then "
        f"{ARGS.explain_rows:,} sampled; random forest capped at {ARGS.forest_explain_rows:,} "
        f"at every size. chunk_rows: "
        f"{ARGS.chunk_rows or default_chunk_rows}. fairness: sex and race, "
        f"{ARGS.bootstrap} bootstrap resamples. rows/s counts explained rows for explainability."
    )

    # Warm-up: the first job of a process imports matplotlib, Fairlearn and SHAP; a long-running
    # worker has paid that once.
    warm = register_frame(user, adult.test.iloc[:1000], "warm-up")
    for kind in ARGS.kinds:
        run_job(user, kind, versions[families[0]], warm, parameters_for(kind, families[0], 1000))

    results: list[Measured] = []
    frames: dict[str, pd.DataFrame] = {}
    print(f"\nrunning {len(ARGS.sizes) * len(ARGS.models) * len(ARGS.kinds)} jobs...", flush=True)
    for size in ARGS.sizes:
        frame = bench_models.replicate(adult.test, SIZES[size] or len(adult.test))
        if size == "16k":
            frames[size] = frame
        dataset = register_frame(user, frame, size)
        for family in ARGS.models:
            for kind in ARGS.kinds:
                result = measure(
                    user, size, kind, trained[family], versions[family], dataset, frame, features
                )
                results.append(result)
                status = result.error or (
                    f"job {result.job_seconds:.1f} s, raw {result.raw_seconds:.1f} s"
                )
                print(f"  {size} {family} {kind}: {status}", flush=True)
        del frame
        gc.collect()

    print("\n== Assessment jobs against the library calls they wrap")
    print(
        "job s: runner.execute wall time; raw s: the library calls alone, here, on the same rows; "
        "start-up s: sandbox launch + isolation + library imports, summed over the job's "
        "sandbox runs; job RSS +: this process's peak RSS growth during the job; child peak: "
        "the sandbox child's peak RSS (largest run).\n"
    )
    print_results(results)

    comparisons = []
    test = frames.get("16k", adult.test)
    for family in ("xgboost", "lightgbm"):
        if family in trained and "explainability" in ARGS.kinds:
            comparisons.append(default_explainer_comparison(trained[family], test, features))
    if comparisons:
        print("\n== Exact native Tree SHAP against default shap.Explainer(model, background)")
        print("   (interventional Tree SHAP, 100 background rows; 500 rows; single-threaded)")
        for c in comparisons:
            print(
                f"  {c['family']:<9} native {c['native']:>9,.0f} rows/s   default "
                f"{c['default']:>7,.0f} rows/s   native is {c['speedup']:.1f}x faster"
            )

    if ARGS.workers_scaling:
        print(
            f"\n== Chunked explainability with Celery workers: {ARGS.scaling_model}, "
            f"{ARGS.scaling_rows:,} explained rows, chunk_rows {ARGS.scaling_chunk_rows:,}"
        )
        if not redis_up():
            print("  skipped: Redis is not running on 127.0.0.1:6379")
        else:
            frame = bench_models.replicate(adult.test, ARGS.scaling_rows)
            dataset = register_frame(user, frame, f"scaling-{ARGS.scaling_rows}")
            del frame
            runs = [scaling_run(user, versions[ARGS.scaling_model], dataset, n) for n in (1, 2)]
            for run in runs:
                if run["status"] != "succeeded":
                    print(f"  {run['workers']} worker(s): {run['status']} {run['error']}")
                    continue
                print(
                    f"  {run['workers']} worker(s): {run['seconds']:6.1f} s wall, "
                    f"{run['rows'] / run['seconds']:,.0f} rows/s; {run['chunks']} chunks "
                    f"(per worker {run['by_worker']}), {run['chunk_seconds']:.1f} s of chunk work"
                )
            if all(r["status"] == "succeeded" for r in runs):
                print(f"  speed-up with 2 workers: {runs[0]['seconds'] / runs[1]['seconds']:.2f}x")

    print("\n== Summary")
    for r in results:
        if r.size == "1m" and r.kind == "fairness" and not r.error:
            print(
                f"  1M-row fairness, {ARGS.bootstrap} resamples, {r.family}: job process peak "
                f"+{mb(r.job_rss_delta)}, sandbox child peak {mb(r.child_peak_rss)}, "
                f"{r.job_seconds:.1f} s"
            )
    worst = sorted(
        (r for r in results if not r.error and r.raw_seconds),
        key=lambda r: r.job_seconds / r.raw_seconds,
    )
    if worst:
        over = [r for r in worst if r.job_seconds / r.raw_seconds > 1.3]
        print(f"  {len(over)} of {len(worst)} jobs over 1.3x their raw calls.")
        startups = [r.sandbox_startup / r.sandbox_runs for r in worst if r.sandbox_runs]
        print(f"  sandbox start-up per run: median {float(np.median(startups)):.1f} s")
    print(f"  load average at the end: {load()} (other processes share these cores)")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(f"  largest child process over the whole run (RUSAGE_CHILDREN ru_maxrss): {mb(children)}")
    connection.close()
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
