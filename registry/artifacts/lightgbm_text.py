"""Layout checks for LightGBM's text model format, run before LightGBM parses it.

LightGBM's C++ loader trusts its input. Observed with lightgbm 4.7: a file
cut inside the parameters section, or a parameter line without ": ", kills
the process with SIGSEGV instead of raising; tree arrays are sliced by the
byte counts in `tree_sizes`, and node/feature numbers index arrays without
bounds checks. So the whole file is checked against the layout
`Booster.save_model` writes:

    tree / header key=value lines / blank line
    Tree=0 ... Tree=n-1 blocks, exactly tree_sizes bytes each
    end of trees / feature_importances / parameters: [key: value] lines /
    end of parameters / pandas_categorical:<json>
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ._common import corrupt

_REQUIRED_HEADER = (
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "feature_names",
    "feature_infos",
    "tree_sizes",
)
_PARAMETER_LINE = re.compile(r"\[[A-Za-z0-9_]+: [^\[\]\n]*\]")
_INTERNAL_ARRAYS = ("split_gain", "internal_value", "internal_weight", "internal_count")
_LEAF_ARRAYS = ("leaf_weight", "leaf_count")


@dataclass(frozen=True)
class LightGBMHeader:
    fields: dict[str, str]
    num_class: int
    num_tree_per_iteration: int
    max_feature_idx: int
    num_trees: int

    @property
    def objective(self) -> str:
        # "binary sigmoid:1" -> "binary": the rest are the objective's parameters.
        value = self.fields.get("objective", "").split()
        return value[0] if value else ""


def check_lightgbm_text(raw: bytes) -> LightGBMHeader:
    """Raise corrupt_artifact unless `raw` has exactly the layout LightGBM writes."""
    if not raw.startswith(b"tree\n"):
        raise corrupt("the lightgbm-text artifact does not start with a 'tree' line")
    if b"version=" not in raw:
        raise corrupt("the lightgbm-text artifact has no version= line")
    if b"\nend of trees" not in raw:
        raise corrupt("the lightgbm-text artifact is truncated: 'end of trees' is missing")
    header_end = raw.find(b"\n\n")
    if header_end < 0:
        raise corrupt("the lightgbm-text artifact has no header section")
    fields = _header_fields(_utf8(raw[len(b"tree\n") : header_end], "header"))
    num_class = _int_field(fields, "num_class", minimum=1)
    per_iteration = _int_field(fields, "num_tree_per_iteration", minimum=1)
    max_feature_idx = _int_field(fields, "max_feature_idx", minimum=0)
    if len(fields["feature_names"].split()) != max_feature_idx + 1:
        raise corrupt("the lightgbm-text feature_names do not match max_feature_idx")
    sizes = _int_list(fields["tree_sizes"], "header")
    if any(size <= 0 for size in sizes) or len(sizes) % per_iteration:
        raise corrupt("the lightgbm-text tree_sizes do not describe whole iterations")

    # tree_sizes count bytes, so walk the raw bytes rather than decoded text.
    position = header_end + 2
    for index, size in enumerate(sizes):
        block = raw[position : position + size]
        if len(block) != size or not block.startswith(f"Tree={index}\n".encode()):
            raise corrupt(f"the lightgbm-text tree {index} does not match its recorded size")
        _check_tree(_utf8(block, f"tree {index}"), index, max_feature_idx + 1)
        position += size
    if not raw[position:].startswith(b"end of trees"):
        raise corrupt("the lightgbm-text trees do not end where tree_sizes says")
    _check_footer(_utf8(raw[position:], "footer"))
    return LightGBMHeader(fields, num_class, per_iteration, max_feature_idx, len(sizes))


def _header_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("=")
        # LightGBM stops its header scan at the first "Tree=" line; one here would move it.
        if not sep or key.startswith("Tree") or key in fields:
            raise corrupt(f"the lightgbm-text header has an unexpected line {line[:60]!r}")
        fields[key] = value
    missing = [key for key in _REQUIRED_HEADER if key not in fields]
    if missing:
        raise corrupt(
            f"the lightgbm-text header lacks {', '.join(missing)}; "
            "it was not written by LightGBM's save_model"
        )
    return fields


def _check_footer(text: str) -> None:
    lines = text.split("\n")
    if "parameters:" not in lines:
        return
    start = lines.index("parameters:") + 1
    if "end of parameters" not in lines[start:]:
        raise corrupt("the lightgbm-text artifact is truncated: 'end of parameters' is missing")
    stop = lines.index("end of parameters", start)
    for line in lines[start:stop]:
        if line and not _PARAMETER_LINE.fullmatch(line):
            raise corrupt(f"the lightgbm-text parameter line {line[:60]!r} is malformed")


def _check_tree(block: str, index: int, n_features: int) -> None:
    fields = _tree_fields(block)
    where = f"tree {index}"
    num_leaves = _int_field(fields, "num_leaves", minimum=1, where=where)
    num_cat = _int_field(fields, "num_cat", minimum=0, where=where)
    _sized_floats(fields, "leaf_value", num_leaves, where)
    if num_leaves > 1:
        internal = num_leaves - 1
        split_feature = _sized_ints(fields, "split_feature", internal, where)
        decision_type = _sized_ints(fields, "decision_type", internal, where)
        thresholds = _sized_floats(fields, "threshold", internal, where)
        children = list(
            zip(
                _sized_ints(fields, "left_child", internal, where),
                _sized_ints(fields, "right_child", internal, where),
                strict=True,
            )
        )
        for key in _INTERNAL_ARRAYS:
            if key in fields:
                _sized_floats(fields, key, internal, where)
        for key in _LEAF_ARRAYS:
            if key in fields:
                _sized_floats(fields, key, num_leaves, where)
        if any(not 0 <= f < n_features for f in split_feature):
            raise corrupt(f"the lightgbm-text {where} splits on a feature that does not exist")
        _check_tree_shape(children, num_leaves, where)
        for kind, threshold in zip(decision_type, thresholds, strict=True):
            if kind & 1 and not (threshold.is_integer() and 0 <= threshold < num_cat):
                raise corrupt(f"the lightgbm-text {where} has a bad categorical split")
    if num_cat:
        bounds = _sized_ints(fields, "cat_boundaries", num_cat + 1, where)
        cat_threshold = _int_list(fields.get("cat_threshold", ""), where)
        ordered = all(a <= b for a, b in itertools.pairwise(bounds))
        if bounds[0] != 0 or not ordered or bounds[-1] != len(cat_threshold):
            raise corrupt(f"the lightgbm-text {where} has inconsistent categorical bitsets")
    if fields.get("is_linear", "0").strip() not in {"", "0"}:
        _check_linear_leaves(fields, num_leaves, n_features, where)


def _check_tree_shape(children: list[tuple[int, int]], num_leaves: int, where: str) -> None:
    """Every node reached exactly once from the root: a cycle would make predict loop forever.

    Non-negative children are internal nodes; negative ones encode leaf ~child.
    """
    seen_nodes = {0}
    seen_leaves: set[int] = set()
    pending = [0]
    while pending:
        for child in children[pending.pop()]:
            if child >= 0:
                if child >= len(children) or child in seen_nodes:
                    raise corrupt(f"the lightgbm-text {where} has an invalid child node {child}")
                seen_nodes.add(child)
                pending.append(child)
            else:
                if ~child >= num_leaves or ~child in seen_leaves:
                    raise corrupt(f"the lightgbm-text {where} has an invalid leaf {~child}")
                seen_leaves.add(~child)
    if len(seen_nodes) != len(children) or len(seen_leaves) != num_leaves:
        raise corrupt(f"the lightgbm-text {where} has nodes unreachable from its root")


def _check_linear_leaves(
    fields: dict[str, str], num_leaves: int, n_features: int, where: str
) -> None:
    _sized_floats(fields, "leaf_const", num_leaves, where)
    per_leaf = _sized_ints(fields, "num_features", num_leaves, where)
    if any(n < 0 for n in per_leaf):
        raise corrupt(f"the lightgbm-text {where} has a negative feature count")
    leaf_features = _sized_ints(fields, "leaf_features", sum(per_leaf), where)
    _sized_floats(fields, "leaf_coeff", sum(per_leaf), where)
    if any(not 0 <= f < n_features for f in leaf_features):
        raise corrupt(f"the lightgbm-text {where} uses a feature that does not exist")


def _tree_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or key in fields:
            raise corrupt(f"the lightgbm-text tree has an unexpected line {line[:60]!r}")
        fields[key] = value
    return fields


def _utf8(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise corrupt(f"the lightgbm-text {where} is not UTF-8 text") from exc


def _int_field(fields: dict[str, str], key: str, *, minimum: int, where: str = "header") -> int:
    try:
        value = int(fields[key].strip())
    except (KeyError, ValueError) as exc:
        raise corrupt(f"the lightgbm-text {where} has no valid {key}") from exc
    if value < minimum:
        raise corrupt(f"the lightgbm-text {where} has an impossible {key}={value}")
    return value


def _int_list(value: str, where: str) -> list[int]:
    try:
        return [int(token) for token in value.split()]
    except ValueError as exc:
        raise corrupt(f"the lightgbm-text {where} has a malformed integer list") from exc


def _sized_ints(fields: dict[str, str], key: str, size: int, where: str) -> list[int]:
    values = _int_list(fields.get(key, ""), where)
    if len(values) != size:
        raise corrupt(f"the lightgbm-text {where} has {len(values)} {key} values, not {size}")
    return values


def _sized_floats(fields: dict[str, str], key: str, size: int, where: str) -> list[float]:
    try:
        values = [float(token) for token in fields.get(key, "").split()]
    except ValueError as exc:
        raise corrupt(f"the lightgbm-text {where} has a malformed {key} list") from exc
    if len(values) != size:
        raise corrupt(f"the lightgbm-text {where} has {len(values)} {key} values, not {size}")
    return values
