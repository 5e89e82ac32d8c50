"""Analysis layer: time-to-event analyses of ADTTE (Kaplan-Meier, stratified log-rank, stratified
Cox) with tidy, JSON and Markdown outputs and a Kaplan-Meier plot. Pure functions; the Dagster
wiring lives elsewhere and supplies the study-specific :class:`SurvivalSpec`.
"""

from .km_plot import plot_km, render_km_png
from .results import (
    ArmSummary,
    Comparison,
    CoxModel,
    LogRankTest,
    QuantileEstimate,
    SurvivalAnalysis,
    SurvivalEstimate,
    km_annotation,
    to_dict,
    to_frame,
    to_markdown,
)
from .survival import DAYS_PER_MONTH, AnalysisInputError, SurvivalSpec, analyze_survival, prepare

__all__ = [
    "DAYS_PER_MONTH",
    "AnalysisInputError",
    "ArmSummary",
    "Comparison",
    "CoxModel",
    "LogRankTest",
    "QuantileEstimate",
    "SurvivalAnalysis",
    "SurvivalEstimate",
    "SurvivalSpec",
    "analyze_survival",
    "km_annotation",
    "plot_km",
    "prepare",
    "render_km_png",
    "to_dict",
    "to_frame",
    "to_markdown",
]
