"""Structural checks that run before any model library sees the bytes.

Native parsers were not written for hostile input: an ONNX tensor with
external data makes onnxruntime open arbitrary files, and skops trusts the
zip layout it is given. These checks reject what the libraries would
mishandle, using only the standard library and protobuf. LightGBM's text
format has its own module, lightgbm_text.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import onnx

from core.errors import InvalidInput

from ._common import corrupt

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


# --- skops (zip) -----------------------------------------------------------------------------


def check_skops_archive(
    raw: bytes, *, max_uncompressed_bytes: int | None, max_members: int | None
) -> None:
    """Reject a skops zip that is malformed, too big once inflated, or has unsafe member names.

    Runs on the central directory only: nothing is decompressed here, and
    zipfile later stops inflating each member at its declared size, so the
    declared total bounds the memory skops can be made to use.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise corrupt(
            "the skops artifact is not a readable zip archive (truncated or not a skops file)"
        ) from exc

    if max_members is not None and len(members) > max_members:
        raise InvalidInput(
            f"the skops archive has {len(members)} members; the limit is {max_members}",
            code="archive_too_large",
            members=len(members),
            max_members=max_members,
        )
    declared = sum(member.file_size for member in members)
    if max_uncompressed_bytes is not None and declared > max_uncompressed_bytes:
        raise InvalidInput(
            f"the skops archive declares {declared} bytes uncompressed; "
            f"the limit is {max_uncompressed_bytes}",
            code="archive_too_large",
            uncompressed_bytes=declared,
            max_uncompressed_bytes=max_uncompressed_bytes,
        )

    seen: set[str] = set()
    for member in members:
        # zipfile silently cuts `filename` at a NUL byte; the original name keeps it.
        name = member.orig_filename
        problem = _unsafe_member_name(name)
        if problem is None and name in seen:
            problem = "is duplicated"
        if problem is not None:
            raise InvalidInput(
                f"the skops archive member {name!r} {problem}",
                code="archive_member_name",
                member=name,
            )
        seen.add(name)
        if member.flag_bits & 0x1:
            raise corrupt(f"the skops archive member {name!r} is encrypted")
    if "schema.json" not in seen:
        raise corrupt("the zip archive has no schema.json: it is not a skops artifact")


def _unsafe_member_name(name: str) -> str | None:
    if not name:
        return "has an empty name"
    if "\x00" in name:
        return "contains a NUL byte"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE_LETTER.match(name):
        return "starts with a drive letter"
    if ".." in name.split("/"):
        return "contains a '..' path component"
    return None


# --- onnx ------------------------------------------------------------------------------------


def check_onnx_no_external_data(model: onnx.ModelProto) -> None:
    """Refuse tensors stored outside the file: onnxruntime would read them from disk paths
    chosen by whoever wrote the model."""
    for tensor_name in _external_tensors(model):
        raise InvalidInput(
            f"the ONNX model stores tensor {tensor_name!r} as external data; "
            "only self-contained models are accepted",
            code="external_data",
            tensor=tensor_name,
        )


def _external_tensors(model: onnx.ModelProto) -> Iterator[str]:
    graphs: list[onnx.GraphProto] = [model.graph]
    graphs.extend(info.initialization for info in model.training_info)
    graphs.extend(info.algorithm for info in model.training_info)
    for function in model.functions:
        yield from _external_in_nodes(function.node)
    for graph in graphs:
        yield from _external_in_graph(graph)


def _external_in_graph(graph: onnx.GraphProto) -> Iterator[str]:
    for tensor in graph.initializer:
        if _is_external(tensor):
            yield tensor.name
    for sparse in graph.sparse_initializer:
        if _is_external(sparse.values) or _is_external(sparse.indices):
            yield sparse.values.name
    yield from _external_in_nodes(graph.node)


def _external_in_nodes(nodes: Any) -> Iterator[str]:
    for node in nodes:
        for attribute in node.attribute:
            tensors = [attribute.t, *attribute.tensors]
            for sparse in [attribute.sparse_tensor, *attribute.sparse_tensors]:
                tensors.extend([sparse.values, sparse.indices])
            for tensor in tensors:
                if _is_external(tensor):
                    yield tensor.name or f"{node.name or node.op_type}.{attribute.name}"
            for subgraph in [attribute.g, *attribute.graphs]:
                yield from _external_in_graph(subgraph)


def _is_external(tensor: onnx.TensorProto) -> bool:
    # onnxruntime follows data_location; an `external_data` list without it is still refused.
    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0
