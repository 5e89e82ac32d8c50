"""Release integrity: what may be published, by whom, and what changed since the last delivery.

:mod:`.lock`      one writer per data cut: an exclusive lock file on the shared output storage
:mod:`.evidence`  the delivery an output was built from and the runs that checked it
:mod:`.compare`   a delivery compared with the previous one (rows, subjects, records by key)

The folder layout that makes a release switch in one rename is :mod:`pipelines.outputs`; the
Dagster side (run status, check evaluations, the steps) is :mod:`pipelines.defs.gate`.
"""
