"""SAS XPORT version 5: the one home of XPT files in this project.

* :mod:`.write`: the writer from spec metadata (SDTM and ADaM), byte-reproducible, refusing what
  XPORT or the FDA guide does not allow;
* :mod:`.read`: :func:`read_xpt` with metadata (pyreadstat), in the file's encoding (named or
  detected: ASCII, UTF-8, Windows-1252, Latin-1);
* :mod:`.fast`: a vectorised reader of the header layout and the observations (numpy);
* :mod:`.facts`: what a file on disk holds (lengths as written, labels, types, data in chunks),
  for define.xml, Dataset-JSON and the run manifest.
"""

from .fast import UnsupportedXpt, XptDecodeError
from .read import ENCODINGS, XptRead, detect_encoding, encoding_name, file_encoding, read_xpt
from .write import IBM_MAX, IBM_MIN, XptError, XptWritten, check_xpt_rules, conform, sas_timestamp, write_xpt

__all__ = [
    "ENCODINGS", "IBM_MAX", "IBM_MIN", "UnsupportedXpt", "XptDecodeError", "XptError", "XptRead", "XptWritten",
    "check_xpt_rules", "conform", "detect_encoding", "encoding_name", "file_encoding", "read_xpt", "sas_timestamp",
    "write_xpt",
]
