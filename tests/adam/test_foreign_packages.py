"""``python -m pipelines.adam --sdtm-dir`` on SDTM packages it did not write: each lacks a dataset
or a variable the spec's configuration reads (or holds one it does not know, or Windows-1252
text). Each run ends with the documented exit status and warnings naming what is missing, never
a traceback; the ADaM variables that needed the missing data are empty."""

import datetime as dt
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

from pipelines.adam.__main__ import main as adam_cli
from pipelines.adam.synthetic import synthetic_sdtm
from pipelines.metadata.model import Dataset, Variable
from pipelines.xpt import read_xpt, write_xpt

CUT = dt.date(2028, 6, 30)


def write(df: pl.DataFrame, folder: Path, name: str) -> None:
    variables = tuple(Variable(name, c, i, c, "float" if df.schema[c] in (pl.Float64, pl.Int64, pl.Int32) else "text")
                      for i, c in enumerate(df.columns, start=1))
    df = df.with_columns([pl.col(c).cast(pl.Float64) for c, t in df.schema.items() if t in (pl.Int64, pl.Int32)])
    write_xpt(df, folder, Dataset(name, f"{name} dataset", variables=variables), CUT)


def folder(tmp_path, change=None) -> Path:
    """The synthetic package as XPT files, after ``change(frames)`` (drop a dataset, a variable...)."""
    pkg = synthetic_sdtm(40, seed=7, cut=CUT)
    frames = {n: pkg.get(n) for n in pkg.names}
    if change:
        change(frames)
    out = tmp_path / "sdtm"
    for name, df in frames.items():
        write(df, out, name)
    return out


def run(tmp_path, sdtm: Path, capsys) -> tuple[int, str, Path]:
    out = tmp_path / "adam"
    code = adam_cli(["--sdtm-dir", str(sdtm), "--out", str(out), "--cut", CUT.isoformat()])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.err + captured.out, out


def drop_var(name, var):
    return lambda f: f.update({name: f[name].drop(var)})


def drop_ds(name):
    return lambda f: f.pop(name)


def no_randomization(f):
    f["DS"] = f["DS"].filter(pl.col("DSDECOD") != "RANDOMIZED")


def extra(f):
    f["XY"] = pl.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "XYTESTCD": ["ODD"], "XYORRES": ["1"]})


# case, change, expected warnings (substrings), exit status, check on the outputs
CASES = [
    ("cm-without-cmcat", drop_var("CM", "CMCAT"), ["SDTM variable CM.CMCAT is absent"], 0,
     lambda out: read_xpt(out / "adtte.xpt").data.filter(pl.col("CNSR") == 3).height == 0),  # no NACT censoring
    ("no-rs", drop_ds("RS"), ["SDTM dataset RS is absent"], 0,
     lambda out: set(read_xpt(out / "adrs.xpt").data.filter(pl.col("PARAMCD") == "BOR").get_column("AVALC")) == {"MISSING"}),
    ("no-suppdm", drop_ds("SUPPDM"), ["SDTM dataset SUPPDM is absent"], 0,
     lambda out: read_xpt(out / "adsl.xpt").data.get_column("STRAT1R").null_count() == 40),
    ("no-randomization-record", no_randomization, ["no subject has a complete randomization date"], 0,
     lambda out: (read_xpt(out / "adsl.xpt").data.get_column("ITTFL") == "N").all()
     and read_xpt(out / "adtte.xpt").data.height == 0),
    ("no-ss", drop_ds("SS"), ["SDTM dataset SS is absent"], 0,
     lambda out: read_xpt(out / "adsl.xpt").data.get_column("LSTALVDT").null_count() == 0),
    ("no-mi-variable-mistresn", drop_var("MI", "MISTRESN"), ["SDTM variable MI.MISTRESN is absent"], 0,
     lambda out: read_xpt(out / "adsl.xpt").data.get_column("PDL1CPS").null_count() == 40),
    ("ds-without-dsscat", drop_var("DS", "DSSCAT"), ["SDTM variable DS.DSSCAT is absent"], 0,
     lambda out: read_xpt(out / "adsl.xpt").data.get_column("EOSSTT").null_count() == 0),
    ("ex-without-exdose", drop_var("EX", "EXDOSE"), ["SDTM variable EX.EXDOSE is absent"], 0,
     lambda out: read_xpt(out / "adsl.xpt").data.get_column("TRTSDT").null_count() == 40),
    ("ss-without-ssstresc", drop_var("SS", "SSSTRESC"), ["SDTM variable SS.SSSTRESC is absent"], 0, lambda out: True),
    ("an-unknown-dataset", extra, [], 0, lambda out: (out / "adsl.xpt").is_file()),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cli_on_a_foreign_package(tmp_path, capsys, caplog, case):
    _, change, warnings, status, check = case
    code, text, out = run(tmp_path, folder(tmp_path, change), capsys)
    assert code == status, text + caplog.text
    for w in warnings:
        assert w in caplog.text
    assert check(out)


def test_cli_on_a_windows_1252_file(tmp_path, capsys, caplog):
    """A CM whose CMTRT holds a right single quote written by SAS on Windows (0x92)."""
    sdtm = folder(tmp_path)
    cm = read_xpt(sdtm / "cm.xpt").data
    placeholder = "PATIENT#S DRUG"
    cm = cm.with_columns(pl.lit(placeholder).alias("CMTRT"))
    (sdtm / "cm.xpt").unlink()
    pyreadstat.write_xport(cm, str(sdtm / "cm.xpt"), table_name="CM", file_format_version=5)
    raw = (sdtm / "cm.xpt").read_bytes().replace(placeholder.encode(), b"PATIENT\x92S DRUG")
    (sdtm / "cm.xpt").write_bytes(raw)
    code, text, out = run(tmp_path, sdtm, capsys)
    assert "cm.xpt: character values read as windows-1252" in caplog.text
    # ADCM carries CMTRT: the decoded value (a right single quote) is not ASCII, so ADCM fails its
    # spec naming the value, and is not written (exit 1); the datasets without CMTRT are written
    assert code == 1, text
    assert "CMTRT = 'PATIENT\u2019S DRUG': rule 'ASCII characters only'" in caplog.text
    written = {p.name for p in out.glob("*.xpt")}
    assert "adcm.xpt" not in written and {"adsl.xpt", "adtte.xpt", "adrs.xpt", "adae.xpt"} <= written


def test_cli_spec_error_found_while_deriving_is_exit_2(tmp_path, capsys):
    """A spec whose analysis population reads a variable no one derives: a clear error, status 2."""
    from pipelines.metadata.merge import read_workbook
    from pipelines.metadata.workbook import write_workbook

    from .helpers import SPEC

    sheets = read_workbook(SPEC)
    for r in sheets["TTE Parameters"]:
        if r["PARAMCD"] == "OS":
            r["Population"] = "NOSUCHVR = 'Y'"
    spec = tmp_path / "adam.xlsx"
    write_workbook(spec, sheets)
    out = tmp_path / "adam"
    code = adam_cli(["--sdtm-dir", str(folder(tmp_path)), "--out", str(out), "--spec", str(spec)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "NOSUCHVR" in err and "Traceback" not in err
