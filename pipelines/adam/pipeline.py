"""The ADaM stage as one call: SDTM package -> ADSL, ADTTE, ADRS, ADAE conformed to the spec.

Used by the CLI (``python -m pipelines.adam``), the Dagster assets and the benchmark alike.
Every spec variable is present in the output: a variable whose SDTM source is absent comes out
null, with a warning naming the dataset/variable (collected in ``AdamResult.warnings``).

With a data cut date (the run's, else the spec setting) the package is first cut by the rules
of the Data Cut sheet (:func:`pipelines.adam.cut.apply_data_cut`); what was cut is reported in
``AdamResult.cut_records`` and among the warnings. Impossible data the derivations meet (a death
before randomization) is reported in ``AdamResult.findings`` as failures of the dataset it would
make wrong; :func:`validate_adam` adds them to the spec validation, so the dataset is blocked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import polars as pl

from ..metadata import Spec
from ..metadata.model import Dataset
from ..metadata.validation import FAILURE_SCHEMA, cdisc_schema, validate
from ..xpt import XptWritten, write_xpt
from .adae import AE_VARS, derive_var_trtemfl, derive_vars_ae_dates, derive_vars_aesi
from .adrs import build_adrs
from .adsl import build_adsl
from .config import AdamSettings, StudyConfig
from .cut import CUT_SCHEMA, apply_data_cut
from .derive import derive_var_first_dt
from .package import SdtmPackage
from .sources import filter_columns
from .tte import derive_param_tte, find_records_before_start, sql_filter

SUBJECT = "USUBJID"
DATASETS = ("ADSL", "ADTTE", "ADRS", "ADAE")


@dataclass
class AdamResult:
    datasets: dict[str, pl.DataFrame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    data_cut_date: dt.date | None = None
    # what the data cut removed or changed (pipelines.adam.cut.CUT_SCHEMA)
    cut_records: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CUT_SCHEMA))
    # impossible data found while deriving, per dataset (FAILURE_SCHEMA rows): errors
    findings: dict[str, pl.DataFrame] = field(default_factory=dict)


def conform_to_spec(df: pl.DataFrame, dataset: Dataset, warn=None) -> pl.DataFrame:
    """The spec's variables in spec order and type; a variable not derived is null (warned)."""
    exprs = []
    for v in dataset.variables:
        if v.name in df.columns:
            col = pl.col(v.name)
            if df.schema[v.name] != v.polars_dtype:
                col = col.cast(v.polars_dtype, strict=False)
            exprs.append(col.alias(v.name))
        else:
            if warn:
                warn(f"{dataset.name}.{v.name} has no source in this package: empty")
            exprs.append(pl.lit(None, dtype=v.polars_dtype).alias(v.name))
    return df.select(exprs)


def merge_adsl_vars(df: pl.DataFrame, adsl: pl.DataFrame, dataset: Dataset) -> pl.DataFrame:
    """Add the ADSL variables the spec lists for ``dataset`` and ``df`` lacks (by USUBJID)."""
    wanted = [v for v in dataset.variable_names if v in adsl.columns and v not in df.columns and v != SUBJECT]
    if not wanted:
        return df
    if df.height == adsl.height and df.get_column(SUBJECT).equals(adsl.get_column(SUBJECT), check_names=False):
        return df.with_columns([adsl.get_column(c) for c in wanted])  # same subjects, same order
    return df.join(adsl.select(SUBJECT, *wanted), on=SUBJECT, how="left", maintain_order="left")


def add_aseq(df: pl.DataFrame, order: Sequence[str]) -> pl.DataFrame:
    """Sort by the dataset keys (``order``, declared; skipped when already in that order) and
    number the records within subject (ASEQ)."""
    order = list(order)
    if df.height > 1 and not _sorted_by(df, order):
        df = df.sort(order, nulls_last=True, maintain_order=True)
    if df.height == 0:
        return df.with_columns(pl.lit(None, dtype=pl.Int64).alias("ASEQ"))
    lengths = df.select(pl.col(SUBJECT).rle().struct.field("len")).to_series().to_numpy()
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return df.with_columns(pl.Series("ASEQ", np.arange(1, df.height + 1) - starts, dtype=pl.Int64))


def _sorted_by(df: pl.DataFrame, order: Sequence[str]) -> bool:
    """Is ``df`` in ascending ``order`` already (lexicographic over the columns)? A sorted first
    key with unique values decides alone; otherwise a full check against the sort."""
    first = df.get_column(order[0])
    if first.null_count() or not first.is_sorted():
        return False
    if first.n_unique() == df.height:
        return True
    return df.select(order).equals(df.select(order).sort(order, nulls_last=True, maintain_order=True))


def _tte_inputs(adsl: pl.DataFrame, config: StudyConfig, package: SdtmPackage, adrs: pl.DataFrame | None,
                paramcds: Iterable[str] | None):
    """The parameters to derive and the datasets their sources read (absent ones empty, warned)."""
    wanted = set(paramcds) if paramcds is not None else None
    sources = {name: package.get(name) for name in package.names}
    sources["ADSL"] = adsl
    if adrs is not None:
        sources["ADRS"] = adrs
    params = []
    for p in config.tte_parameters:
        if wanted is not None and p.paramcd not in wanted:
            continue
        absent = {s.dataset_name: s for s in (*p.events, *p.censors) if s.dataset_name not in sources}
        if p.start_dataset not in sources:
            package.warn(f"ADTTE {p.paramcd}: start dataset {p.start_dataset} is absent: no records")
            continue
        for d, s in absent.items():
            # an absent source contributes nothing: an empty frame with the variables the source reads
            package.warn(f"ADTTE {p.paramcd}: dataset {d} of source {s.name!r} is absent: the source is empty")
            sources[d] = _empty_like(s)
        for s in p.censors:
            td = s.param_dict.get("therapy_dataset")
            if td and not package.has(td):
                package.warn(f"ADTTE {p.paramcd}: dataset {td.upper()} for source {s.name!r} is absent: the rule censors no one")
        params.append(p)
    return params, sources


def build_adtte(adsl: pl.DataFrame, config: StudyConfig, package: SdtmPackage, adrs: pl.DataFrame | None = None,
                paramcds: Iterable[str] | None = None) -> pl.DataFrame:
    """ADTTE records for the declared parameters (all, or those in ``paramcds``)."""
    params, sources = _tte_inputs(adsl, config, package, adrs, paramcds)
    parts = [derive_param_tte(adsl, sources, p, warn=package.warn) for p in params]
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts, how="vertical_relaxed")


def adtte_findings(adtte: pl.DataFrame, adsl: pl.DataFrame, config: StudyConfig, package: SdtmPackage,
                   adrs: pl.DataFrame | None = None, paramcds: Iterable[str] | None = None) -> pl.DataFrame:
    """Failures (FAILURE_SCHEMA) of ``adtte`` for source records dated before the start date whose
    source is declared ``before_start = error`` (a death before randomization); those declared
    ``warn`` become warnings of the package. ``record`` is the row of the subject's parameter in
    ``adtte`` (1-based), null when the subject has none."""
    params, sources = _tte_inputs(adsl, config, package, adrs, paramcds)
    found = [f for f in (find_records_before_start(adsl, sources, p) for p in params) if f.height]
    if not found:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    rows = pl.concat(found)
    for r in rows.filter(pl.col("SEVERITY") == "warn").iter_rows(named=True):
        package.warn(f"ADTTE {r['PARAMCD']}: subject {r['USUBJID']}: {r['SRCDOM']}.{r['SRCVAR']} = {r['DATE']} is before "
                     f"STARTDT {r['STARTDT']}: source {r['SOURCE']!r} ignored for this subject")
    errors = rows.filter(pl.col("SEVERITY") == "error")
    if errors.height == 0:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    where = (adtte.select(SUBJECT, "PARAMCD").with_row_index("_REC", offset=1)
             if adtte.height else pl.DataFrame(schema={"_REC": pl.UInt32, SUBJECT: pl.String, "PARAMCD": pl.String}))
    starts = {p.paramcd: f"{p.start_dataset}.{p.start_date}" for p in params}
    out = errors.join(where, on=[SUBJECT, "PARAMCD"], how="left", maintain_order="left").select(
        pl.lit("ADTTE").alias("dataset"),
        pl.col("_REC").cast(pl.Int64).alias("record"),
        pl.col(SUBJECT).alias("subject"),
        (pl.col("SRCDOM") + "." + pl.col("SRCVAR")).alias("variable"),
        pl.format("PARAMCD {}: the {} date (source '{}') is before STARTDT ({}): impossible data, "
                  "not an event nor a censoring", pl.col("PARAMCD"), pl.col("SRCVAR"), pl.col("SOURCE"),
                  pl.col("PARAMCD").replace_strict(list(starts), list(starts.values()), default="STARTDT")).alias("rule"),
        pl.format("{} (STARTDT {})", pl.col("DATE").cast(pl.String), pl.col("STARTDT").cast(pl.String)).alias("value"),
    )
    return out.select([pl.col(c).cast(t) for c, t in FAILURE_SCHEMA.items()])


def derive_nact(package: SdtmPackage, adsl: pl.DataFrame, settings: AdamSettings) -> pl.DataFrame | None:
    """USUBJID, NACTDT: the start of new anticancer therapy on or after randomization (the Settings'
    ``nact_*`` declaration, the one the PFS/DoR builder uses); None without a declaration.
    Therapy records of that declaration dated before randomization are not NACT: warned."""
    if not settings.nact_dataset:
        return None
    flt = sql_filter(settings.nact_filter, "nact_filter")
    needed = [SUBJECT, settings.nact_date, *(filter_columns(settings.nact_filter) if settings.nact_filter else [])]
    therapy = package.get(settings.nact_dataset, needed, purpose="new anticancer therapy (ADRS)")
    rand = adsl.select(SUBJECT, "RANDDT").filter(pl.col("RANDDT").is_not_null())
    nact = derive_var_first_dt(rand, therapy, "NACTDT", settings.nact_date, flt, settings.nact_imputation, on_or_after="RANDDT")
    earlier = derive_var_first_dt(rand, therapy, "_ANY", settings.nact_date, flt, settings.nact_imputation).filter(
        pl.col("_ANY") < pl.col("RANDDT"))
    for u, d, r in earlier.select(SUBJECT, "_ANY", "RANDDT").iter_rows():
        package.warn(f"{settings.nact_dataset.upper()}: subject {u}: new anticancer therapy ({settings.nact_date} {d}) "
                     f"before randomization ({r}): not counted as NACT")
    return nact.select(SUBJECT, "NACTDT")


def _empty_like(source) -> pl.DataFrame:
    """A zero-row frame with the variables a source reads (its filter's names included)."""
    cols = {SUBJECT: pl.String, source.date: pl.Date}
    if source.srcseq:
        cols[source.srcseq] = pl.Int64
    if isinstance(source.filter, str):
        cols.update({c: pl.String for c in filter_columns(source.filter) if c not in cols})
    return pl.DataFrame(schema=cols)


def build_adae(package: SdtmPackage, adsl: pl.DataFrame, config: StudyConfig, cut: dt.date | None) -> pl.DataFrame:
    s = config.settings
    ae = package.get("AE", AE_VARS, purpose="ADAE")
    ae = ae.select(AE_VARS).with_columns(pl.col("AESEQ").cast(pl.Int64, strict=False))
    adsl_cols = ["TRTSDT", "TRTEDT", "DTHDT"]
    ae = ae.join(adsl.select(SUBJECT, *adsl_cols), on=SUBJECT, how="left", maintain_order="left")
    ae = derive_vars_ae_dates(ae, s, cut)
    ae = derive_var_trtemfl(ae, s.trtemfl_window_days)
    irae = None
    if s.irae_qnam:
        supp = package.get("SUPPAE", [SUBJECT, "QNAM", "QVAL", "IDVAR", "IDVARVAL"], purpose="ADAE immune-related flag")
        flags = (
            supp.lazy().filter((pl.col("QNAM") == s.irae_qnam) & (pl.col("IDVAR") == "AESEQ"))
            .select(SUBJECT, pl.col("IDVARVAL").cast(pl.Float64, strict=False).cast(pl.Int64).alias("AESEQ"),
                    pl.col("QVAL").alias("AEIRFL"))
            .unique([SUBJECT, "AESEQ"], keep="first").collect()
        )
        if supp.height and flags.height == 0:
            package.warn(f"SUPPAE has no QNAM {s.irae_qnam}: the investigator immune-related flag is empty")
        ae = ae.join(flags, on=[SUBJECT, "AESEQ"], how="left", maintain_order="left")
        irae = "AEIRFL"
    ae = derive_vars_aesi(ae, config.aesi, irae, s.irae_variable)
    return ae.with_columns(
        pl.col("AETOXGR").cast(pl.String).alias("ATOXGR"),
        pl.col("AETOXGR").cast(pl.Float64, strict=False).cast(pl.Int64).alias("ATOXGRN"),
    )


def derive_adam(
    package: SdtmPackage,
    spec: Spec,
    config: StudyConfig,
    data_cut_date: dt.date | None = None,
    datasets: Iterable[str] = DATASETS,
) -> AdamResult:
    """Derive the requested ADaM datasets (ADSL always, as the others need it)."""
    wanted = [d.upper() for d in datasets]
    unknown = [d for d in wanted if d not in DATASETS]
    if unknown:
        raise ValueError(f"argument 'datasets': unknown ADaM dataset(s) {', '.join(unknown)} (known: {', '.join(DATASETS)})")
    explicit_cut = data_cut_date or config.settings.data_cut_date
    package, cut_records = apply_data_cut(package, config.data_cut, explicit_cut)
    warn = package.warn
    adsl = build_adsl(package, config, data_cut_date)
    cut = explicit_cut or adsl.get_column("DCUTDT").max()
    out: dict[str, pl.DataFrame] = {}
    findings: dict[str, pl.DataFrame] = {}
    if "ADSL" in wanted:
        out["ADSL"] = conform_to_spec(adsl, spec.dataset("ADSL"), warn)
    adrs = None
    if "ADRS" in wanted or "ADTTE" in wanted:
        rs = package.get("RS", [SUBJECT, "RSTESTCD", "RSCAT", "RSEVAL", "RSSTRESC", "RSDTC", "RSSEQ", "VISIT", "VISITNUM"],
                         purpose="ADRS, PFS, DoR")
        nact = derive_nact(package, adsl, config.settings)
        adrs = build_adrs(rs, adsl, config.settings, sql_filter(config.settings.response_filter, "response_filter"), nact)
        ds = spec.dataset("ADRS")
        adrs = add_aseq(merge_adsl_vars(adrs, adsl, ds), [SUBJECT, "PARAMN", "ADT", "RSSEQ"])
        if "ADRS" in wanted:
            out["ADRS"] = conform_to_spec(adrs, ds, warn)
    if "ADTTE" in wanted:
        ds = spec.dataset("ADTTE")
        tte = build_adtte(adsl, config, package, adrs)
        out["ADTTE"] = conform_to_spec(add_aseq(merge_adsl_vars(tte, adsl, ds), [SUBJECT, "PARAMN"]), ds, warn)
        found = adtte_findings(out["ADTTE"], adsl, config, package, adrs)
        if found.height:
            findings["ADTTE"] = found
    if "ADAE" in wanted:
        ds = spec.dataset("ADAE")
        ae = build_adae(package, adsl, config, cut)
        ae = merge_adsl_vars(ae, adsl, ds).sort([SUBJECT, "AESEQ"], nulls_last=True, maintain_order=True)
        out["ADAE"] = conform_to_spec(ae, ds, warn)
    return AdamResult(out, list(package.warnings), cut, cut_records, findings)


def validate_adam(result: AdamResult, spec: Spec) -> dict[str, pl.DataFrame]:
    """Failure table per dataset: the spec's pandera schema, then the impossible data found while
    deriving (``result.findings``); empty when the dataset conforms and nothing was found."""
    out = {}
    for name, df in result.datasets.items():
        failures = validate(df, cdisc_schema(spec, name), name)
        found = result.findings.get(name)
        if found is not None and found.height:
            failures = pl.concat([failures, found.select(list(FAILURE_SCHEMA))], how="vertical_relaxed")
        out[name] = failures
    return out


def write_adam(result: AdamResult, spec: Spec, out_dir: str | Path, names: Iterable[str] | None = None,
               timestamp: dt.date | None = None) -> list[XptWritten]:
    """Write ``<out_dir>/<name>.xpt`` for each dataset (all, or ``names``); timestamp = data cut."""
    stamp = timestamp or result.data_cut_date or dt.date(1960, 1, 1)
    written = []
    for name, df in result.datasets.items():
        if names is not None and name not in names:
            continue
        written.append(write_xpt(df, out_dir, spec.dataset(name), stamp))
    return written


CUT_RECORDS_FILE = "data_cut_records.csv"


def write_cut_records(result: AdamResult, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/data_cut_records.csv``: what the data cut removed or changed (atomically)."""
    from ..fileio import atomic_write

    path = Path(out_dir) / CUT_RECORDS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: result.cut_records.write_csv(tmp))
