"""The vectorised XPT reader returns exactly what pyreadstat returns (bit for bit), and hands over
to pyreadstat for files it does not handle."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyreadstat
import pytest

from pipelines.xpt.fast import UnsupportedXpt, iter_frames, read_frame, read_layout
from pipelines.xpt.facts import iter_chunks, read_xpt_facts
from pipelines.metadata.model import Dataset, Variable
from pipelines.xpt import write_xpt


def assert_same_as_pyreadstat(path):
    expected, meta = pyreadstat.read_xport(str(path), output_format="polars", disable_datetime_conversion=True)
    got = read_frame(path)
    layout = read_layout(path)
    assert got.columns == list(meta.column_names)
    assert layout.rows == (expected.height if expected.width else 0)
    assert layout.label == (meta.file_label or "") and layout.name == meta.table_name
    for v in layout.variables:
        assert v.length == meta.variable_storage_width[v.name]
        assert v.label == (meta.column_names_to_labels[v.name] or "")
    if layout.rows == 0:
        assert got.height == 0
        return
    for name in got.columns:
        a, b = expected.get_column(name), got.get_column(name)
        if b.dtype == pl.String:
            assert a.replace("", None).eq_missing(b).all(), name
        else:
            a = a.cast(pl.Float64).fill_nan(None)
            assert (a.is_null() == b.is_null()).all(), name
            assert (a.drop_nulls().to_numpy().view(np.uint64) == b.drop_nulls().to_numpy().view(np.uint64)).all(), name


def test_the_study_files_read_identically(published):
    files = sorted(published.study.sdtm_dir.glob("*.xpt")) + sorted(published.study.adam_dir.glob("*.xpt"))
    assert len(files) == 6
    for path in files:
        assert_same_as_pyreadstat(path)


def test_random_numbers_short_rows_blanks_and_missing(tmp_path):
    rng = np.random.default_rng(11)
    n = 997
    magnitudes = 10.0 ** rng.uniform(-70, 74, n)
    values = np.where(rng.random(n) < 0.5, -magnitudes, magnitudes)
    values[::17] = np.round(values[::17])
    values[::23] = 0.0
    ds = Dataset(name="RND", label="Random", variables=(
        Variable("RND", "X", 1, "x", "float"),
        Variable("RND", "C", 2, "c", "text"),
        Variable("RND", "D", 3, "d", "integer", format="DATE9."),
    ))
    df = pl.DataFrame({
        "X": [None if i % 31 == 0 else float(v) for i, v in enumerate(values)],
        "C": [None if i % 5 == 0 else (" " * (i % 3)) + "v" * (i % 4 + 1) for i in range(n)],
        "D": [dt.date(1900, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 60000, n)],
    })
    written = write_xpt(df, tmp_path, ds, dt.date(2029, 7, 31))
    assert_same_as_pyreadstat(written.path)
    # Chunks concatenate to the whole file.
    whole = read_frame(written.path)
    assert pl.concat(list(iter_frames(written.path, 100))).equals(whole)


@pytest.mark.parametrize("rows", [0, 1, 3, 79])
def test_tiny_rows_and_the_padding_of_the_last_record(tmp_path, rows):
    # A 2-byte observation: the blank padding to 80 bytes must not become extra rows.
    ds = Dataset(name="TINY", label="Tiny", variables=(Variable("TINY", "A", 1, "a", "text"), Variable("TINY", "B", 2, "b", "text")))
    df = pl.DataFrame({"A": ["x"] * rows, "B": [None if i % 2 else "y" for i in range(rows)]}, schema={"A": pl.String, "B": pl.String})
    written = write_xpt(df, tmp_path, ds, dt.date(2029, 7, 31))
    assert read_layout(written.path).rows == rows
    assert_same_as_pyreadstat(written.path)


def test_header_timestamp_and_formats(published):
    layout = read_layout(published.study.adam_dir / "adsl.xpt")
    assert layout.created == layout.modified == dt.datetime(2029, 7, 31)
    assert {v.name: v.format for v in layout.variables}["RANDDT"] == "DATE9"


def test_a_file_the_fast_reader_does_not_handle_falls_back_to_pyreadstat(tmp_path):
    path = tmp_path / "nonascii.xpt"
    pyreadstat.write_xport(pl.DataFrame({"A": ["é", "b"]}), str(path), table_name="NONASCII", file_format_version=5)
    with pytest.raises(UnsupportedXpt):
        read_frame(path)
    facts = read_xpt_facts(path)  # the header is plain ASCII; the data is not
    chunks = list(iter_chunks(facts, 10))
    assert len(chunks) == 1 and chunks[0].get_column("A").to_list() == ["é", "b"]
