"""Field counts of CSV records with quoted fields: line by line when no quoted field breaks a
line, the exact parse otherwise; both give the same records and counts."""

import pytest

import polars as pl

from pipelines.raw.text import _quoted_field_counts, structure_problems

HEADER = "A,B,C\n"


@pytest.mark.parametrize("body, expected", [
    # (body after the header, [(record, fields)] of the records with a wrong count)
    ('1,"x,y",3\n4,5,6\n', []),
    ('1,"x,y",3\n4,5\n', [(2, 2)]),
    ('"a ""b"", c",2,3\n1,"2,3,4"\n', [(2, 2)]),
    ('1,2,3\n\n"x",2,3,4\n', [(3, 4)]),  # an empty line is no record to count
    ('1,"two\nlines",3\n4,5\n', [(2, 2)]),  # a quoted line break: the exact parse
    ('1,"x",3\r\n4,"y"\r\n', [(2, 2)]),
])
def test_field_counts(body, expected):
    found = structure_problems("f.csv", HEADER + body, 3)
    assert [(p["record"], p["rule"]) for p in found] == [
        (r, f"record has {n} fields, header has 3") for r, n in expected]


def test_quoted_line_break_is_left_to_the_exact_parse():
    def counts(*lines):
        s = pl.Series(list(lines))
        got = _quoted_field_counts(s, s.str.count_matches(",", literal=True) + 1)
        return None if got is None else got.to_list()

    assert counts('1,"two', 'lines",3') is None
    assert counts('1,"x",3\r') is None
    assert counts('1,"x",3', '4') == [3, 1]
    assert counts('"a,b",2', '1,2,3') == [2, 3]


def test_truncated_file_names_its_last_record():
    found = structure_problems("f.csv", HEADER + '1,"x",3\n4,5,6', 3)
    assert found[0]["rule"].startswith("file truncated") and found[0]["record"] == 2
