"""SDTM layer: the raw EDC extract mapped to SDTMIG 3.4 datasets, driven by the spec and the mappings.

* ``specs/sdtm.xlsx`` (Pinnacle 21 style) says what each dataset is: variables, labels, types,
  order, keys, controlled terminology, value-level metadata. It drives the schemas and the XPT
  attributes.
* ``mappings/`` says where each variable comes from: per domain, the raw forms read and one rule
  per variable from a closed vocabulary (:mod:`pipelines.sdtm.rules`).
* :func:`build_domains` applies the mappings (pure polars, no I/O); :func:`validate_domain`
  checks the result against the spec and across domains; :func:`write_outputs` writes XPT files
  and the reconciliation beside them.
"""

from .engine import DomainResult, build_domains, infer_data_cut
from .mapping import MappingSet, load_mappings
from .output import write_outputs, write_reconciliation
from .rules import RULES, MappingError
from .validation import CROSS_DOMAIN_RULES, validate_domain

__all__ = [
    "CROSS_DOMAIN_RULES", "DomainResult", "MappingError", "MappingSet", "RULES", "build_domains",
    "infer_data_cut", "load_mappings", "validate_domain", "write_outputs", "write_reconciliation",
]
