"""Generate and write an extract with its manifest (what the CLI and the pipeline call)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from pipelines.metadata import load_spec

from pipelines.study import SPECS_ROOT, study_id

from .config import ConfigError, config_path, load_config
from .generator import generate
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


def study_files(study: str | None = None) -> tuple[Path, Path]:
    """(generator configuration, EDC spec) of ``study`` (default: the selected one, $CDISC_STUDY),
    each checked to exist with an error naming the missing file."""
    sid = (study or study_id()).strip().lower()
    config, spec = config_path(sid), SPECS_ROOT / sid / "edc.xlsx"
    for what, path in (("generator configuration", config), ("EDC spec", spec)):
        if not path.is_file():
            raise ConfigError(f"study {sid!r} has no {what} ({path})")
    return config, spec


def run(out_dir: str | Path, subjects: int | None = None, seed: int = 1, cutoff: dt.date | None = None,
        fmt: str = "csv", config_path: str | Path | None = None, spec_path: str | Path | None = None,
        study: str | None = None) -> Path:
    """Generate the extract of ``study`` (default: the selected one) and write it to ``out_dir``;
    ``config_path`` / ``spec_path`` override the study's files. Returns the manifest path."""
    if config_path is None or spec_path is None:
        default_config, default_spec = study_files(study)
        config_path, spec_path = config_path or default_config, spec_path or default_spec
    config_path = Path(config_path)
    cfg = load_config(config_path)
    spec = load_spec(str(spec_path))
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
