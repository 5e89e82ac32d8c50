"""Time-to-event parameters from declared event and censoring sources (admiral's
``event_source`` / ``censor_source`` / ``derive_param_tte``), one generic engine.

Sources are frozen :class:`TteSource` objects: the dataset they read (``ADSL``, ``ADRS`` or an
SDTM domain), a filter (a SQL condition or a polars expression), the date variable, and the
values they set (``CNSR``, ``EVNTDESC``, ``CNSDTDSC``, ``SRCDOM``, ``SRCVAR``, ``SRCSEQ``). A small
library of ready-made sources (:data:`LIBRARY`) is resolved by name; a study declares its own or
overrides library fields in the ``TTE Sources`` sheet of the ADaM spec, and lists for each
parameter its start date, events and censorings in priority order (``TTE Parameters`` sheet).

Rules that need more than a filter are *builders*, still declared as data with parameters:

``last_before_nact``
    censoring at the last adequate assessment on or before the start of new anticancer therapy
    (NACT), when NACT starts before the earliest event (an event on the NACT start day counts);
    at the origin when there is no adequate assessment before NACT. Parameters:
    ``therapy_dataset``, ``therapy_filter``, ``therapy_date`` (partial dates: first day).
``after_missed_assessments``
    censoring at the last adequate assessment before the earliest event when that event comes
    after ``missed`` (default 2) or more consecutive scheduled assessments were missed. The
    schedule is counted from ``origin`` (an ADSL date, default RANDDT): one assessment every
    ``intervals[0]`` days up to ``switch_day``, then every ``intervals[1]`` days; an assessment
    within ``window`` days of a scheduled one fills that slot. With the last adequate
    assessment filling slot *j* (slot 0 = origin), the event is "after missed assessments"
    when it falls later than slot *j + missed* + ``window`` days.

The engine, for each subject of the population with a start date (``STARTDT``):

1. records of a source dated before ``STARTDT`` are ignored;
2. ``E`` = the earliest event over the event sources (ties: declared order, then lowest SRCSEQ);
3. builder censorings that apply given ``E`` (conditional censorings): the earliest censoring
   date wins (ties: declared order); the subject is censored there even if ``E`` exists;
4. otherwise the event ``E`` if any (``CNSR = 0``);
5. otherwise the latest date over the plain censoring sources (ties: declared order).

A subject with none of these gets no record (and a warning). ``AVAL = ADT - STARTDT + 1`` days.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import polars as pl

from ..metadata.model import SpecError
from .assertions import AdamInputError, assert_data_frame
from .dates import compute_dt

KINDS = ("event", "censor")
BUILDERS = ("filter", "last_before_nact", "after_missed_assessments")
SUBJECT = "USUBJID"
SET_VARIABLES = ("EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR")


def sql_filter(value: str | pl.Expr | None, what: str) -> pl.Expr | None:
    """A SQL condition (``"PARAMCD = 'PD' AND AVALC = 'Y'"``) or an expression, as an expression."""
    if value is None or isinstance(value, pl.Expr):
        return value
    try:
        return pl.sql_expr(value)
    except Exception as exc:  # polars raises several SQL error types
        raise AdamInputError(f"{what}: filter {value!r} is not a valid SQL condition ({exc})") from None


@dataclass(frozen=True)
class TteSource:
    """An event (``kind="event"``, CNSR 0) or censoring (``kind="censor"``, CNSR > 0) source."""

    name: str
    kind: str
    dataset_name: str
    date: str
    filter: str | pl.Expr | None = None
    censor: int = 0
    evntdesc: str | None = None
    cnsdtdsc: str | None = None
    srcdom: str | None = None
    srcvar: str | None = None
    srcseq: str | None = None
    builder: str = "filter"
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        w = f"TTE source {self.name!r}"
        if self.kind not in KINDS:
            raise AdamInputError(f"{w}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "event" and self.censor != 0:
            raise AdamInputError(f"{w}: an event source has CNSR 0, got {self.censor}")
        if self.kind == "censor" and (not isinstance(self.censor, int) or self.censor <= 0):
            raise AdamInputError(f"{w}: a censoring source needs a positive integer CNSR, got {self.censor!r}")
        if self.builder not in BUILDERS:
            raise AdamInputError(f"{w}: builder must be one of {BUILDERS}, got {self.builder!r}")
        if self.builder != "filter" and self.kind != "censor":
            raise AdamInputError(f"{w}: builder {self.builder!r} makes censorings (kind 'censor')")
        required = {"last_before_nact": ("therapy_dataset", "therapy_date"),
                    "after_missed_assessments": ("intervals", "window")}.get(self.builder, ())
        missing = [k for k in required if k not in self.param_dict]
        if missing:
            raise AdamInputError(f"{w}: builder {self.builder!r} needs parameter(s) {', '.join(missing)}")
        sql_filter(self.filter, w)

    @property
    def param_dict(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def conditional(self) -> bool:
        return self.builder != "filter"

    def with_values(self, **changes) -> "TteSource":
        return dataclasses.replace(self, **changes)


def _lib(name, kind, ds, date, flt=None, censor=0, desc=None, srcdom=None, srcvar=None, srcseq=None, builder="filter", params=()):
    return TteSource(name, kind, ds, date, flt, censor, desc, desc if kind == "censor" else None,
                     srcdom or ds, srcvar or date, srcseq, builder, params)


# Ready-made sources (admiral's death_event, lastalive_censor, pd_event, lasta_censor,
# rand_censor ...). CNSR values are defaults; a study sets its own in the spec.
LIBRARY: dict[str, TteSource] = {s.name: s for s in (
    _lib("death", "event", "ADSL", "DTHDT", desc="DEATH"),
    _lib("pd", "event", "ADRS", "ADT", "PARAMCD = 'PD' AND AVALC = 'Y'", desc="DISEASE PROGRESSION", srcseq="ASEQ"),
    _lib("last_alive", "censor", "ADSL", "LSTALVDT", censor=1, desc="LAST DATE KNOWN ALIVE"),
    _lib("randomization", "censor", "ADSL", "RANDDT", censor=2, desc="RANDOMIZATION DATE"),
    _lib("last_adequate", "censor", "ADRS", "ADT", "PARAMCD = 'LSTA'", censor=1,
         desc="LAST ADEQUATE TUMOR ASSESSMENT", srcseq="ASEQ"),
)}


def _params_text(value: str | None, where: str) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    out = []
    for part in str(value).split(";"):
        if not part.strip():
            continue
        k, sep, v = part.partition("=")
        if not sep:
            raise SpecError(f"{where}: parameter {part.strip()!r} is not key=value")
        out.append((k.strip(), v.strip()))
    return tuple(out)


def resolve_sources(rows: Sequence[Mapping[str, Any]], where: str = "TTE Sources") -> dict[str, TteSource]:
    """The library plus the sheet's sources; a row naming a library source overrides its fields."""
    sources = dict(LIBRARY)
    cols = {"Kind": "kind", "Dataset": "dataset_name", "Date": "date", "Filter": "filter",
            "CNSR": "censor", "EVNTDESC": "evntdesc", "CNSDTDSC": "cnsdtdsc", "SRCDOM": "srcdom",
            "SRCVAR": "srcvar", "SRCSEQ": "srcseq", "Builder": "builder"}
    for i, r in enumerate(rows, start=2):
        w = f"{where}, row {i}"
        name = str(r.get("Name") or "").strip()
        if not name:
            raise SpecError(f"{w}: Name is required")
        values: dict[str, Any] = {}
        for col, attr in cols.items():
            v = r.get(col)
            if v is None or (isinstance(v, str) and not v.strip()):
                continue
            if attr == "censor":
                try:
                    v = int(float(v))
                except ValueError:
                    raise SpecError(f"{w}: CNSR {v!r} is not an integer") from None
            elif attr in ("kind", "builder"):
                v = str(v).strip().lower()
            elif attr == "dataset_name":
                v = str(v).strip().upper()
            else:
                v = str(v).strip()
            values[attr] = v
        params = _params_text(r.get("Parameters"), w)
        if params:
            values["params"] = params
        try:
            if name in sources:
                sources[name] = dataclasses.replace(sources[name], **values)
            else:
                missing = [c for c in ("Kind", "Dataset", "Date") if cols[c] not in values]
                if missing:
                    raise SpecError(f"{w}: new source {name!r} needs {', '.join(missing)}")
                values.setdefault("srcdom", values["dataset_name"])
                values.setdefault("srcvar", values["date"])
                sources[name] = TteSource(name=name, **values)
        except AdamInputError as exc:
            raise SpecError(f"{w}: {exc}") from None
    return sources


@dataclass(frozen=True)
class TteParameter:
    """One ADTTE parameter: start date, population, events and censorings in priority order."""

    paramcd: str
    param: str
    events: tuple[TteSource, ...]
    censors: tuple[TteSource, ...]
    paramn: int | None = None
    start_dataset: str = "ADSL"
    start_date: str = "RANDDT"
    start_filter: str | None = None
    population: str | None = None

    def __post_init__(self):
        w = f"TTE parameter {self.paramcd!r}"
        if not self.events and not self.censors:
            raise AdamInputError(f"{w}: declares neither events nor censorings")
        for s in self.events:
            if s.kind != "event":
                raise AdamInputError(f"{w}: {s.name!r} is listed under events but is a {s.kind} source")
        for s in self.censors:
            if s.kind != "censor":
                raise AdamInputError(f"{w}: {s.name!r} is listed under censorings but is an {s.kind} source")
        names = [s.name for s in (*self.events, *self.censors)]
        if len(set(names)) != len(names):
            raise AdamInputError(f"{w}: a source is listed twice")
        cnsr = [s.censor for s in self.censors]
        if len(set(cnsr)) != len(cnsr):
            raise AdamInputError(f"{w}: each censoring reason needs its own CNSR value, got {cnsr}")

    @classmethod
    def from_row(cls, r: Mapping[str, Any], sources: Mapping[str, TteSource], where: str) -> "TteParameter":
        def text(c):
            v = r.get(c)
            if v is None:
                return None
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            return str(v).strip() or None

        def names(c):
            out = []
            for n in (text(c) or "").replace(";", ",").split(","):
                n = n.strip()
                if not n:
                    continue
                if n not in sources:
                    raise SpecError(f"{where}: {c}: unknown source {n!r} (known: {', '.join(sorted(sources))})")
                out.append(sources[n])
            return tuple(out)

        paramcd, param = text("PARAMCD"), text("PARAM")
        if not paramcd or not param:
            raise SpecError(f"{where}: PARAMCD and PARAM are required")
        try:
            return cls(paramcd=paramcd, param=param, events=names("Events"), censors=names("Censors"),
                       paramn=int(text("PARAMN")) if text("PARAMN") else None,
                       start_dataset=(text("Start Dataset") or "ADSL").upper(),
                       start_date=text("Start Date") or "RANDDT", start_filter=text("Start Filter"),
                       population=text("Population"))
        except AdamInputError as exc:
            raise SpecError(f"{where}: {exc}") from None


# ------------------------------------------------------------------------------ engine
def _dates(df: pl.DataFrame, column: str, imputation: str = "n") -> pl.Expr:
    dtype = df.schema[column]
    if dtype == pl.Date:
        return pl.col(column)
    if dtype == pl.String:
        return compute_dt(pl.col(column), imputation, "first")
    if dtype in (pl.Datetime,) or isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    if dtype == pl.Null:
        return pl.lit(None, dtype=pl.Date)
    raise AdamInputError(f"column {column!r} must be a date or an ISO 8601 date, got {dtype}")


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
    t = therapy.lazy()
    if tf is not None:
        t = t.filter(tf)
    nact = (
        t.select(SUBJECT, _dates(therapy, tdate, p.get("therapy_imputation", "M")).alias("_NACT"))
        .join(frame.lazy().select(SUBJECT, "STARTDT", "_E"), on=SUBJECT, how="inner")
        .filter(pl.col("_NACT") >= pl.col("STARTDT"))
        .group_by(SUBJECT).agg(pl.col("_NACT").min(), pl.col("_E").first(), pl.col("STARTDT").first())
        .filter(pl.col("_E").is_null() | (pl.col("_E") > pl.col("_NACT")))
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
    datasets = {k.upper(): v for k, v in source_datasets.items()}
    datasets.setdefault("ADSL", dataset_adsl)
    pname = f"parameter {parameter.paramcd}"
    keys = list(subject_keys)

    # -- population and start date
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
    frame = frame.filter(pl.col("STARTDT").is_not_null())

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

    exprs = []
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
