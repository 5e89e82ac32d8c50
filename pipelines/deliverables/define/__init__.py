"""define.xml (Define-XML 2.1, ODM 1.3.2) generated from a spec workbook and the files it describes.

What comes from where:

=====================================  ===========================================================
define.xml                             source
=====================================  ===========================================================
ODM, Study, GlobalVariables            Define sheet: StudyName, StudyDescription, ProtocolName,
                                       Originator, Context; CreationDateTime = the data cut passed
                                       in (the XPT header timestamp, never the wall clock)
MetaDataVersion, def:Standards         Define sheet StandardName/StandardVersion and the CT
                                       versions (``SDTM CT Version``...), or a Standards sheet
def:AnnotatedCRF, def:SupplementalDoc  Documents sheet (the annotated CRF by title/ID)
ItemGroupDef                           Datasets sheet (label, class, subclass, structure, purpose,
                                       keys, repeating, reference data, comment); leaf =
                                       ``<dataset>.xpt``
ItemRef / ItemDef                      Variables sheet (order, mandatory, role, label, data type,
                                       format, codelist, origin, source, pages, predecessor,
                                       method, comment); character Length = the length in the XPT
                                       file; numeric Length 8
def:ValueListDef, value ItemDefs       ValueLevel sheet; character Length = longest value written
                                       where the where clause holds
def:WhereClauseDef                     WhereClauses sheet
CodeList                               Codelists sheet (NCI codes as ``nci:ExtCodeID`` aliases,
                                       sponsor terms in CDISC codelists as def:ExtendedValue);
                                       Dictionaries sheet -> ExternalCodeList
MethodDef, def:CommentDef              Methods and Comments sheets
arm:AnalysisResultDisplays             Analysis Displays and Analysis Results sheets (ADaM)
=====================================  ===========================================================

Spec values are normalised to Define-XML CT (``BDS`` -> ``BASIC DATA STRUCTURE``, ``CRF`` ->
``Collected``/``Investigator``); what cannot be mapped is written as given, so the XSD check fails
and names the item. Problems in the spec that do not make the define invalid are returned as
``issues`` (a failure table) for the spec authors.

Modules: :mod:`.odmxml` (namespaces and element helpers), :mod:`.context` (inputs, options and the
references made during a build), :mod:`.standards` (def:Standards), :mod:`.items` (datasets,
variables, value lists), :mod:`.references` (where clauses, codelists, methods, comments),
:mod:`.arm` (analysis results metadata) and :mod:`.document` (the whole file).
"""

from .context import STYLESHEET, DefineContext, DefineOptions
from .document import DefineBuild, build_define, define_bytes, write_define
from .items import infer_significant_digits
from .odmxml import ARM_NS, DEF_NS, ODM_NS, XLINK_NS
from .standards import ct_versions, package_kind

__all__ = [
    "ARM_NS",
    "DEF_NS",
    "ODM_NS",
    "STYLESHEET",
    "XLINK_NS",
    "DefineBuild",
    "DefineContext",
    "DefineOptions",
    "build_define",
    "ct_versions",
    "define_bytes",
    "infer_significant_digits",
    "package_kind",
    "write_define",
]
