"""``python -m pipelines.metadata dump SPEC.xlsx [SHEET]``: print a workbook as text.

``check SPEC.xlsx`` loads a workbook, its edit checks included, and reports its errors; ``merge BASE OURS THEIRS`` merges
three versions row by row (:mod:`pipelines.metadata.merge`, a git merge driver).

Also usable as a git textconv so spec changes show as readable diffs::

    git config diff.xlsx.textconv "python -m pipelines.metadata dump"
"""

from __future__ import annotations

import argparse
import sys

from .model import SpecError
from .workbook import iter_sheet_names, read_sheet, load_spec


def dump(path: str, sheets: list[str] | None = None, out=sys.stdout) -> None:
    for sheet in sheets or iter_sheet_names(path):
        rows = read_sheet(path, sheet)
        out.write(f"== {sheet} ({len(rows)} rows)\n")
        if not rows:
            continue
        columns = [c for c in rows[0].keys()]
        out.write("\t".join(columns) + "\n")
        for r in rows:
            out.write("\t".join("" if r.get(c) is None else str(r.get(c)) for c in columns) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.metadata")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump", help="print the sheets of a workbook as tab-separated text")
    d.add_argument("path")
    d.add_argument("sheet", nargs="*")
    c = sub.add_parser("check", help="load a workbook and report errors")
    c.add_argument("path")
    m = sub.add_parser("merge", help="three-way merge of workbooks, row by row (git merge driver: %%O %%A %%B)")
    m.add_argument("base")
    m.add_argument("ours")
    m.add_argument("theirs")
    m.add_argument("-o", "--out", default=None, help="merged workbook (default: overwrite OURS, as git expects)")
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump(args.path, args.sheet or None)
    elif args.command == "merge":
        from .merge import merge_files

        conflicts = merge_files(args.base, args.ours, args.theirs, args.out)
        for c in conflicts:
            print(f"{args.ours}: conflict in {c}", file=sys.stderr)
        return 1 if conflicts else 0
    else:
        from ..editchecks import load_edit_checks

        try:
            spec = load_spec(args.path)
            checks = load_edit_checks(args.path, spec)
        except SpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{args.path}: {len(spec.datasets)} datasets, "
              f"{sum(len(d.variables) for d in spec.datasets.values())} variables, "
              f"{len(spec.codelists)} codelists, {len(spec.methods)} methods, "
              f"{len(checks.checks)} edit checks, {len(checks.facts)} facts: OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
