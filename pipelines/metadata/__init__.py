"""Specification workbooks (Pinnacle 21 style) and what is generated from them."""

from .model import Codelist, Dataset, Spec, SpecError, Variable
from .workbook import load_spec, write_workbook

__all__ = ["Codelist", "Dataset", "Spec", "SpecError", "Variable", "load_spec", "write_workbook"]
