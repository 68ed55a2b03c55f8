"""Inspect an uploaded dataset file (CSV or Parquet) without a database and in bounded memory.

The inspection is what the registry records about an evaluation dataset: its format, its row
count and a column schema in a small dtype vocabulary. Everything that would make later fairness
or explainability runs silently wrong (ragged rows, duplicate headers, undecodable bytes) is
refused here, with a stable code, rather than papered over the way pandas would.
"""

import codecs
import csv
import pathlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pat

from core.errors import InvalidInput

PARQUET_MAGIC = b"PAR1"
# Enough to tell text from binary without reading a large file twice.
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class ColumnSchema:
    name: str
    dtype: str
    nullable: bool


@dataclass(frozen=True)
class DatasetInspection:
    file_format: str
    row_count: int
    columns: list[ColumnSchema]

    def schema_json(self) -> list[dict]:
        return [{"name": c.name, "dtype": c.dtype, "nullable": c.nullable} for c in self.columns]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def inspect_dataset(path: pathlib.Path, *, chunk_rows: int = 100_000) -> DatasetInspection:
    """Detect the format from the bytes (never from a client-supplied name) and inspect it."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    path = pathlib.Path(path)
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput("The file is empty.", code="empty_file")
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        fh.seek(max(size - len(PARQUET_MAGIC), 0))
        tail = fh.read()
    if head.startswith(PARQUET_MAGIC):
        if tail != PARQUET_MAGIC:
            raise InvalidInput(
                "The file starts like Parquet but lacks the closing magic bytes: it looks truncated.",
                code="malformed_file",
            )
        return _inspect_parquet(path)
    _check_text(head, complete=size <= _SNIFF_BYTES)
    return _inspect_csv(path, chunk_rows)


def _not_text() -> InvalidInput:
    return InvalidInput("The file is neither Parquet nor UTF-8 CSV.", code="malformed_file")


def _check_text(head: bytes, *, complete: bool) -> None:
    # NUL is valid UTF-8 but never appears in a CSV; a zero-filled file would otherwise pass.
    if b"\x00" in head:
        raise _not_text()
    try:
        # An incremental decoder tolerates a multi-byte character cut at the sniff boundary.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        raise _not_text() from None


def _check_names(names: Sequence[str]) -> None:
    if any(not name.strip() for name in names):
        positions = [str(i + 1) for i, name in enumerate(names) if not name.strip()]
        raise InvalidInput(
            f"Empty column name (column {', '.join(positions)}).",
            code="malformed_file",
        )
    # Control characters (NUL above all) cannot be stored in PostgreSQL text or jsonb, and have
    # no business in a column name anyway.
    bad = [name for name in names if any(ord(ch) < 32 or ord(ch) == 127 for ch in name)]
    if bad:
        raise InvalidInput(
            f"Column names with control characters: {', '.join(map(repr, bad))}.",
            code="malformed_file",
        )
    duplicates = [name for name, n in Counter(names).items() if n > 1]
    if duplicates:
        raise InvalidInput(
            f"Duplicate column names: {', '.join(map(repr, duplicates))}.",
            code="duplicate_columns",
            duplicates=duplicates,
        )


# --- CSV -------------------------------------------------------------------------------------


def _is_blank(row: list[str]) -> bool:
    # Mirrors pandas' skip_blank_lines, which also skips whitespace-only lines.
    return not row or (len(row) == 1 and not row[0].strip())


def _check_csv_structure(path: pathlib.Path) -> list[str]:
    """Stream the raw records once and return the header: pandas renames duplicate headers to
    `a.1`, pads short rows with NaN and turns one extra field into an implicit index, silently."""
    try:
        # utf-8-sig strips a leading BOM; newline="" lets csv handle quoted line breaks.
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next((row for row in reader if not _is_blank(row)), None)
            if header is None:
                raise InvalidInput("The file contains only whitespace.", code="empty_file")
            _check_names(header)
            width = len(header)
            # The hot loop of the whole inspection: keep it to one comparison per record.
            for row in reader:
                if len(row) != width and not _is_blank(row):
                    line = reader.line_num
                    raise InvalidInput(
                        f"Malformed CSV, line {line}: expected {width} fields, saw {len(row)}.",
                        code="malformed_file",
                        line=line,
                    )
    except UnicodeDecodeError:
        raise _not_text() from None
    except csv.Error as exc:
        raise InvalidInput(f"Malformed CSV: {exc}.", code="malformed_file") from None
    return header


def _chunk_dtype(dtype: object) -> str:
    # read_csv never yields datetimes without parse_dates, so text is the only other outcome.
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    return "string"


def _merge_dtypes(seen: str | None, new: str) -> str:
    if seen is None or seen == new:
        return new
    if {seen, new} == {"integer", "float"}:
        return "float"
    # Whole-file parsing would have fallen back to text for any other mix (e.g. bool + int).
    return "string"


def _inspect_csv(path: pathlib.Path, chunk_rows: int) -> DatasetInspection:
    header = _check_csv_structure(path)
    width = len(header)
    dtypes: list[str | None] = [None] * width
    nullable = [False] * width
    row_count = 0
    try:
        # numpy_nullable keeps integer columns with gaps as Int64 instead of float64.
        reader = pd.read_csv(
            path,
            engine="c",
            encoding="utf-8-sig",
            chunksize=chunk_rows,
            dtype_backend="numpy_nullable",
        )
        with reader:
            for chunk in reader:
                if chunk.shape[1] != width:
                    raise InvalidInput(
                        f"Malformed CSV: expected {width} columns, pandas saw {chunk.shape[1]}.",
                        code="malformed_file",
                    )
                row_count += len(chunk)
                for i in range(width):
                    column = chunk.iloc[:, i]
                    missing = int(column.isna().sum())
                    nullable[i] = nullable[i] or missing > 0
                    # An all-missing chunk says nothing about the type (pandas calls it Int64).
                    if missing < len(column):
                        dtypes[i] = _merge_dtypes(dtypes[i], _chunk_dtype(column.dtype))
    except UnicodeDecodeError:
        raise _not_text() from None
    except pd.errors.EmptyDataError:
        raise InvalidInput("The file contains no CSV data.", code="empty_file") from None
    except (pd.errors.ParserError, ValueError) as exc:
        # The structural pass catches most of this first; pandas still owns e.g. an open quote.
        message = str(exc).strip().removeprefix("Error tokenizing data. C error: ")
        raise InvalidInput(f"Malformed CSV: {message}", code="malformed_file") from None
    if row_count == 0:
        raise InvalidInput("The CSV has a header but no data rows.", code="no_rows")
    columns = [
        # A column without a single value has no evidence of a type; text is the safe reading.
        ColumnSchema(name, dtype or "string", nullable[i])
        for i, (name, dtype) in enumerate(zip(header, dtypes, strict=True))
    ]
    return DatasetInspection("csv", row_count, columns)


# --- Parquet ---------------------------------------------------------------------------------


def _arrow_dtype(name: str, arrow_type: pa.DataType) -> str:
    if pat.is_dictionary(arrow_type):
        return _arrow_dtype(name, arrow_type.value_type)
    if pat.is_boolean(arrow_type):
        return "boolean"
    if pat.is_integer(arrow_type):
        return "integer"
    if pat.is_floating(arrow_type) or pat.is_decimal(arrow_type):
        return "float"
    if pat.is_timestamp(arrow_type) or pat.is_date(arrow_type):
        return "datetime"
    if any(
        check(arrow_type)
        for check in (pat.is_string, pat.is_large_string, pat.is_string_view, pat.is_null)
    ):
        return "string"
    raise InvalidInput(
        f"Column {name!r} has Parquet type {arrow_type}, which is not a supported tabular type.",
        code="unsupported_column_type",
        column=name,
    )


def _inspect_parquet(path: pathlib.Path) -> DatasetInspection:
    try:
        # Only the footer is read: row count, schema and statistics all live in the metadata.
        parquet = pq.ParquetFile(path)
        metadata = parquet.metadata
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"Corrupt Parquet file: {exc}", code="malformed_file") from None
    # pandas stores a non-range index as a column; pandas reads it back as the index, not data.
    try:
        pandas_meta = schema.pandas_metadata or {}
    except ValueError:  # the "pandas" key holds something that is not JSON
        pandas_meta = {}
    raw_index = pandas_meta.get("index_columns", []) if isinstance(pandas_meta, dict) else []
    index_columns = (
        {c for c in raw_index if isinstance(c, str)} if isinstance(raw_index, list) else set()
    )
    fields = [field for field in schema if field.name not in index_columns]
    if not fields:
        raise InvalidInput("The Parquet file has no columns.", code="empty_file")
    _check_names([field.name for field in fields])
    if metadata.num_rows == 0:
        raise InvalidInput("The Parquet file has a schema but no rows.", code="no_rows")
    # Writers mark nearly every field optional, so statistics decide when they are present.
    nulls: dict[str, int | None] = {}
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for j in range(group.num_columns):
            chunk = group.column(j)
            stats = chunk.statistics
            known = stats is not None and stats.has_null_count
            before = nulls.get(chunk.path_in_schema, 0)
            nulls[chunk.path_in_schema] = (
                before + stats.null_count if known and before is not None else None
            )
    columns = [
        ColumnSchema(
            field.name,
            _arrow_dtype(field.name, field.type),
            field.nullable and nulls.get(field.name) != 0,
        )
        for field in fields
    ]
    return DatasetInspection("parquet", metadata.num_rows, columns)


# --- Declarations ----------------------------------------------------------------------------


def validate_declared_columns(
    columns: Sequence[str],
    *,
    target_column: str = "",
    sensitive_features: Sequence[str] = (),
    prediction_column: str = "",
    score_column: str = "",
) -> None:
    """Check that the roles a dataset's uploader declared are coherent and exist in the file."""
    if prediction_column and not target_column:
        raise InvalidInput(
            "A prediction column needs a target column: metrics on predictions need y_true.",
            code="invalid_declaration",
        )
    repeated = [name for name, n in Counter(sensitive_features).items() if n > 1]
    if repeated:
        raise InvalidInput(
            f"Sensitive features are listed more than once: {', '.join(map(repr, repeated))}.",
            code="invalid_declaration",
        )
    if target_column:
        if target_column in sensitive_features:
            problem = "also a sensitive feature"
        elif target_column in (prediction_column, score_column):
            problem = "also the prediction or score column"
        else:
            problem = ""
        if problem:
            raise InvalidInput(
                f"Target column {target_column!r} is {problem}.", code="invalid_declaration"
            )
    declared = [target_column, *sensitive_features, prediction_column, score_column]
    available = list(columns)
    known = set(available)
    unknown = list(dict.fromkeys(n for n in declared if n and n not in known))
    # A blank sensitive feature would otherwise vanish silently instead of being reported.
    unknown += [n for n in sensitive_features if not n and n not in unknown]
    if unknown:
        raise InvalidInput(
            f"Unknown column(s) {', '.join(map(repr, unknown))}; "
            f"available columns: {', '.join(map(repr, available))}.",
            code="unknown_column",
            unknown=unknown,
            available=available,
        )
