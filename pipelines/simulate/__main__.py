"""``python -m pipelines.simulate``: write the synthetic EDC extract of the study.

    python -m pipelines.simulate --subjects 780 --seed 1 --out data/raw \\
        [--study <id>] [--cutoff 2029-07-31] [--format csv|xpt] [--config study.yaml] [--spec edc.xlsx]

The study is ``--study``, else ``$CDISC_STUDY``, else the project's default study; its
configuration is ``pipelines/simulate/studies/<study>/study.yaml`` and its EDC spec
``specs/<study>/edc.xlsx`` (``--config`` / ``--spec`` override them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

from pipelines.study import StudyError

from .config import ConfigError
from .run import run


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipelines.simulate", description=__doc__.splitlines()[0])
    p.add_argument("--study", default=None, help="study id (default: $CDISC_STUDY, else the default study)")
    p.add_argument("--subjects", type=_positive, default=None,
                   help="number of RANDOMIZED subjects (default: the study's study.yaml)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cutoff", type=_date, default=None, help="data cut date YYYY-MM-DD (default: study.yaml)")
    p.add_argument("--format", choices=("csv", "xpt"), default="csv", dest="fmt")
    p.add_argument("--config", default=None, help="study configuration YAML (default: the study's study.yaml)")
    p.add_argument("--spec", default=None, help="EDC extract specification (default: specs/<study>/edc.xlsx)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.seed < 0:
        p.error("--seed must be non-negative")
    start = time.perf_counter()
    try:
        manifest = run(args.out, subjects=args.subjects, seed=args.seed, cutoff=args.cutoff, fmt=args.fmt,
                       config_path=args.config, spec_path=args.spec, study=args.study)
    except (ConfigError, StudyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"wrote {manifest.parent} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
