"""conform.attach: columns of a keyed frame added without copying the frame, rows and order kept."""

import polars as pl, pytest
from pipelines.adam.conform import attach
def test_attach_keeps_rows_and_order_and_adds_columns():
    df = pl.DataFrame({"USUBJID": ["B", "A", "B", "C"], "X": [1, 2, 3, 4]})
    out = attach(df, pl.DataFrame({"USUBJID": ["A", "B"], "Y": ["a", "b"]}), ["USUBJID"])
    assert out.to_dict(as_series=False) == {"USUBJID": ["B", "A", "B", "C"], "X": [1, 2, 3, 4], "Y": ["b", "a", "b", None]}
def test_attach_refuses_a_key_that_repeats():
    df = pl.DataFrame({"USUBJID": ["A"], "X": [1]})
    with pytest.raises(ValueError, match=r"repeated: \[\('A',\)\]"):
        attach(df, pl.DataFrame({"USUBJID": ["A", "A"], "Y": [1, 2]}), ["USUBJID"])
