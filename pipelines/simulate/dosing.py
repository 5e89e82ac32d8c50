"""Dose rules of the study drugs, vectorised: what amount (mg) a planned dose becomes.

* ``mg``: the planned amount;
* ``mg/kg``: planned x the latest recorded weight;
* ``mg/m2``: planned x the body surface area (``treatment.bsa_formula``):
  Mosteller ``sqrt(height cm x weight kg / 3600)`` or Du Bois ``0.007184 x W^0.425 x H^0.725``;
* ``mg/m2/day``: planned x BSA x the days of a continuous infusion (its whole amount);
* ``AUC``: the Calvert formula ``dose = AUC x (GFR + 25)``, GFR (mL/min) estimated by the
  Cockcroft-Gault creatinine clearance ``(140 - age) x weight / (72 x serum creatinine mg/dL)``,
  x 0.85 for women, capped (``treatment.renal.gfr_cap_ml_min``, 125 mL/min as usual).
Amounts are rounded to ``treatment.dose_rounding_mg``.
"""

from __future__ import annotations

import numpy as np


def body_surface_area(height_cm: np.ndarray, weight_kg: np.ndarray, formula: str = "mosteller",
                      rounding: float = 0.01) -> np.ndarray:
    """Body surface area (m2), rounded to ``rounding``."""
    h, w = np.asarray(height_cm, dtype=float), np.asarray(weight_kg, dtype=float)
    if formula == "mosteller":
        bsa = np.sqrt(h * w / 3600.0)
    elif formula == "dubois":
        bsa = 0.007184 * w**0.425 * h**0.725
    else:
        raise ValueError(f"unknown body surface area formula {formula!r}")
    return np.round(np.round(bsa / rounding) * rounding, 6)   # no binary noise (1.76, not 1.7600000000000002)


def creatinine_clearance(age: np.ndarray, weight_kg: np.ndarray, creatinine_mg_dl: np.ndarray, female: np.ndarray,
                         cap: float | None = None) -> np.ndarray:
    """Cockcroft-Gault creatinine clearance (mL/min), x 0.85 for women, capped at ``cap``."""
    crcl = (140.0 - np.asarray(age, dtype=float)) * np.asarray(weight_kg, dtype=float) / (
        72.0 * np.asarray(creatinine_mg_dl, dtype=float))
    crcl = np.where(np.asarray(female, dtype=bool), 0.85 * crcl, crcl)
    return np.minimum(crcl, cap) if cap is not None else crcl


def calvert_dose(auc: np.ndarray, gfr_ml_min: np.ndarray) -> np.ndarray:
    """Calvert dose (mg) for a target AUC (mg/mL x min): AUC x (GFR + 25)."""
    return np.asarray(auc, dtype=float) * (np.asarray(gfr_ml_min, dtype=float) + 25.0)


def dose_amount(unit: np.ndarray, planned: np.ndarray, weight: np.ndarray, bsa: np.ndarray, gfr: np.ndarray,
                infusion_days: np.ndarray, rounding: float) -> np.ndarray:
    """The amount (mg) of each planned dose by its unit; rounded to ``rounding``."""
    r = rounding
    amount = np.select(
        [unit == "mg/kg", unit == "mg/m2", unit == "mg/m2/day", unit == "AUC"],
        [np.round(planned * weight / r) * r, np.round(planned * bsa / r) * r,
         np.round(planned * bsa * infusion_days / r) * r, np.round(calvert_dose(planned, gfr) / r) * r],
        default=planned)
    return amount
