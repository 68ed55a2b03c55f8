"""manage.py assess: request an assessment, run it (or wait for a worker), show its key results."""

import json
import threading
import time
from typing import Any

from django.core.files.storage import default_storage
from django.core.management.base import CommandError, CommandParser
from django.db import close_old_connections, connections
from django.urls import reverse

from core.commands import ActorCommand
from governance.models import Assessment, AssessmentKind, AssessmentStatus
from governance.services.assessments import request_assessment
from registry import refs

POLL_SECONDS = 0.3
BAR_WIDTH = 30
TOP_FEATURES = 10


def _parameter(text: str) -> tuple[str, Any]:
    """`key=value`; the value is read as JSON when it is JSON (numbers, true, "text"), else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise CommandError(f"--param must look like key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def _url(assessment_id: int) -> str:
    return reverse("api:assessment-detail", kwargs={"pk": assessment_id})


def _plain(text: str) -> str:
    return text


def _stored_at(key: str) -> str:
    try:
        return default_storage.path(key)
    except NotImplementedError:  # object storage: the key is all there is
        return key


def progress_bar(progress: int, stage: str) -> str:
    filled = BAR_WIDTH * max(0, min(100, progress)) // 100
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress:3d}% {stage}"


class Command(ActorCommand):
    actor_help = "who requests it (checked like an API request; recorded in the audit trail)"
    help = (
        "Request an assessment of MODEL version VERSION on a dataset version and, by default, run "
        "it right here, drawing its progress (nothing is queued for the workers, whatever "
        "MODELGATE_JOBS says). With --enqueue, queue it for the job workers and follow it until "
        "it finishes; with --enqueue --no-wait, print its id and return. For a predictions-only "
        "assessment (the dataset holds the predictions), give --predictions-only and no MODEL or "
        "VERSION. Put MODEL VERSION before --sensitive, which takes several values. Exits "
        "non-zero when the request is refused or the assessment fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("model", nargs="?", help="registered model name")
        parser.add_argument("version", nargs="?", type=int, help="model version number")
        parser.add_argument(
            "--kind", required=True, choices=AssessmentKind.values, help="what to compute"
        )
        parser.add_argument(
            "--dataset", required=True, metavar="NAME:VERSION", help="evaluation dataset version"
        )
        parser.add_argument(
            "--sensitive",
            nargs="+",
            action="extend",
            metavar="COLUMN",
            help="sensitive feature columns (default: those declared on the dataset version)",
        )
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="an assessment parameter, e.g. --param n_bootstrap=100; repeat for several",
        )
        parser.add_argument(
            "--predictions-only",
            action="store_true",
            help="assess the dataset's prediction column instead of a model (no MODEL VERSION)",
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="leave the work to the job workers and wait for them (default: run it here)",
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="with --enqueue: print the id and return"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="with --enqueue: stop waiting after this long (the assessment carries on)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = self.actor(options)
        if not options["enqueue"]:
            if options["no_wait"]:
                raise CommandError("--no-wait goes with --enqueue")
            if options["timeout"] is not None:
                raise CommandError("--timeout goes with --enqueue: here the job runs to its end")
        model_version = self._model_version(options)
        parameters = dict(_parameter(text) for text in options["param"])
        dataset = refs.dataset_version(options["dataset"], field="--dataset")
        assessment = request_assessment(
            by=actor,
            kind=options["kind"],
            dataset_version=dataset,
            model_version=model_version,
            sensitive_features=options["sensitive"],
            parameters=parameters,
            enqueue=options["enqueue"],
        )
        subject = model_version or "predictions"
        self.stdout.write(
            f"assessment #{assessment.pk}: {assessment.kind} of {subject} on {dataset} "
            f"({_url(assessment.pk)})"
        )
        assessment.refresh_from_db(fields=["status"])
        if options["no_wait"]:
            self.stdout.write(f"status: {assessment.status}")
            return
        # Queued with MODELGATE_JOBS=inline, the job already ran when the request committed.
        runner = None
        if not options["enqueue"]:
            runner = _Runner(assessment.pk)
            runner.start()
        self._report(self._follow(assessment.pk, runner, options["timeout"]))

    def _model_version(self, options: dict[str, Any]) -> Any:
        given = options["model"] is not None, options["version"] is not None
        if options["predictions_only"]:
            if any(given):
                raise CommandError("--predictions-only assesses a dataset: give no MODEL VERSION")
            return None
        if not all(given):
            raise CommandError("give MODEL and VERSION, or --predictions-only")
        return refs.get_model_version(options["model"], options["version"])

    def _follow(
        self, assessment_id: int, runner: "_Runner | None", timeout: float | None
    ) -> Assessment:
        """Poll the row until it finishes, drawing its progress on stderr."""
        deadline = None if timeout is None else time.monotonic() + timeout
        live = self.stderr.isatty()
        shown = None
        while True:
            row = Assessment.objects.values("status", "progress", "stage").get(pk=assessment_id)
            state = (row["progress"], row["stage"])
            if state != shown:
                shown = state
                line = progress_bar(*state)
                self.stderr.write(
                    f"\r{line}\x1b[K" if live else line,
                    style_func=_plain,
                    ending="" if live else "\n",
                )
            if row["status"] in (AssessmentStatus.SUCCEEDED, AssessmentStatus.FAILED):
                break
            if runner is not None and runner.error is not None and row["status"] == "queued":
                raise CommandError(f"the job could not start: {runner.error}")
            if deadline is not None and time.monotonic() > deadline:
                raise CommandError(
                    f"assessment #{assessment_id} is still {row['status']} after {timeout:g} s; "
                    f"it carries on: follow it at {_url(assessment_id)}"
                )
            time.sleep(POLL_SECONDS)
        if live:
            self.stderr.write("")
        if runner is not None:
            runner.join()
        return Assessment.objects.prefetch_related("charts").get(pk=assessment_id)

    def _report(self, assessment: Assessment) -> None:
        if assessment.status == AssessmentStatus.FAILED:
            raise CommandError(
                f"assessment #{assessment.pk} failed [{assessment.error_code}]: "
                f"{assessment.error_message}"
            )
        write = self.stdout.write
        seconds = assessment.timings.get("total")
        took = f" in {seconds:.1f} s" if isinstance(seconds, int | float) else ""
        write(self.style.SUCCESS(f"assessment #{assessment.pk} succeeded{took}"))
        write(f"results sha256: {assessment.results_sha256}")
        for line in key_results(assessment.kind, assessment.results or {}):
            write(line)
        for chart in assessment.charts.all():
            path = reverse(
                "api:assessment-chart",
                kwargs={"pk": assessment.pk, "name": chart.name, "extension": chart.format},
            )
            write(f"chart {chart.name}.{chart.format}: {path} (file {_stored_at(chart.file_key)})")


class _Runner(threading.Thread):
    """Runs the job in this process, in a thread, while the main thread polls and draws. The
    thread has its own database connection, so it sees only committed rows, as a worker does."""

    def __init__(self, assessment_id: int) -> None:
        super().__init__(name=f"assess-{assessment_id}", daemon=True)
        self.assessment_id = assessment_id
        self.error: str | None = None

    def run(self) -> None:
        from governance.jobs import runner

        close_old_connections()
        try:
            runner.execute(self.assessment_id)
        except Exception as exc:  # execute() fails the assessment itself; this is before that
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            connections.close_all()


def _number(value: Any) -> str:
    return (
        f"{value:.4f}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"
    )


def key_results(kind: str, results: dict[str, Any]) -> list[str]:
    """A few lines a person reads first; the rest is in the API and the admin."""
    if kind == AssessmentKind.FAIRNESS:
        lines = []
        for feature, named in sorted((results.get("disparities") or {}).items()):
            parts = [
                f"{name} {_number(value)}"
                # Sorted: PostgreSQL's jsonb hands keys back in its own order.
                for name, value in sorted(named.items())
                if name.endswith(("_difference", "_ratio"))
            ]
            if not parts:  # regression: the largest gap of each metric
                parts = [
                    f"max {metric} gap {_number(gap.get('difference'))}"
                    for metric, gap in sorted((named.get("max_gap") or {}).items())
                ]
            lines.append(f"disparities by {feature}: {', '.join(parts) or 'n/a'}")
        return lines or ["no disparities computed"]
    if kind == AssessmentKind.PERFORMANCE:
        metrics = results.get("metrics") or {}
        return [f"{name}: {_number(value)}" for name, value in sorted(metrics.items())]
    importance = results.get("global_importance") or {}
    ranking = results.get("ranking") or sorted(importance, key=lambda name: -importance[name])
    lines = [
        f"top feature {rank}: {name} (mean |SHAP| {_number(importance.get(name))})"
        for rank, name in enumerate(ranking[:TOP_FEATURES], 1)
    ] or ["no feature importance in the results"]
    sensitive = results.get("sensitive_share") or {}
    if sensitive.get("features"):
        lines.append(
            f"share of attribution on sensitive features ({', '.join(sensitive['features'])}): "
            f"{_number(sensitive.get('share'))}"
        )
    return lines
