"""The engine holds no study: no study literal in pipelines/ outside the generator's study
configurations (pipelines/simulate/studies/<study>/).

The literals are gathered from each study's own metadata, so a new study is checked the moment
its folders exist: its folder id, study and protocol identifiers (ADaM/SDTM Define sheet,
mappings study.yaml), arm codes and arm names (trial design TA), study drugs (TS TRT and COMPTRT,
the EDC's EXTRT code list)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.metadata import load_spec
from pipelines.sdtm import load_mappings
from pipelines.study import PROJECT_ROOT, known_studies, study

ENGINE = PROJECT_ROOT / "pipelines"
STUDY_CONFIGS = ENGINE / "simulate" / "studies"
TEXT = {".py", ".yaml", ".yml", ".md", ".csv", ".json", ".txt", ".html", ".xsl"}


def _words(text: str | None) -> set[str]:
    """Identifier-like tokens of a text: e.g. 'GORTEC 2024-04 (NCT07264075)' -> GORTEC, NCT07264075."""
    return {w for w in re.split(r"[\s(),;/]+", text or "") if len(w) >= 4 and re.search(r"[A-Za-z]", w)}


def study_literals(sid: str) -> dict[str, str]:
    """literal -> where it comes from (what it is in the study's metadata)."""
    s = study(sid)
    found: dict[str, str] = {sid: "study folder"}
    for layer in ("sdtm", "adam"):
        for attr in ("StudyName", "ProtocolName"):
            for w in _words(load_spec(s.spec(layer)).study.get(attr)):
                found.setdefault(w, f"{layer}.xlsx Define {attr}")
    mappings = load_mappings(s.mappings_dir)
    found.setdefault(mappings.study.studyid, "mappings study.yaml studyid")
    for name in ("TA", "TS"):
        if name not in mappings.domains:
            continue
        for source in mappings.domains[name].sources:
            for r in source.records or ():
                if name == "TA":
                    found.setdefault(str(r.get("ARMCD")), "TA ARMCD")
                    for w in _words(str(r.get("ARM"))):
                        found.setdefault(w, "TA ARM")
                elif r.get("TSPARMCD") in ("TRT", "COMPTRT", "SPONSOR"):
                    for w in _words(str(r.get("TSVAL"))):
                        found.setdefault(w, f"TS {r['TSPARMCD']}")
    edc = load_spec(s.spec("edc"))
    for cl in edc.codelists.values():
        if cl.id == "EXTRT":
            for t in cl.terms:
                for w in _words(t.decoded or t.term):
                    found.setdefault(w, "edc.xlsx code list EXTRT")
    # arm codes are short; other tokens must be specific enough to mean the study
    return {k: v for k, v in found.items() if k and (v == "TA ARMCD" or len(k) >= 5)}


def engine_files() -> list[Path]:
    return sorted(p for p in ENGINE.rglob("*") if p.is_file() and p.suffix in TEXT
                  and STUDY_CONFIGS not in p.parents and "__pycache__" not in p.parts)


@pytest.mark.parametrize("sid", known_studies())
def test_no_study_literal_in_the_engine(sid):
    literals = study_literals(sid)
    assert {"study folder", "TA ARMCD"} <= set(literals.values())
    assert load_mappings(study(sid).mappings_dir).study.studyid in literals
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(map(re.escape, literals), key=len, reverse=True))
                         + r")(?![A-Za-z0-9_])", re.IGNORECASE)
    hits = []
    for path in engine_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            for m in pattern.finditer(line):
                hits.append(f"{path.relative_to(PROJECT_ROOT)}:{n}: {m.group(0)!r} "
                            f"({literals.get(m.group(0)) or literals.get(m.group(0).upper()) or 'study literal'})")
    assert not hits, f"{len(hits)} study literal(s) in the engine:\n" + "\n".join(hits[:60])


def test_the_literal_search_finds_a_planted_literal(tmp_path):
    sid = known_studies()[0]
    literals = study_literals(sid)
    armcd = next(k for k, v in literals.items() if v == "TA ARMCD")
    assert re.search(rf"(?<![A-Za-z0-9_]){re.escape(armcd)}(?![A-Za-z0-9_])", f'if arm == "{armcd}":', re.IGNORECASE)
