"""ADaM layer: pure polars derivations of the ADaM datasets of a spec (subject level, time to
event, response, occurrence builders) from any SDTMIG 3.x package, driven by the ADaM spec
(``specs/<study>/adam.xlsx``). See ``docs/adam.md``."""

from .assertions import AdamInputError
from .config import AdamSettings, StudyConfig, load_config
from .cut import CutRule, apply_data_cut
from .dates import compute_complete_date, compute_dt, compute_dtf, derive_vars_dt
from .package import SdtmPackage, read_sdtm_dir
from .builders import BUILDERS, DatasetPlan, plan
from .pipeline import AdamResult, build_adtte, derive_adam, validate_adam, write_adam
from .tte import LIBRARY, TteParameter, TteSource, derive_param_tte, find_records_before_start

__all__ = [
    "AdamInputError", "AdamResult", "BUILDERS", "DatasetPlan", "plan", "AdamSettings", "CutRule", "LIBRARY", "SdtmPackage", "StudyConfig", "TteParameter",
    "TteSource", "apply_data_cut", "build_adtte", "compute_complete_date", "compute_dt", "compute_dtf", "derive_adam",
    "derive_param_tte", "derive_vars_dt", "find_records_before_start", "load_config", "read_sdtm_dir", "validate_adam",
    "write_adam",
]
