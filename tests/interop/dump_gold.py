"""Reads the six gold tables of an ecomix lake (a local folder or an az:// / abfss:// URI) with
Python's deltalake and prints, per table, its version, the operations of its history and every
row, sorted, as JSON. For Azurite, the emulator's storage options are used and the endpoint is
taken from AZURITE_BLOB_STORAGE_URL, as Azure tools do."""
import json
import sys

import deltalake

GOLD = [
    "production_par_source_horaire",
    "mix_energetique_quotidien",
    "consommation_previsions",
    "echanges_internationaux",
    "empreinte_carbone",
    "statistiques_hebdomadaires",
]
EMULATOR = {
    "use_emulator": "true",
    "account_name": "devstoreaccount1",
    "account_key": "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
}

lake = sys.argv[1].rstrip("/")
remote = lake.split("://")[0] in ("az", "abfs", "abfss")
options = EMULATOR if remote else None
report = {}
for name in GOLD:
    table = deltalake.DeltaTable(f"{lake}/gold/{name}", storage_options=options)
    arrow = table.to_pyarrow_table()
    rows = [
        [None if v is None else (v if isinstance(v, (int, float, str)) else str(v)) for v in row.values()]
        for row in arrow.to_pylist()
    ]
    rows.sort(key=lambda r: json.dumps(r))
    report[name] = {
        "version": table.version(),
        "columns": arrow.column_names,
        "partition_columns": table.metadata().partition_columns,
        "operations": [h["operation"] for h in reversed(table.history())],
        "rows": rows,
    }
print(json.dumps(report))
