"""What the terminal shows of a run, and the full event log written beside the cut.

By default ``python -m pipelines run`` prints one line per stage when it ends (datasets, rows,
checks passed and failed, seconds), a line while a long stage is still running, the failure
table of every failed check (the ERROR records of :func:`pipelines.defs.checks.check_result`),
warnings, and the pipeline's own INFO messages; a failed stage says why in one line (the failed
checks, or the refusal), never with a Dagster stack trace. ``-v`` shows every Dagster event
(DEBUG) as Dagster prints them. Whatever the terminal shows, the instance keeps every event (the
UI), and the CLI writes them all, stack traces included, to ``cuts/<cut>/logs/<run id>.log``
(:func:`write_run_log`; runs launched by the daemon: the ``run_log_files`` sensors).

The console is a Dagster logger (:data:`cdisc_console`), so it prints in every process that
executes steps: the run's own, and multiprocess children (which share its terminal).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from .fileio import atomic_write

PROGRESS_SECONDS = 15.0  # a "still running" line every so often for a long stage


@dataclass
class _Stage:
    label: str
    started: float
    datasets: int = 0
    rows: int = 0
    passed: int = 0
    failed: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


def _row_count(event) -> int:
    md = event.event_specific_data.materialization.metadata or {}
    value = md.get("dagster/row_count")
    value = getattr(value, "value", value)
    return int(value) if isinstance(value, int) else 0


def _failure_reason(event) -> str:
    data = event.event_specific_data
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description
    error = getattr(data, "error", None)
    if error is None:
        return "failed"
    if error.cls_name == "DagsterAssetCheckFailedError":
        checks = [line.strip() for line in error.message.splitlines()[1:] if line.strip()]
        return "blocking check(s) failed: " + ", ".join(checks)
    cause = error
    while cause.cause is not None:
        cause = cause.cause
    first = (cause.message or "").strip().splitlines()
    return f"{cause.cls_name}: {first[-1] if first else ''} (stack trace in the run log)"


class Console(logging.Handler):
    """Renders Dagster log records as stage summaries (see module docstring)."""

    def __init__(self, stream=None, labels: dict[str, str] | None = None, progress: float | None = None):
        super().__init__(logging.DEBUG)
        self.stream = stream or sys.stdout
        self.labels = labels or {}
        self.progress = PROGRESS_SECONDS if progress is None else progress
        self.stages: dict[str, _Stage] = {}
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _label(self, step: str | None) -> str:
        return self.labels.get(step or "", step or "run")

    def _watch(self, stage: _Stage) -> None:
        while not stage.done.wait(self.progress):
            self.write(f"  {stage.label}: still running ({time.monotonic() - stage.started:.0f} s)")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except Exception:  # the console must never fail a run
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key")
        if event is None:
            message = meta.get("orig_message") or record.getMessage()
            if message.startswith("Dependencies for step"):  # Dagster's notice of a skipped step
                self.write(f"{self._label(step):<13} not run: an earlier stage failed or was not run")
                return
            if record.levelno >= logging.INFO:
                prefix = {logging.WARNING: "warning: ", logging.ERROR: "", logging.CRITICAL: ""}.get(record.levelno, "")
                where = f"  {self._label(step)}: " if step else "  "
                self.write(where + prefix + message.replace("\n", "\n    "))
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            stage = self.stages[step] = _Stage(self._label(step), time.monotonic())
            if self.progress:
                threading.Thread(target=self._watch, args=(stage,), daemon=True).start()
            return
        stage = self.stages.get(step) if step else None
        if stage is None:
            return
        if kind == "ASSET_MATERIALIZATION":
            stage.datasets += 1
            stage.rows += _row_count(event)
        elif kind == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if data.passed:
                stage.passed += 1
            else:
                stage.failed.append(f"{data.asset_key.to_user_string()} {data.check_name}")
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            stage.done.set()
            seconds = time.monotonic() - stage.started
            checks = f"{stage.passed} checks passed" + (f", {len(stage.failed)} failed" if stage.failed else "")
            noun = STAGE_NOUNS.get(stage.label, ("dataset", "datasets"))[stage.datasets != 1]
            rows = f"{stage.rows:>9,} rows" if stage.rows else " " * 14
            line = f"{stage.label:<13} {stage.datasets:>3} {noun:<12} {rows}  {checks}  {seconds:.1f} s"
            if kind == "STEP_FAILURE":
                line += f"\n  {stage.label}: FAILED: {_failure_reason(event)}"
            self.write(line)


# Every record this process's console saw, per run, as run-log lines (see write_run_log).
_RUN_LINES: dict[str, list[str]] = {}


class Collector(logging.Handler):
    """Keeps each record as a line of the run log (a failed step's stack trace included)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s - dagster - %(levelname)s - %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        line = self.format(record)
        event = meta.get("dagster_event")
        error = getattr(event.event_specific_data, "error", None) if event is not None else None
        if error is not None:
            line += "\n" + error.to_string().rstrip()
        if len(_RUN_LINES) > 16:
            _RUN_LINES.clear()
        _RUN_LINES.setdefault(meta.get("run_id") or "", []).append(line)


def console_logger(verbose: bool = False, labels: dict[str, str] | None = None, stream=None) -> logging.Logger:
    """The logger :data:`cdisc_console` returns: stage summaries, or every event with ``verbose``."""
    if verbose:
        from dagster._utils.log import create_console_logger

        logger = create_console_logger("dagster", logging.DEBUG)
    else:
        logger = logging.Logger("cdisc", level=logging.DEBUG)
        logger.addHandler(Console(stream, labels))
    logger.addHandler(Collector())
    return logger


STAGE_LABELS: dict[str, str] = {}  # step key -> stage name, set by the code location (pipelines.definitions)
# What a stage's assets are, singular and plural (datasets unless named here).
STAGE_NOUNS: dict[str, tuple[str, str]] = {
    "analysis": ("analysis", "analyses"), "define/json": ("package", "packages"),
    "documents": ("document", "documents"), "release": ("release", "releases"),
}


@dg.logger(
    {"verbose": dg.Field(bool, default_value=False, description="every Dagster event (DEBUG), as Dagster prints them")},
    description="One line per stage, failure tables, warnings; -v: every event",
)
def cdisc_console(init_context) -> logging.Logger:
    return console_logger(init_context.logger_config["verbose"], STAGE_LABELS)


# --------------------------------------------------------------------------- the run log file
def format_entry(entry) -> str:
    """One event of the instance's log as a line of the run log (stack traces included)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.timestamp))
    level = logging.getLevelName(entry.level)
    event = entry.dagster_event
    parts = [f"{stamp}Z", level, entry.step_key or "-", event.event_type.name if event else "LOG", entry.message]
    line = " - ".join(parts)
    error = getattr(event.event_specific_data, "error", None) if event is not None else None
    if error is not None:
        line += "\n" + error.to_string().rstrip()
    return line


def write_run_log(instance: dg.DagsterInstance, run_id: str, logs_dir: str | Path, *, seen_here: bool = False) -> Path:
    """Every event of a run, as text, to ``<logs_dir>/<run id>.log`` (atomic). With ``seen_here``
    (every step ran in this process) the lines this process's console logger kept are written;
    otherwise the events are read back from the instance."""
    lines = _RUN_LINES.pop(run_id, None) if seen_here else None
    if not lines:
        lines = [format_entry(e) for e in instance.all_logs(run_id)]
    path = Path(logs_dir) / f"{run_id}.log"
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path
