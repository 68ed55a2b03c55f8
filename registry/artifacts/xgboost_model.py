"""Checks for XGBoost's JSON and UBJSON model documents, run before XGBoost parses them.

XGBoost's loader trusts its input. Observed with xgboost 3.4: a UBJSON file
cut at the wrong byte segfaults or aborts with bad_alloc, and a JSON model
whose child or feature indices point out of range segfaults. So the document
is parsed here (UBJSON by a bounds-checked reader) and the tree arrays are
checked for the invariants XGBoost's predictor relies on: consistent
lengths, indices in range, and a real tree (no cycles, which would make
prediction loop forever).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._common import corrupt
from .ubjson import UBJSONError, parse_ubjson

MAX_FEATURES = 1 << 24
MAX_OUTPUTS = 1 << 16
MAX_CATEGORY = 1 << 20  # XGBoost sizes a per-node bitset by the largest category code
_ROOT_PARENT = 2147483647
_FEATURE_TYPES = {"float", "int", "i", "q", "c"}
_NODE_ARRAYS = (
    "left_children",
    "right_children",
    "parents",
    "split_indices",
    "split_conditions",
    "default_left",
    "split_type",
    "loss_changes",
    "sum_hessian",
)


class XGBoostDocumentError(ValueError):
    """The document is not a consistent XGBoost model."""


# --- parsing ---------------------------------------------------------------------------------


def parse_json_document(raw: bytes) -> Any | None:
    """The parsed document when `raw` is JSON text, else None."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def looks_like_ubjson(raw: bytes) -> bool:
    # UBJSON objects also open with '{', but the next byte is a length marker, never a quote.
    return raw[:1] == b"{" and raw[1:2] in {b"i", b"U", b"I", b"l", b"L", b"}", b"$", b"#"}


# --- checks ----------------------------------------------------------------------------------


def check_xgboost_json(raw: bytes) -> dict[str, Any]:
    document = parse_json_document(raw)
    if document is None:
        if looks_like_ubjson(raw):
            raise corrupt(
                "the artifact is declared xgboost-json but is binary UBJSON; "
                "declare it as xgboost-ubj"
            )
        raise corrupt("the xgboost-json artifact is not valid JSON (truncated or not xgboost)")
    return _checked(document, "xgboost-json")


def check_xgboost_ubj(raw: bytes) -> dict[str, Any]:
    if parse_json_document(raw) is not None:
        raise corrupt(
            "the artifact is declared xgboost-ubj but is JSON text; declare it as xgboost-json"
        )
    if not looks_like_ubjson(raw):
        raise corrupt("the xgboost-ubj artifact is not UBJSON (truncated or not xgboost)")
    try:
        document = parse_ubjson(raw)
    except UBJSONError as exc:
        raise corrupt(f"the xgboost-ubj artifact is malformed: {exc}") from exc
    return _checked(document, "xgboost-ubj")


def _checked(document: Any, artifact_format: str) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("learner"), dict):
        raise corrupt(f"the {artifact_format} artifact has no top-level 'learner' object")
    try:
        _check_learner(document["learner"])
    except XGBoostDocumentError as exc:
        raise corrupt(f"the {artifact_format} model is inconsistent: {exc}") from exc
    return document


def _check_learner(learner: dict[str, Any]) -> None:
    params = _dict(learner.get("learner_model_param"), "learner_model_param")
    num_feature = _count(params.get("num_feature"), "num_feature", MAX_FEATURES)
    num_class = _count(params.get("num_class", 0), "num_class", MAX_OUTPUTS)
    num_target = _count(params.get("num_target", 1), "num_target", MAX_OUTPUTS)
    outputs = max(num_class, num_target, 1)

    names = learner.get("feature_names", [])
    if not isinstance(names, list) or any(not isinstance(n, str) for n in names):
        raise XGBoostDocumentError("feature_names is not a list of strings")
    if names and len(names) != num_feature:
        raise XGBoostDocumentError("feature_names does not match num_feature")
    if any(set(n) & {"[", "]", "<"} for n in names):
        raise XGBoostDocumentError("a feature name contains '[', ']' or '<'")
    types = learner.get("feature_types", [])
    if not isinstance(types, list) or any(t not in _FEATURE_TYPES for t in types):
        raise XGBoostDocumentError("feature_types has an unknown type")
    if types and len(types) != num_feature:
        raise XGBoostDocumentError("feature_types does not match num_feature")

    booster = _dict(learner.get("gradient_booster"), "gradient_booster")
    name = booster.get("name")
    if name == "gblinear":
        weights = _dict(booster.get("model"), "model").get("weights")
        if len(_numbers(weights, "weights")) != (num_feature + 1) * outputs:
            raise XGBoostDocumentError("gblinear weights do not match the feature count")
        return
    if name == "dart":
        booster = _dict(booster.get("gbtree"), "gbtree")
    elif name != "gbtree":
        raise XGBoostDocumentError(f"unknown gradient booster {name!r}")
    _check_forest(_dict(booster.get("model"), "model"), num_feature, outputs)


def _check_forest(model: dict[str, Any], num_feature: int, outputs: int) -> None:
    trees = model.get("trees")
    if not isinstance(trees, list):
        raise XGBoostDocumentError("the model has no trees list")
    tree_info = _integers(model.get("tree_info", []), "tree_info")
    if len(tree_info) != len(trees) or any(not 0 <= g < outputs for g in tree_info):
        raise XGBoostDocumentError("tree_info does not match the trees")
    params = _dict(model.get("gbtree_model_param", {}), "gbtree_model_param")
    if "num_trees" in params and _count(params["num_trees"], "num_trees") != len(trees):
        raise XGBoostDocumentError("num_trees does not match the trees")
    if "iteration_indptr" in model:
        indptr = _integers(model["iteration_indptr"], "iteration_indptr")
        if not indptr or indptr[0] != 0 or indptr[-1] != len(trees):
            raise XGBoostDocumentError("iteration_indptr does not cover the trees")
        if any(b < a for a, b in itertools.pairwise(indptr)):
            raise XGBoostDocumentError("iteration_indptr is not ordered")
    for index, tree in enumerate(trees):
        try:
            _check_tree(_dict(tree, "tree"), num_feature)
        except XGBoostDocumentError as exc:
            raise XGBoostDocumentError(f"tree {index}: {exc}") from exc
    if "cats" in model:
        _check_categories_encoding(_dict(model["cats"], "cats"), num_feature)


def _check_tree(tree: dict[str, Any], num_feature: int) -> None:
    params = _dict(tree.get("tree_param"), "tree_param")
    num_nodes = _count(params.get("num_nodes"), "num_nodes")
    leaf_vector = max(_count(params.get("size_leaf_vector", 1), "size_leaf_vector"), 1)
    if num_nodes < 1:
        raise XGBoostDocumentError("a tree has no nodes")
    arrays = {}
    for key in _NODE_ARRAYS:
        values = tree.get(key)
        arrays[key] = _numbers(values, key)
        if len(arrays[key]) != num_nodes:
            raise XGBoostDocumentError(f"{key} has {len(arrays[key])} entries, not {num_nodes}")
    if "base_weights" in tree and len(_numbers(tree["base_weights"], "base_weights")) != (
        num_nodes * leaf_vector
    ):
        raise XGBoostDocumentError("base_weights does not match the node count")

    left = _integers(arrays["left_children"], "left_children")
    right = _integers(arrays["right_children"], "right_children")
    parents = _integers(arrays["parents"], "parents")
    features = _integers(arrays["split_indices"], "split_indices")
    split_type = _integers(arrays["split_type"], "split_type")
    if parents[0] != _ROOT_PARENT and parents[0] != -1:
        raise XGBoostDocumentError("the root has a parent")
    # Walk from the root: each node reached once means no cycles and no shared children.
    seen = {0}
    pending = [0]
    while pending:
        node = pending.pop()
        if left[node] == -1:
            continue
        if not 0 <= features[node] < num_feature:
            raise XGBoostDocumentError(f"node {node} splits on a feature that does not exist")
        if split_type[node] not in (0, 1):
            raise XGBoostDocumentError(f"node {node} has an unknown split type")
        for child in (left[node], right[node]):
            if not 0 < child < num_nodes or child in seen or parents[child] != node:
                raise XGBoostDocumentError(f"node {node} has an invalid child {child}")
            seen.add(child)
            pending.append(child)
    categorical = {node for node in seen if left[node] != -1 and split_type[node] == 1}
    _check_tree_categories(tree, num_nodes, split_type, categorical)


def _check_tree_categories(
    tree: dict[str, Any], num_nodes: int, split_type: list[int], categorical: set[int]
) -> None:
    categories = _integers(tree.get("categories", []), "categories")
    nodes = _integers(tree.get("categories_nodes", []), "categories_nodes")
    segments = _integers(tree.get("categories_segments", []), "categories_segments")
    sizes = _integers(tree.get("categories_sizes", []), "categories_sizes")
    if not len(nodes) == len(segments) == len(sizes):
        raise XGBoostDocumentError("categorical split arrays differ in length")
    for node, start, size in zip(nodes, segments, sizes, strict=True):
        if not 0 <= node < num_nodes or split_type[node] != 1:
            raise XGBoostDocumentError("a categorical split names a non-categorical node")
        if start < 0 or size < 0 or start + size > len(categories):
            raise XGBoostDocumentError("a categorical split points outside its categories")
    if not categorical <= set(nodes):
        raise XGBoostDocumentError("a categorical split has no categories")
    if any(not 0 <= c < MAX_CATEGORY for c in categories):
        raise XGBoostDocumentError("a category code is out of range")


def _check_categories_encoding(cats: dict[str, Any], num_feature: int) -> None:
    encodings = cats.get("enc", [])
    segments = _integers(cats.get("feature_segments", []), "feature_segments")
    sorted_idx = _integers(cats.get("sorted_idx", []), "sorted_idx")
    if not isinstance(encodings, list) or len(encodings) > num_feature:
        raise XGBoostDocumentError("the category encodings do not match the features")
    for encoding in encodings:
        encoding = _dict(encoding, "enc")
        offsets = _integers(encoding.get("offsets", []), "offsets")
        values = _numbers(encoding.get("values", []), "values")
        if offsets and (offsets[0] < 0 or offsets[-1] > len(values)):
            raise XGBoostDocumentError("category offsets point outside their values")
        if any(b < a for a, b in itertools.pairwise(offsets)):
            raise XGBoostDocumentError("category offsets are not ordered")
    if segments:
        if segments[0] != 0 or segments[-1] != len(sorted_idx):
            raise XGBoostDocumentError("feature_segments do not cover sorted_idx")
        if any(b < a for a, b in itertools.pairwise(segments)):
            raise XGBoostDocumentError("feature_segments are not ordered")
        for start, stop in itertools.pairwise(segments):
            if any(not 0 <= i < stop - start for i in sorted_idx[start:stop]):
                raise XGBoostDocumentError("sorted_idx points outside its feature")


def _dict(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise XGBoostDocumentError(f"{name} is missing or not an object")
    return value


def _count(value: Any, name: str, maximum: int | None = None) -> int:
    # XGBoost writes its parameters as strings ("4"); accept ints too.
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise XGBoostDocumentError(f"{name} is not an integer") from exc
    if number < 0 or (maximum is not None and number > maximum):
        raise XGBoostDocumentError(f"{name}={number} is out of range")
    return number


def _numbers(value: Any, name: str) -> Sequence[Any]:
    if isinstance(value, np.ndarray):
        return value
    if not isinstance(value, list) or any(
        not isinstance(v, int | float) or isinstance(v, bool) for v in value
    ):
        raise XGBoostDocumentError(f"{name} is not a list of numbers")
    return value


def _integers(value: Any, name: str) -> list[int]:
    numbers = _numbers(value, name)
    if isinstance(numbers, np.ndarray):
        if numbers.dtype.kind not in "iu":
            raise XGBoostDocumentError(f"{name} is not a list of integers")
        return [int(v) for v in numbers.tolist()]
    if any(isinstance(v, float) for v in numbers):
        raise XGBoostDocumentError(f"{name} is not a list of integers")
    return [int(v) for v in numbers]
