"""Which study: the one home of the study selection and of the folders that make a study.

A study is metadata only, in three folders named by its id (lower case, e.g. ``nct00000000``):

==================================  ============================================================
``specs/<study>/``                  ``edc.xlsx``, ``sdtm.xlsx``, ``adam.xlsx``: the spec workbooks
``mappings/<study>/``               the raw -> SDTM rules, the trial design, the visit map
``pipelines/simulate/studies/<study>/``  the synthetic EDC generator's configuration (optional:
                                    a study without one is run on delivered extracts only)
==================================  ============================================================

``$CDISC_STUDY`` selects the study (``make ... STUDY=<id>`` sets it); without it, the project's
default study, ``[tool.cdisc] default_study`` of ``pyproject.toml``. The engine holds no study.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

ENV = "CDISC_STUDY"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPECS_ROOT = PROJECT_ROOT / "specs"
MAPPINGS_ROOT = PROJECT_ROOT / "mappings"
SIMULATE_ROOT = Path(__file__).resolve().parent / "simulate" / "studies"
SPEC_NAMES = ("edc", "sdtm", "adam")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class StudyError(ValueError):
    """The selected study is not one this project holds; the message lists those it does."""


@lru_cache(maxsize=1)
def default_study() -> str | None:
    """``[tool.cdisc] default_study`` of the project's ``pyproject.toml`` (None without one)."""
    try:
        data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    value = data.get("tool", {}).get("cdisc", {}).get("default_study")
    return str(value).strip().lower() if value else None


def known_studies() -> list[str]:
    """Studies with a spec folder, sorted."""
    if not SPECS_ROOT.is_dir():
        return []
    return sorted(p.name for p in SPECS_ROOT.iterdir() if p.is_dir() and (p / "sdtm.xlsx").is_file())


def study_id(env: Mapping[str, str] | None = None) -> str:
    """The selected study: ``$CDISC_STUDY``, else the default study."""
    env = os.environ if env is None else env
    raw = (env.get(ENV) or "").strip().lower() or default_study()
    if not raw:
        raise StudyError(f"no study selected: set {ENV} to one of {', '.join(known_studies()) or '(none)'}")
    if not _ID.match(raw):
        raise StudyError(f"{ENV}={raw!r} is not a study id (lower-case letters, digits, '-', '_')")
    return raw


@dataclass(frozen=True)
class Study:
    """The folders of one study's metadata."""

    id: str
    specs_dir: Path
    mappings_dir: Path
    simulate_dir: Path

    def spec(self, name: str) -> Path:
        """``specs/<study>/<name>.xlsx`` (``edc``, ``sdtm`` or ``adam``)."""
        return self.specs_dir / f"{name}.xlsx"

    @property
    def simulate_config(self) -> Path | None:
        """The generator's configuration of the study, or None when it has none."""
        path = self.simulate_dir / "study.yaml"
        return path if path.is_file() else None


def study(study: str | None = None, env: Mapping[str, str] | None = None) -> Study:
    """The study ``study`` (default: the selected one), its folders checked."""
    sid = (study or "").strip().lower() or study_id(env)
    s = Study(sid, SPECS_ROOT / sid, MAPPINGS_ROOT / sid, SIMULATE_ROOT / sid)
    missing = [str(p.relative_to(PROJECT_ROOT)) for p in (*(s.spec(n) for n in SPEC_NAMES), s.mappings_dir)
               if not p.exists()]
    if missing:
        known = ", ".join(known_studies()) or "(none)"
        raise StudyError(f"study {sid!r}: {', '.join(missing)} not found (studies of this project: {known})")
    return s
