"""Coding dictionaries shipped as data: read, checked and flattened into lookup tables.

A study declares its dictionaries in ``mappings/<study>/study.yaml``::

    dictionaries:
      WHODRUG:                                 # the ID of the SDTM spec's Dictionaries sheet
        format: whodrug
        version: "..."                         # must equal the spec's Dictionaries version
        files: {drugs: dictionaries/whodrug_drugs.csv, classes: dictionaries/whodrug_atc.csv,
                verbatims: dictionaries/whodrug_verbatims.csv}

Format ``whodrug`` (a WHODrug-style drug dictionary, B3/C3 conventions):

``drugs``      ``drug_name,atc_code``: one row per drug record, the preferred name (what
               --DECOD holds) and its ATC class at level 4 (5 characters, e.g. ``H02AB``); a
               fixed-combination product is one drug record (``AMOXICILLIN;CLAVULANIC ACID``)
``classes``    ``atc_code,atc_text``: the ATC classes of levels 1-4 (codes of 1, 3, 4, 5
               characters) with their texts
``verbatims``  ``verbatim,drug_name[,atc_code]``: the coding decisions (synonym list): a
               reported name, trade name or misspelling -> the drug record; a verbatim naming a
               free combination of separately given drugs (a regimen, "DRUG A + DRUG B
               (REGIMEN)") has one row per component drug, in order. ``atc_code`` overrides the
               drug's class when the coder chose another one for this use.

Verbatims are matched after normalisation (:func:`normalise`: upper case, trimmed, inner blanks
collapsed), so ``Erbitux``, ``ERBITUX`` and ``erbitux `` are one entry. Every error names the file
and the line. The flattened tables (:class:`Dictionary.tables`):

``verbatims``  VERBATIM, COMPONENT (1..n), NCOMPONENTS, DECOD, ATC1CD..ATC4CD, ATC1..ATC4
``classes``    CODE, TEXT, LEVEL
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import polars as pl

ATC_LEVEL_LENGTHS = {1: 1, 2: 3, 3: 4, 4: 5}
_ATC4 = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}$")
_ATC_ANY = re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z])?)?)?$")


class DictionaryError(ValueError):
    """A dictionary file is missing or wrong; the message names the file and the line."""


def normalise(expr: pl.Expr) -> pl.Expr:
    """The matching form of a verbatim: upper case, trimmed, runs of blanks made one space."""
    return expr.cast(pl.String).str.to_uppercase().str.strip_chars().str.replace_all(r"\s+", " ")


@dataclass(frozen=True)
class Dictionary:
    """One declared dictionary: its ID, format, version and lookup tables (see module doc)."""

    id: str
    format: str
    version: str | None
    tables: Mapping[str, pl.DataFrame]
    files: Mapping[str, str] = field(default_factory=dict)
    """Table name -> the file it was read from (relative to the mappings folder), for messages."""

    def table(self, name: str, where: str) -> pl.DataFrame:
        if name not in self.tables:
            raise DictionaryError(f"{where}: dictionary {self.id} has no table {name!r} "
                                  f"(tables: {', '.join(sorted(self.tables))})")
        return self.tables[name]


def _read_csv(path: Path, columns: list[str], optional: tuple[str, ...] = ()) -> pl.DataFrame:
    if not path.is_file():
        raise DictionaryError(f"{path}: dictionary file not found")
    try:
        df = pl.read_csv(path, comment_prefix="#", infer_schema=False, encoding="utf8")
    except Exception as exc:  # polars raises several types for unreadable CSV
        raise DictionaryError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DictionaryError(f"{path}: column(s) {', '.join(missing)} missing (columns: {', '.join(df.columns)})")
    extra = [c for c in df.columns if c not in columns and c not in optional]
    if extra:
        raise DictionaryError(f"{path}: unknown column(s) {', '.join(extra)} (allowed: {', '.join(columns + list(optional))})")
    df = df.with_columns(pl.col(c).str.strip_chars() for c in df.columns)
    # the line of each row in the file (header and comment lines counted) for messages
    lines = [i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if text.strip() and not text.lstrip().startswith("#")][1:]
    return df.with_columns(pl.Series("_line", lines[: df.height] if len(lines) >= df.height else range(2, df.height + 2)))


def _first(df: pl.DataFrame, cond: pl.Expr) -> dict | None:
    bad = df.filter(cond)
    return bad.row(0, named=True) if bad.height else None


def _load_whodrug(did: str, version: str | None, files: Mapping[str, Path], rel: Mapping[str, str]) -> Dictionary:
    drugs = _read_csv(files["drugs"], ["drug_name", "atc_code"])
    classes = _read_csv(files["classes"], ["atc_code", "atc_text"])
    verbatims = _read_csv(files["verbatims"], ["verbatim", "drug_name"], optional=("atc_code",))
    if "atc_code" not in verbatims.columns:
        verbatims = verbatims.with_columns(pl.lit(None, pl.String).alias("atc_code"))

    row = _first(classes, ~pl.col("atc_code").fill_null("").str.contains(_ATC_ANY.pattern) | pl.col("atc_text").is_null())
    if row:
        raise DictionaryError(f"{files['classes']}: line {row['_line']}: {row['atc_code']!r} is not an ATC code of "
                              "level 1-4 with a text")
    dup = _first(classes, ~pl.col("atc_code").is_first_distinct())
    if dup:
        raise DictionaryError(f"{files['classes']}: line {dup['_line']}: ATC code {dup['atc_code']} is listed twice")
    drugs = drugs.with_columns(pl.col("drug_name").str.to_uppercase())
    row = _first(drugs, pl.col("drug_name").is_null() | ~pl.col("atc_code").fill_null("").str.contains(_ATC4.pattern))
    if row:
        raise DictionaryError(f"{files['drugs']}: line {row['_line']}: drug {row['drug_name']!r} needs a drug name and "
                              f"an ATC code of level 4 (5 characters such as H02AB), got {row['atc_code']!r}")
    dup = _first(drugs, ~pl.col("drug_name").is_first_distinct())
    known_classes = classes.get_column("atc_code").implode()
    for lv, n in ATC_LEVEL_LENGTHS.items():  # every drug's class has a text at every level
        row = _first(drugs, ~pl.col("atc_code").str.slice(0, n).is_in(known_classes))
        if row:
            raise DictionaryError(f"{files['drugs']}: line {row['_line']}: drug {row['drug_name']}: ATC class "
                                  f"{row['atc_code'][:n]} (level {lv}) has no text in {files['classes']}")
    if dup:
        raise DictionaryError(f"{files['drugs']}: line {dup['_line']}: drug {dup['drug_name']} is listed twice")

    verbatims = verbatims.with_columns(normalise(pl.col("verbatim")).alias("VERBATIM"),
                                       pl.col("drug_name").str.to_uppercase())
    row = _first(verbatims, pl.col("VERBATIM").is_null() | (pl.col("VERBATIM") == "") | pl.col("drug_name").is_null())
    if row:
        raise DictionaryError(f"{files['verbatims']}: line {row['_line']}: a verbatim and its drug name are needed")
    known = set(drugs.get_column("drug_name"))
    row = _first(verbatims, ~pl.col("drug_name").is_in(list(known)))
    if row:
        raise DictionaryError(f"{files['verbatims']}: line {row['_line']}: verbatim {row['verbatim']!r} codes to "
                              f"{row['drug_name']!r}, which is not a drug of {files['drugs']}")
    row = _first(verbatims, pl.col("atc_code").is_not_null() & ~pl.col("atc_code").str.contains(_ATC4.pattern))
    if row:
        raise DictionaryError(f"{files['verbatims']}: line {row['_line']}: ATC code {row['atc_code']!r} is not of level 4")
    dup = _first(verbatims, ~pl.struct("VERBATIM", "drug_name").is_first_distinct())
    if dup:
        raise DictionaryError(f"{files['verbatims']}: line {dup['_line']}: verbatim {dup['verbatim']!r} codes to "
                              f"{dup['drug_name']} twice")
    # rows of one (normalised) verbatim must be consecutive: they are the components, in order
    firsts = verbatims.with_row_index("_i").group_by("VERBATIM").agg(pl.col("_i").min().alias("lo"), pl.col("_i").max().alias("hi"),
                                                                     pl.len().alias("n"), pl.col("_line").first())
    row = _first(firsts, pl.col("hi") - pl.col("lo") + 1 != pl.col("n"))
    if row:
        raise DictionaryError(f"{files['verbatims']}: line {row['_line']}: the rows of verbatim {row['VERBATIM']!r} "
                              "(the components of one regimen) must follow each other")

    coded = (
        verbatims.join(drugs.select("drug_name", pl.col("atc_code").alias("_drug_atc")), on="drug_name", how="left",
                       maintain_order="left")
        .with_columns(pl.coalesce("atc_code", "_drug_atc").alias("ATC4CD"))
        .with_columns(pl.col("ATC4CD").str.slice(0, n).alias(f"ATC{lv}CD") for lv, n in ATC_LEVEL_LENGTHS.items() if lv < 4)
    )
    texts = classes.select("atc_code", "atc_text")
    for lv in ATC_LEVEL_LENGTHS:
        coded = coded.join(texts.rename({"atc_code": f"ATC{lv}CD", "atc_text": f"ATC{lv}"}), on=f"ATC{lv}CD", how="left",
                           maintain_order="left")
        row = _first(coded, pl.col(f"ATC{lv}").is_null())
        if row:
            src = files["verbatims"] if row["atc_code"] else files["drugs"]
            raise DictionaryError(f"{src}: drug {row['drug_name']}: ATC class {row[f'ATC{lv}CD']} (level {lv}) has no "
                                  f"text in {files['classes']}")
    coded = coded.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("VERBATIM").alias("COMPONENT"),
        pl.len().over("VERBATIM").cast(pl.Int64).alias("NCOMPONENTS"),
        pl.col("drug_name").alias("DECOD"),
    ).select("VERBATIM", "COMPONENT", "NCOMPONENTS", "DECOD", *[f"ATC{lv}CD" for lv in (1, 2, 3, 4)],
             *[f"ATC{lv}" for lv in (1, 2, 3, 4)])
    table = classes.select(pl.col("atc_code").alias("CODE"), pl.col("atc_text").alias("TEXT"),
                           pl.col("atc_code").str.len_chars().replace_strict({1: 1, 3: 2, 4: 3, 5: 4}, default=None,
                                                                             return_dtype=pl.Int64).alias("LEVEL"))
    return Dictionary(id=did, format="whodrug", version=version, tables={"verbatims": coded, "classes": table}, files=rel)


FORMATS = {"whodrug": (("drugs", "classes", "verbatims"), _load_whodrug)}


def load_dictionaries(root: Path, where: str, data: Any) -> dict[str, Dictionary]:
    """The ``dictionaries:`` section of ``study.yaml`` (``where`` names it), files relative to ``root``."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise DictionaryError(f"{where}: dictionaries: expected a mapping ID -> {{format, version, files}}")
    out: dict[str, Dictionary] = {}
    for did, body in data.items():
        w = f"{where}: dictionaries: {did}"
        if not isinstance(body, Mapping) or set(body) - {"format", "version", "files"} or "format" not in body:
            raise DictionaryError(f"{w}: expected {{format, version, files}}, got {body!r}")
        fmt = body["format"]
        if fmt not in FORMATS:
            raise DictionaryError(f"{w}: unknown format {fmt!r} (known: {', '.join(sorted(FORMATS))})")
        names, loader = FORMATS[fmt]
        files = body.get("files") or {}
        if not isinstance(files, Mapping) or set(files) != set(names):
            raise DictionaryError(f"{w}: files must name {', '.join(names)}, got {sorted(files) if isinstance(files, Mapping) else files!r}")
        rel = {k: str(v) for k, v in files.items()}
        version = None if body.get("version") is None else str(body["version"])
        out[str(did).upper()] = loader(str(did).upper(), version, {k: root / v for k, v in rel.items()}, rel)
    return out
