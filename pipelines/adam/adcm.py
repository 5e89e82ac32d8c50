"""Medication datasets (ADCM and the like, ADaM OCCDS): one record per SDTM intervention record
(``--`` below is the domain prefix; builder ``medication`` with ``domain=CM`` on sheet Dataset
Builders), with analysis dates, the prior / concomitant / follow-up flags and the ATC classes.

* ASTDT/ASTDTF: --STDTC imputed up to ``start_imputation`` (default Settings
  ``ae_start_imputation``), first possible day, never after the death date or the data cut. No
  floor at TRTSDT (unlike ADAE): a partial start in the month of the first dose becomes the first
  of the month, so the medication counts as prior, the conservative reading for a medication.
* AENDT/AENDTF: --ENDTC imputed up to ``end_imputation``, last possible day, never after the death
  date or the data cut.
* PREFL = "Y" when the medication started before TRTSDT (ASTDT < TRTSDT), or its start is
  unknown (ASTDT null: it may have started before).
* ONTRTFL = "Y" when it was taken during the treatment period, first dose to TRTEDT +
  ``window_days`` (default Settings ``trtemfl_window_days``): ASTDT on or before TRTEDT + window
  (or unknown; no TRTEDT: no upper bound) and AENDT on or after TRTSDT (or unknown / ongoing).
  A medication started before and continued on treatment is both prior and concomitant.
* FUPFL = "Y" when it started after TRTEDT + window (follow-up, e.g. subsequent therapy).
  Untreated subjects (no TRTSDT) have none of the three flags.
* The spec's variables with a simple predecessor under another name (``ATC4`` <- ``CM.CMCLAS``)
  are copied from it; those with predecessor ``SUPP--.QVAL where SUPP--.QNAM = 'X'`` are the QVAL of
  QNAM X merged by --SEQ (``ATC1`` .. ``ATC3CD`` from SUPPCM): no variable name is in the code.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import polars as pl

from ..keys import SUBJECT
from ..metadata.model import Dataset
from .assertions import assert_data_frame
from .dates import compute_study_day, derive_vars_dt
from .derive import compute_y

if TYPE_CHECKING:  # the builder registry imports this module
    from .builders import BuildContext, Reads
    from .config import DatasetBuild, StudyConfig

_SIMPLE = re.compile(r"^([A-Z][A-Z0-9]{1,7})\.([A-Z][A-Z0-9_]{0,7})$")
_SUPP = re.compile(r"^SUPP([A-Z0-9]{2,4})\.QVAL\s+where\s+SUPP\1\.QNAM\s*=\s*'([A-Z][A-Z0-9_]{0,7})'$", re.I)


def derive_vars_cm_dates(dataset: pl.DataFrame, start_imputation: str, end_imputation: str, cutoff: dt.date | None,
                         domain: str = "CM") -> pl.DataFrame:
    """ASTDT/ASTDTF, AENDT/AENDTF, ASTDY/AENDY from --STDTC/--ENDTC (needs TRTSDT and DTHDT)."""
    st, en = f"{domain}STDTC", f"{domain}ENDTC"
    assert_data_frame(dataset, "dataset", [st, en, "TRTSDT", "DTHDT"])
    out = dataset.with_columns(pl.lit(cutoff, dtype=pl.Date).alias("_CUT"))
    out = derive_vars_dt(out, "AST", st, start_imputation, "first", flag_imputation="date", max_dates=["DTHDT", "_CUT"])
    out = derive_vars_dt(out, "AEN", en, end_imputation, "last", flag_imputation="date", max_dates=["DTHDT", "_CUT"])
    return out.drop("_CUT").with_columns(
        compute_study_day("ASTDT", "TRTSDT").alias("ASTDY"),
        compute_study_day("AENDT", "TRTSDT").alias("AENDY"),
    )


def derive_vars_prior_concomitant(dataset: pl.DataFrame, window_days: int) -> pl.DataFrame:
    """PREFL, ONTRTFL, FUPFL from ASTDT/AENDT and TRTSDT/TRTEDT (see the module documentation)."""
    assert_data_frame(dataset, "dataset", ["ASTDT", "AENDT", "TRTSDT", "TRTEDT"])
    treated = pl.col("TRTSDT").is_not_null()
    last = pl.col("TRTEDT") + pl.duration(days=window_days)
    start_unknown = pl.col("ASTDT").is_null()
    prior = treated & (start_unknown | (pl.col("ASTDT") < pl.col("TRTSDT")))
    on = treated & (start_unknown | pl.col("TRTEDT").is_null() | (pl.col("ASTDT") <= last)) \
        & (pl.col("AENDT").is_null() | (pl.col("AENDT") >= pl.col("TRTSDT")))
    after = treated & pl.col("ASTDT").is_not_null() & pl.col("TRTEDT").is_not_null() & (pl.col("ASTDT") > last)
    return dataset.with_columns(compute_y(prior).alias("PREFL"), compute_y(on).alias("ONTRTFL"),
                                compute_y(after).alias("FUPFL"))


def spec_sources(dataset: Dataset, domain: str) -> tuple[dict[str, str], dict[str, str]]:
    """The spec's renamed predecessors of ``domain`` (variable -> SDTM variable) and its SUPP--
    predecessors (variable -> QNAM)."""
    renamed, supp = {}, {}
    for v in dataset.variables:
        pred = (v.predecessor or "").strip()
        m = _SIMPLE.match(pred)
        if m and m.group(1) == domain and m.group(2) != v.name:
            renamed[v.name] = m.group(2)
        m = _SUPP.match(pred)
        if m and m.group(1).upper() == domain:
            supp[v.name] = m.group(2).upper()
    return renamed, supp


def merge_supp_qualifiers(frame: pl.DataFrame, supp: pl.DataFrame, qnams: dict[str, str], seq: str) -> pl.DataFrame:
    """Each ``qnams`` variable = QVAL of that QNAM of the record (IDVAR ``seq``, IDVARVAL its value)."""
    assert_data_frame(supp, "supp", [SUBJECT, "QNAM", "QVAL", "IDVAR", "IDVARVAL"])
    if not qnams:
        return frame
    wide = (
        supp.lazy().filter(pl.col("IDVAR") == seq)
        .filter(pl.col("QNAM").is_in(list(qnams.values())))
        .select(SUBJECT, pl.col("IDVARVAL").cast(pl.Float64, strict=False).cast(pl.Int64).alias(seq), "QNAM", "QVAL")
        .unique([SUBJECT, seq, "QNAM"], keep="first").collect()
        .pivot("QNAM", index=[SUBJECT, seq], values="QVAL")
    )
    cols = [pl.col(q).alias(var) if q in wide.columns else pl.lit(None, pl.String).alias(var) for var, q in qnams.items()]
    wide = wide.select(SUBJECT, seq, *cols)
    return frame.join(wide, on=[SUBJECT, seq], how="left", maintain_order="left")


# ------------------------------------------------------------------------------ builder
def medication_reads(b: DatasetBuild, config: StudyConfig, dataset: Dataset) -> Reads:
    from .builders import Reads, _add, predecessors
    from .adae import occurrence_variables
    d = b.param_dict["domain"].upper()
    renamed, supp = spec_sources(dataset, d)
    sdtm: dict = {}
    _add(sdtm, d, [*predecessors(dataset, d), *renamed.values(), *occurrence_variables(d)])
    if supp:
        _add(sdtm, f"SUPP{d}", [SUBJECT, "QNAM", "QVAL", "IDVAR", "IDVARVAL"])
    return Reads(sdtm, ("ADSL",))


def build_medication(b: DatasetBuild, ctx: BuildContext) -> pl.DataFrame:
    from .builders import domain_records
    from .conform import merge_adsl_vars
    p, s, spec_ds = b.param_dict, ctx.config.settings, ctx.spec.dataset(b.dataset)
    d = p["domain"].upper()
    seq = f"{d}SEQ"
    frame = domain_records(b, ctx, d, medication_reads(b, ctx.config, spec_ds).sdtm[d][0])
    renamed, qnams = spec_sources(spec_ds, d)
    frame = frame.with_columns(pl.col(src).alias(var) for var, src in renamed.items())
    if qnams:
        supp = ctx.package.get(f"SUPP{d}", [SUBJECT, "QNAM", "QVAL", "IDVAR", "IDVARVAL"], purpose=f"{b.dataset} qualifiers")
        frame = merge_supp_qualifiers(frame, supp, qnams, seq)
    adsl = ctx.frames["ADSL"]
    frame = derive_vars_cm_dates(frame, p.get("start_imputation") or s.ae_start_imputation,
                                 p.get("end_imputation") or s.ae_end_imputation, ctx.cut, d)
    frame = derive_vars_prior_concomitant(frame, int(p.get("window_days") or s.trtemfl_window_days))
    return merge_adsl_vars(frame, adsl, spec_ds).sort([SUBJECT, seq], nulls_last=True, maintain_order=True)
