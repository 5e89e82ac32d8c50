"""pandera's polars API is imported without pandas (pipelines.metadata.pandera_polars)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_the_schemas_load_without_pandas_and_pandas_stays_importable():
    code = (
        "import sys\n"
        "import pipelines.raw.schema, pipelines.metadata.validation as v\n"
        "print('pandas' in sys.modules)\n"
        "import polars as pl\n"
        "schema = v.pa.DataFrameSchema({'A': v.pa.Column(pl.Int64, v.pa.Check.ge(0))})\n"
        "try:\n"
        "    schema.validate(pl.DataFrame({'A': [1, -1]}), lazy=True)\n"
        "except v.pa.errors.SchemaErrors as e:\n"
        "    print(e.failure_cases['failure_case'].to_list())\n"
        "import pandas\n"
        "print(pandas.DataFrame({'x': [1]}).shape)\n"
    )
    assert _run(code).splitlines() == ["False", "['-1']", "(1, 1)"]


def test_with_pandas_already_imported_pandera_is_imported_as_usual():
    code = "import pandas, pipelines.metadata.validation, pandera\nprint(hasattr(pandera, 'DataFrameSchema'))\n"
    assert _run(code) == "True"
