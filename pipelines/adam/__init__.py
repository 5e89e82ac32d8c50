"""ADaM layer: pure polars derivations of ADSL, ADTTE (OS, PFS, DoR), ADRS and ADAE from any
SDTMIG 3.x package, driven by the ADaM spec (``specs/adam.xlsx``). See ``docs/adam.md``."""

from .assertions import AdamInputError
from .config import AdamSettings, StudyConfig, load_config
from .dates import compute_complete_date, compute_dt, compute_dtf, derive_vars_dt
from .package import SdtmPackage, read_sdtm_dir
from .pipeline import AdamResult, build_adtte, derive_adam, validate_adam, write_adam
from .tte import LIBRARY, TteParameter, TteSource, derive_param_tte

__all__ = [
    "AdamInputError", "AdamResult", "AdamSettings", "LIBRARY", "SdtmPackage", "StudyConfig", "TteParameter",
    "TteSource", "build_adtte", "compute_complete_date", "compute_dt", "compute_dtf", "derive_adam",
    "derive_param_tte", "derive_vars_dt", "load_config", "read_sdtm_dir", "validate_adam", "write_adam",
]
