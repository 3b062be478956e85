"""Reads ecomix's bronze tables with Python's deltalake and polars; prints what it saw as JSON."""
import json
import sys

import deltalake
import polars as pl

lake = sys.argv[1]
bronze = f"{lake}/bronze/eco2mix_bronze"
tempo = f"{lake}/bronze/tempo_bronze"

table = deltalake.DeltaTable(bronze)
arrow = table.to_pyarrow_table()
by_deltalake = {
    "rows": arrow.num_rows,
    "consommation_sum": sum(v for v in arrow.column("consommation").to_pylist() if v is not None),
    "tempo_rows": deltalake.DeltaTable(tempo).to_pyarrow_table().num_rows,
    "partition_columns": table.metadata().partition_columns,
}
frame = pl.read_delta(bronze)
by_polars = {
    "rows": frame.height,
    "consommation_sum": frame["consommation"].sum(),
    "tempo_rows": pl.read_delta(tempo).height,
}
assert frame.schema["date"] == pl.Date, frame.schema["date"]
assert str(frame.schema["_ingested_at"]).startswith("Datetime"), frame.schema["_ingested_at"]
print(json.dumps({"deltalake": by_deltalake, "polars": by_polars}))
