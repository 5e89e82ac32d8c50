"""Dagster wiring only: assets, checks, resources, jobs and schedules.

Each module registers one layer (``raw``, ``sdtm``, ``adam``, ``analysis``, ``deliverables``) and
calls the pure functions of the matching ``pipelines.<layer>`` package; no transformation logic
lives here. ``pipelines.definitions`` merges the layers into the code location.
"""
