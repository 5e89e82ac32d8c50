"""Read XPT files with R haven (``haven::read_xpt``) and report what R sees, for cross-reader tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
for (f in args) {
  d <- haven::read_xpt(f)
  cat("FILE\t", basename(f), "\t", nrow(d), "\t", ncol(d), "\t", attr(d, "label"), "\n", sep = "")
  for (v in names(d)) {
    x <- d[[v]]
    lab <- attr(x, "label"); if (is.null(lab)) lab <- ""
    fmt <- attr(x, "format.sas"); if (is.null(fmt)) fmt <- ""
    type <- if (is.character(x)) "Char" else "Num"
    klass <- paste(class(x), collapse = "/")
    first <- if (length(x) && any(!is.na(x) & (if (is.character(x)) x != "" else TRUE))) {
      as.character(x[which(!is.na(x) & (if (is.character(x)) x != "" else TRUE))[1]])
    } else ""
    cat("VAR\t", v, "\t", type, "\t", klass, "\t", lab, "\t", fmt, "\t", first, "\n", sep = "")
  }
}
"""


def require_r() -> None:
    if shutil.which("Rscript") is None:
        if os.environ.get("CDISC_REQUIRE_SERVICES") == "1" or os.environ.get("CI"):
            pytest.fail("Rscript with haven is required in CI (r-base-core r-cran-haven)")
        pytest.skip("Rscript not installed")


def haven_read(paths: list[Path]) -> dict[str, dict]:
    """file name -> {rows, cols, label, vars: {name: {type, class, label, format, first}}} as R haven reads them."""
    require_r()
    res = subprocess.run(["Rscript", "-e", _SCRIPT, *[str(p) for p in paths]], capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        raise AssertionError(f"haven::read_xpt failed:\n{res.stderr}")
    out: dict[str, dict] = {}
    current = None
    for line in res.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "FILE":
            current = out[parts[1]] = {"rows": int(parts[2]), "cols": int(parts[3]), "label": parts[4], "vars": {}}
        elif parts[0] == "VAR" and current is not None:
            current["vars"][parts[1]] = {"type": parts[2], "class": parts[3], "label": parts[4], "format": parts[5],
                                         "first": parts[6] if len(parts) > 6 else ""}
    return out
