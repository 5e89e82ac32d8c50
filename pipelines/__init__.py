"""CDISC data pipeline: raw EDC extract -> SDTM -> ADaM -> analysis and deliverables, for any
study described by a folder of metadata (``pipelines.study``).

Layers, one direction. Transformation logic lives in plain modules (``pipelines.raw``,
``pipelines.sdtm``, ``pipelines.adam`` ...); ``pipelines.defs`` only wires them into Dagster.
"""

from functools import lru_cache

__version__ = "0.1.0"
DISTRIBUTION = "cdisc-pipeline"
"""The project's distribution name (pyproject.toml): the source system named in define.xml,
Dataset-JSON and the run manifest."""


@lru_cache(maxsize=1)
def source_system() -> tuple[str, str]:
    """(name, version) of the software that writes the deliverables."""
    from importlib import metadata

    try:
        return DISTRIBUTION, metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree without installation
        return DISTRIBUTION, __version__
