"""Time-to-event parameters from declared event and censoring sources (admiral's
``derive_param_tte``), one generic engine; the declarations (:class:`TteSource`,
:class:`TteParameter`, the library of ready-made sources) are in :mod:`pipelines.adam.sources`.

Builders (censoring rules that need more than a filter), declared as data with parameters:

``last_before_nact``
    censoring at the last adequate assessment on or before the start of new anticancer therapy
    (NACT), when NACT starts before the earliest event (an event on the NACT start day counts);
    at the origin when there is no adequate assessment before NACT. Parameters:
    ``therapy_dataset``, ``therapy_filter``, ``therapy_date`` (partial dates: first day up to
    ``therapy_imputation``, default M), by default those of the Settings sheet (``nact_*``).
``after_missed_assessments``
    censoring at the last adequate assessment before the earliest event when that event comes
    after ``missed`` (default 2) or more consecutive scheduled assessments were missed. The
    schedule is counted from ``origin`` (an ADSL date, default RANDDT): one assessment every
    ``intervals[0]`` days up to ``switch_day``, then every ``intervals[1]`` days; an assessment
    within ``window`` days of a scheduled one fills that slot. With the last adequate
    assessment filling slot *j* (slot 0 = origin), the event is "after missed assessments"
    when it falls later than slot *j + missed* + ``window`` days.

The engine, for each subject of the population with a start date (``STARTDT``):

1. records of a source dated before ``STARTDT`` are not used; what they mean is declared per
   source (``before_start``): ignored, reported as a warning, or an error (a death before
   randomization) found by :func:`find_records_before_start` and reported as a failure;
2. ``E`` = the earliest event over the event sources (ties: declared order, then lowest SRCSEQ);
3. builder censorings that apply given ``E`` (conditional censorings): the earliest censoring
   date wins (ties: declared order); the subject is censored there even if ``E`` exists;
4. otherwise the event ``E`` if any (``CNSR = 0``);
5. otherwise the latest date over the plain censoring sources (ties: declared order).

A subject with none of these gets no record (and a warning). ``AVAL = ADT - STARTDT + 1`` days.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import polars as pl

from .assertions import AdamInputError, assert_data_frame
from .dates import compute_date_column
from .derive import derive_var_first_dt
from .sources import (  # noqa: F401  (re-exported: the declarations' historical home)
    BEFORE_START, BUILDERS, KINDS, LIBRARY, SET_VARIABLES, TteParameter, TteSource, resolve_sources, sql_filter,
)

from ..keys import SUBJECT


# ------------------------------------------------------------------------------ engine
_dates = compute_date_column


def _dataset(datasets: Mapping[str, pl.DataFrame], name: str, what: str, columns: Sequence[str]) -> pl.DataFrame:
    df = datasets.get(name)
    if df is None:
        raise AdamInputError(f"argument 'source_datasets' has no dataset {name!r} needed by {what} "
                             "(pass an empty frame to declare it absent)")
    missing = [c for c in columns if c and c not in df.columns]
    if missing:
        raise AdamInputError(f"argument 'source_datasets': {name} lacks {', '.join(missing)} needed by {what}")
    return df


def _records(src: TteSource, datasets, start: pl.DataFrame, imputation: str = "n") -> pl.LazyFrame:
    """The source's records as (USUBJID, _ADT, _SEQ), restricted to the population, on/after STARTDT."""
    df = _dataset(datasets, src.dataset_name, f"source {src.name!r}", [SUBJECT, src.date, src.srcseq])
    flt = sql_filter(src.filter, f"source {src.name!r}")
    lf = df.lazy()
    if flt is not None:
        lf = lf.filter(flt)
    seq = pl.col(src.srcseq).cast(pl.Int64) if src.srcseq else pl.lit(None, dtype=pl.Int64)
    lf = lf.select(pl.col(SUBJECT), _dates(df, src.date, imputation).alias("_ADT"), seq.alias("_SEQ"))
    return (
        lf.join(start.lazy().select(SUBJECT, "STARTDT"), on=SUBJECT, how="inner")
        .filter(pl.col("_ADT").is_not_null() & (pl.col("_ADT") >= pl.col("STARTDT")))
        .drop("STARTDT")
    )


def _per_subject(lf: pl.LazyFrame, last: bool) -> pl.LazyFrame:
    """One record per subject: the earliest (or latest) date, ties broken by the lowest SRCSEQ."""
    return lf.group_by(SUBJECT).agg(
        pl.col("_ADT").max().alias("_ADT") if last else pl.col("_ADT").min().alias("_ADT"),
        pl.col("_SEQ").sort_by(["_ADT", "_SEQ"], descending=[last, False], nulls_last=True).first().alias("_SEQ"),
    )


def _schedule_slot(days: pl.Expr, i1: float, i2: float, switch: float) -> pl.Expr:
    k1 = math.floor(switch / i1) if math.isfinite(switch) else None
    if k1 is None:
        return (days / i1).floor()
    return pl.when(days < i1 * k1).then((days / i1).floor()).otherwise(k1 + ((days - i1 * k1) / i2).floor())


def _schedule_day(slot: pl.Expr, i1: float, i2: float, switch: float) -> pl.Expr:
    k1 = math.floor(switch / i1) if math.isfinite(switch) else None
    if k1 is None:
        return slot * i1
    return pl.when(slot <= k1).then(slot * i1).otherwise(i1 * k1 + (slot - k1) * i2)


def _builder_last_before_nact(src, datasets, frame: pl.DataFrame, imputation: str) -> pl.DataFrame:
    p = src.param_dict
    tds, tdate = p["therapy_dataset"].upper(), p["therapy_date"]
    therapy = datasets.get(tds)
    if therapy is None or tdate not in therapy.columns:
        # absent source: no subject is censored by this rule (the caller warns)
        return frame.select(SUBJECT).with_columns(pl.lit(None, dtype=pl.Date).alias("_ADT"), pl.lit(None, dtype=pl.Int64).alias("_SEQ"),
                                                  pl.lit(False).alias("_ATSTART"))
    tf = sql_filter(p.get("therapy_filter"), f"source {src.name!r} therapy_filter")
    # the first therapy start on or after STARTDT (the same function gives ADRS its NACT date)
    nact = (
        derive_var_first_dt(frame.select(SUBJECT, "STARTDT", "_E"), therapy, "_NACT", tdate, tf,
                            p.get("therapy_imputation", "M"), on_or_after="STARTDT")
        .lazy()
        .filter(pl.col("_NACT").is_not_null() & (pl.col("_E").is_null() | (pl.col("_E") > pl.col("_NACT"))))
    )
    recs = _records(src, datasets, frame, imputation).join(nact.select(SUBJECT, "_NACT"), on=SUBJECT, how="inner")
    last = _per_subject(recs.filter(pl.col("_ADT") <= pl.col("_NACT")).drop("_NACT"), last=True)
    out = nact.join(last, on=SUBJECT, how="left").select(
        SUBJECT,
        pl.coalesce("_ADT", "STARTDT").alias("_ADT"),
        pl.col("_SEQ"),
        pl.col("_ADT").is_null().alias("_ATSTART"),
    )
    return out.collect()


def _builder_after_missed(src, datasets, frame: pl.DataFrame, imputation: str) -> pl.DataFrame:
    p = src.param_dict
    intervals = [float(x) for x in p["intervals"].replace(";", ",").split(",") if x.strip()]
    i1 = intervals[0]
    i2 = intervals[1] if len(intervals) > 1 else i1
    switch = float(p.get("switch_day", "inf"))
    window = float(p["window"])
    missed = int(p.get("missed", "2"))
    origin = p.get("origin", "RANDDT")
    if origin not in frame.columns:
        raise AdamInputError(f"source {src.name!r}: origin {origin!r} is not an ADSL variable")
    subjects = frame.lazy().filter(pl.col("_E").is_not_null()).select(SUBJECT, "STARTDT", "_E", pl.col(origin).alias("_ORIGIN"))
    recs = _records(src, datasets, frame, imputation).join(subjects.select(SUBJECT, "_E"), on=SUBJECT, how="inner")
    last = _per_subject(recs.filter(pl.col("_ADT") < pl.col("_E")).drop("_E"), last=True)
    d = subjects.join(last, on=SUBJECT, how="left").with_columns(
        pl.coalesce("_ADT", "STARTDT").alias("_L"), pl.col("_ADT").is_null().alias("_ATSTART")
    )
    dl = (pl.col("_L") - pl.col("_ORIGIN")).dt.total_days().cast(pl.Float64)
    de = (pl.col("_E") - pl.col("_ORIGIN")).dt.total_days().cast(pl.Float64)
    slot = _schedule_slot(pl.max_horizontal(dl, pl.lit(0.0)) + window, i1, i2, switch)
    threshold = _schedule_day(slot + missed, i1, i2, switch) + window
    return (
        d.filter(de > threshold)
        .select(SUBJECT, pl.col("_L").alias("_ADT"), "_SEQ", "_ATSTART")
        .collect()
    )


_BUILDERS: dict[str, Callable] = {
    "last_before_nact": _builder_last_before_nact,
    "after_missed_assessments": _builder_after_missed,
}


def _datasets(dataset_adsl: pl.DataFrame, source_datasets: Mapping[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    if not isinstance(source_datasets, Mapping):
        raise AdamInputError("argument 'source_datasets' must be a mapping of dataset name -> DataFrame")
    datasets = {k.upper(): v for k, v in source_datasets.items()}
    datasets.setdefault("ADSL", dataset_adsl)
    return datasets


def _start_frame(dataset_adsl: pl.DataFrame, datasets: Mapping[str, pl.DataFrame], parameter: TteParameter) -> pl.DataFrame:
    """The population's ADSL records with their start date ``STARTDT`` (subjects without one dropped)."""
    pname = f"parameter {parameter.paramcd}"
    adsl = dataset_adsl
    pop = sql_filter(parameter.population, f"{pname} population")
    if pop is not None:
        adsl = adsl.filter(pop)
    if parameter.start_dataset == "ADSL":
        assert_data_frame(adsl, "dataset_adsl", [parameter.start_date])
        frame = adsl.with_columns(_dates(adsl, parameter.start_date).alias("STARTDT"))
    else:
        sdf = _dataset(datasets, parameter.start_dataset, f"{pname} start date", [SUBJECT, parameter.start_date])
        sf = sql_filter(parameter.start_filter, f"{pname} start filter")
        lf = sdf.lazy()
        if sf is not None:
            lf = lf.filter(sf)
        starts = lf.select(SUBJECT, _dates(sdf, parameter.start_date).alias("STARTDT")).group_by(SUBJECT).agg(pl.col("STARTDT").min())
        frame = adsl.lazy().join(starts, on=SUBJECT, how="left", maintain_order="left").collect()
    return frame.filter(pl.col("STARTDT").is_not_null())


def find_records_before_start(
    dataset_adsl: pl.DataFrame,
    source_datasets: Mapping[str, pl.DataFrame],
    parameter: TteParameter,
) -> pl.DataFrame:
    """The records of the parameter's sources declared ``before_start`` = warn or error that
    are dated before the subject's ``STARTDT`` (the engine does not use them).

    Returns one row per subject and source: ``USUBJID``, ``PARAMCD``, ``SOURCE``, ``SEVERITY``
    (warn/error), ``SRCDOM``, ``SRCVAR``, ``SRCSEQ``, ``DATE`` (the earliest such date) and
    ``STARTDT``, ordered by subject as in ``dataset_adsl``, then by declared source order.
    """
    assert_data_frame(dataset_adsl, "dataset_adsl", [SUBJECT])
    if not isinstance(parameter, TteParameter):
        raise AdamInputError(f"argument 'parameter' must be a TteParameter, got {type(parameter).__name__}")
    datasets = _datasets(dataset_adsl, source_datasets)
    schema = {SUBJECT: pl.String, "PARAMCD": pl.String, "SOURCE": pl.String, "SEVERITY": pl.String, "SRCDOM": pl.String,
              "SRCVAR": pl.String, "SRCSEQ": pl.Int64, "DATE": pl.Date, "STARTDT": pl.Date}
    checked = [s for s in (*parameter.events, *parameter.censors) if s.before_start != "ignore"]
    if not checked:
        return pl.DataFrame(schema=schema)
    frame = _start_frame(dataset_adsl, datasets, parameter).with_row_index("_ROW")
    parts = []
    for k, src in enumerate(checked):
        values = [pl.lit(k).alias("_K"), pl.lit(src.name).alias("SOURCE"), pl.lit(src.before_start).alias("SEVERITY"),
                  pl.lit(src.srcdom).alias("SRCDOM"), pl.lit(src.srcvar).alias("SRCVAR")]
        if src.dataset_name == "ADSL":
            # one record per subject, on the subject's own row: no join
            if src.date not in frame.columns:
                raise AdamInputError(f"argument 'dataset_adsl' lacks {src.date} needed by source {src.name!r}")
            flt = sql_filter(src.filter, f"source {src.name!r}")
            early = _dates(frame, src.date) < pl.col("STARTDT")
            if flt is not None:
                early = early & flt.fill_null(False)
            parts.append(frame.lazy().filter(early.fill_null(False)).select(
                SUBJECT, "_ROW", "STARTDT", _dates(frame, src.date).alias("DATE"), pl.lit(None, dtype=pl.Int64).alias("SRCSEQ"),
                *values))
            continue
        df = _dataset(datasets, src.dataset_name, f"source {src.name!r}", [SUBJECT, src.date, src.srcseq])
        flt = sql_filter(src.filter, f"source {src.name!r}")
        lf = df.lazy()
        if flt is not None:
            lf = lf.filter(flt)
        seq = pl.col(src.srcseq).cast(pl.Int64) if src.srcseq else pl.lit(None, dtype=pl.Int64)
        recs = lf.select(SUBJECT, _dates(df, src.date).alias("DATE"), seq.alias("SRCSEQ"))
        early = (
            recs.join(frame.lazy().select(SUBJECT, "STARTDT", "_ROW"), on=SUBJECT, how="inner")
            .filter(pl.col("DATE") < pl.col("STARTDT"))
            .group_by(SUBJECT).agg(pl.all().sort_by(["DATE", "SRCSEQ"], nulls_last=True).first())
            .with_columns(values)
        )
        parts.append(early)
    out = pl.concat(pl.collect_all(parts), how="diagonal_relaxed").sort("_ROW", "_K")
    return out.select(pl.col(SUBJECT), pl.lit(parameter.paramcd).alias("PARAMCD"), *[pl.col(c).cast(t) for c, t in schema.items()
                                                                                       if c not in (SUBJECT, "PARAMCD")])


def derive_param_tte(
    dataset_adsl: pl.DataFrame,
    source_datasets: Mapping[str, pl.DataFrame],
    parameter: TteParameter,
    subject_keys: Sequence[str] = ("STUDYID", SUBJECT),
    warn: Callable[[str], None] | None = None,
) -> pl.DataFrame:
    """One record per subject of the parameter's population with a start date.

    ``source_datasets`` maps dataset names (``"ADSL"``, ``"ADRS"``, SDTM domains) to frames; the
    ADSL entry defaults to ``dataset_adsl``. Returns the subject keys, ``PARAMCD``, ``PARAM``,
    ``PARAMN``, ``STARTDT``, ``ADT``, ``AVAL`` (days), ``CNSR``, ``EVNTDESC``, ``CNSDTDSC``, ``SRCDOM``,
    ``SRCVAR``, ``SRCSEQ``; rows in the order of ``dataset_adsl``.
    """
    assert_data_frame(dataset_adsl, "dataset_adsl", [*subject_keys])
    if not isinstance(parameter, TteParameter):
        raise AdamInputError(f"argument 'parameter' must be a TteParameter, got {type(parameter).__name__}")
    if not isinstance(source_datasets, Mapping):
        raise AdamInputError("argument 'source_datasets' must be a mapping of dataset name -> DataFrame")
    datasets = _datasets(dataset_adsl, source_datasets)
    keys = list(subject_keys)

    frame = _start_frame(dataset_adsl, datasets, parameter)

    all_sources = [*parameter.events, *parameter.censors]
    adt_cols: list[str] = []
    seq_cols: list[str] = []

    def attach(i: int, per_subject: pl.DataFrame | None, expr_adt=None):
        nonlocal frame
        a, s = f"_ADT{i}", f"_SEQ{i}"
        if per_subject is None:
            frame = frame.with_columns(expr_adt.alias(a), pl.lit(None, dtype=pl.Int64).alias(s))
        else:
            extra = [c for c in per_subject.columns if c.startswith("_ATS")]
            frame = frame.join(per_subject.rename({"_ADT": a, "_SEQ": s}).select(SUBJECT, a, s, *extra),
                               on=SUBJECT, how="left", maintain_order="left")
            frame = frame.with_columns([pl.col(c).fill_null(False) for c in extra])
        adt_cols.append(a)
        seq_cols.append(s)

    def plain(i: int, src: TteSource, last: bool):
        if src.dataset_name == "ADSL":
            df = frame
            missing = [c for c in (src.date,) if c not in df.columns]
            if missing:
                raise AdamInputError(f"argument 'dataset_adsl' lacks {src.date} needed by source {src.name!r}")
            date = _dates(df, src.date)
            cond = date.is_not_null() & (date >= pl.col("STARTDT"))
            flt = sql_filter(src.filter, f"source {src.name!r}")
            if flt is not None:
                cond = cond & flt.fill_null(False)
            attach(i, None, pl.when(cond).then(date))
        else:
            attach(i, _per_subject(_records(src, datasets, frame), last).collect())

    n_ev = len(parameter.events)
    for i, src in enumerate(parameter.events):
        plain(i, src, last=False)
    # earliest event, ties by declared order
    if n_ev:
        frame = frame.with_columns(pl.min_horizontal(adt_cols[:n_ev]).alias("_E"))
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Date).alias("_E"))

    cond_idx, plain_idx, atstart = [], [], {}
    for j, src in enumerate(parameter.censors):
        i = n_ev + j
        if src.conditional:
            _dataset(datasets, src.dataset_name, f"source {src.name!r}", [SUBJECT, src.date])
            per = _BUILDERS[src.builder](src, datasets, frame, "n")
            atstart[i] = f"_ATS{i}"
            attach(i, per.rename({"_ATSTART": atstart[i]}))
            cond_idx.append(i)
        else:
            plain(i, src, last=True)
            plain_idx.append(i)

    def pick(indices: list[int], target: pl.Expr) -> pl.Expr:
        """Index of the first source (declared order) whose date equals ``target``."""
        e = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int32))
        for i in indices:
            e = e.when(pl.col(adt_cols[i]) == target).then(pl.lit(i, dtype=pl.Int32))
        return e.otherwise(None)

    cond_date = pl.min_horizontal([adt_cols[i] for i in cond_idx]) if cond_idx else pl.lit(None, dtype=pl.Date)
    cens_date = pl.max_horizontal([adt_cols[i] for i in plain_idx]) if plain_idx else pl.lit(None, dtype=pl.Date)
    frame = frame.with_columns(cond_date.alias("_C"), cens_date.alias("_P"))
    chosen = (
        pl.when(pl.col("_C").is_not_null()).then(pick(cond_idx, pl.col("_C")))
        .when(pl.col("_E").is_not_null()).then(pick(list(range(n_ev)), pl.col("_E")))
        .when(pl.col("_P").is_not_null()).then(pick(plain_idx, pl.col("_P")))
        .otherwise(None)
    )
    frame = frame.with_columns(chosen.alias("_SRC"))
    dropped = frame.filter(pl.col("_SRC").is_null()).height
    if dropped and warn:
        warn(f"ADTTE {parameter.paramcd}: {dropped} subject(s) have no event and no censoring date; no record")
    frame = frame.filter(pl.col("_SRC").is_not_null())

    def by_src(values: list, dtype) -> pl.Expr:
        return pl.col("_SRC").replace_strict(list(range(len(values))), values, default=None, return_dtype=dtype)

    adt = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Date))
    seq = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int64))
    for i in range(len(all_sources)):
        adt = adt.when(pl.col("_SRC") == i).then(pl.col(adt_cols[i]))
        seq = seq.when(pl.col("_SRC") == i).then(pl.col(seq_cols[i]))
    adt = adt.otherwise(None)
    seq = seq.otherwise(None)
    srcdom = by_src([s.srcdom for s in all_sources], pl.String)
    srcvar = by_src([s.srcvar for s in all_sources], pl.String)
    if atstart:
        # a builder censoring at the origin (no adequate assessment first) points at the start date
        at0 = pl.any_horizontal([(pl.col("_SRC") == i) & pl.col(c) for i, c in atstart.items()])
        srcdom = pl.when(at0).then(pl.lit(parameter.start_dataset)).otherwise(srcdom)
        srcvar = pl.when(at0).then(pl.lit(parameter.start_date)).otherwise(srcvar)
        seq = pl.when(at0).then(None).otherwise(seq)
    out = frame.select(
        *keys,
        pl.lit(parameter.paramcd).alias("PARAMCD"),
        pl.lit(parameter.param).alias("PARAM"),
        pl.lit(parameter.paramn, dtype=pl.Int64).alias("PARAMN"),
        pl.col("STARTDT"),
        adt.alias("ADT"),
        by_src([s.censor for s in all_sources], pl.Int64).alias("CNSR"),
        by_src([s.evntdesc for s in all_sources], pl.String).alias("EVNTDESC"),
        by_src([s.cnsdtdsc for s in all_sources], pl.String).alias("CNSDTDSC"),
        srcdom.alias("SRCDOM"),
        srcvar.alias("SRCVAR"),
        seq.alias("SRCSEQ"),
    )
    return out.with_columns(((pl.col("ADT") - pl.col("STARTDT")).dt.total_days() + 1).cast(pl.Float64).alias("AVAL"))
