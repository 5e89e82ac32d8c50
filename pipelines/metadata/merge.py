"""Three-way merge of specification workbooks, row by row (a git merge driver for ``*.xlsx``).

An ``.xlsx`` file is a zip archive: git cannot merge two branches that both edited a spec. Here
each sheet is turned into text, one line per row (a JSON list of the row's cells, the columns of
the three versions united in one order), the three texts are merged by ``git merge-file``, and
the result is written back as a workbook. Rows edited on one side only merge cleanly, and rows
added at the same place on both sides are all kept; a row edited
differently on both sides is a conflict, reported with the three versions and the ours version kept
in the written workbook, so that the merge stops (exit 1) for a person to decide.

Set up once per clone::

    git config merge.xlsx.driver ".venv/bin/python -m pipelines.metadata merge %O %A %B"

(``.gitattributes`` names the driver for ``*.xlsx``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

Sheets = dict[str, list[dict[str, Any]]]


def read_workbook(path: str | os.PathLike[str]) -> Sheets:
    """Every sheet of a workbook as rows (dicts keyed by header), blank rows skipped."""
    from .workbook import iter_sheet_names, read_sheet

    if os.path.getsize(path) == 0:  # git gives an empty base when both sides added the file
        return {}
    return {name: read_sheet(path, name) for name in iter_sheet_names(path)}


def _columns(*versions: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for rows in versions:
        for r in rows:
            out.extend(k for k in r if k not in out)
    return out


def _text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    return "".join(json.dumps([r.get(c) for c in columns], ensure_ascii=False) + "\n" for r in rows)


def _merge_text(base: str, ours: str, theirs: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = Path(tmp) / name
            p.write_text(text, encoding="utf-8")
            files.append(str(p))
        done = subprocess.run(["git", "merge-file", "-p", "--diff3", *files], capture_output=True, text=True)
    if done.returncode < 0 or done.returncode > 127:
        raise RuntimeError(f"git merge-file failed: {done.stderr.strip()}")
    return done.stdout


def _rows(text: str, columns: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of merged text. A conflict block where both sides only added rows (its base part
    is empty) keeps the rows of both, ours first; any other keeps the ours side and is returned
    as a message."""
    rows: list[dict[str, Any]] = []
    conflicts: list[str] = []
    part = None
    block: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("<<<<<<< "):
            part, block = "ours", {"ours": [], "base": [], "theirs": []}
            continue
        if part and line.startswith("||||||| "):
            part = "base"
            continue
        if part and line.startswith("======="):
            part = "theirs"
            continue
        if part and line.startswith(">>>>>>> "):
            part = None
            kept = block["ours"] + (block["theirs"] if not block["base"] else [])
            rows += [dict(zip(columns, json.loads(x))) for x in kept]
            if block["base"]:
                conflicts.append("\n".join(["ours:", *block["ours"], "base:", *block["base"], "theirs:", *block["theirs"]]))
            continue
        if part:
            block[part].append(line)
            continue
        rows.append(dict(zip(columns, json.loads(line))))
    return rows, conflicts


def merge_workbooks(base: Sheets, ours: Sheets, theirs: Sheets) -> tuple[Sheets, list[str]]:
    """The merged sheets and the conflicts (one message per conflicting block)."""
    names = list(ours) + [n for n in theirs if n not in ours]
    merged: Sheets = {}
    conflicts: list[str] = []
    for name in names:
        b, o, t = base.get(name, []), ours.get(name), theirs.get(name)
        if o is None:  # added in theirs (a sheet deleted in ours and kept in theirs stays deleted)
            if name in base:
                continue
            merged[name] = t or []
            continue
        if t is None:  # deleted in theirs: deleted unless ours changed it
            if name in base and o != b:
                conflicts.append(f"sheet {name!r}: deleted on one side, edited on the other")
                merged[name] = o
            elif name not in base:
                merged[name] = o
            continue
        columns = _columns(o, b, t)
        rows, found = _rows(_merge_text(_text(b, columns), _text(o, columns), _text(t, columns)), columns)
        merged[name] = rows
        conflicts += [f"sheet {name!r}:\n{c}" for c in found]
    return merged, conflicts


def _read_any(path: str, tmp: str) -> Sheets:
    """:func:`read_workbook` of a file whatever its name (git hands the driver files without the
    ``.xlsx`` suffix that openpyxl insists on)."""
    if path.lower().endswith(".xlsx") or os.path.getsize(path) == 0:
        return read_workbook(path)
    copy = Path(tmp) / f"{len(os.listdir(tmp))}.xlsx"
    copy.write_bytes(Path(path).read_bytes())
    return read_workbook(copy)


def merge_files(base: str, ours: str, theirs: str, out: str | None = None) -> list[str]:
    """Merge three workbook files into ``out`` (default: ``ours``, as git expects)."""
    from .workbook import write_workbook

    with tempfile.TemporaryDirectory() as tmp:
        sheets, conflicts = merge_workbooks(*(_read_any(p, tmp) for p in (base, ours, theirs)))
    write_workbook(out or ours, sheets)
    return conflicts
