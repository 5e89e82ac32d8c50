"""Field counts of CSV records with quoted fields: line by line when no quoted field breaks a
line, the exact parse otherwise; both give the same records and counts."""

import pytest

from pipelines.raw.text import _quoted_without_line_breaks, structure_problems

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
    assert _quoted_without_line_breaks("f.csv", '1,"two\nlines",3\n', 3) is None
    assert _quoted_without_line_breaks("f.csv", '1,"x",3\r\r\n', 3) is None
    problems, records = _quoted_without_line_breaks("f.csv", '1,"x",3\n4\n', 3)
    assert records == 2 and [p["record"] for p in problems] == [2]


def test_truncated_file_names_its_last_record():
    found = structure_problems("f.csv", HEADER + '1,"x",3\n4,5,6', 3)
    assert found[0]["rule"].startswith("file truncated") and found[0]["record"] == 2
