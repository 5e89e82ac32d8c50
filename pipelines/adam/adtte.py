"""Time-to-event datasets from the package: the inputs of the declared parameters, the records
(:func:`pipelines.adam.tte.derive_param_tte` per parameter) and the impossible data they meet.

Every SDTM dataset a parameter reads (its start dataset, the datasets of its sources and of their
builders' therapy declarations) is taken from the package with the variables and SQL filters it
needs (:attr:`pipelines.adam.sources.TteParameter.sdtm_reads`), so an absent dataset or variable
is a warning and an empty source, never an error; ADaM datasets (ADSL, ADRS...) are passed in.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import polars as pl

from ..keys import SUBJECT
from ..metadata.validation import FAILURE_SCHEMA
from .config import AdamSettings, StudyConfig
from .dates import compute_date_column
from .derive import derive_var_first_dt
from .package import SdtmPackage
from .sources import TteParameter, filter_columns, sql_filter
from .tte import derive_param_tte, find_records_before_start


def parameter_filters(p: TteParameter) -> dict[str, list[str]]:
    """The SQL filters a parameter applies to each dataset it reads."""
    out: dict[str, list[str]] = {}
    if p.start_filter:
        out.setdefault(p.start_dataset, []).append(p.start_filter)
    for s in (*p.events, *p.censors):
        if isinstance(s.filter, str):
            out.setdefault(s.dataset_name, []).append(s.filter)
        td, tf = s.param_dict.get("therapy_dataset"), s.param_dict.get("therapy_filter")
        if td and tf:
            out.setdefault(td.upper(), []).append(tf)
    return out


def tte_inputs(adsl: pl.DataFrame, config: StudyConfig, package: SdtmPackage, adam: Mapping[str, pl.DataFrame] | None = None,
               paramcds: Iterable[str] | None = None, dataset: str | None = None):
    """The parameters to derive (those of ``dataset``, all when None; or those in ``paramcds``)
    and the datasets their sources read: ``adam`` frames by name (ADSL is ``adsl``), the SDTM
    ones from the package (absent ones empty, warned)."""
    wanted = set(paramcds) if paramcds is not None else None
    sources: dict[str, pl.DataFrame] = {k.upper(): v for k, v in (adam or {}).items() if v is not None}
    sources["ADSL"] = adsl
    params = [p for p in config.tte_parameters
              if (wanted is None or p.paramcd in wanted) and (dataset is None or p.dataset == dataset)]
    reads: dict[str, tuple[list[str], list[str], list[str]]] = {}  # dataset -> variables, filters, purposes
    for p in params:
        filters = parameter_filters(p)
        for ds, cols in p.sdtm_reads.items():
            if ds in sources:
                continue  # an ADaM dataset of this run
            r = reads.setdefault(ds, ([], [], []))
            r[0].extend(c for c in cols if c not in r[0])
            r[1].extend(f for f in filters.get(ds, []) if f not in r[1])
            r[2].append(f"{p.dataset} {p.paramcd}")
    for ds, (cols, filters, purposes) in reads.items():
        if ds in config.datasets:  # an ADaM dataset the caller did not pass: its sources are empty
            package.warn(f"{', '.join(purposes)}: ADaM dataset {ds} is not derived in this run: the sources reading it are empty")
            sources[ds] = pl.DataFrame(schema={c: pl.String for c in cols})
        else:
            sources[ds] = package.get(ds, cols, purpose=", ".join(purposes), filters=filters)
    return params, sources


def build_adtte(adsl: pl.DataFrame, config: StudyConfig, package: SdtmPackage, adrs: pl.DataFrame | Mapping | None = None,
                paramcds: Iterable[str] | None = None, dataset: str | None = None) -> pl.DataFrame:
    """Time-to-event records of the declared parameters (those of ``dataset``, or in ``paramcds``).
    ``adrs``: the ADaM datasets the sources read, by name (an ADRS frame alone is accepted)."""
    params, sources = tte_inputs(adsl, config, package, _adam(adrs), paramcds, dataset)
    parts = [derive_param_tte(adsl, sources, p, warn=package.warn) for p in params]
    if not parts:
        return pl.DataFrame()
    return pl.concat(parts, how="vertical_relaxed")


def _adam(adrs) -> dict[str, pl.DataFrame]:
    if adrs is None:
        return {}
    return {"ADRS": adrs} if isinstance(adrs, pl.DataFrame) else dict(adrs)


def adtte_findings(adtte: pl.DataFrame, adsl: pl.DataFrame, config: StudyConfig, package: SdtmPackage,
                   adrs: pl.DataFrame | Mapping | None = None, paramcds: Iterable[str] | None = None,
                   dataset: str | None = None) -> pl.DataFrame:
    """Failures (FAILURE_SCHEMA) of ``adtte`` for source records dated before the start date whose
    source is declared ``before_start = error`` (a death before randomization); those declared
    ``warn`` become warnings of the package. ``record`` is the row of the subject's parameter in
    ``adtte`` (1-based), null when the subject has none."""
    params, sources = tte_inputs(adsl, config, package, _adam(adrs), paramcds, dataset)
    name = dataset or "ADTTE"
    found = [f for f in (find_records_before_start(adsl, sources, p) for p in params) if f.height]
    if not found:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    rows = pl.concat(found)
    for r in rows.filter(pl.col("SEVERITY") == "warn").iter_rows(named=True):
        package.warn(f"{name} {r['PARAMCD']}: subject {r['USUBJID']}: {r['SRCDOM']}.{r['SRCVAR']} = {r['DATE']} is before "
                     f"STARTDT {r['STARTDT']}: source {r['SOURCE']!r} ignored for this subject")
    errors = rows.filter(pl.col("SEVERITY") == "error")
    if errors.height == 0:
        return pl.DataFrame(schema=FAILURE_SCHEMA)
    where = (adtte.select(SUBJECT, "PARAMCD").with_row_index("_REC", offset=1)
             if adtte.height else pl.DataFrame(schema={"_REC": pl.UInt32, SUBJECT: pl.String, "PARAMCD": pl.String}))
    starts = {p.paramcd: f"{p.start_dataset}.{p.start_date}" for p in params}
    out = errors.join(where, on=[SUBJECT, "PARAMCD"], how="left", maintain_order="left").select(
        pl.lit(name).alias("dataset"),
        pl.col("_REC").cast(pl.Int64).alias("record"),
        pl.col(SUBJECT).alias("subject"),
        (pl.col("SRCDOM") + "." + pl.col("SRCVAR")).alias("variable"),
        pl.format("PARAMCD {}: the {} date (source '{}') is before STARTDT ({}): impossible data, "
                  "not an event nor a censoring", pl.col("PARAMCD"), pl.col("SRCVAR"), pl.col("SOURCE"),
                  pl.col("PARAMCD").replace_strict(list(starts), list(starts.values()), default="STARTDT")).alias("rule"),
        pl.format("{} (STARTDT {})", pl.col("DATE").cast(pl.String), pl.col("STARTDT").cast(pl.String)).alias("value"),
    )
    return out.select([pl.col(c).cast(t) for c, t in FAILURE_SCHEMA.items()])


def nact_reads(settings: AdamSettings) -> tuple[str, list[str], list[str]] | None:
    """(dataset, variables, filters) of the new anticancer therapy declaration; None without one."""
    if not settings.nact_dataset:
        return None
    flt = [settings.nact_filter] if settings.nact_filter else []
    return settings.nact_dataset.upper(), [SUBJECT, settings.nact_date, *(c for f in flt for c in filter_columns(f))], flt


def derive_nact(package: SdtmPackage, adsl: pl.DataFrame, settings: AdamSettings, purpose: str = "ADRS") -> pl.DataFrame | None:
    """USUBJID, NACTDT: the start of new anticancer therapy on or after randomization (the Settings'
    ``nact_*`` declaration, the one the PFS/DoR builder uses); None without a declaration.
    Therapy records of that declaration dated before randomization are not NACT: warned."""
    reads = nact_reads(settings)
    if reads is None:
        return None
    ds, cols, filters = reads
    flt = sql_filter(settings.nact_filter, "nact_filter")
    therapy = package.get(ds, cols, purpose=f"new anticancer therapy ({purpose})", filters=filters)
    rand = adsl.select(SUBJECT, "RANDDT").filter(pl.col("RANDDT").is_not_null())
    nact = derive_var_first_dt(rand, therapy, "NACTDT", settings.nact_date, flt, settings.nact_imputation, on_or_after="RANDDT")
    # before randomization: the therapy's last possible day is (a partial date that may be on or
    # after randomization was imputed to it above)
    latest = compute_date_column(therapy, settings.nact_date, settings.nact_imputation, date_imputation="last")
    earlier = (therapy.lazy().filter(flt.fill_null(False) if flt is not None else pl.lit(True))
               .select(SUBJECT, latest.alias("_LAST"), compute_date_column(therapy, settings.nact_date,
                                                                           settings.nact_imputation).alias("_ANY"))
               .join(rand.lazy(), on=SUBJECT, how="inner")
               .filter(pl.col("_LAST") < pl.col("RANDDT"))
               .group_by(SUBJECT, "RANDDT").agg(pl.col("_ANY").min()).sort(SUBJECT).collect())
    for u, d, r in earlier.select(SUBJECT, "_ANY", "RANDDT").iter_rows():
        package.warn(f"{ds}: subject {u}: new anticancer therapy ({settings.nact_date} {d}) "
                     f"before randomization ({r}): not counted as NACT")
    return nact.select(SUBJECT, "NACTDT")
