"""Values from the frames the layer steps stored are the values of the XPT files.

The deliverables step takes each dataset's values (for define.xml's checks and for
Dataset-JSON) from the frame its layer step stored, which is much cheaper than decoding the XPT
file again, but only when the frame's recorded SHA-256 is that of the file now in the layer.
The results must be byte for byte those of reading the files.
"""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import polars as pl
import pytest

from pipelines.defs import settings
from pipelines.defs.deliverables import StoredFrames
from pipelines.defs.resources import XPT_SHA256, StudyPaths, stored_frame_path, write_parquet_atomic
from pipelines.deliverables import publish_dataset_json, publish_define, write_dataset_json
from pipelines.deliverables.dataset_json import dataset_metadata
from pipelines.deliverables.package import written_frame
from pipelines.documents import ADAM_FILES, SDTM_FILES, crf_page_refs
from pipelines.xpt.facts import NotAsWritten, as_written, read_all, read_xpt_facts
from pipelines.fileio import sha256_file
from pipelines.metadata import load_spec
from pipelines.metadata.model import Dataset, Spec, Variable
from pipelines.xpt import IBM_MAX, IBM_MIN, write_xpt
from tests.dagster_run import materialize_cut

CUT = dt.date(2029, 7, 31)


@pytest.fixture(scope="module")
def pipeline_run(small_extract, tmp_path_factory):
    out = tmp_path_factory.mktemp("json_frames") / "out"
    result, cut = materialize_cut(small_extract, out)
    assert result.success
    return out, cut


@pytest.mark.parametrize("layer", ["sdtm", "adam"])
def test_the_pipelines_define_and_json_equal_those_written_from_the_xpt_files(pipeline_run, tmp_path, layer):
    out, cut = pipeline_run
    folder = out / "cuts" / cut / layer
    xpts = sorted(folder.glob("*.xpt"))
    assert len(xpts) > 3
    # every stored frame names the XPT file written from it, so the pipeline took the frames
    paths = StudyPaths(extract_dir=str(tmp_path), output_dir=str(out), store_dir=str(out / ".store"))
    stored = StoredFrames(paths, layer, cut)
    for p in xpts:
        parquet = stored_frame_path(out / ".store", dg.AssetKey(f"{layer}__{p.stem}"), cut)
        assert pl.read_parquet_metadata(parquet)[XPT_SHA256] == sha256_file(p)
        assert stored(p.stem.upper(), p) is not None
    copy = tmp_path / layer
    copy.mkdir()
    for p in xpts:
        shutil.copy(p, copy / p.name)
    spec = load_spec(settings.SDTM_SPEC if layer == "sdtm" else settings.ADAM_SPEC)
    # inline_bytes=0: nothing kept in memory, every value is decoded from the XPT files
    define = publish_define(spec, copy, inline_bytes=0,
                            page_refs=crf_page_refs(settings.EDC_SPEC, settings.MAPPINGS_DIR))  # as the pipeline
    assert define.consistency_failures.height == 0
    publish_dataset_json(spec, define, verify=True)
    # the reviewer documents (csdrg.html ...) are written by their own step, not by the define's
    documents = {*SDTM_FILES, *ADAM_FILES}
    written = sorted(p.name for p in folder.iterdir() if p.suffix in (".json", ".xml", ".html") and p.name not in documents)
    assert sorted(p.name for p in copy.iterdir() if p.suffix in (".json", ".xml", ".html")) == written
    for name in written:
        assert (copy / name).read_bytes() == (folder / name).read_bytes(), name


def test_a_frame_not_written_to_the_file_now_in_the_layer_is_not_used(pipeline_run, tmp_path):
    out, cut = pipeline_run
    xpt = out / "cuts" / cut / "sdtm" / "ae.xpt"
    store = tmp_path / "store"
    key = dg.AssetKey("sdtm__ae")
    frame = pl.read_parquet(stored_frame_path(out / ".store", key, cut))
    paths = StudyPaths(extract_dir=str(tmp_path), output_dir=str(out), store_dir=str(store))
    # an older frame (another run), recorded against another file: the file is read instead
    write_parquet_atomic(frame.head(3), stored_frame_path(store, key, cut), {XPT_SHA256: "0" * 64})
    assert StoredFrames(paths, "sdtm", cut)("AE", xpt) is None
    assert StoredFrames(paths, "sdtm", cut).scan("AE", xpt) is None  # nor scanned for some columns
    # a frame stored without a record of its file (not by a layer step): not used either
    write_parquet_atomic(frame, stored_frame_path(store, key, cut))
    assert StoredFrames(paths, "sdtm", cut)("AE", xpt) is None
    assert StoredFrames(paths, "sdtm", cut).scan("AE", xpt) is None
    write_parquet_atomic(frame, stored_frame_path(store, key, cut), {XPT_SHA256: sha256_file(xpt)})
    assert StoredFrames(paths, "sdtm", cut)("AE", xpt).equals(frame)
    assert StoredFrames(paths, "sdtm", cut).scan("AE", xpt).collect().equals(frame)
    assert StoredFrames(paths, "sdtm", cut)("CM", xpt) is None  # no frame stored at all
    assert StoredFrames(paths, "sdtm", cut).scan("CM", xpt) is None


DS = Dataset(name="ADZ", label="Frame vs file", variables=(
    Variable("ADZ", "USUBJID", 1, "Unique Subject Identifier", "text"),
    Variable("ADZ", "AVALC", 2, "Analysis Value (C)", "text"),
    Variable("ADZ", "ADT", 3, "Analysis Date", "integer", format="DATE9."),
    Variable("ADZ", "AVAL", 4, "Analysis Value", "float"),
    Variable("ADZ", "ASEQ", 5, "Sequence Number", "integer"),
))


def frame_and_file(tmp_path):
    values = [0.1 + 0.2, -0.0, IBM_MIN, -IBM_MIN, IBM_MAX * 0.999, -123456789.123456789, None, 1e-70]
    n = len(values)
    frame = pl.DataFrame({
        "USUBJID": [f"S-{i}" for i in range(n)],
        "AVALC": ["a  ", "", None, "  lead", "x", "y ", "z", "w"],
        "ADT": [None if i == 1 else dt.date(1959, 12, 31) + dt.timedelta(days=4001 * i) for i in range(n)],
        "AVAL": values,
        "ASEQ": [i - 3 for i in range(n)],
    })
    facts = read_xpt_facts(write_xpt(frame, tmp_path, DS, CUT).path)
    return frame, facts


def test_as_written_gives_exactly_what_reading_the_file_gives(tmp_path):
    frame, facts = frame_and_file(tmp_path)
    got = as_written(frame.select(reversed(frame.columns)), facts)  # the file's order, whatever the frame's
    read = read_all(facts)
    assert got.schema == read.schema and got.equals(read)
    assert as_written(frame.lazy(), facts).equals(read)  # a scan: the same values
    assert as_written(frame.lazy(), facts, ["AVALC", "AVAL"]).equals(read.select("AVALC", "AVAL"))
    assert as_written(frame, facts, ["AVALC"]).equals(read.select("AVALC"))
    assert got["AVALC"].to_list()[:4] == ["a", None, None, "  lead"]
    assert str(got["AVAL"][1]) == "0.0"  # -0 is 0 in the file
    meta = dataset_metadata(Spec(path="inline", datasets={"ADZ": DS}), facts, records=frame.height, created=dt.datetime(2029, 7, 31))
    write_dataset_json(facts, meta, tmp_path / "file.json", tmp_path / "file.ndjson", chunk_rows=3)
    write_dataset_json(facts, meta, tmp_path / "frame.json", tmp_path / "frame.ndjson", chunk_rows=3, frame=got)
    assert (tmp_path / "frame.json").read_bytes() == (tmp_path / "file.json").read_bytes()
    assert (tmp_path / "frame.ndjson").read_bytes() == (tmp_path / "file.ndjson").read_bytes()


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop("ADT"), "variable ADT is not in the frame"),
    (lambda f: f.head(2), "the frame has 2 records, the file 8"),
    (lambda f: f.with_columns(EXTRA=pl.lit(1)), "variables the file does not: EXTRA"),
    (lambda f: f.with_columns(pl.col("ASEQ").cast(pl.String)), "ASEQ is String in the frame"),
    (lambda f: f.with_columns(pl.col("AVALC").cast(pl.Categorical)), "AVALC is Categorical"),
    (lambda f: f.with_columns(pl.col("ADT").cast(pl.Datetime)), "ADT is Datetime"),
])
def test_a_frame_that_is_not_the_files_is_refused_and_the_file_read(tmp_path, change, message):
    frame, facts = frame_and_file(tmp_path)
    with pytest.raises(NotAsWritten, match=message):
        as_written(change(frame), facts)
    with pytest.raises(NotAsWritten, match=message):
        as_written(change(frame).lazy(), facts)  # a scan is refused the same way
    assert written_frame(lambda name, path: change(frame), "ADZ", facts) is None
    assert written_frame(lambda name, path: frame, "ADZ", facts).equals(read_all(facts))
    assert written_frame(None, "ADZ", facts) is None
