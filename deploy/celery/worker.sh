#!/usr/bin/env bash
# One dagster-celery worker for the CDISC pipeline on this host (docs/operations.md).
#
#   deploy/celery/worker.sh [NAME] [-- extra `celery worker` options]
#
# Environment (the same values as the process that launches the runs, on every worker host):
#   CDISC_CELERY_BROKER      broker URL, e.g. redis://:password@broker-host:6379/0 (required)
#   CDISC_CELERY_BACKEND     result backend URL (default: the broker)
#   DAGSTER_HOME             the instance folder: deploy/production/dagster.yaml (PostgreSQL) when
#                            workers run on other hosts; the workers write the steps' events there
#   EDC_EXTRACT_DIR, CDISC_OUTPUT_DIR, CDISC_STORE_DIR
#                            absolute paths on storage every worker host mounts at the same place
#   CDISC_WORKER_CONCURRENCY steps this worker runs at once (default 1: a step already uses every
#                            core through polars; raise it on large hosts running several cuts)
# NAME defaults to cdisc-<short host name>; Celery appends @<host name>.
#
# What `dagster-celery worker start -A dagster_celery.app -y deploy/celery/celery.yaml` does, except
# that the worker *is* this process (exec), so SIGTERM to it is Celery's warm shutdown (the step
# in progress finishes first): a service manager can stop it cleanly (systemd: KillMode=mixed).
# The Celery settings module is written to $DAGSTER_HOME/dagster_celery/<NAME>/ (mode 0700: it
# holds the broker URL) and replaced at every start.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
: "${CDISC_CELERY_BROKER:?set CDISC_CELERY_BROKER to the broker URL, e.g. redis://broker-host:6379/0}"
: "${DAGSTER_HOME:?set DAGSTER_HOME to the Dagster instance folder}"
export CDISC_CELERY_BACKEND="${CDISC_CELERY_BACKEND:-$CDISC_CELERY_BROKER}"
export CDISC_EXECUTOR=celery
name="cdisc-$(hostname -s)"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then name="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
case "$name" in *[!A-Za-z0-9._-]*|"") echo "worker name '$name': use letters, digits, '.', '_', '-'" >&2; exit 2;; esac

if [ -x "$root/.venv/bin/celery" ]; then bin="$root/.venv/bin"
elif command -v celery >/dev/null 2>&1; then bin="$(dirname "$(command -v celery)")"
else echo "celery / dagster-celery are not installed: pip install -e '.[ops]' (make venv does)" >&2; exit 2
fi
python="$bin/python"; [ -x "$python" ] || python="$(command -v python3)"

config_dir="$DAGSTER_HOME/dagster_celery/$name"
(umask 077 && mkdir -p "$config_dir")
# The worker block of celery.yaml, validated by dagster-celery as its CLI does, as Celery settings.
"$python" - "$here/celery.yaml" "$config_dir/dagster_celery_config.py" <<'EOF'
import os
import sys

from dagster_celery.cli import get_validated_config

config = get_validated_config(sys.argv[1])
lines = [f"broker_url = {config['broker']!r}", f"result_backend = {config['backend']!r}"]
lines += [f"{key} = {value!r}" for key, value in (config.get("config_source") or {}).items()]
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as fh:
    fh.write("\n".join(lines) + "\n")
EOF
export PYTHONPATH="$config_dir${PYTHONPATH:+:$PYTHONPATH}"  # dagster_celery.app imports dagster_celery_config

cd "$root"
exec "$bin/celery" -A dagster_celery.app worker --prefetch-multiplier=1 --loglevel INFO -n "$name@%h" \
  --concurrency="${CDISC_WORKER_CONCURRENCY:-1}" "$@"
