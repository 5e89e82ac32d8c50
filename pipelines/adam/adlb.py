"""ADLB: laboratory analysis dataset (BDS), one record per subject, parameter and sample.

Pure functions from frames to a frame (admiral's ``derive_param_*`` / ``derive_var_*`` in
polars), called by the builder ``laboratory`` of sheet ``Dataset Builders``:

* :func:`lab_records`: PARAMCD/PARAM per test in standard units (``LBTESTCD``; a test measured
  by several methods gets one parameter per method, named by the builder's ``paramcd``
  parameter), AVAL/AVALC, ADT/ADY, AVISIT/AVISITN, ANRLO/ANRHI, ANRIND;
* :func:`derive_baseline`: ABLFL on the last record with a result on or before the first dose
  (TRTSDT) per subject and parameter; BASE, BASEC, BNRIND, BTOXGRL/H; CHG, PCHG and SHIFT1 on the
  post-baseline records (after the first dose); ONTRTFL (after the first dose, up to the last
  dose + the window: the records of the worst-grade flags);
* :func:`derive_toxgr`: CTCAE grades ATOXGRL/ATOXGRH from a grading table kept as data
  (:func:`load_grading`, ``specs/<study>/ctcae_v5_lab.csv``: SQL conditions per parameter,
  direction and grade, as admiral's ``atoxgr_criteria_ctcv5``);
* :func:`derive_base_grades`: BTOXGRL/BTOXGRH, the grades of the baseline record;
* :func:`derive_worst`: WGRLOFL/WGRHIFL, the worst on-treatment grade per subject and parameter
  (the first such record);
* :func:`derive_hys_law`: HYLAWFL on the samples where a transaminase exceeds ``k1`` x ULN and
  the total bilirubin ``k2`` x ULN (same subject, same date).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..keys import SUBJECT
from ..metadata.model import SpecError
from ..metadata.sheets import csv_table
from .conform import attach
from .dates import compute_complete_date, compute_study_day

DIRECTIONS = {"L": "ATOXGRL", "H": "ATOXGRH"}


@dataclass(frozen=True)
class GradeCriterion:
    paramcd: str
    direction: str  # L or H
    term: str
    grade: int
    condition: str


def load_grading(path: str | Path) -> tuple[GradeCriterion, ...]:
    """The grading table (columns PARAMCD, DIRECTION, TERM, GRADE, CONDITION; ``#`` comments); a
    bad row is an error naming the file, line and column."""
    p = Path(path)
    head_line, header, rows = csv_table(p, "toxicity grading table")
    need = ["PARAMCD", "DIRECTION", "TERM", "GRADE", "CONDITION"]
    if header != need:
        raise SpecError(f"{p}: line {head_line}: columns must be {', '.join(need)}, got {', '.join(header)}")
    out = []
    for line, r in rows:
        if len(r) != len(need):
            raise SpecError(f"{p}: line {line}: {len(r)} fields, expected {len(need)}")
        d = dict(zip(need, (x.strip() for x in r)))
        if d["DIRECTION"] not in DIRECTIONS:
            raise SpecError(f"{p}: line {line}: column DIRECTION: {d['DIRECTION']!r} is not L or H")
        if not d["GRADE"].isdigit() or not 1 <= int(d["GRADE"]) <= 5:
            raise SpecError(f"{p}: line {line}: column GRADE: {d['GRADE']!r} is not a grade 1-5")
        try:
            pl.sql_expr(d["CONDITION"])
        except Exception as exc:  # noqa: BLE001 - polars raises several types for bad SQL
            raise SpecError(f"{p}: line {line}: column CONDITION: not a SQL condition: {exc}") from None
        out.append(GradeCriterion(d["PARAMCD"], d["DIRECTION"], d["TERM"], int(d["GRADE"]), d["CONDITION"]))
    return tuple(out)


def _paramcd_map(text: str | None) -> dict[tuple[str, str], str]:
    """``PROT DIPSTICK:PROTDIP, PROT TURBIDIMETRY:PROT24H`` -> {(test, method): paramcd}."""
    out = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, _, code = part.partition(":")
        test, _, method = key.strip().partition(" ")
        if not code.strip() or not method.strip():
            raise SpecError(f"builder parameter paramcd: {part.strip()!r} is not 'TESTCD METHOD:PARAMCD'")
        out[(test, method.strip())] = code.strip()
    return out


def lab_records(lb: pl.DataFrame, adsl: pl.DataFrame, paramcd: str | None = None) -> pl.DataFrame:
    """One record per LB result (tests not done are kept with a null AVAL/AVALC) with the analysis
    variables of the parameter, date, visit and range; ADSL gives TRTSDT/TRTEDT."""
    by_method = _paramcd_map(paramcd)
    code = pl.col("LBTESTCD")
    for (test, method), pc in by_method.items():
        code = pl.when((pl.col("LBTESTCD") == test) & (pl.col("LBMETHOD") == method)).then(pl.lit(pc)).otherwise(code)
    unit = pl.col("LBSTRESU").fill_null("")
    several = pl.col("LBMETHOD").n_unique().over("LBTESTCD") > 1
    name = pl.when(several & pl.col("LBMETHOD").is_not_null()).then(
        pl.col("LBTEST") + pl.lit(", ") + pl.col("LBMETHOD").str.to_lowercase()).otherwise(pl.col("LBTEST"))
    param = pl.when(unit != "").then(name + pl.lit(" (") + unit + pl.lit(")")).otherwise(name)
    df = (
        lb.with_columns(code.alias("PARAMCD"))
        .with_columns(
            # a unit that varies within a test would be two parameters: the unit is part of PARAM
            pl.col("LBSTRESU").drop_nulls().first().over("PARAMCD").alias("_unit"),
            compute_complete_date("LBDTC").alias("ADT"),
        )
        .with_columns(
            param.alias("PARAM"),
            pl.col("LBSTRESN").cast(pl.Float64).alias("AVAL"),
            pl.col("LBSTRESC").alias("AVALC"),
            pl.col("LBSTNRLO").cast(pl.Float64).alias("ANRLO"),
            pl.col("LBSTNRHI").cast(pl.Float64).alias("ANRHI"),
            pl.col("VISIT").alias("AVISIT"),
            pl.col("VISITNUM").cast(pl.Float64).alias("AVISITN"),
        )
    )
    df = attach(df, adsl.select(SUBJECT, "TRTSDT", "TRTEDT"), [SUBJECT]).with_columns(
        compute_study_day("ADT", "TRTSDT").alias("ADY"))
    order = df.select("LBCAT", "PARAMCD").unique().sort("LBCAT", "PARAMCD", nulls_last=True)
    order = order.unique("PARAMCD", keep="first", maintain_order=True).with_row_index("PARAMN", offset=1)
    df = attach(df, order.select("PARAMCD", pl.col("PARAMN").cast(pl.Int64)), ["PARAMCD"])
    return df.with_columns(compute_anrind("AVAL", "ANRLO", "ANRHI", "LBNRIND").alias("ANRIND")).drop("_unit")


def compute_anrind(aval: str, lo: str, hi: str, collected: str | None = None) -> pl.Expr:
    """LOW / HIGH / NORMAL from a number and its range (null without a result or a range); a
    character result keeps the collected indicator (``collected``, e.g. LBNRIND)."""
    a, low, high = pl.col(aval), pl.col(lo), pl.col(hi)
    expr = (
        pl.when(a.is_null()).then(pl.col(collected) if collected else pl.lit(None, pl.String))
        .when(low.is_not_null() & (a < low)).then(pl.lit("LOW"))
        .when(high.is_not_null() & (a > high)).then(pl.lit("HIGH"))
        .when(low.is_not_null() | high.is_not_null()).then(pl.lit("NORMAL"))
        .otherwise(pl.lit(None, pl.String))
    )
    return expr


def derive_toxgr(df: pl.DataFrame, criteria: tuple[GradeCriterion, ...]) -> pl.DataFrame:
    """ATOXGRL / ATOXGRH (text, "0".."4"): the highest grade of the table whose condition holds
    for the record's parameter and direction; "0" when none holds and there is a result; null for
    a parameter the table does not grade in that direction, or without a result."""
    cols = []
    for direction, target in DIRECTIONS.items():
        rows = sorted((c for c in criteria if c.direction == direction), key=lambda c: (c.paramcd, -c.grade))
        graded = sorted({c.paramcd for c in rows})
        has_result = pl.col("AVAL").is_not_null() | pl.col("AVALC").is_not_null()
        expr = pl.when(~pl.col("PARAMCD").is_in(graded) | ~has_result).then(pl.lit(None, pl.String))
        for c in rows:
            expr = expr.when((pl.col("PARAMCD") == c.paramcd) & pl.sql_expr(c.condition).fill_null(False)).then(
                pl.lit(str(c.grade)))
        cols.append(expr.otherwise(pl.lit("0")).alias(target))
    return df.with_columns(cols)


def derive_baseline(df: pl.DataFrame, window_days: int | None = None) -> pl.DataFrame:
    """ABLFL, BASE/BASEC/BNRIND/BTOXGRL/BTOXGRH, ONTRTFL, CHG/PCHG/SHIFT1 (see the module)."""
    key = [SUBJECT, "PARAMCD"]
    has = pl.col("AVAL").is_not_null() | pl.col("AVALC").is_not_null()
    pre = has & pl.col("ADT").is_not_null() & pl.col("TRTSDT").is_not_null() & (pl.col("ADT") <= pl.col("TRTSDT"))
    df = df.with_row_index("_row")
    last = (df.filter(pre).group_by(key).agg(pl.col("_row").sort_by(["ADT", "LBSEQ", "_row"]).last())
            .with_columns(pl.lit("Y").alias("ABLFL")))
    df = attach(df, last, [*key, "_row"])
    bcols = {"AVAL": "BASE", "AVALC": "BASEC", "ANRIND": "BNRIND", "ATOXGRL": "BTOXGRL", "ATOXGRH": "BTOXGRH"}
    bcols = {k: v for k, v in bcols.items() if k in df.columns}
    base = df.filter(pl.col("ABLFL") == "Y").select(*key, *[pl.col(k).alias(v) for k, v in bcols.items()])
    df = attach(df, base, key)
    post = pl.col("ADT").is_not_null() & pl.col("TRTSDT").is_not_null() & (pl.col("ADT") > pl.col("TRTSDT"))
    on_trt = post
    if window_days is not None:
        end = pl.col("TRTEDT") + pl.duration(days=window_days)
        on_trt = post & (pl.col("TRTEDT").is_null() | (pl.col("ADT") <= end))
    chg = pl.col("AVAL") - pl.col("BASE")
    return df.with_columns(
        pl.when(on_trt).then(pl.lit("Y")).otherwise(pl.lit(None, pl.String)).alias("ONTRTFL"),
        pl.when(post).then(chg).alias("CHG"),
        pl.when(post & (pl.col("BASE") != 0)).then(chg / pl.col("BASE") * 100).alias("PCHG"),
        pl.when(post & pl.col("BNRIND").is_not_null() & pl.col("ANRIND").is_not_null())
        .then(pl.col("BNRIND") + pl.lit(" to ") + pl.col("ANRIND")).alias("SHIFT1"),
    ).drop("_row")


def derive_base_grades(df: pl.DataFrame) -> pl.DataFrame:
    """BTOXGRL / BTOXGRH: the grades of the baseline record (ABLFL = "Y") on every record of the
    subject and parameter (the grades are derived after the baseline, whose BASE and BNRIND the
    grading criteria may use)."""
    key = [SUBJECT, "PARAMCD"]
    grades = {"ATOXGRL": "BTOXGRL", "ATOXGRH": "BTOXGRH"}
    base = df.filter(pl.col("ABLFL") == "Y").select(*key, *[pl.col(a).alias(b) for a, b in grades.items()])
    return attach(df.drop(list(grades.values()), strict=False), base, key)


def derive_worst(df: pl.DataFrame) -> pl.DataFrame:
    """WGRLOFL / WGRHIFL = "Y" on the on-treatment record (ONTRTFL) with the highest ATOXGRL /
    ATOXGRH per subject and parameter (the earliest of equal grades)."""
    df = df.with_row_index("_row")
    for grade, flag in (("ATOXGRL", "WGRLOFL"), ("ATOXGRH", "WGRHIFL")):
        g = pl.col(grade).cast(pl.Int64, strict=False)
        pick = (df.select(SUBJECT, "PARAMCD", "ADT", "_row", "ONTRTFL", g.alias("_g"))  # narrow: no copy of the wide frame
                .filter((pl.col("ONTRTFL") == "Y") & pl.col("_g").is_not_null())
                .sort([SUBJECT, "PARAMCD", "_g", "ADT", "_row"], descending=[False, False, True, False, False])
                .unique([SUBJECT, "PARAMCD"], keep="first", maintain_order=True)
                .select("_row", pl.lit("Y").alias(flag)))
        df = attach(df, pick, ["_row"])
    return df.drop("_row")


def derive_hys_law(df: pl.DataFrame, transaminases: list[str], bilirubin: str, k1: float = 3.0,
                   k2: float = 2.0) -> pl.DataFrame:
    """HYLAWFL = "Y" on the transaminase and bilirubin records of a subject's sample date where
    max(transaminase / ULN) > ``k1`` and bilirubin / ULN > ``k2``; "N" on the other records of
    those parameters with a result; null on the other parameters."""
    ratio = pl.col("AVAL") / pl.col("ANRHI")
    day = [SUBJECT, "ADT"]
    tx = df.filter(pl.col("PARAMCD").is_in(transaminases)).group_by(day).agg(ratio.max().alias("_tx"))
    bl = df.filter(pl.col("PARAMCD") == bilirubin).group_by(day).agg(ratio.max().alias("_bl"))
    hit = tx.join(bl, on=day, how="inner").filter((pl.col("_tx") > k1) & (pl.col("_bl") > k2)).select(
        *day, pl.lit(True).alias("_hy"))
    involved = pl.col("PARAMCD").is_in([*transaminases, bilirubin])
    return attach(df, hit, day).with_columns(
        pl.when(involved & pl.col("_hy").fill_null(False)).then(pl.lit("Y"))
        .when(involved & pl.col("AVAL").is_not_null()).then(pl.lit("N"))
        .otherwise(pl.lit(None, pl.String)).alias("HYLAWFL")
    ).drop("_hy")


def build_adlb(lb: pl.DataFrame, adsl: pl.DataFrame, criteria: tuple[GradeCriterion, ...], *,
               paramcd: str | None = None, window_days: int | None = None, hy_transaminases: list[str] | None = None,
               hy_bilirubin: str | None = None, hy_k1: float = 3.0, hy_k2: float = 2.0) -> pl.DataFrame:
    """ADLB from SDTM LB and ADSL (before ADSL variables and ASEQ): the functions above in order."""
    df = lab_records(lb, adsl, paramcd)
    df = derive_baseline(df, window_days)   # BASE and BNRIND first: criteria may refer to them
    df = derive_toxgr(df, criteria)
    df = derive_base_grades(df)
    df = derive_worst(df)
    if hy_transaminases and hy_bilirubin:
        df = derive_hys_law(df, hy_transaminases, hy_bilirubin, hy_k1, hy_k2)
    return df
