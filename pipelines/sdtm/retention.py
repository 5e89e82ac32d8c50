"""What the SDTM build keeps in memory, and when it lets go.

The build (:mod:`pipelines.sdtm.engine`) works through a graph of domain stages (``base``: as
mapped; ``final``: derived) that read raw forms and each other. At 78,000 subjects keeping every
stage, every source input and the whole extract to the end would hold several times the data:
this module counts who still needs each of them and drops each after its last reader.

* a **source input** (a raw form or domain stage with its joins) is cached for the sources that
  share it, and dropped after the last of them;
* a **raw form** (with ``release_raw``) is dropped once every input reading it is built;
* a **stage** another dataset reads is kept until the last reader's final stage is built (a
  domain reads its own base; a final stage also waits for its result to be taken).
"""

from __future__ import annotations

import collections
from typing import Callable, Mapping

import polars as pl

from .mapping import DomainMapping, MappingSet, Source


def node(domain: str, stage: str) -> tuple[str, str]:
    return domain.upper(), "base" if stage == "base" else "final"


def forms_of(s: Source) -> list[str]:
    """The raw forms a source's input reads: its own and those of its joins."""
    return ([s.form.upper()] if s.form else []) + [j.form.upper() for j in s.joins]


def input_key(s: Source) -> tuple | None:
    """The cache key of a source's input (a raw form or domain stage with its joins)."""
    return (s.form, s.domain, s.stage, repr(s.joins)) if (s.form or s.domain) else None


def input_weight(m: DomainMapping, raw: Mapping[str, pl.DataFrame]) -> int:
    """Rough size of what a mapping works on: its raw forms' bytes, times the columns unpivoted."""
    total = 0
    for s in m.sources:
        frame = raw.get(s.form) if s.form else None
        if frame is not None:
            total += frame.estimated_size() * (len(s.unpivot.columns) if s.unpivot is not None else 1)
    return total


class Retention:
    """Reader counts of the build's inputs, raw forms and stages; drops what nobody needs."""

    def __init__(self, mappings: MappingSet, raw: dict[str, pl.DataFrame], base: dict[str, pl.DataFrame],
                 final: dict[str, pl.DataFrame], release_raw: bool = False):
        self.mappings, self.raw, self.base, self.final = mappings, raw, base, final
        sources = [s for dm in mappings.domains.values() for s in dm.sources]
        self.inputs: dict[tuple, pl.DataFrame] = {}
        self.input_readers = collections.Counter(k for s in sources if (k := input_key(s)) is not None)
        self.raw_readers: collections.Counter | None = None
        if release_raw:
            distinct = {k: s for s in sources if (k := input_key(s)) is not None}
            self.raw_readers = collections.Counter(f for s in distinct.values() for f in forms_of(s))
        # the datasets reading each stage another dataset reads
        self.readers: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
        for name, dm in mappings.domains.items():
            for dep, stage in dm.domain_dependencies():
                self.readers[node(dep, stage)].add(name.upper())
        # base stages another dataset reads (the others go once their final stage exists) and
        # final stages another dataset reads (the others go once their result is taken)
        self.base_needed = {d for d, stage in self.readers if stage == "base"}
        self.final_needed = {d for d, stage in self.readers if stage == "final"}
        for d in self.base_needed:
            self.readers[(d, "base")].add(d)  # a domain reads its own base
        self.pending_results: set[str] = set()

    def source_input(self, s: Source, read: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        """The input of source ``s``: from the cache, else ``read()`` (and cached for its other readers)."""
        key = input_key(s)
        if key is None:
            return read()
        if key in self.inputs:
            df = self.inputs.pop(key)
        else:
            df = read()
            if self.raw_readers is not None:
                for form in forms_of(s):
                    self.raw_readers[form] -= 1
                    if self.raw_readers[form] <= 0:
                        self.raw.pop(form, None)
        self.input_readers[key] -= 1
        if self.input_readers[key] > 0:
            self.inputs[key] = df
        return df

    def final_built(self, domain: str) -> None:
        """``domain``'s final stage is built: its base and the stages it read may go."""
        if domain not in self.base_needed:
            self.base.pop(domain, None)
        nodes = {node(d, s) for d, s in self.mappings.domains[domain].domain_dependencies()} | {(domain, "base")}
        for n in nodes:
            readers = self.readers.get(n)
            if readers is None or domain not in readers:
                continue
            readers.discard(domain)
            self._drop_if_unread(n)

    def result_taken(self, domain: str) -> None:
        """``domain``'s result is taken: its final stage goes unless another dataset still reads it."""
        self.pending_results.discard(domain)
        if domain not in self.final_needed:
            self.final.pop(domain, None)  # the result keeps the columns it needs, not the working ones
        else:
            self._drop_if_unread((domain, "final"))

    def _drop_if_unread(self, n: tuple[str, str]) -> None:
        domain, stage = n
        if self.readers.get(n) or (stage == "final" and domain in self.pending_results):
            return
        (self.base if stage == "base" else self.final).pop(domain, None)
