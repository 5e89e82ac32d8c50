"""The extract as files: CLI, determinism, manifest, XPT, configuration errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pyreadstat
import pytest
import yaml

from pipelines.simulate import ConfigError, load_config
from pipelines.simulate.config import DEFAULT_CONFIG
from pipelines.simulate.writer import XPT_TIMESTAMP_OFFSETS

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.simulate", "--quiet", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    out = {}
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        res = cli("--subjects", "150", "--seed", seed, "--out", str(base / name))
        assert res.returncode == 0, res.stderr
        out[name] = base / name
    return out


def test_same_seed_gives_byte_identical_folders(cli_runs):
    a, b = folder_bytes(cli_runs["a"]), folder_bytes(cli_runs["b"])
    assert sorted(a) == sorted(b)
    assert len(a) == 25  # 24 forms (CONMED, RT, SURG and LB added) + manifest
    assert all(a[name] == b[name] for name in a)


def test_other_seed_gives_other_data(cli_runs):
    a, c = folder_bytes(cli_runs["a"]), folder_bytes(cli_runs["c"])
    differing = [n for n in a if n != "manifest.json" and a[n] != c[n]]
    assert len(differing) >= 15


def test_manifest_describes_every_file(cli_runs):
    folder = cli_runs["a"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["study_id"] == "GORTEC-2024-04"
    assert manifest["cutoff"] == "2029-07-31"
    assert manifest["seed"] == 5 and manifest["subjects"] == 150
    assert manifest["generator_version"]
    names = {f["name"] for f in manifest["files"]}
    assert names == {p.name for p in folder.iterdir()} - {"manifest.json"}
    for f in manifest["files"]:
        data = (folder / f["name"]).read_bytes()
        assert f["bytes"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
        assert f["rows"] == data.count(b"\n") - 1
    assert not list(folder.glob("*.tmp"))


def test_csv_encoding_and_line_endings(cli_runs):
    data = (cli_runs["a"] / "ae.csv").read_bytes()
    data.decode("utf-8")
    assert b"\r\n" not in data and data.endswith(b"\n")
    for path in cli_runs["a"].glob("*.csv"):  # missing values are empty, never "NaN"
        df = pl.read_csv(path, infer_schema=False)
        assert not df.select(pl.any_horizontal(pl.all().str.to_lowercase() == "nan").any()).item(), path.name


def test_subjects_counts_randomized(cli_runs):
    rand = pl.read_csv(cli_runs["a"] / "rand.csv", infer_schema=False)
    ic = pl.read_csv(cli_runs["a"] / "ic.csv", infer_schema=False)
    assert rand.height == 150
    assert 0.20 < 1 - rand.height / ic.height < 0.35  # screen failures about 28%


def test_xpt_matches_csv(tmp_path, default_dir, default, spec):
    res = cli("--subjects", "780", "--seed", "1", "--out", str(tmp_path), "--format", "xpt")
    assert res.returncode == 0, res.stderr
    for name, ds in spec.datasets.items():
        path = tmp_path / f"{name.lower()}.xpt"
        raw = path.read_bytes()
        for off in XPT_TIMESTAMP_OFFSETS:
            assert raw[off:off + 16] == b"31JUL29:00:00:00"
        df, meta = pyreadstat.read_xport(str(path))
        csv = default[name]
        assert list(df.columns) == ds.variable_names
        assert len(df) == csv.height, name
        for var in ds.variables:
            got = df[var.name].to_numpy()
            want = csv[var.name]
            if var.is_numeric:
                w = want.cast(pl.Float64).to_numpy()
                assert np.array_equal(np.isnan(got.astype(float)), np.isnan(w)), (name, var.name)
                assert np.allclose(got.astype(float)[~np.isnan(w)], w[~np.isnan(w)]), (name, var.name)
            else:
                assert list(got) == want.fill_null("").to_list(), (name, var.name)
        assert meta.table_name == name


def test_xpt_is_reproducible(tmp_path):
    for sub in ("x", "y"):
        assert cli("--subjects", "60", "--seed", "3", "--out", str(tmp_path / sub), "--format", "xpt").returncode == 0
    assert folder_bytes(tmp_path / "x") == folder_bytes(tmp_path / "y")


def test_unknown_config_key_is_refused(tmp_path):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["screening"]["failure_rat"] = 0.3
    bad = tmp_path / "study.yaml"
    bad.write_text(yaml.safe_dump(raw))
    (tmp_path / "data").symlink_to(DEFAULT_CONFIG.parent / "data")
    with pytest.raises(ConfigError, match=r"screening\.failure_rat: unknown key"):
        load_config(bad)
    res = cli("--subjects", "10", "--out", str(tmp_path / "out"), "--config", str(bad))
    assert res.returncode == 2 and "failure_rat" in res.stderr
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_config_is_frozen():
    cfg = load_config()
    with pytest.raises(Exception):
        cfg.screening.failure_rate = 0.5  # type: ignore[misc]


def test_code_outside_the_spec_is_refused(tmp_path, spec):
    from pipelines.simulate import generate

    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["screening"]["reasons"]["IN99"] = 0.1
    bad = tmp_path / "study.yaml"
    bad.write_text(yaml.safe_dump(raw))
    (tmp_path / "data").symlink_to(DEFAULT_CONFIG.parent / "data")
    with pytest.raises(ConfigError, match="IN99"):
        generate(load_config(bad), subjects=10, spec=spec)
