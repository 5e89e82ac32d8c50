"""``python -m pipelines.metadata dump SPEC.xlsx [SHEET]``: print a workbook as text.

Also usable as a git textconv so spec changes show as readable diffs::

    git config diff.xlsx.textconv "python -m pipelines.metadata dump"
"""

from __future__ import annotations

import argparse
import sys

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
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump(args.path, args.sheet or None)
    else:
        spec = load_spec(args.path)
        print(f"{args.path}: {len(spec.datasets)} datasets, "
              f"{sum(len(d.variables) for d in spec.datasets.values())} variables, "
              f"{len(spec.codelists)} codelists, {len(spec.methods)} methods: OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
