"""``pandera.polars`` for the whole project, imported without pandas (see :func:`import_pandera_polars`)."""

from __future__ import annotations

import sys


def import_pandera_polars():
    """``pandera.polars``, imported without pandas when nothing has imported pandas yet.

    pandera's package ``__init__`` imports pandas (and its pandas API) whenever pandas is
    installed, which is half a second of every process that loads the code location, although
    the pipeline only uses pandera's polars API. pandera supports polars-only installs: when
    ``import pandas`` raises ``ModuleNotFoundError`` its ``__init__`` sets up the polars-only
    namespace. So the import is made with pandas hidden, for the duration of this one import
    only (pandas stays importable afterwards, by anyone, and ``pandera.pandas`` still works).
    When pandas or pandera is already imported, this is a plain import.
    """
    import importlib.abc

    if "pandera" in sys.modules or "pandas" in sys.modules:
        import pandera.polars as pa

        return pa

    class _HidePandas(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "pandas" or name.startswith("pandas."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    finder = _HidePandas()
    sys.meta_path.insert(0, finder)
    try:
        import pandera.polars as pa
    finally:
        sys.meta_path.remove(finder)
    return pa


pa = import_pandera_polars()
