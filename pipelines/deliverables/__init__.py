"""The submission package: define.xml 2.1 (with analysis results metadata), define.html and
Dataset-JSON v1.1, generated from the specs and checked against the XPT files they describe.

Modules: :mod:`.define` (the define.xml builder, a package; :mod:`.define.arm` analysis results metadata),
:mod:`.validate` (XSD, references), :mod:`.consistency` (define-vs-XPT, on the define read back by :mod:`.define_doc`), :mod:`.render` (define.html),
:mod:`.dataset_json` (writer, reader, round trip), :mod:`.build` (one layer folder end to end),
:mod:`pipelines.xpt.facts` and :mod:`.package` (what was written), :mod:`.resources` (shipped schemas).
"""

from .build import (
    DatasetJsonResult,
    DefineResult,
    NothingToDescribe,
    publish_dataset_json,
    publish_define,
)
from .dataset_json import compare_with_xpt, read_dataset_json, write_dataset_json
from .define import DefineOptions, build_define, define_bytes, package_kind
from .package import PackageData, load_package
from .render import render_define_html
from .consistency import check_define_against_xpt, check_define_file
from .define_doc import parse_define
from .validate import check_define_references, validate_define_xsd

__all__ = [
    "DatasetJsonResult",
    "DefineOptions",
    "DefineResult",
    "NothingToDescribe",
    "PackageData",
    "build_define",
    "check_define_against_xpt",
    "check_define_file",
    "check_define_references",
    "compare_with_xpt",
    "define_bytes",
    "load_package",
    "package_kind",
    "parse_define",
    "publish_dataset_json",
    "publish_define",
    "read_dataset_json",
    "render_define_html",
    "validate_define_xsd",
    "write_dataset_json",
]
