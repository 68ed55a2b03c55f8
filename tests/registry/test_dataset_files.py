"""Dataset file inspection: pure functions, no database."""

import csv
import gzip
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from core.errors import InvalidInput
from registry.dataset_files import (
    ColumnSchema,
    DatasetInspection,
    inspect_dataset,
    validate_declared_columns,
)

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week",
    "native_country", "income",
]  # fmt: skip
ADULT_HEADER = ",".join(ADULT_COLUMNS)
ADULT_ROW = "25,Private,226802,11th,7,Never-married,Machine-op-inspct,Own-child,Black,Male,0,0,40,United-States,<=50K"


def _gunzip(name: str, dest: Path) -> Path:
    with gzip.open(DATA / name, "rb") as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out)
    return dest


@pytest.fixture
def adult_csv(tmp_path: Path) -> Path:
    return _gunzip("adult_test.csv.gz", tmp_path / "adult.csv")


@pytest.fixture
def adult_parquet(adult_csv: Path, tmp_path: Path) -> Path:
    # Empty cells must become nulls, as pandas reads them, for the schemas to be comparable.
    options = pacsv.ConvertOptions(strings_can_be_null=True)
    table = pacsv.read_csv(adult_csv, convert_options=options)
    path = tmp_path / "adult.parquet"
    # Several row groups, so null statistics have to be summed across them.
    pq.write_table(table, path, row_group_size=5_000)
    return path


def _write(tmp_path: Path, content: str | bytes, name: str = "upload.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _refused(path: Path, code: str, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        inspect_dataset(path, **kwargs)
    assert caught.value.code == code, caught.value.detail
    return caught.value


def _dtypes(inspection: DatasetInspection) -> dict[str, str]:
    return {c.name: c.dtype for c in inspection.columns}


# --- Real data -------------------------------------------------------------------------------


def test_adult_csv_schema(adult_csv: Path) -> None:
    result = inspect_dataset(adult_csv)
    assert result.file_format == "csv"
    assert result.row_count == 16_281
    assert result.column_names == ADULT_COLUMNS
    by_name = {c.name: c for c in result.columns}
    assert by_name["age"] == ColumnSchema("age", "integer", False)
    assert by_name["workclass"] == ColumnSchema("workclass", "string", True)
    assert by_name["income"].dtype == "string"
    assert by_name["hours_per_week"].dtype == "integer"
    assert result.schema_json()[0] == {"name": "age", "dtype": "integer", "nullable": False}
    assert [c["name"] for c in result.schema_json()] == ADULT_COLUMNS


def test_adult_parquet_matches_csv(adult_csv: Path, adult_parquet: Path) -> None:
    from_csv = inspect_dataset(adult_csv)
    from_parquet = inspect_dataset(adult_parquet)
    assert from_parquet.file_format == "parquet"
    assert from_parquet.row_count == from_csv.row_count == 16_281
    assert from_parquet.column_names == from_csv.column_names
    assert from_parquet.columns == from_csv.columns


def test_format_comes_from_content_not_name(adult_csv: Path, adult_parquet: Path) -> None:
    disguised_parquet = adult_parquet.rename(adult_parquet.with_name("upload.csv"))
    disguised_csv = adult_csv.rename(adult_csv.with_name("upload.parquet"))
    assert inspect_dataset(disguised_parquet).file_format == "parquet"
    assert inspect_dataset(disguised_csv).file_format == "csv"


def test_german_credit_csv(tmp_path: Path) -> None:
    result = inspect_dataset(_gunzip("german_credit.csv.gz", tmp_path / "g.csv"))
    assert (result.row_count, len(result.columns)) == (1_000, 21)
    assert _dtypes(result)["credit"] == "string"
    assert _dtypes(result)["credit_amount"] == "integer"


# --- Streaming -------------------------------------------------------------------------------


def test_chunked_count_matches_independent_count(
    adult_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with adult_csv.open(newline="") as fh:
        expected_rows = sum(1 for row in csv.reader(fh) if row) - 1
    chunk_sizes: list[int] = []
    real_read_csv = pd.read_csv

    class Spy:
        def __init__(self, reader: Any) -> None:
            self.reader = reader

        def __enter__(self) -> "Spy":
            return self

        def __exit__(self, *exc: object) -> None:
            self.reader.close()

        def __iter__(self) -> Iterator[pd.DataFrame]:
            for chunk in self.reader:
                chunk_sizes.append(len(chunk))
                yield chunk

    def spy_read_csv(*args: Any, **kwargs: Any) -> Spy:
        assert kwargs["chunksize"] == 1_000
        return Spy(real_read_csv(*args, **kwargs))

    monkeypatch.setattr(pd, "read_csv", spy_read_csv)
    result = inspect_dataset(adult_csv, chunk_rows=1_000)
    assert result.row_count == expected_rows == 16_281
    assert len(chunk_sizes) == 17 and max(chunk_sizes) == 1_000
    monkeypatch.undo()
    assert result == inspect_dataset(adult_csv)


def test_dtypes_merge_across_chunks(tmp_path: Path) -> None:
    lines = ["late_float,late_text,gappy_int,flag,all_empty,bool_then_int"]
    for i in range(2_500):
        late_float = "2.5" if i == 2_400 else str(i)
        late_text = "n/a-ish" if i == 2_450 else str(i)
        gappy_int = "" if i % 7 == 0 else str(i)
        flag = "" if i == 10 else ("true" if i % 2 else "False")
        bool_then_int = "1" if i >= 2_000 else "True"
        lines.append(f"{late_float},{late_text},{gappy_int},{flag},,{bool_then_int}")
    result = inspect_dataset(_write(tmp_path, "\n".join(lines) + "\n"), chunk_rows=1_000)
    assert result.row_count == 2_500
    assert result.columns == [
        ColumnSchema("late_float", "float", False),
        ColumnSchema("late_text", "string", False),
        # Gaps do not demote integers to float (pandas' default numpy backend would).
        ColumnSchema("gappy_int", "integer", True),
        ColumnSchema("flag", "boolean", True),
        ColumnSchema("all_empty", "string", True),
        ColumnSchema("bool_then_int", "string", False),
    ]


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\xef\xbb\xbfa,b\r\n1,x\r\n2,y\r\n")
    result = inspect_dataset(path)
    assert result.column_names == ["a", "b"]
    assert result.row_count == 2


# --- CSV refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"  \n\t\n \r\n", b"\xef\xbb\xbf"])
def test_empty_file_refused(tmp_path: Path, content: bytes) -> None:
    _refused(_write(tmp_path, content), "empty_file")


@pytest.mark.parametrize("content", [ADULT_HEADER + "\n", ADULT_HEADER + "\n\n\n"])
def test_header_without_rows_refused(tmp_path: Path, content: str) -> None:
    error = _refused(_write(tmp_path, content), "no_rows")
    assert "no data rows" in error.detail


def test_ragged_row_refused_with_line_number(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{ADULT_HEADER}\n{ADULT_ROW}\n{ADULT_ROW},x,y\n{ADULT_ROW}\n")
    error = _refused(path, "malformed_file")
    assert "line 3: expected 15 fields, saw 17" in error.detail
    assert error.extra["line"] == 3


@pytest.mark.parametrize(
    "content",
    [
        "a,b\n1,2\n3\n",  # pandas would pad the short row with NaN
        "a,b\n1,2,3\n4,5,6\n",  # pandas would take the first field as an implicit index
        'a,b\n1,"unterminated\n2,3\n',
    ],
)
def test_malformed_rows_refused(tmp_path: Path, content: str) -> None:
    _refused(_write(tmp_path, content), "malformed_file")


def test_duplicate_columns_refused(tmp_path: Path) -> None:
    error = _refused(_write(tmp_path, "a,b,a,c,b\n1,2,3,4,5\n"), "duplicate_columns")
    assert "'a'" in error.detail and "'b'" in error.detail
    assert error.extra["duplicates"] == ["a", "b"]


@pytest.mark.parametrize("header", ["a,,b", "a,b,", "a, ,b"])
def test_empty_column_name_refused(tmp_path: Path, header: str) -> None:
    error = _refused(_write(tmp_path, f"{header}\n1,2,3\n"), "malformed_file")
    assert "Empty column name" in error.detail


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(4_096),
        b"\x00" * 512,  # valid UTF-8, still binary
        b"a,b\n" + b"1,2\n" * 20_000 + b"3,caf\xe9\n",  # Latin-1 past the sniffed head
    ],
)
def test_binary_or_non_utf8_refused(tmp_path: Path, content: bytes) -> None:
    error = _refused(_write(tmp_path, content), "malformed_file")
    assert "neither Parquet nor UTF-8 CSV" in error.detail


# --- Parquet ---------------------------------------------------------------------------------


def test_parquet_type_mapping_and_nullability(tmp_path: Path) -> None:
    table = pa.table(
        {
            "i": pa.array([1, 2], pa.int32()),
            "f": pa.array([0.5, None], pa.float32()),
            "b": pa.array([True, False]),
            "s": pa.array(["x", "y"]).dictionary_encode(),
            "t": pa.array([0, 1], pa.timestamp("us", tz="UTC")),
            "d": pa.array([1, 2], pa.date32()),
            "m": pa.array(["1.10", "2.20"]).cast(pa.decimal128(5, 2)),
        }
    )
    table = table.cast(table.schema.set(0, pa.field("i", pa.int32(), nullable=False)))
    pq.write_table(table, tmp_path / "t.parquet")
    assert inspect_dataset(tmp_path / "t.parquet").schema_json() == [
        {"name": "i", "dtype": "integer", "nullable": False},
        {"name": "f", "dtype": "float", "nullable": True},
        {"name": "b", "dtype": "boolean", "nullable": False},
        {"name": "s", "dtype": "string", "nullable": False},
        {"name": "t", "dtype": "datetime", "nullable": False},
        {"name": "d", "dtype": "datetime", "nullable": False},
        {"name": "m", "dtype": "float", "nullable": False},
    ]


def test_parquet_without_statistics_trusts_schema(tmp_path: Path) -> None:
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "p", write_statistics=False)
    assert inspect_dataset(tmp_path / "p").columns == [ColumnSchema("a", "integer", True)]


def test_parquet_pandas_index_is_not_a_column(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "score": [0.1, 0.9]}).set_index("id")
    frame.to_parquet(tmp_path / "p")
    assert inspect_dataset(tmp_path / "p").column_names == ["score"]


def test_parquet_refusals(tmp_path: Path, adult_parquet: Path) -> None:
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), tmp_path / "none")
    _refused(tmp_path / "none", "no_rows")
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], ["x", "x"]), tmp_path / "d")
    assert _refused(tmp_path / "d", "duplicate_columns").extra["duplicates"] == ["x"]
    pq.write_table(pa.table({"l": pa.array([[1, 2]])}), tmp_path / "nested")
    _refused(tmp_path / "nested", "unsupported_column_type")


def test_corrupt_parquet_refused(tmp_path: Path, adult_parquet: Path) -> None:
    data = adult_parquet.read_bytes()
    truncated = _write(tmp_path, data[: len(data) // 2], "truncated")
    assert "truncated" in _refused(truncated, "malformed_file").detail
    footer_cut = _write(tmp_path, data[:4] + data[-200:], "footer")
    _refused(footer_cut, "malformed_file")
    _refused(_write(tmp_path, b"PAR1" + os.urandom(64) + b"PAR1", "garbage"), "malformed_file")


# --- Declarations ----------------------------------------------------------------------------

GERMAN = ["status", "duration", "credit_amount", "status_sex", "age", "credit", "pred", "proba"]


def test_declarations_accepted() -> None:
    validate_declared_columns(
        GERMAN, target_column="credit", sensitive_features=["status_sex", "age"]
    )
    validate_declared_columns(
        GERMAN, target_column="credit", sensitive_features=["age"], prediction_column="pred",
        score_column="proba",
    )  # fmt: skip
    validate_declared_columns(GERMAN)


def test_unknown_columns_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_declared_columns(
            GERMAN, target_column="credit", sensitive_features=["sex", "age", "race"]
        )
    error = caught.value
    assert error.code == "unknown_column"
    assert "'sex'" in error.detail and "'race'" in error.detail and "'status_sex'" in error.detail
    assert error.extra == {"unknown": ["sex", "race"], "available": GERMAN}


@pytest.mark.parametrize(
    "declaration",
    [
        {"target_column": "credit", "sensitive_features": ["age", "credit"]},
        {"target_column": "credit", "prediction_column": "credit"},
        {"target_column": "credit", "score_column": "credit"},
        {"target_column": "credit", "sensitive_features": ["age", "age"]},
        {"prediction_column": "pred"},
    ],
)
def test_incoherent_declarations_refused(declaration: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_declared_columns(GERMAN, **declaration)
    assert caught.value.code == "invalid_declaration"


def test_blank_sensitive_feature_is_unknown() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_declared_columns(GERMAN, target_column="credit", sensitive_features=["age", ""])
    assert caught.value.code == "unknown_column"
