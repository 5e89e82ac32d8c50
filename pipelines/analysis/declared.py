"""Analyses declared in the ADaM spec: sheet ``Analyses`` of ``specs/<study>/adam.xlsx``.

One row per analysis; a new analysis (OS in another population, PFS, a time point) is a row, not
code. Columns (unknown headers are refused, so a misspelt column never goes unnoticed):

==================  =============================================================================
ID                  analysis id, e.g. ``OS``; Dagster asset ``analysis__<id>``; also the prefix of
                    its files unless ``Output`` says otherwise
Title               what the analysis is (Kaplan-Meier plot title, Dagster description)
Kind                ``time-to-event`` (Kaplan-Meier by arm, stratified log-rank and Cox of each
                    arm against the reference): the only kind this engine computes so far
Dataset             the ADaM dataset analysed (default ADTTE)
Parameter           its PARAMCD
Population          SQL condition selecting the analysed records, e.g. ``ITTFL = 'Y' AND
                    CPSGR1 = 'CPS >= 20'``
Treatment           arm variable (default TRT01P), ordered by ``Treatment Order`` (TRT01PN)
Reference Arm       ARMCD of the reference arm (Settings ``trt_codes`` gives its TRT01PN);
                    default: Settings ``control_armcd``
Strata              stratification variables of the stratified tests (comma separated)
Time Points         survival estimated at these times (comma separated), in ``Time Unit``
Time Unit           ``months`` (30.4375 days) or ``days``
Output              file stem (default: the ID in lower case): ``<stem>_summary.csv``,
                    ``<stem>_summary.json``, ``<stem>_km.png``
==================  =============================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import polars as pl

from ..conditions import sql_condition
from ..metadata.model import SpecError
from ..metadata.workbook import sheet_rows
from .km_plot import render_km_png
from .results import SurvivalAnalysis, km_annotation, to_dict, to_frame, to_markdown
from .survival import DAYS_PER_MONTH, SurvivalSpec, analyze_survival

SHEET = "Analyses"
COLUMNS = ("ID", "Title", "Kind", "Dataset", "Parameter", "Population", "Treatment", "Treatment Order",
           "Reference Arm", "Strata", "Time Points", "Time Unit", "Output", "Comment")
KINDS = ("time-to-event",)
TIME_UNITS = {"months": DAYS_PER_MONTH, "days": 1.0}


@dataclass(frozen=True)
class DeclaredAnalysis:
    """One row of sheet ``Analyses`` (see the module documentation)."""

    id: str
    title: str
    parameter: str
    kind: str = "time-to-event"
    dataset: str = "ADTTE"
    population: str | None = None
    treatment: str = "TRT01P"
    treatment_order: str = "TRT01PN"
    reference_arm: str | None = None
    strata: tuple[str, ...] = ()
    time_points: tuple[float, ...] = ()
    time_unit: str = "months"
    output: str | None = None
    where: str = "(memory)"

    @property
    def stem(self) -> str:
        return self.output or self.id.lower()

    @property
    def asset_name(self) -> str:
        return f"analysis__{self.id.lower()}"

    @property
    def files(self) -> tuple[str, str, str]:
        """The files the analysis writes: summary CSV, summary JSON, Kaplan-Meier PNG."""
        return f"{self.stem}_summary.csv", f"{self.stem}_summary.json", f"{self.stem}_km.png"


def _numbers(row, column: str) -> tuple[float, ...]:
    out = []
    for part in row.names(column):
        try:
            out.append(float(part))
        except ValueError:
            raise row._err(column, f"{part!r} is not a number") from None
    return tuple(out)


def load_analyses(path: str | Path) -> tuple[DeclaredAnalysis, ...]:
    """The analyses of sheet ``Analyses`` (empty when the workbook has none)."""
    analyses: list[DeclaredAnalysis] = []
    for row in sheet_rows(path, SHEET, COLUMNS, required=("ID", "Title", "Parameter")):
        kind = (row.text("Kind") or "time-to-event").lower()
        if kind not in KINDS:
            raise row._err("Kind", f"{kind!r} is not an analysis kind this engine computes ({', '.join(KINDS)})")
        unit = (row.text("Time Unit") or "months").lower()
        if unit not in TIME_UNITS:
            raise row._err("Time Unit", f"{unit!r} is not one of {', '.join(TIME_UNITS)}")
        population = row.text("Population")
        if population:
            sql_condition(population, f"{row.where}: sheet {SHEET!r}, row {row.number}, column 'Population'")
        a = DeclaredAnalysis(
            id=row.text("ID", True), title=row.text("Title", True), parameter=row.text("Parameter", True),
            kind=kind, dataset=(row.text("Dataset") or "ADTTE").upper(), population=population,
            treatment=row.text("Treatment") or "TRT01P", treatment_order=row.text("Treatment Order") or "TRT01PN",
            reference_arm=row.text("Reference Arm"), strata=row.names("Strata"),
            time_points=_numbers(row, "Time Points"), time_unit=unit, output=row.text("Output"),
            where=f"{row.where}: sheet {SHEET!r}, row {row.number}",
        )
        if any(b.id.lower() == a.id.lower() for b in analyses):
            raise row._err("ID", f"analysis {a.id!r} is declared twice")
        if any(set(b.files) & set(a.files) for b in analyses):
            raise row._err("Output", f"analysis {a.id!r} would write the files of another analysis")
        analyses.append(a)
    return tuple(analyses)


def survival_spec(frame: pl.DataFrame, analysis: DeclaredAnalysis, trt_codes: Sequence[tuple[str, int]],
                  control_armcd: str | None) -> SurvivalSpec:
    """The engine's spec of a declared analysis on ``frame`` (its population already selected):
    arms in treatment-order order; the reference arm by its ARMCD."""
    arms = (frame.select(analysis.treatment, analysis.treatment_order).unique().drop_nulls()
            .sort(analysis.treatment_order))
    names = arms.get_column(analysis.treatment).to_list()
    armcd = analysis.reference_arm or control_armcd
    if armcd is None:
        raise SpecError(f"{analysis.where}: no Reference Arm, and Settings has no control_armcd")
    codes = dict(trt_codes)
    if armcd not in codes:
        raise SpecError(f"{analysis.where}: Reference Arm {armcd!r} is not an arm of Settings trt_codes "
                        f"({', '.join(codes) or 'none'})")
    reference = next((a for a, n in arms.iter_rows() if n == codes[armcd]), None)
    if reference is None:
        raise SpecError(f"{analysis.where}: the reference arm {armcd!r} has no subject in the population")
    return SurvivalSpec(paramcd=analysis.parameter, arms=names, reference=reference, strata=analysis.strata,
                        time_points=analysis.time_points, population_flag=None, population=analysis.population,
                        treatment_var=analysis.treatment,
                        time_unit=analysis.time_unit, days_per_unit=TIME_UNITS[analysis.time_unit])


@dataclass(frozen=True)
class AnalysisOutput:
    analysis: DeclaredAnalysis
    result: SurvivalAnalysis
    files: dict[str, bytes]
    """File name -> content (summary CSV and JSON, Kaplan-Meier PNG)."""

    @property
    def markdown(self) -> str:
        return to_markdown(self.result)

    @property
    def png(self) -> bytes:
        return self.files[self.analysis.files[2]]


def run_analysis(frame: pl.DataFrame, analysis: DeclaredAnalysis, trt_codes: Sequence[tuple[str, int]],
                 control_armcd: str | None) -> AnalysisOutput:
    """Compute one declared analysis on its dataset's frame and render its files."""
    data = frame.filter(pl.col("PARAMCD") == analysis.parameter) if "PARAMCD" in frame.columns else frame
    if analysis.population:
        data = data.filter(sql_condition(analysis.population, f"{analysis.where}, column 'Population'").fill_null(False))
    spec = survival_spec(data, analysis, trt_codes, control_armcd)
    result = analyze_survival(data, spec)
    csv_name, json_name, png_name = analysis.files
    return AnalysisOutput(analysis, result, {
        csv_name: to_frame(result).write_csv().encode(),
        json_name: json.dumps(to_dict(result), indent=2, allow_nan=False).encode(),
        png_name: render_km_png(data, spec, title=analysis.title, annotation=km_annotation(result)),
    })
