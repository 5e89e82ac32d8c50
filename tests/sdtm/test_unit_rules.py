"""Rules convert_unit / standard_unit (pipelines/sdtm/unit_rules.py) and the unit table
(pipelines/metadata/units.py): table-driven, a tiny inline conversion table."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.metadata.model import SpecError
from pipelines.metadata.units import format_decimals, load_unit_table, round_half_up
from pipelines.sdtm.rules import RULES, check_params

from .test_rules import ctx

TABLE = """# a comment line
LBTESTCD,LBORRESU,LBSTRESU,FACTOR,DECIMALS
HGB,g/dL,g/L,10,0
HGB,g/L,g/L,1,0
CREAT,mg/dL,umol/L,88.4,0
BILI,mg/dL,umol/L,17.1,1
INR,,,1,2
"""


@pytest.fixture()
def table(tmp_path):
    p = tmp_path / "lab_units.csv"
    p.write_text(TABLE)
    return str(p)


def _apply(name, df, **params):
    check_params(RULES[name], params, "test")
    m = RULES[name].fn(ctx(), **params)
    out = df.select(m.expr.alias("v"), m.bad.fill_null(False).alias("bad"))
    return out["v"].to_list(), out["bad"].to_list()


CASES = [  # test, unit, value, LBSTRESN, LBSTRESC, LBSTRESU, finding
    ("HGB", "g/dL", 12.34, 123.0, "123", "g/L", False),
    ("HGB", "g/L", 95.0, 95.0, "95", "g/L", False),
    ("CREAT", "mg/dL", 1.0, 88.0, "88", "umol/L", False),     # 88.4 rounded
    ("CREAT", "mg/dL", 0.5, 44.0, "44", "umol/L", False),     # 44.2
    ("BILI", "mg/dL", 0.5, 8.6, "8.6", "umol/L", False),      # 8.55 half up
    ("INR", None, 1.125, 1.13, "1.13", None, False),          # a ratio: no unit
    ("HGB", "mmol/L", 8.0, None, None, None, True),           # no factor: a finding, not a silent null
    ("CREAT", None, 1.0, None, None, None, True),             # a number with no unit and no factor
    ("HGB", "g/dL", None, None, None, "g/L", False),          # not done: nothing to convert
]


def test_convert_unit_and_standard_unit(table):
    df = pl.DataFrame({"T": [c[0] for c in CASES], "U": [c[1] for c in CASES], "X": [c[2] for c in CASES]},
                      schema={"T": pl.String, "U": pl.String, "X": pl.Float64})
    p = dict(test="T", unit="U", table=table)
    n, bad_n = _apply("convert_unit", df, **{"from": "X"}, **p)
    c, _ = _apply("convert_unit", df, **{"from": "X"}, text=True, **p)
    u, bad_u = _apply("standard_unit", df, **p)
    assert n == [x[3] for x in CASES]
    assert c == [x[4] for x in CASES]
    assert bad_n == [x[6] for x in CASES]
    std = [x[5] for x in CASES]
    assert [v for v, b in zip(u, bad_u) if not b] == [s for s, x in zip(std, CASES) if not x[6]]
    assert bad_u == [x[6] for x in CASES]


def test_a_missing_table_is_an_error_naming_it(tmp_path):
    df = pl.DataFrame({"T": ["HGB"], "U": ["g/L"], "X": [1.0]})
    with pytest.raises(Exception, match="not found"):
        _apply("convert_unit", df, **{"from": "X"}, test="T", unit="U", table=str(tmp_path / "nope.csv"))


@pytest.mark.parametrize("text, message", [
    ("LBTESTCD,LBORRESU,LBSTRESU,FACTOR,DECIMALS\nHGB,g/dL,g/L,ten,0\n", "FACTOR"),
    ("LBTESTCD,LBORRESU,LBSTRESU,FACTOR,DECIMALS\nHGB,g/dL,g/L,10,0\nHGB,g/L,mmol/L,1,0\n", "several standard units"),
])
def test_a_bad_table_is_an_error_naming_the_file(tmp_path, text, message):
    p = tmp_path / "u.csv"
    p.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_unit_table(p)


@pytest.mark.parametrize("value, decimals, rounded, text", [
    (1.2, 2, 1.2, "1.20"), (40.0, 0, 40.0, "40"), (-0.45, 1, -0.5, "-0.5"), (2.5, 0, 3.0, "3"),
    (0.125, 2, 0.13, "0.13"), (None, 1, None, None),
])
def test_half_up_rounding_and_fixed_decimals(value, decimals, rounded, text):
    df = pl.DataFrame({"x": [value]}, schema={"x": pl.Float64})
    out = df.select(round_half_up(pl.col("x"), decimals).alias("r"), format_decimals(pl.col("x"), pl.lit(decimals)).alias("t"))
    assert out["r"].to_list() == [rounded]
    assert out["t"].to_list() == [text]
