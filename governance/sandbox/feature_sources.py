"""Tracing the encoded features of a scikit-learn pipeline back to the input columns they come
from, so SHAP values of one-hot columns can be summed into their source column.

Through ColumnTransformer (passthrough included), OneHotEncoder (by category counts, never by
splitting names: categories may contain "_"), SimpleImputer and MissingIndicator, one-to-one
transformers, FeatureUnion and nested pipelines. Runs in the sandbox child: no Django.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Untraceable(Exception):
    """A step whose outputs cannot be mapped to its inputs."""


def trace_sources(steps: Any, inputs: list[str], width: int) -> list[str | None]:
    """The input column each of the `width` transformed features comes from (None: unknown)."""
    try:
        sources = _trace(steps, list(inputs))
    except Untraceable:
        return [None] * width
    return sources if len(sources) == width else [None] * width


def _trace(step: Any, sources: list[Any]) -> list[Any]:
    from sklearn.base import OneToOneFeatureMixin
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    if step is None or (isinstance(step, str) and step == "passthrough"):
        return sources
    if isinstance(step, str) and step == "drop":
        return []
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            sources = _trace(inner, sources)
        return sources
    if isinstance(step, ColumnTransformer):
        # The fitted column selection of each transformer, whatever form the user gave it in.
        selected = getattr(step, "_transformer_to_input_indices", None)
        if selected is None:
            raise Untraceable(type(step).__name__)
        out: list[Any] = []
        for name, transformer, _ in step.transformers_:
            indices = list(selected.get(name, []))
            if indices:
                out += _trace(transformer, [sources[i] for i in indices])
        return out
    if isinstance(step, FeatureUnion):
        return [
            source
            for _, transformer in step.transformer_list
            for source in _trace(transformer, sources)
        ]
    if isinstance(step, OneHotEncoder):
        counts = onehot_counts(step)
        return [source for source, count in zip(sources, counts, strict=True) for _ in range(count)]
    if isinstance(step, SimpleImputer):
        keep = [True] * len(sources)
        if not step.keep_empty_features:
            keep = [not _is_missing(value) for value in np.asarray(step.statistics_).tolist()]
        out = [source for source, kept in zip(sources, keep, strict=True) if kept]
        if step.add_indicator:
            out += [sources[i] for i in step.indicator_.features_]
        return out
    if isinstance(step, MissingIndicator):
        return [sources[i] for i in step.features_]
    if isinstance(step, OneToOneFeatureMixin):
        return sources
    # A fitted ColumnTransformer turns "passthrough" into one of these.
    if isinstance(step, FunctionTransformer) and step.feature_names_out == "one-to-one":
        return sources
    raise Untraceable(type(step).__name__)


def onehot_counts(encoder: Any) -> list[int]:
    """How many output columns each input column of a fitted OneHotEncoder has: its categories,
    less a dropped one, with infrequent categories grouped into one column."""
    counts = getattr(encoder, "_n_features_outs", None)  # what sklearn itself computed at fit
    if counts is not None:
        return [int(c) for c in counts]
    counts = [len(categories) for categories in encoder.categories_]
    dropped = getattr(encoder, "drop_idx_", None)
    if dropped is not None:
        counts = [c - int(d is not None) for c, d in zip(counts, dropped, strict=True)]
    try:
        infrequent = encoder.infrequent_categories_
    except AttributeError:
        return counts
    return [
        c - (0 if group is None else len(group) - 1)
        for c, group in zip(counts, infrequent, strict=True)
    ]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
