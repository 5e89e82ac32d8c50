"""CDISC data pipeline for study NCT07264075 (GORTEC 2024-04).

Layers, one direction: raw EDC extract -> SDTM -> ADaM -> analysis and deliverables.
Transformation logic lives in plain modules (``pipelines.raw``, ``pipelines.sdtm``,
``pipelines.adam`` ...); ``pipelines.defs`` only wires them into Dagster.
"""

__version__ = "0.1.0"
