"""Where things are: project folders and the environment variables that move them.

========================  ======================  ==========================================
environment variable      default                 what
========================  ======================  ==========================================
``EDC_EXTRACT_DIR``       ``data/raw``            the EDC extract (one file per form)
``CDISC_OUTPUT_DIR``      ``output``              deliverables: sdtm/, adam/, analysis/
``CDISC_STORE_DIR``       ``<output>/.store``     intermediate frames between assets (parquet)
========================  ======================  ==========================================

Relative paths are taken from the current directory; the make targets run from the project root.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = PROJECT_ROOT / "specs"
MAPPINGS_DIR = PROJECT_ROOT / "mappings"
EDC_SPEC = SPECS_DIR / "edc.xlsx"
SDTM_SPEC = SPECS_DIR / "sdtm.xlsx"
ADAM_SPEC = SPECS_DIR / "adam.xlsx"


def extract_dir() -> Path:
    return Path(os.environ.get("EDC_EXTRACT_DIR") or "data/raw")


def output_dir() -> Path:
    return Path(os.environ.get("CDISC_OUTPUT_DIR") or "output")


def store_dir() -> Path:
    return Path(os.environ.get("CDISC_STORE_DIR") or output_dir() / ".store")
