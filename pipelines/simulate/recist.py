"""RECIST 1.1 response rules (investigator assessment), vectorised over assessments.

Pure functions on numpy arrays; the generator derives every RS record from the TR/NL data it has
just produced with these rules, so RS is consistent with the measurements by construction.

* Target lesions: CR when every non-nodal lesion has disappeared and every nodal lesion is
  < 10 mm; PD when the sum of diameters increased by >= 20% and >= 5 mm over the nadir (smallest
  previous sum, baseline included); PR when the sum decreased by >= 30% from baseline; SD
  otherwise; NE when a lesion was not evaluated and the rest does not show PD.
* Non-target lesions: PD on unequivocal progression, NE when one was not evaluated, CR when all
  are absent, NON-CR/NON-PD otherwise, NA without non-target lesions.
* Overall response: Table 1 of RECIST 1.1 (subjects with target lesions at baseline); an
  unequivocal new lesion means PD.
"""

from __future__ import annotations

import numpy as np


def target_response(sum_mm, nadir_mm, baseline_mm, any_ne, all_cr) -> np.ndarray:
    """TRGRESP from integer sums (evaluated lesions), previous nadir and baseline sum."""
    sum_mm, nadir_mm, baseline_mm = (np.asarray(x, dtype=np.int64) for x in (sum_mm, nadir_mm, baseline_mm))
    pd = (5 * sum_mm >= 6 * nadir_mm) & (sum_mm - nadir_mm >= 5)
    pr = 10 * sum_mm <= 7 * baseline_mm
    return np.select(
        [pd, np.asarray(any_ne), np.asarray(all_cr), pr],
        ["PD", "NE", "CR", "PR"],
        default="SD",
    ).astype(object)


def nontarget_response(n_lesions, any_progressed, any_ne, all_absent) -> np.ndarray:
    """NTRGRESP from the status of the non-target lesions at one assessment."""
    return np.select(
        [np.asarray(n_lesions) == 0, np.asarray(any_progressed), np.asarray(any_ne), np.asarray(all_absent)],
        ["NA", "PD", "NE", "CR"],
        default="NON-CR/NON-PD",
    ).astype(object)


def overall_response(target, nontarget, new_lesion) -> np.ndarray:
    """OVRLRESP by RECIST 1.1 Table 1 (target lesions present at baseline)."""
    target, nontarget = np.asarray(target, dtype=object), np.asarray(nontarget, dtype=object)
    new = np.asarray(new_lesion, dtype=bool)
    nt_cr = np.isin(nontarget, ["CR", "NA"])
    return np.select(
        [
            (target == "PD") | (nontarget == "PD") | new,
            target == "NE",
            (target == "CR") & nt_cr,
            np.isin(target, ["CR", "PR"]),
            target == "SD",
        ],
        ["PD", "NE", "CR", "PR", "SD"],
        default="NE",
    ).astype(object)
