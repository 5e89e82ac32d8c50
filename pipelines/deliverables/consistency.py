"""define.xml against the XPT files it describes.

:func:`check_define_against_xpt` compares datasets, variables, order, labels, types, lengths and
display formats of define.xml with the XPT files, and checks the values against what define.xml
declares: every value of a codelist-controlled variable (variable or value level) in its
codelist, and every value of a character variable declared with an ISO 8601 data type (or, at
value level, a number) written as that type (:mod:`pipelines.metadata.datatypes`), so that a
``date`` variable holding ``2026-05`` is reported. :func:`check_define_file` reads the define and
the files (only the columns the checks need).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import polars as pl

from ..metadata import datatypes
from ..metadata.model import WhereClause
from ..metadata.validation import where_expr
from ..xpt.facts import XptFacts, find_xpts, read_columns, read_xpt_facts
from .define_doc import DefineDoc, parse_define
from .package import SUBJECT, patterned_text
from .validate import failure_row, failure_table, where_from_oid

NUMERIC_TYPES = frozenset({"integer", "float", "double", "decimal"})


def _norm_format(fmt: str | None) -> str | None:
    if not fmt:
        return None
    f = fmt.strip().upper()
    return f[:-1] if f.endswith(".") else f


def columns_to_check(doc: DefineDoc, facts: Mapping[str, XptFacts] | None = None) -> dict[str, list[str]]:
    """Per dataset, the columns whose values the consistency check reads.

    With ``facts`` (the XPT headers), only the columns a value test can look at: a variable with
    coded values (not an external dictionary), a character variable of a patterned data type
    (:data:`pipelines.metadata.datatypes.PATTERNS`), and value-level variables with their
    where-clause variables; without, every candidate (a superset).
    """
    out: dict[str, list[str]] = {}
    for ds in doc.datasets.values():
        f = facts.get(ds.name) if facts is not None else None
        cols = [SUBJECT]
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            if it is None:
                continue
            if f is None:
                if it.codelist or datatypes.text_pattern(it.data_type):
                    cols.append(it.name)
            else:
                coded = it.codelist in doc.codelists and doc.codelists[it.codelist][1] is not None
                if coded or patterned_text(f, it.name, it.data_type):
                    cols.append(it.name)
            if it.value_list:
                cols.append(it.name)
                for item_oid, wc in doc.value_lists.get(it.value_list, []):
                    for cond_oid, _, _ in doc.where_clauses.get(wc, []):
                        cols.append(cond_oid.split(".", 2)[-1])
        out[ds.name] = list(dict.fromkeys(cols))
    return out


def _codelist_bad(frame: pl.DataFrame, col: str, codelist: tuple[str, frozenset[str] | None],
                  mask: pl.Expr | None) -> pl.Expr | None:
    """Rows whose ``col`` value is not a coded value of the codelist (None when not checkable)."""
    _, values = codelist
    if values is None or col not in frame.columns:
        return None
    dtype = frame.schema[col]
    if dtype == pl.String:
        bad = pl.col(col).is_not_null() & ~pl.col(col).is_in(sorted(values))
    elif dtype.is_numeric():
        nums = []
        for v in values:
            try:
                nums.append(float(v))
            except ValueError:
                pass
        bad = pl.col(col).is_not_null() & ~pl.col(col).cast(pl.Float64).is_in(nums)
    else:
        return None  # dates are not codelist-controlled
    return bad if mask is None else bad & mask.fill_null(False)


def _type_bad(frame: pl.DataFrame, col: str, data_type: str, mask: pl.Expr | None) -> pl.Expr | None:
    """Rows whose character ``col`` value is not written as ``data_type`` (None when not checkable)."""
    if col not in frame.columns or frame.schema[col] != pl.String:
        return None
    ok = datatypes.matches(pl.col(col), data_type)
    if ok is None:
        return None
    bad = pl.col(col).is_not_null() & ~ok
    return bad if mask is None else bad & mask.fill_null(False)


def _value_rows(ds: str, variable: str, frame: pl.DataFrame, col: str, bad: pl.Expr, rule: str) -> list[dict]:
    """One failure per distinct bad value, with its first record, subject and count."""
    f = frame.with_row_index("_record", offset=1).filter(bad)
    has_subject = SUBJECT in f.columns and col != SUBJECT
    grouped = f.group_by(col, maintain_order=True).agg(
        pl.len().alias("_n"), pl.col("_record").first(), *([pl.col(SUBJECT).first()] if has_subject else []),
    )
    rows = []
    for g in grouped.iter_rows(named=True):
        value = g[col]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        rows.append(failure_row(
            ds, variable, f"{rule} ({g['_n']} record{'s' if g['_n'] != 1 else ''})",
            value, record=g["_record"], subject=g.get(SUBJECT) if has_subject else (value if col == SUBJECT else None),
        ))
    return rows


def check_define_against_xpt(
    doc: DefineDoc,
    facts: Mapping[str, XptFacts],
    frames: Mapping[str, pl.DataFrame],
) -> pl.DataFrame:
    """define.xml against the XPT files it describes (pure: metadata and frames are passed in).

    Compares the set of datasets, the leaf file names, dataset names and labels, then for every
    dataset the variables (present, extra, order), each variable's label, type (Char/Num), length
    and display format, and finally the values: codelist-controlled variables and character
    values of a declared ISO 8601 or numeric data type, at variable level and at value level
    (where-clause subsets). One failure row per dataset/variable/attribute; value failures one row
    per distinct bad value with its first record, subject and count.
    """
    rows: list[dict] = []
    for name, ds in doc.datasets.items():
        f = facts.get(name)
        if ds.has_no_data:
            continue
        if f is None:
            rows.append(failure_row(name, None, f"dataset: define.xml describes {ds.href or name.lower() + '.xpt'} but there is no such XPT file", ds.href))
            continue
        if ds.href is None:
            rows.append(failure_row(name, None, "leaf: define.xml gives no def:leaf (file) for a dataset with an XPT file"))
        elif Path(ds.href).name != f.path.name:
            rows.append(failure_row(name, None, f"leaf: define.xml points at {ds.href!r}, the file is {f.path.name!r}", ds.href))
        if f.name != name:
            rows.append(failure_row(name, None, f"dataset name: define.xml {name!r}, XPT member {f.name!r}", f.name))
        if (ds.label or None) != (f.label or None):
            rows.append(failure_row(name, None, f"dataset label: define.xml {ds.label!r}, XPT {f.label!r}", f.label))
        define_names = []
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            define_names.append(it.name if it is not None else oid.split(".")[-1])
        xpt_names = f.names
        for v in define_names:
            if v not in xpt_names:
                rows.append(failure_row(name, v, "variable: in define.xml, missing from the XPT file"))
        for v in xpt_names:
            if v not in define_names:
                rows.append(failure_row(name, v, "variable: in the XPT file, not in define.xml"))
        common_define = [v for v in define_names if v in xpt_names]
        common_xpt = [v for v in xpt_names if v in define_names]
        if common_define != common_xpt:
            for i, (a, b) in enumerate(zip(common_define, common_xpt), start=1):
                if a != b:
                    rows.append(failure_row(name, a, f"order: define.xml has {a} at position {define_names.index(a) + 1}, "
                                     f"the XPT file has {b} there (XPT position of {a}: {xpt_names.index(a) + 1})", a))
                    break
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            if it is None:
                continue
            col = f.column(it.name)
            if col is None:
                continue
            if (it.label or None) != (col.label or None):
                rows.append(failure_row(name, it.name, f"label: define.xml {it.label!r}, XPT {col.label!r}", col.label))
            want = "Num" if it.data_type in NUMERIC_TYPES else "Char"
            if want != col.type:
                rows.append(failure_row(name, it.name, f"type: define.xml {it.data_type} ({want}), XPT {col.type}", col.type))
            elif it.length is not None and it.length != col.length:
                rows.append(failure_row(name, it.name, f"length: define.xml {it.length}, XPT {col.length}", col.length))
            if want == "Num" and _norm_format(it.display_format) != _norm_format(col.format):
                rows.append(failure_row(name, it.name, f"display format: define.xml {it.display_format!r}, XPT {col.format!r}", col.format))
        frame = frames.get(name)
        if frame is None:
            continue
        # (variable, bad-row expression, rule) for every value define.xml constrains.
        tests: list[tuple[str, pl.Expr, str]] = []
        for _, oid, _ in ds.items:
            it = doc.items.get(oid)
            if it is None:
                continue
            if it.codelist and it.codelist in doc.codelists:
                bad = _codelist_bad(frame, it.name, doc.codelists[it.codelist], None)
                if bad is not None:
                    tests.append((it.name, bad, f"value not in codelist {it.codelist}"))
            if it.data_type in datatypes.PATTERNS:
                bad = _type_bad(frame, it.name, it.data_type, None)
                if bad is not None:
                    tests.append((it.name, bad, f"value does not match its define.xml data type ({datatypes.rule(it.data_type)})"))
            for item_oid, wc_oid in doc.value_lists.get(it.value_list or "", []):
                vit = doc.items.get(item_oid)
                if vit is None or wc_oid not in doc.where_clauses:
                    continue
                conds = []
                for cond_oid, comparator, values in doc.where_clauses[wc_oid]:
                    cds, cvar = where_from_oid(cond_oid)
                    conds.append((cds, cvar, comparator, values))
                if not all(c[0] == name and c[1] in frame.columns for c in conds):
                    continue  # a condition on another dataset: not checkable row by row
                mask = where_expr(WhereClause(id=wc_oid, conditions=tuple(conds)))
                where = " where " + " and ".join(f"{c[1]} {c[2]} {','.join(c[3])}" for c in conds)
                if vit.codelist and vit.codelist in doc.codelists:
                    bad = _codelist_bad(frame, it.name, doc.codelists[vit.codelist], mask)
                    if bad is not None:
                        tests.append((it.name, bad, f"value not in codelist {vit.codelist}{where}"))
                if vit.data_type != it.data_type and datatypes.text_pattern(vit.data_type):
                    bad = _type_bad(frame, it.name, vit.data_type, mask)
                    if bad is not None:
                        tests.append((it.name, bad, f"value does not match its define.xml data type ({datatypes.rule(vit.data_type)}){where}"))
        if tests and frame.height:
            # One pass to find which tests fail; details only for those.
            any_bad = frame.select([bad.any().alias(str(i)) for i, (_, bad, _) in enumerate(tests)]).row(0)
            for (variable, bad, rule), failed in zip(tests, any_bad):
                if failed:
                    rows += _value_rows(name, variable, frame, variable, bad, rule)
    for name, f in facts.items():
        if name not in doc.datasets:
            rows.append(failure_row(name, None, f"dataset: {f.path.name} is not described in define.xml", f.path.name))
    return failure_table(rows)


def check_define_file(
    define_path: str | os.PathLike[str],
    xpt_dir: str | os.PathLike[str] | None = None,
    frames: Mapping[str, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """:func:`check_define_against_xpt` for a define.xml and the XPT files beside it (reads them)."""
    define_path = Path(define_path)
    doc = parse_define(define_path)
    directory = Path(xpt_dir) if xpt_dir else define_path.parent
    facts = {name: read_xpt_facts(p) for name, p in find_xpts(directory).items()}
    wanted = columns_to_check(doc, facts)
    loaded = dict(frames or {})
    for name, f in facts.items():
        cols = wanted.get(name, [SUBJECT])
        have = loaded.get(name)
        if have is None or not set(c for c in cols if c in f.names) <= set(have.columns):
            loaded[name] = read_columns(f, cols)
    return check_define_against_xpt(doc, facts, loaded)
