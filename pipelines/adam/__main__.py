"""``python -m pipelines.adam --sdtm-dir DIR --out DIR [--spec specs/<study>/adam.xlsx] [--cut YYYY-MM-DD]``

Reads every SDTM ``.xpt`` of DIR, cuts it at the data cut (sheet Data Cut), derives the ADaM
datasets of the spec (sheet Dataset Builders: e.g. ADSL, ADTTE, ADRS, ADAE), validates each with the spec's pandera schema and the impossible data found while
deriving (a death before randomization), and writes the conforming ones as ``.xpt`` files in the
output folder; what the data cut removed or changed goes to ``data_cut_records.csv`` there.
Absent SDTM datasets/variables are warnings (their ADaM variables are empty), never a crash.
Exit status: 0 all written, 1 a dataset failed validation (not written), 2 bad input (a missing
folder, an unreadable XPT or spec, a spec error found while deriving); never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

import polars as pl

from ..metadata import SpecError, load_spec
from ..metadata.validation import format_failures
from ..study import StudyError, study
from .config import load_config
from .package import read_sdtm_dir
from .assertions import AdamInputError
from .pipeline import derive_adam, validate_adam, write_adam, write_cut_records


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.adam", description=__doc__.split("\n\n")[1])
    parser.add_argument("--sdtm-dir", required=True, help="folder of SDTM .xpt files")
    parser.add_argument("--out", required=True, help="output folder for the ADaM .xpt files")
    parser.add_argument("--spec", default=None,
                        help="ADaM spec workbook (default: specs/<study>/adam.xlsx of $CDISC_STUDY or the default study)")
    parser.add_argument("--cut", help="data cut date YYYY-MM-DD (default: spec setting, else latest date in the data)")
    parser.add_argument("--encoding", default="auto",
                        help="encoding of the XPT text: auto (detect per file; default), ascii, utf-8, windows-1252, latin-1")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated subset of the spec's datasets (default: all, e.g. ADSL,ADTTE,ADRS,ADAE)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    log = logging.getLogger("pipelines.adam")
    try:
        cut = dt.date.fromisoformat(args.cut) if args.cut else None
        spec_path = args.spec or study().spec("adam")
        spec, config = load_spec(spec_path), load_config(spec_path)
        package = read_sdtm_dir(args.sdtm_dir, args.encoding)
    except (SpecError, StudyError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log.info("read %d SDTM datasets from %s: %s", len(package.names), args.sdtm_dir, ", ".join(package.names))
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else None
    try:
        result = derive_adam(package, spec, config, cut, wanted)
        failures = validate_adam(result, spec)
    except (SpecError, AdamInputError, ValueError, pl.exceptions.PolarsError) as exc:
        # a spec that does not fit the package (e.g. a population reading a variable no one derives)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ok = [name for name, f in failures.items() if f.height == 0]
    for name, f in failures.items():
        if f.height:
            log.error("%s fails its spec (%d failure(s)), not written:\n%s", name, f.height, format_failures(f))
    for w in write_adam(result, spec, args.out, ok):
        log.info("wrote %s (%d records)", w.path, w.rows)
    if result.cut_records.height:
        path = write_cut_records(result, args.out)
        log.info("wrote %s (%d records removed or changed by the data cut)", path, result.cut_records.height)
    print(f"ADaM: {len(ok)} of {len(failures)} dataset(s) written to {args.out}; {len(result.warnings)} warning(s)")
    return 0 if len(ok) == len(failures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
