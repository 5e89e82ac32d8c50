"""Generate and write an extract with its manifest (what the CLI and the pipeline call)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from pipelines.metadata import load_spec

from .config import DEFAULT_CONFIG, load_config
from .generator import DEFAULT_SPEC, generate
from .writer import write_extract

GENERATOR_VERSION = "1.0.0"


def _config_digest(path: Path) -> str:
    """Digest of the configuration file and every data file next to it (what the output depends on)."""
    h = hashlib.sha256()
    base = path.resolve().parent
    files = [path.resolve(), *sorted((base / "data").glob("*.csv"))]
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def run(out_dir: str | Path, subjects: int | None = None, seed: int = 1, cutoff: dt.date | None = None,
        fmt: str = "csv", config_path: str | Path | None = None, spec_path: str | Path | None = None) -> Path:
    """Generate the extract and write it to ``out_dir``; returns the manifest path."""
    config_path = Path(config_path) if config_path else DEFAULT_CONFIG
    cfg = load_config(config_path)
    spec = load_spec(str(spec_path or DEFAULT_SPEC))
    subjects = cfg.study.default_subjects if subjects is None else subjects
    cutoff = cutoff or cfg.study.default_cutoff
    frames = generate(cfg, subjects=subjects, seed=seed, cutoff=cutoff, spec=spec)
    manifest = {
        "study_id": cfg.study.study_id,
        "cutoff": cutoff.isoformat(),
        "generator": "pipelines.simulate",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "subjects": subjects,
        "screened": frames["IC"].height,
        "config_sha256": _config_digest(config_path),
        "spec": Path(spec.path).name,
    }
    return write_extract(frames, out_dir, fmt, spec=spec, manifest=manifest)
