"""The ADaM stage as one call: SDTM package -> ADSL, ADTTE, ADRS, ADAE conformed to the spec.

Used by the CLI (``python -m pipelines.adam``), the Dagster assets and the benchmark alike.
Every spec variable is present in the output: a variable whose SDTM source is absent comes out
null, with a warning naming the dataset/variable (collected in ``AdamResult.warnings``).
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
from ..metadata.validation import cdisc_schema, validate
from ..xpt import XptWritten, write_xpt
from .adae import AE_VARS, derive_var_trtemfl, derive_vars_ae_dates, derive_vars_aesi
from .adrs import build_adrs
from .adsl import build_adsl
from .config import StudyConfig
from .package import SdtmPackage
from .tte import derive_param_tte, sql_filter

SUBJECT = "USUBJID"
DATASETS = ("ADSL", "ADTTE", "ADRS", "ADAE")


@dataclass
class AdamResult:
    datasets: dict[str, pl.DataFrame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    data_cut_date: dt.date | None = None


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


def build_adtte(adsl: pl.DataFrame, config: StudyConfig, package: SdtmPackage, adrs: pl.DataFrame | None = None,
                paramcds: Iterable[str] | None = None) -> pl.DataFrame:
    """ADTTE records for the declared parameters (all, or those in ``paramcds``)."""
    wanted = set(paramcds) if paramcds is not None else None
    sources = {name: package.get(name) for name in package.names}
    sources["ADSL"] = adsl
    if adrs is not None:
        sources["ADRS"] = adrs
    parts = []
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
        parts.append(derive_param_tte(adsl, sources, p, warn=package.warn))
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts, how="vertical_relaxed")


def _empty_like(source) -> pl.DataFrame:
    """A zero-row frame with the variables a source reads (its filter's names included)."""
    from .adsl import _filter_columns

    cols = {SUBJECT: pl.String, source.date: pl.Date}
    if source.srcseq:
        cols[source.srcseq] = pl.Int64
    if isinstance(source.filter, str):
        cols.update({c: pl.String for c in _filter_columns(source.filter) if c not in cols})
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
    warn = package.warn
    adsl = build_adsl(package, config, data_cut_date)
    cut = data_cut_date or config.settings.data_cut_date or adsl.get_column("DCUTDT").max()
    out: dict[str, pl.DataFrame] = {}
    if "ADSL" in wanted:
        out["ADSL"] = conform_to_spec(adsl, spec.dataset("ADSL"), warn)
    adrs = None
    if "ADRS" in wanted or "ADTTE" in wanted:
        rs = package.get("RS", [SUBJECT, "RSTESTCD", "RSCAT", "RSEVAL", "RSSTRESC", "RSDTC", "RSSEQ", "VISIT", "VISITNUM"],
                         purpose="ADRS, PFS, DoR")
        adrs = build_adrs(rs, adsl, config.settings, sql_filter(config.settings.response_filter, "response_filter"))
        ds = spec.dataset("ADRS")
        adrs = add_aseq(merge_adsl_vars(adrs, adsl, ds), [SUBJECT, "PARAMN", "ADT", "RSSEQ"])
        if "ADRS" in wanted:
            out["ADRS"] = conform_to_spec(adrs, ds, warn)
    if "ADTTE" in wanted:
        ds = spec.dataset("ADTTE")
        tte = build_adtte(adsl, config, package, adrs)
        out["ADTTE"] = conform_to_spec(add_aseq(merge_adsl_vars(tte, adsl, ds), [SUBJECT, "PARAMN"]), ds, warn)
    if "ADAE" in wanted:
        ds = spec.dataset("ADAE")
        ae = build_adae(package, adsl, config, cut)
        ae = merge_adsl_vars(ae, adsl, ds).sort([SUBJECT, "AESEQ"], nulls_last=True, maintain_order=True)
        out["ADAE"] = conform_to_spec(ae, ds, warn)
    return AdamResult(out, list(package.warnings), cut)


def validate_adam(result: AdamResult, spec: Spec) -> dict[str, pl.DataFrame]:
    """Failure table per dataset (empty when it conforms to the spec's pandera schema)."""
    return {name: validate(df, cdisc_schema(spec, name), name) for name, df in result.datasets.items()}


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
