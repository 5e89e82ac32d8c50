"""Dataset-JSON written from the frames the layer steps stored equals Dataset-JSON written from the XPT files.

The deliverables step reads each dataset's values from the frame its layer step stored (cheaper
than decoding the XPT file again); the files must be byte for byte what decoding the XPT gives.
"""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from pipelines.defs import settings
from pipelines.deliverables import publish_dataset_json, publish_define
from pipelines.deliverables.dataset_json import as_written
from pipelines.deliverables.xptfacts import read_xpt_facts
from pipelines.metadata import load_spec
from pipelines.metadata.model import Dataset as Ds, Variable as Var
from pipelines.xpt import write_xpt
from tests.dagster_run import materialize_cut

from .study import CUT


@pytest.fixture(scope="module")
def pipeline_run(small_extract, tmp_path_factory):
    out = tmp_path_factory.mktemp("json_frames") / "out"
    result, cut = materialize_cut(small_extract, out)
    assert result.success
    return out, cut


@pytest.mark.parametrize("layer", ["sdtm", "adam"])
def test_the_pipelines_json_files_equal_json_written_from_the_xpt_files(pipeline_run, tmp_path, layer):
    out, cut = pipeline_run
    folder = out / "cuts" / cut / layer
    stored = sorted(p.name for p in folder.glob("*.json"))
    assert len(stored) == len(list(folder.glob("*.xpt"))) > 3
    # the store holds a frame for every dataset, so the pipeline took the frame path
    assert all((out / ".store" / cut / f"{layer}__{p.stem}.parquet").is_file() for p in folder.glob("*.xpt"))
    copy = tmp_path / layer
    copy.mkdir()
    for p in folder.glob("*.xpt"):
        shutil.copy(p, copy / p.name)
    spec = load_spec(settings.SDTM_SPEC if layer == "sdtm" else settings.ADAM_SPEC)
    # inline_bytes=0: nothing kept in memory, every value is decoded from the XPT file
    publish_dataset_json(spec, publish_define(spec, copy, inline_bytes=0), verify=True)
    assert sorted(p.name for p in copy.glob("*.json")) == stored
    for name in stored:
        assert (copy / name).read_bytes() == (folder / name).read_bytes(), name


def test_as_written_reduces_a_frame_to_what_its_xpt_file_holds(tmp_path):
    ds = Ds(name="ADZ", label="Frame vs file", variables=(
        Var("ADZ", "USUBJID", 1, "Unique Subject Identifier", "text"),
        Var("ADZ", "AVALC", 2, "Analysis Value (C)", "text"),
        Var("ADZ", "ADT", 3, "Analysis Date", "integer", format="DATE9."),
    ))
    frame = pl.DataFrame({"EXTRA": [1, 2, 3], "ADT": [CUT, None, CUT], "AVALC": ["a  ", "", None],
                          "USUBJID": ["S-1", "S-2", "S-3"]})
    facts = read_xpt_facts(write_xpt(frame.drop("EXTRA"), tmp_path, ds, CUT).path)
    got = as_written(frame, facts)
    assert got.columns == ["USUBJID", "AVALC", "ADT"]
    assert got["AVALC"].to_list() == ["a", None, None]
    with pytest.raises(ValueError, match="variable ADT is not in the frame"):
        as_written(frame.drop("ADT"), facts)
    with pytest.raises(ValueError, match="the frame has 2 records, the file 3"):
        as_written(frame.head(2), facts)
