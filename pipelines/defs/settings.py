"""Where things are: project folders and the environment variables that move them.

========================  ======================  ==========================================
environment variable      default                 what
========================  ======================  ==========================================
``CDISC_STUDY``           the project default     the study (``pipelines.study``)
``EDC_EXTRACT_DIR``       ``data/<study>/raw``    the EDC extract (one file per form)
``CDISC_OUTPUT_DIR``      ``output/<study>``      deliverables: sdtm/, adam/, analysis/
``CDISC_STORE_DIR``       ``<output>/.store``     intermediate frames between assets (parquet)
========================  ======================  ==========================================

Relative paths are taken from the current directory; the make targets run from the project root.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..study import PROJECT_ROOT, study  # noqa: F401  (PROJECT_ROOT: re-exported)

STUDY = study()  # $CDISC_STUDY, else the project's default study (pipelines.study)
SPECS_DIR = STUDY.specs_dir
MAPPINGS_DIR = STUDY.mappings_dir
EDC_SPEC = STUDY.spec("edc")
SDTM_SPEC = STUDY.spec("sdtm")
ADAM_SPEC = STUDY.spec("adam")


def extract_dir() -> Path:
    return Path(os.environ.get("EDC_EXTRACT_DIR") or f"data/{STUDY.id}/raw")


def output_dir() -> Path:
    return Path(os.environ.get("CDISC_OUTPUT_DIR") or f"output/{STUDY.id}")


def store_dir() -> Path:
    return Path(os.environ.get("CDISC_STORE_DIR") or output_dir() / ".store")
