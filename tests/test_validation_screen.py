"""The one-query screen (``conforms``) agrees with pandera on clean and corrupted data.

``validate`` asks pandera for a failure report only when the screen finds a failure, so the
screen must never pass a frame that pandera would fail. Random corruptions of real generated
data check both directions."""

from __future__ import annotations

import random

import pandera.polars as pa
import polars as pl
import pytest

from pipelines.defs.settings import EDC_SPEC, MAPPINGS_DIR, SDTM_SPEC
from pipelines.metadata import load_spec
from pipelines.metadata.validation import cdisc_schema, conforms, pandera_schema
from pipelines.raw import edc_schema, read_extract
from pipelines.sdtm import build_domains, load_mappings


def pandera_passes(df, schema) -> bool:
    try:
        pandera_schema(df, schema).validate(df, lazy=True)  # as validate() runs it
        return True
    except (pa.errors.SchemaErrors, pa.errors.SchemaError):
        return False


@pytest.fixture(scope="module")
def frames(small_extract):
    edc = load_spec(EDC_SPEC)
    sdtm = load_spec(SDTM_SPEC)
    raw = {k: v.frame.drop("raw_form", "raw_record") for k, v in read_extract(small_extract, edc).items()}
    results = build_domains({k: v.frame for k, v in read_extract(small_extract, edc).items()}, sdtm, load_mappings(MAPPINGS_DIR))
    out = [(df, edc_schema(edc, name)) for name, df in raw.items()]
    out += [(r.data, cdisc_schema(sdtm, name)) for name, r in results.items()]
    return out


def corrupt(df: pl.DataFrame, rng: random.Random) -> pl.DataFrame:
    kind = rng.choice(["value", "null", "duplicate", "swap", "extra", "drop", "dtype", "nan"])
    col = rng.choice(df.columns)
    i = rng.randrange(df.height)
    if kind == "value":
        bad = rng.choice(["X", "99-ZZZ-2020", "2020-13-01", "é", "x" * 250, "-1", "UN-UNK-UNKN", " "])
        if df.schema[col] == pl.String:
            return df.with_columns(pl.when(pl.int_range(pl.len()) == i).then(pl.lit(bad)).otherwise(pl.col(col)).alias(col))
        return df.with_columns(pl.when(pl.int_range(pl.len()) == i).then(pl.lit(-987654.0)).otherwise(pl.col(col)).cast(df.schema[col]).alias(col))
    if kind == "null":
        return df.with_columns(pl.when(pl.int_range(pl.len()) == i).then(None).otherwise(pl.col(col)).alias(col))
    if kind == "duplicate":
        return pl.concat([df, df.slice(i, 1)])
    if kind == "swap" and df.width > 1:
        cols = list(df.columns)
        a, b = rng.sample(range(len(cols)), 2)
        cols[a], cols[b] = cols[b], cols[a]
        return df.select(cols)
    if kind == "extra":
        return df.with_columns(pl.lit("x").alias("EXTRA"))
    if kind == "drop":
        return df.drop(col)
    if kind == "dtype":
        return df.with_columns(pl.col(col).cast(pl.String) if df.schema[col] != pl.String else pl.col(col).cast(pl.Categorical))
    floats = [c for c, t in df.schema.items() if t == pl.Float64]
    if floats:
        c = rng.choice(floats)
        return df.with_columns(pl.when(pl.int_range(pl.len()) == i).then(float("nan")).otherwise(pl.col(c)).alias(c))
    return df


def test_screen_passes_the_clean_generated_data(frames):
    for df, schema in frames:
        assert conforms(df, schema) is True, schema.name
        assert pandera_passes(df, schema), schema.name


def test_screen_agrees_with_pandera_on_corrupted_data(frames):
    rng = random.Random(20261125)
    disagreements, failing = [], 0
    for trial in range(300):
        df, schema = rng.choice(frames)
        if df.height == 0:
            continue
        bad = corrupt(df, rng)
        screen, full = conforms(bad, schema), pandera_passes(bad, schema)
        failing += not full
        if screen is not None and screen != full:
            disagreements.append((trial, schema.name, screen, full))
    assert failing > 100, "the corruptions must actually break the schema most of the time"
    assert disagreements == []


@pytest.mark.parametrize("per_value_rows", [0, 10**9])
def test_screen_by_distinct_values_agrees_with_pandera(frames, monkeypatch, per_value_rows):
    """Large frames run the value-by-value checks on each column's distinct values: forced on
    (and off) for these small frames, the screen still agrees with pandera."""
    import pipelines.metadata.validation as validation

    monkeypatch.setattr(validation, "PER_VALUE_ROWS", per_value_rows)
    rng = random.Random(20261207)
    disagreements = []
    for trial in range(150):
        df, schema = rng.choice(frames)
        if df.height == 0:
            continue
        bad = corrupt(df, rng)
        screen = conforms(bad, schema)
        if screen is not None and screen != pandera_passes(bad, schema):
            disagreements.append((trial, schema.name))
    assert disagreements == []
    assert all(conforms(df, schema) for df, schema in frames)
