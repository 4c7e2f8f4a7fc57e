"""Dynamic partitions kept up by declarative automation: each new customer's
partition is missing, so the next tick materializes it."""

import polars as pl

from assay import Auto, DynamicPartitions, asset

customers = DynamicPartitions("customers")


@asset(partitions=customers, automation=Auto.on_missing())
def accounts(context) -> pl.DataFrame:
    return pl.DataFrame({"customer": [context.partition_key]})
