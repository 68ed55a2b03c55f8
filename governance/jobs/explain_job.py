"""Explainability jobs: which rows to explain, SHAP values chunk by chunk, and the merged report.

The rows to explain and the background sample depend only on the dataset and the parameters
(seed, max_rows, background_rows), and chunk boundaries only on `chunk_rows`, so the result is
the same whether one worker computes every chunk or ten workers share them. With a broker, a job
with more than one chunk hands them to `governance.jobs.chunks`; otherwise it computes them in
order here.
"""

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction

from governance.assessments.explainability import aggregate_by_source, merge_chunks, report_for
from governance.assessments.inputs import AssessmentInputError
from governance.jobs import dispatch, evaluation_data
from governance.jobs.state import Run
from governance.models import Assessment, AssessmentChunk
from governance.sandbox.explain_client import ExplainOutput, explain_in_sandbox
from registry import storage


@dataclass(frozen=True)
class Selection:
    """Which dataset rows are explained, and which form the background sample. Derived from the
    recorded row count and the parameters alone, so choosing them reads no file: the job that
    hands out chunks and the merge never load the dataset."""

    rows: np.ndarray  # dataset row numbers to explain, ascending
    background: np.ndarray  # dataset row numbers of the background sample, ascending
    rows_in_dataset: int

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.rows_in_dataset


def select(assessment: Assessment) -> Selection:
    dataset, params = assessment.dataset_version, assessment.parameters
    n = dataset.row_count  # read_columns checks the file against it
    if n == 0:
        raise AssessmentInputError(f"dataset {dataset} has no rows to explain")
    rng = np.random.default_rng(params["seed"])
    if n > params["max_rows"]:
        rows = np.sort(rng.choice(n, size=params["max_rows"], replace=False))
    else:
        rows = np.arange(n)
    background_rng = np.random.default_rng([params["seed"], 1])
    take = min(params["background_rows"], n)
    background = np.sort(background_rng.choice(n, size=take, replace=False))
    return Selection(rows, background, n)


def read_features(assessment: Assessment) -> pd.DataFrame:
    """Every row of the dataset, the model's columns only."""
    dataset, version = assessment.dataset_version, assessment.model_version
    columns = evaluation_data.feature_columns(dataset, version)
    return evaluation_data.read_columns(dataset, columns)[columns]


def chunk_bounds(n_rows: int, chunk_rows: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)]


def explain_rows(
    assessment: Assessment,
    selection: Selection,
    features: pd.DataFrame,
    start: int,
    stop: int,
) -> ExplainOutput:
    """SHAP values of selected rows [start, stop) computed in the sandbox."""
    from governance.jobs.runner import sandbox_limits

    version, params = assessment.model_version, assessment.parameters
    with storage.verified_copy(
        version.artifact_key, sha256=version.artifact_sha256, size=version.artifact_size
    ) as artifact:
        return explain_in_sandbox(
            artifact,
            version.artifact_format,
            features.iloc[selection.rows[start:stop]].reset_index(drop=True),
            background=features.iloc[selection.background].reset_index(drop=True),
            trusted_types=settings.MODELGATE_SKOPS_TRUSTED_TYPES,
            allow_pickle=settings.MODELGATE_ALLOW_PICKLE,
            params={
                # The same seed for every chunk: the explainer seeds each row from it and the
                # row's own values, so chunking never changes the result.
                "seed": int(params["seed"]),
                "max_evals": params["max_evals"],
            },
            limits=sandbox_limits(),
        )


def compute(assessment: Assessment, run: Run, timings: dict[str, float]) -> Any:
    from governance.jobs.runner import Deferred, timed

    selection = select(assessment)
    bounds = chunk_bounds(len(selection.rows), assessment.parameters["chunk_rows"])
    if len(bounds) > 1 and dispatch.distributed():
        with transaction.atomic():
            chunks = AssessmentChunk.objects.bulk_create(
                AssessmentChunk(assessment=assessment, index=i, row_start=a, row_stop=b)
                for i, (a, b) in enumerate(bounds)
            )
            run.report(10, f"SHAP values: 0 of {len(bounds)} chunks done", force=True)
            run.hand_over_to_chunks()
            ids = [c.pk for c in chunks]
            transaction.on_commit(
                lambda: [dispatch.enqueue_chunk(assessment.pk, chunk_id) for chunk_id in ids]
            )
        raise Deferred
    # Without workers to share them, chunks would only pay the sandbox's start-up (about 3 s of
    # imports) again and again: one run computes every row, with the same values row for row.
    run.report(3, "reading the dataset", force=True)
    with timed(timings, "read_dataset"):
        features = read_features(assessment)
    run.report(10, "SHAP values", force=True)
    with timed(timings, "shap"):
        output = explain_rows(assessment, selection, features, 0, len(selection.rows))
    timings["sandbox_peak_rss_bytes"] = output.details.get("peak_rss_bytes") or 0
    run.report(86, "summarising SHAP values", force=True)
    return outcome(assessment, selection, [(0, len(selection.rows), output)], chunks=1)


def outcome(
    assessment: Assessment,
    selection: Selection,
    parts: list[tuple[int, int, ExplainOutput]],
    *,
    chunks: int,
) -> Any:
    """The report and chart inputs from SHAP values of selected rows [start, stop), in any
    order."""
    from governance.assessments.charts import BeeswarmData
    from governance.jobs.runner import Outcome, model_facts, provenance_of

    params = assessment.parameters
    rows, merged = merge_chunks([(selection.rows[a:b], output) for a, b, output in parts])
    outputs = [output for _, _, output in parts]
    results = report_for(
        merged,
        row_index=rows,
        sensitive_features=list(assessment.sensitive_features),
        n_local=params["n_local"],
        seed=params["seed"],
        rows_in_dataset=selection.rows_in_dataset,
        sampled=selection.sampled,
    )
    columns, values, data = aggregate_by_source(merged.values, merged.data, merged.source_columns)
    method = merged.method
    sample_sizes = {
        "rows_explained": len(selection.rows),
        "background_rows": (
            len(selection.background) if method.get("background_rows") is not None else 0
        ),
    }
    provenance = provenance_of(
        assessment,
        rows_used=len(selection.rows),
        sample_sizes=sample_sizes,
        model_facts=model_facts(outputs[0].details, None),
    )
    return Outcome(
        results=results,
        provenance=provenance,
        chart_inputs={"beeswarm": BeeswarmData(columns=columns, values=values, data=data)},
        execution={"chunks": chunks},
    )


# --- chunk results travel between workers as .npz files (never pickles) ----------------------

ARRAYS = ("values", "base_values", "model_output", "data")


def to_npz(output: ExplainOutput) -> bytes:
    meta = {
        "feature_names": output.feature_names,
        "source_columns": output.source_columns,
        "method": output.method,
        "details": _plain_details(output.details),
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **{name: getattr(output, name) for name in ARRAYS},
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )
    return buffer.getvalue()


def from_npz(path: Any) -> ExplainOutput:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in ARRAYS}
        meta = json.loads(str(archive["meta"]))
    return ExplainOutput(**arrays, **meta)


def _plain_details(details: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(details, default=str))
