"""Reads every table of an ecomix lake with Python's deltalake and polars; prints, per table,
the rows each reader sees, the partition columns, the column order and the polars types."""
import json
import pathlib
import sys

import deltalake
import polars as pl

lake = pathlib.Path(sys.argv[1])
report = {}
for log in sorted(lake.glob("*/*/_delta_log")):
    path = log.parent
    name = f"{path.parent.name}.{path.name}"
    table = deltalake.DeltaTable(str(path))
    arrow = table.to_pyarrow_table()
    frame = pl.read_delta(str(path))
    report[name] = {
        "rows_deltalake": arrow.num_rows,
        "rows_polars": frame.height,
        "partition_columns": table.metadata().partition_columns,
        "columns_deltalake": arrow.column_names,
        "columns": frame.columns,
        "types": {c: str(t) for c, t in frame.schema.items()},
        "version": table.version(),
    }
print(json.dumps(report))
