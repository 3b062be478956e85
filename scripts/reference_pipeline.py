#!/usr/bin/env python3
"""The Python reference for the benchmark: the same job as `ecomix run` without the optimize
(ingest -> bronze Delta, silver with DST, precedence and derived columns -> Delta, the six gold
tables -> Delta), written the way a data engineer would with Polars and `deltalake`.

Usage: reference_pipeline.py <lake> <file>...   (RTE's tab-separated .xls, optionally .gz/.zip)
"""
import datetime as dt
import gzip
import hashlib
import io
import pathlib
import re
import sys
import unicodedata
import uuid
import zipfile

import polars as pl
from deltalake import write_deltalake

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "interop"))
import gold_reference  # noqa: E402  (the six tables' definitions, shared with the tests)

RENAMES = {"heures": "heure", "prevision_j_1": "prevision_j1", "taux_de_co2": "taux_co2",
           "ech_comm_allemagne_belgique": "ech_comm_allemagne_belgique"}
PRODUCTION = {"fioul", "charbon", "gaz", "nucleaire", "eolien", "solaire", "hydraulique", "pompage",
              "bioenergies", "thermique", "stockage_batterie", "destockage_batterie",
              "eolien_terrestre", "eolien_offshore"}
KEYS = ["perimetre", "nature", "date", "heure"]
NATURE_RANK = {"Données définitives": 3, "Données consolidées": 2, "Données temps réel": 1}


def snake(label: str) -> str:
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    return RENAMES.get(text, text)


def read(path: pathlib.Path):
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    elif data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            data = z.read(z.namelist()[0])
    sha = hashlib.sha256(data).hexdigest()
    text = data.decode("latin-1")
    lines = text.split("\n")
    header = lines[0].rstrip("\r").split("\t")
    # Data rows have the header's tabs; the trailing disclaimer has none.
    body = "\n".join(line for line in lines[1:] if "\t" in line)
    frame = pl.read_csv(io.StringIO(body), separator="\t", has_header=False, infer_schema=False,
                        new_columns=[snake(h) if h.strip() else f"_empty_{i}" for i, h in enumerate(header)],
                        truncate_ragged_lines=True, quote_char=None, extra_columns="ignore")
    frame = frame.select([c for c in frame.columns if not c.startswith("_empty_")])
    return frame.with_columns(_source_file=pl.lit(str(path)), _source_sha256=pl.lit(sha),
                              _source_row=pl.int_range(2, pl.len() + 2))


def ingest(lake: str, files) -> pl.DataFrame:
    now = dt.datetime.now(dt.timezone.utc)
    frames = [read(pathlib.Path(f)) for f in files]
    bronze = pl.concat(frames, how="diagonal").with_columns(
        _run_id=pl.lit(str(uuid.uuid4())), _ingested_at=pl.lit(now), _ingest_date=pl.lit(now.date()))
    write_deltalake(f"{lake}/bronze/eco2mix_bronze", bronze.to_arrow(), mode="append",
                    partition_by=["_ingest_date"])
    return bronze


def silver(lake: str) -> pl.DataFrame:
    bronze = pl.read_delta(f"{lake}/bronze/eco2mix_bronze")
    measures = [c for c in bronze.columns if c not in KEYS and not c.startswith("_")]

    def typed(c):
        v = pl.col(c)
        missing = v.is_null() | v.is_in(["", "ND"])
        dash = pl.lit(0.0) if c in PRODUCTION else pl.lit(None, dtype=pl.Float64)
        return pl.when(missing).then(None).when(v == "-").then(dash).otherwise(
            v.str.replace(",", ".").cast(pl.Float64, strict=False)).alias(c)

    rows = bronze.filter(pl.col("date").str.contains(r"^\d{4}-\d{2}-\d{2}$") & pl.col("heure").is_not_null())
    rows = rows.with_columns([typed(c) for c in measures]).with_columns(
        local=(pl.col("date") + " " + pl.col("heure").str.zfill(5)).str.to_datetime("%Y-%m-%d %H:%M"))
    rows = rows.with_columns(
        horodatage=pl.col("local").dt.replace_time_zone("Europe/Paris", ambiguous="earliest",
                                                        non_existent="null").dt.convert_time_zone("UTC"))
    quarantine = rows.filter(pl.col("horodatage").is_null())
    rows = rows.filter(pl.col("horodatage").is_not_null())
    ends = rows.filter(pl.col("consommation").is_not_null()).group_by("_source_sha256").agg(
        measured_end=pl.col("local").max())
    rows = rows.join(ends, on="_source_sha256", how="left").with_columns(
        rank=pl.col("nature").replace_strict(NATURE_RANK, default=0))
    rows = rows.sort(["rank", "measured_end", "_source_sha256", "_source_row"],
                     descending=[True, True, True, False], nulls_last=True)
    rows = rows.unique(subset=["perimetre", "horodatage"], keep="first", maintain_order=True)
    zero = lambda c: pl.col(c).fill_null(0) if c in rows.columns else pl.lit(0.0)  # noqa: E731
    has = lambda c: pl.col(c).is_not_null() if c in rows.columns else pl.lit(False)  # noqa: E731
    observed = pl.any_horizontal([has(c) for c in gold_reference.SOURCES + ["thermique"]])
    renewables = sum(zero(c) for c in gold_reference.RENEWABLES)
    fossils = sum(zero(c) for c in ["gaz", "charbon", "fioul", "thermique"])
    exchanges = [c for c in rows.columns if c.startswith("ech_comm_")]
    rows = rows.with_columns(
        renouvelables_total=pl.when(observed).then(renewables),
        fossiles_total=pl.when(observed).then(fossils),
        production_totale=pl.when(observed).then(zero("nucleaire") + renewables + fossils),
        ecart_prevision_j1=pl.col("consommation") - pl.col("prevision_j1") if "prevision_j1" in rows.columns else None,
        solde_echanges=pl.when(pl.any_horizontal([pl.col(c).is_not_null() for c in exchanges]))
        .then(pl.sum_horizontal(exchanges)),
    ).with_columns(
        part_renouvelables=100 * pl.col("renouvelables_total") / pl.col("production_totale"),
        date=pl.col("local").dt.date(), heure=pl.col("local").dt.hour().cast(pl.Int32),
        minute=pl.col("local").dt.minute().cast(pl.Int32), mois=pl.col("local").dt.strftime("%Y-%m"),
    )
    bad_co2 = (pl.col("taux_co2") < 0) | (pl.col("taux_co2") > 2000)
    quarantine = pl.concat([quarantine.select("perimetre", "date", "heure", "_source_file"),
                            rows.filter(bad_co2.fill_null(False)).select("perimetre", "date", "heure", "_source_file")],
                           how="diagonal_relaxed")
    rows = rows.filter(~bad_co2.fill_null(False)).drop("local", "measured_end", "rank")
    write_deltalake(f"{lake}/silver/eco2mix_silver", rows.to_arrow(), mode="overwrite", partition_by=["mois"])
    write_deltalake(f"{lake}/silver/eco2mix_quarantine", quarantine.to_arrow(), mode="overwrite")
    return rows


def gold(lake: str, rows: pl.DataFrame) -> None:
    missing = [c for c in ("ech_comm_allemagne", "ech_comm_belgique") if c not in rows.columns]
    rows = rows.with_columns([pl.lit(None, dtype=pl.Float64).alias(c) for c in missing])
    for name, frame in gold_reference.expected(rows).items():
        partition = gold_reference.COLUMNS[name][1]
        if partition not in frame.columns:
            source = "timestamp" if name == "consommation_previsions" else "date"
            frame = frame.with_columns(pl.col(source).dt.year().cast(pl.Int32).alias(partition))
        write_deltalake(f"{lake}/gold/{name}", frame.to_arrow(), mode="overwrite", partition_by=[partition])


def main() -> None:
    lake, files = sys.argv[1].rstrip("/"), sys.argv[2:]
    bronze = ingest(lake, files)
    rows = silver(lake)
    gold(lake, rows)
    print(f"bronze {bronze.height} rows, silver {rows.height} rows")


if __name__ == "__main__":
    main()
