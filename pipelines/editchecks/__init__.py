"""Clinical edit checks as data: declared in a spec workbook, evaluated by one engine.

* :mod:`.sheet` reads sheets ``Edit Checks`` and ``Edit Check Facts`` (one row per check or
  fact; definition errors name the sheet, row and column);
* :mod:`.dates` compares partial ISO 8601 dates at the precision they have (the condition
  helpers ``BEFORE``, ``AFTER``, ``MIN_YEARS`` ...);
* :mod:`.engine` evaluates every check on a set of datasets and returns one findings table.

The engine knows nothing of a layer: the SDTM step runs it on the datasets it built
(:mod:`pipelines.defs.sdtm`); any layer whose spec has the sheets could.
"""

from .dates import HELPERS
from .engine import FINDINGS_SCHEMA, as_failures, empty_findings, findings_markdown, findings_summary, run_edit_checks
from .sheet import BUILTINS, EditCheck, EditChecks, Fact, load_edit_checks

__all__ = [
    "BUILTINS", "EditCheck", "EditChecks", "FINDINGS_SCHEMA", "Fact", "HELPERS", "as_failures", "empty_findings",
    "findings_markdown", "findings_summary", "load_edit_checks", "run_edit_checks",
]
