"""Response parameters as data: sheet ``Response Parameters`` of the ADaM spec (admiralonco's
``derive_param_response`` / ``derive_param_bor`` / ``derive_param_confirmed_bor``, declared).

One row per PARAMCD of a response dataset (ADRS), with its PARAM, PARAMN, PARCAT1, the *rule*
that derives it (a small library, by name), what the rule reads (``Source``) and its
parameters (``key=value; ...``). The engine is :mod:`pipelines.adam.adrs`.

========================== ========================================================================
Rule                       what it derives; ``Source``; parameters (defaults: RECIST 1.1)
========================== ========================================================================
overall_response           one record per response assessment of the SDTM ``Source`` dataset
                           (default RS) selected by ``Filter`` (e.g. ``RSTESTCD = 'OVRLRESP' AND
                           RSEVAL = 'INVESTIGATOR'``; a blinded central review is another row with
                           ``RSEVAL = 'INDEPENDENT ASSESSOR'``); ANL01FL on the analysed records
first_progression          Y/N per subject of ``population``: the first PD of the ``Source``
                           overall-response parameter
last_adequate              the last assessment whose response is one of ``adequate``
                           (``CR, PR, SD, NON-CR/NON-PD, PD``)
best_response              best overall response without confirmation (``sd_min_days`` 42,
                           ``sd_window_days`` 7)
confirmed_best_response    best overall response with confirmation (``confirmation_days`` 28,
                           ``max_ne_between`` 1, and the SD minimum)
confirmed_responder        Y/N: a confirmed CR or PR; ADT = the first response (the DoR start)
========================== ========================================================================

The rules after ``overall_response`` read an overall-response parameter of the same dataset
(``Source``: its PARAMCD; default: the dataset's only one). ``population`` (a SQL condition on
ADSL, default ``ITTFL = 'Y'``) selects the subjects who get a record; ``nact`` (``yes``/``no``,
default yes) keeps the best-response rules to the assessments on or before the new anticancer
therapy declared in Settings (``nact_*``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..conditions import condition_columns, sql_condition
from .sheets import check_parameters, parameters, row_where

SHEET = "Response Parameters"
ASSESSMENT = "overall_response"
CONFIRMATION = {"confirmation_days": "28", "max_ne_between": "1"}
SD_MINIMUM = {"sd_min_days": "42", "sd_window_days": "7"}
POPULATION = {"population": "ITTFL = 'Y'"}
# rule -> its parameters and their defaults
RULES: dict[str, dict[str, str]] = {
    ASSESSMENT: {},
    "first_progression": dict(POPULATION),
    "last_adequate": {**POPULATION, "adequate": "CR, PR, SD, NON-CR/NON-PD, PD"},
    "best_response": {**POPULATION, **SD_MINIMUM, "nact": "yes"},
    "confirmed_best_response": {**POPULATION, **SD_MINIMUM, **CONFIRMATION, "nact": "yes"},
    "confirmed_responder": {**POPULATION, **SD_MINIMUM, **CONFIRMATION, "nact": "yes"},
}
# the SDTM variables an overall_response rule reads from its dataset (prefix = the dataset name)
ASSESSMENT_SUFFIXES = ("STRESC", "DTC", "SEQ")
ASSESSMENT_VARIABLES = ("VISIT", "VISITNUM")


@dataclass(frozen=True)
class ResponseCriteria:
    """The confirmation and SD-duration rules of a best-response parameter (RECIST 1.1)."""

    confirmation_days: int = 28
    sd_min_days: int = 42
    sd_window_days: int = 7
    max_ne_between: int = 1

    @property
    def sd_earliest_day(self) -> int:
        """The earliest day after randomization on which SD counts: the minimum less its window."""
        return self.sd_min_days - self.sd_window_days


@dataclass(frozen=True)
class ResponseParameter:
    """One row of sheet ``Response Parameters`` (see the module documentation)."""

    paramcd: str
    param: str
    rule: str
    dataset: str = "ADRS"
    paramn: int | None = None
    parcat1: str | None = None
    source: str | None = None
    filter: str | None = None
    params: tuple[tuple[str, str], ...] = ()

    @property
    def param_dict(self) -> dict[str, str]:
        return {**RULES[self.rule], **dict(self.params)}

    @property
    def criteria(self) -> ResponseCriteria:
        p = self.param_dict
        return ResponseCriteria(*(int(p.get(k, d)) for k, d in (("confirmation_days", 28), ("sd_min_days", 42),
                                                                 ("sd_window_days", 7), ("max_ne_between", 1))))

    @property
    def adequate(self) -> tuple[str, ...]:
        return tuple(v.strip() for v in self.param_dict["adequate"].split(",") if v.strip())

    @property
    def population(self) -> str:
        return self.param_dict["population"]

    @property
    def uses_nact(self) -> bool:
        return self.param_dict.get("nact", "no").lower() in ("yes", "y", "true", "1")

    @property
    def sdtm_reads(self) -> tuple[str, list[str]] | None:
        """(SDTM dataset, the variables it reads) of an overall-response parameter; else None."""
        if self.rule != ASSESSMENT:
            return None
        ds = self.source or "RS"
        cols = [f"{ds}{s}" for s in ASSESSMENT_SUFFIXES] + list(ASSESSMENT_VARIABLES)
        return ds, list(dict.fromkeys(cols + (condition_columns(self.filter) if self.filter else [])))


def response_parameters_from_rows(rows: Sequence, response_datasets: Sequence[str]) -> tuple[ResponseParameter, ...]:
    """The sheet's parameters, checked: known rules and parameters, sources that exist, one
    PARAMCD and one PARAMN per dataset. ``response_datasets``: the datasets of the response
    builder (a row's ``Dataset`` default when there is one)."""
    out: list[ResponseParameter] = []
    for row in rows:
        rule = (row.text("Rule", True)).lower()
        if rule not in RULES:
            raise row._err("Rule", f"{rule!r} is not a response rule ({', '.join(RULES)})")
        dataset = (row.text("Dataset") or (response_datasets[0] if len(response_datasets) == 1 else "")).upper()
        if not dataset:
            raise row._err("Dataset", f"several response datasets ({', '.join(response_datasets)}): say which")
        if response_datasets and dataset not in response_datasets:
            raise row._err("Dataset", f"{dataset} is not built by the response builder (sheet 'Dataset Builders': "
                                      f"{', '.join(response_datasets) or 'none'})")
        params = parameters(row)
        check_parameters(row, "Parameters", dict(params), list(RULES[rule]), f"rule {rule}")
        flt = row.text("Filter")
        if flt and rule != ASSESSMENT:
            raise row._err("Filter", f"rule {rule} reads an overall-response parameter: only {ASSESSMENT} takes a Filter")
        if flt:
            sql_condition(flt, f"{row_where(row)}, column 'Filter'")
        p = ResponseParameter(row.text("PARAMCD", True), row.text("PARAM", True), rule, dataset, row.integer("PARAMN"),
                              row.text("PARCAT1"), row.text("Source"), flt, params)
        for k in ("confirmation_days", "sd_min_days", "sd_window_days", "max_ne_between"):
            if k in p.param_dict:
                try:
                    int(p.param_dict[k])
                except ValueError:
                    raise row._err("Parameters", f"{k} must be a whole number of days, got {p.param_dict[k]!r}") from None
        c = p.criteria
        if not 0 <= c.sd_window_days <= c.sd_min_days:
            raise row._err("Parameters", f"sd_window_days must be between 0 and sd_min_days ({c.sd_min_days}), "
                                         f"got {c.sd_window_days}")
        if "population" in p.param_dict:
            sql_condition(p.population, f"{row_where(row)}, column 'Parameters' (population)")
        same = [q for q in out if q.dataset == dataset]
        if any(q.paramcd == p.paramcd for q in same):
            raise row._err("PARAMCD", f"{dataset} PARAMCD {p.paramcd!r} is declared twice")
        if p.paramn is not None and any(q.paramn == p.paramn for q in same):
            raise row._err("PARAMN", f"{dataset} PARAMN {p.paramn} is declared twice")
        out.append(p)
    return _resolve_sources(out, rows)


def _resolve_sources(params: list[ResponseParameter], rows: Sequence) -> tuple[ResponseParameter, ...]:
    """Each derived parameter's Source: an overall-response PARAMCD of its dataset."""
    resolved = []
    for p, row in zip(params, rows):
        if p.rule == ASSESSMENT:
            resolved.append(p)
            continue
        assessments = [q.paramcd for q in params if q.dataset == p.dataset and q.rule == ASSESSMENT]
        source = p.source or (assessments[0] if len(assessments) == 1 else None)
        if source is None:
            raise row._err("Source", f"{p.dataset} has {len(assessments)} {ASSESSMENT} parameters "
                                     f"({', '.join(assessments) or 'none'}): name the one {p.paramcd} reads")
        if source not in assessments:
            raise row._err("Source", f"{source!r} is not an {ASSESSMENT} parameter of {p.dataset} "
                                     f"({', '.join(assessments) or 'none'})")
        resolved.append(ResponseParameter(p.paramcd, p.param, p.rule, p.dataset, p.paramn, p.parcat1, source, p.filter, p.params))
    return tuple(resolved)


def parameters_of(params: Sequence[ResponseParameter], dataset: str) -> tuple[ResponseParameter, ...]:
    return tuple(p for p in params if p.dataset == dataset)
