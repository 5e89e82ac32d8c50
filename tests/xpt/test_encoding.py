"""XPT text in the encoding it was written in: detected (ASCII, UTF-8, Windows-1252, Latin-1) or
named; text the named encoding cannot decode names the file, variable and records."""

from __future__ import annotations

import polars as pl
import pyreadstat
import pytest

from pipelines.adam.package import read_sdtm_dir
from pipelines.xpt import XptDecodeError, detect_encoding, encoding_name, file_encoding, read_xpt
from pipelines.xpt.fast import read_frame


def sponsor_file(path, values: list[bytes]):
    """An XPT file whose CMTRT values are the given raw bytes (as a SAS session would write them):
    written with ASCII placeholders of the same length, then the bytes put in place."""
    placeholders = [f"V{i}".ljust(len(v), "#") for i, v in enumerate(values)]
    df = pl.DataFrame({"USUBJID": [f"S{i}" for i in range(len(values))], "CMTRT": placeholders,
                       "CMSEQ": [float(i + 1) for i in range(len(values))]})
    pyreadstat.write_xport(df, str(path), table_name="CM", file_format_version=5)
    raw = path.read_bytes()
    for p, v in zip(placeholders, values):
        assert raw.count(p.encode()) == 1
        raw = raw.replace(p.encode(), v)
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("values, expected", [
    ([], "ascii"),
    ([b"CAF\xc3\x89", b"PATIENT\xe2\x80\x99S"], "utf-8"),
    ([b"PATIENT\x92S DRUG", b"CAF\xe9"], "windows-1252"),   # right single quote 0x92: a SAS session on Windows
    ([b"CAF\xe9", b"X\x81Y"], "latin-1"),                   # 0x81 is undefined in Windows-1252
])
def test_detected_encoding(values, expected):
    assert detect_encoding(values) == expected


def test_a_windows_1252_file_is_read_in_its_encoding(tmp_path):
    path = sponsor_file(tmp_path / "cm.xpt", [b"PATIENT\x92S DRUG", b"PLAIN", b"CAF\xe9"])
    assert file_encoding(path) == "windows-1252"
    read = read_xpt(path, "auto")
    assert read.encoding == "windows-1252"
    assert read.data["CMTRT"].to_list() == ["PATIENT\u2019S DRUG", "PLAIN", "CAF\u00e9"]
    # the vectorised reader decodes the same way
    assert read_frame(path, encoding="cp1252")["CMTRT"].to_list() == read.data["CMTRT"].to_list()


def test_a_utf8_file_is_detected_as_utf8(tmp_path):
    path = sponsor_file(tmp_path / "cm.xpt", [b"CAF\xc3\xa9", b"PLAIN"])
    read = read_xpt(path, "auto")
    assert (read.encoding, read.data["CMTRT"].to_list()) == ("utf-8", ["CAF\u00e9", "PLAIN"])


@pytest.mark.parametrize("named", ["ascii", "utf-8"])
def test_text_the_named_encoding_cannot_decode_names_variable_and_records(tmp_path, named):
    path = sponsor_file(tmp_path / "cm.xpt", [b"PATIENT\x92S DRUG", b"PLAIN", b"CAF\xe9"])
    with pytest.raises(XptDecodeError, match=r"cm\.xpt: variable CMTRT, record 1; variable CMTRT, record 3") as err:
        read_xpt(path, named)
    assert err.value.where == [("CMTRT", 1), ("CMTRT", 3)]


def test_encoding_names_and_aliases():
    assert [encoding_name(n) for n in ("AUTO", "cp1252", "WLATIN1", "latin1", "UTF8")] == [
        "auto", "windows-1252", "windows-1252", "latin-1", "utf-8"]
    with pytest.raises(ValueError, match="is not one of auto"):
        encoding_name("ebcdic")


def test_an_sdtm_package_with_a_windows_1252_file_reads_with_a_warning(tmp_path):
    sponsor_file(tmp_path / "cm.xpt", [b"PATIENT\x92S DRUG", b"PLAIN"])
    package = read_sdtm_dir(tmp_path)
    assert package.get("CM")["CMTRT"].to_list() == ["PATIENT\u2019S DRUG", "PLAIN"]
    assert package.warnings == ["cm.xpt: character values read as windows-1252 (XPORT declares no encoding)"]
    with pytest.raises(ValueError, match=r"cm\.xpt: cm\.xpt: variable CMTRT, record 1: text that is not ascii"):
        read_sdtm_dir(tmp_path, "ascii")
