"""The one partitioning of the pipeline: by data cut (one key per delivered extract)."""

import dagster as dg

DATA_CUTS = dg.DynamicPartitionsDefinition(name="data_cut")
