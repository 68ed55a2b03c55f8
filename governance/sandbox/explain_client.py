"""Parent side of the sandboxed `explain` operation (governance.sandbox.explain): send rows, get
SHAP values back as checked float64 arrays. The parent never loads the model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.sandbox.runner import SandboxLimits, _invalid, run_in_sandbox

# Set by the parent whatever the caller's params say: the deployment's, not the upload's.
SAFETY_PARAMS = ("artifact_format", "trusted_types", "allow_pickle")
DEFAULT_LIMITS = SandboxLimits()


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays has no single truth value
class ExplainOutput:
    """SHAP values of n rows over k encoded features (see governance.sandbox.explain)."""

    values: np.ndarray  # (n, k)
    base_values: np.ndarray  # (n,): values.sum(1) + base_values ~ model_output
    model_output: np.ndarray  # (n,), in method["output_space"], computed apart from SHAP
    data: np.ndarray  # (n, k) transformed feature values, NaN where not numeric
    feature_names: list[str]  # (k,) encoded names, e.g. "categorical__sex_Male"
    source_columns: list[str]  # (k,) the input column each encoded feature comes from
    method: dict[str, Any]  # explainer, exact, model_family, output_space, explained_class, ...
    details: dict[str, Any]  # the sandbox's timings, memory, isolation, library versions


def explain_in_sandbox(
    artifact_path: Path,
    artifact_format: str,
    features: pd.DataFrame,
    *,
    background: pd.DataFrame | None,
    trusted_types: Sequence[str],
    allow_pickle: bool,
    params: dict[str, Any],
    limits: SandboxLimits = DEFAULT_LIMITS,
) -> ExplainOutput:
    """Explain the artifact's predictions on `features` in the sandbox.

    `background` is the sample linear and permutation explanations integrate over (tree models
    do not use it). `params`: "seed" (permutation order) and "max_evals" (permutation budget).
    The caller verifies the artifact's digest first. Raises SandboxError; a result that does not
    fit the rows sent is "invalid_output".
    """
    if len(features) == 0:
        raise ValueError("there are no rows to explain")
    inputs: dict[str, Any] = {"artifact": Path(artifact_path), "features": features}
    if background is not None:
        inputs["background"] = background
    output = run_in_sandbox(
        "explain",
        {
            **{k: v for k, v in params.items() if k not in SAFETY_PARAMS},
            "artifact_format": artifact_format,
            "trusted_types": list(trusted_types),
            "allow_pickle": allow_pickle,
        },
        inputs=inputs,
        limits=limits,
    )
    return _checked(output.arrays, output.data, output.details, rows=len(features))


def _checked(
    arrays: dict[str, np.ndarray], data: dict[str, Any], details: dict[str, Any], *, rows: int
) -> ExplainOutput:
    """The child ran model code and could have written anything: check every shape and type."""
    context = {"stage": "computing SHAP values", "details": details}
    names, sources, method = (data.get(k) for k in ("feature_names", "source_columns", "method"))
    if not _strings(names) or not _strings(sources) or len(names) != len(sources):
        raise _invalid("the explanation's feature names or source columns are not strings", context)
    if not isinstance(method, dict):
        raise _invalid("the explanation does not say how it was computed", context)
    width = len(names)
    expected = {
        "values": (rows, width),
        "base_values": (rows,),
        "model_output": (rows,),
        "data": (rows, width),
    }
    checked = {}
    for name, shape in expected.items():
        array = arrays.get(name)
        if array is None or array.shape != shape or array.dtype.kind not in "biuf":
            found = None if array is None else f"{array.dtype} {array.shape}"
            raise _invalid(f"the explanation's {name} is {found}, expected {shape}", context)
        checked[name] = array.astype(np.float64)
        if name != "data" and not np.isfinite(checked[name]).all():
            raise _invalid(f"the explanation's {name} holds NaN or infinite values", context)
    return ExplainOutput(
        **checked, feature_names=names, source_columns=sources, method=method, details=details
    )


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)
