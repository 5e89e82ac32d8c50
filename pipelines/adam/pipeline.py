"""The ADaM stage as one call: SDTM package -> the ADaM datasets of the spec, conformed to it.

Used by the CLI (``python -m pipelines.adam``), the Dagster assets and the benchmark alike. The
datasets are those of the spec's ``Dataset Builders`` sheet, each derived by its builder after
the ADaM datasets it reads (:mod:`pipelines.adam.builders`). Every spec variable is present in
the output: a variable whose SDTM source is absent comes out null, with a warning naming the
dataset/variable (collected in ``AdamResult.warnings``).

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
from typing import Iterable

import polars as pl

from ..metadata import Spec
from ..metadata.validation import FAILURE_SCHEMA, cdisc_schema, validate
from ..xpt import XptWritten, write_xpt
from .adtte import adtte_findings, build_adtte, derive_nact  # noqa: F401  (the historical home)
from .builders import BuildContext, build_dataset, plan, required
from .config import StudyConfig
from .conform import add_aseq, conform_to_spec, merge_adsl_vars  # noqa: F401  (the historical home)
from .cut import CUT_SCHEMA, apply_data_cut
from .package import SdtmPackage


@dataclass
class AdamResult:
    datasets: dict[str, pl.DataFrame] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    data_cut_date: dt.date | None = None
    # what the data cut removed or changed (pipelines.adam.cut.CUT_SCHEMA)
    cut_records: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CUT_SCHEMA))
    # impossible data found while deriving, per dataset (FAILURE_SCHEMA rows): errors
    findings: dict[str, pl.DataFrame] = field(default_factory=dict)
    # the SDTM datasets the derivations asked the package for (read, or found absent)
    sdtm_read: frozenset[str] = frozenset()


def derive_adam(
    package: SdtmPackage,
    spec: Spec,
    config: StudyConfig,
    data_cut_date: dt.date | None = None,
    datasets: Iterable[str] | None = None,
) -> AdamResult:
    """Derive the requested ADaM datasets (all of the spec's by default), and the ADaM datasets
    they read (ADSL always), which are not returned unless requested."""
    plans = plan(spec, config)
    known = [p.dataset for p in plans]
    wanted = known if datasets is None else [d.upper() for d in datasets]
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise ValueError(f"argument 'datasets': unknown ADaM dataset(s) {', '.join(unknown)} (known: {', '.join(known)})")
    explicit_cut = data_cut_date or config.settings.data_cut_date
    package, cut_records = apply_data_cut(package, config.data_cut, explicit_cut)
    ctx = BuildContext(package, spec, config, data_cut_date, explicit_cut)
    out: dict[str, pl.DataFrame] = {}
    by_name = {p.dataset: p for p in plans}
    for name in required(plans, wanted):
        ctx.frames[name] = build_dataset(by_name[name], ctx)
        if name in wanted:
            out[name] = conform_to_spec(ctx.frames[name], spec.dataset(name), package.warn)
    out = {n: out[n] for n in wanted}
    findings = {n: f for n, f in ctx.findings.items() if n in wanted}
    return AdamResult(out, list(package.warnings), ctx.cut, cut_records, findings, frozenset(package.read_names))


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
