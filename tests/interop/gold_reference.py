"""The six gold tables computed again, independently of ecomix's SQL, with Polars from the silver
table that Python's `deltalake` reads; then compared row by row with the gold tables as
`polars.read_delta` and `deltalake` read them (columns, order, types, partitions, values).

Usage: gold_reference.py <lake>    (exit 0 when every table matches; details on stderr)

`expected(silver)` is also the gold step of the Python reference pipeline of the benchmark.
"""

import datetime as dt
import math
import sys
from zoneinfo import ZoneInfo

import polars as pl
from deltalake import DeltaTable

PARIS = ZoneInfo("Europe/Paris")
SOURCES = ["nucleaire", "eolien", "solaire", "hydraulique", "bioenergies", "gaz", "charbon", "fioul"]
RENEWABLES = ["eolien", "solaire", "hydraulique", "bioenergies"]
FOSSILS = ["gaz", "charbon", "fioul"]
COUNTRIES = {
    "UK": "ech_comm_angleterre",
    "Espagne": "ech_comm_espagne",
    "Italie": "ech_comm_italie",
    "Suisse": "ech_comm_suisse",
    "DE-BE": "de_be",
}

# The brief's columns, in its order; then the partition column where it is an extra one.
COLUMNS = {
    "production_par_source_horaire": (
        ["date", "heure", "source_energie", "production_moyenne_mw", "production_min_mw",
         "production_max_mw", "ecart_type"], "annee"),
    "mix_energetique_quotidien": (
        ["date", "nucleaire_total_mwh", "renouvelables_total_mwh", "fossiles_total_mwh",
         "part_nucleaire_pct", "part_renouvelables_pct", "part_fossiles_pct"], "annee"),
    "consommation_previsions": (
        ["timestamp", "consommation_reelle", "prevision_j1", "prevision_j", "ecart_j1_mw",
         "ecart_j_mw", "erreur_j1_pct", "erreur_j_pct"], "annee"),
    "echanges_internationaux": (
        ["date", "pays", "import_total_mwh", "export_total_mwh", "solde_net_mwh"], "annee"),
    "empreinte_carbone": (
        ["date", "heure", "taux_co2_gkwh", "co2_total_tonnes", "part_sources_bas_carbone_pct"],
        "annee"),
    "statistiques_hebdomadaires": (
        ["annee_iso", "semaine_iso", "debut_semaine", "nb_jours", "consommation_moyenne_mw",
         "consommation_min_mw", "consommation_max_mw", "energie_consommee_mwh",
         "production_totale_mwh", "part_renouvelables_pct", "part_nucleaire_pct",
         "taux_co2_moyen_gkwh", "solde_echanges_mwh", "mape_prevision_j1_pct"], "annee_iso"),
}
KEYS = {
    "production_par_source_horaire": ["date", "heure", "source_energie"],
    "mix_energetique_quotidien": ["date"],
    "consommation_previsions": ["timestamp"],
    "echanges_internationaux": ["date", "pays"],
    "empreinte_carbone": ["date", "heure"],
    "statistiques_hebdomadaires": ["annee_iso", "semaine_iso"],
}


def day_hours(day: dt.date) -> float:
    """Length of the Paris local day in hours: midnight to midnight, measured in UTC."""
    def midnight(d):
        return dt.datetime.combine(d, dt.time(0), tzinfo=PARIS).astimezone(dt.timezone.utc)
    return (midnight(day + dt.timedelta(days=1)) - midnight(day)).total_seconds() / 3600


def sum_or_null(columns):
    """Sum with missing terms as 0, null when every term is null."""
    all_null = pl.all_horizontal([pl.col(c).is_null() for c in columns])
    return pl.when(all_null).then(None).otherwise(pl.sum_horizontal([pl.col(c).fill_null(0) for c in columns]))


def pct(part, whole):
    return pl.when(whole != 0).then(100.0 * part / whole).otherwise(None)


def national(silver: pl.DataFrame) -> pl.DataFrame:
    de, be = pl.col("ech_comm_allemagne"), pl.col("ech_comm_belgique")
    split = pl.when(de.is_not_null() | be.is_not_null()).then(de.fill_null(0) + be.fill_null(0))
    return silver.filter(pl.col("perimetre") == "France").with_columns(
        de_be=pl.coalesce(pl.col("ech_comm_allemagne_belgique"), split))


def daily(s: pl.DataFrame) -> pl.DataFrame:
    aggs = [pl.col("consommation").mean().alias("consommation")]
    aggs += [pl.col(c).mean().alias(c) for c in SOURCES]
    for country, c in COUNTRIES.items():
        v = pl.col(c)
        aggs.append(pl.when(v > 0).then(v).when(v.is_not_null()).then(0.0).mean().alias(f"{country}_import"))
        aggs.append(pl.when(v < 0).then(v).when(v.is_not_null()).then(0.0).mean().alias(f"{country}_export"))
    d = s.group_by("date").agg(aggs)
    hours = pl.Series("h", [day_hours(x) for x in d["date"]], dtype=pl.Float64)
    d = d.with_columns(hours)
    value_columns = [c for c in d.columns if c not in ("date", "h")]
    d = d.with_columns([(pl.col(c) * pl.col("h")).alias(c) for c in value_columns])
    d = d.with_columns(
        renouvelables=sum_or_null(RENEWABLES),
        fossiles=sum_or_null(FOSSILS),
        production=sum_or_null(SOURCES),
    )
    soldes = []
    for country in COUNTRIES:
        d = d.with_columns((pl.col(f"{country}_import") + pl.col(f"{country}_export")).alias(f"{country}_solde"))
        soldes.append(f"{country}_solde")
    return d.with_columns(solde=sum_or_null(soldes))


def expected(silver: pl.DataFrame) -> dict:
    s = national(silver)
    d = daily(s)
    out = {}

    long = pl.concat([
        s.select("date", "heure", pl.lit(src).alias("source_energie"), pl.lit(rank).alias("rang"),
                 pl.col(src).alias("mw"))
        for rank, src in enumerate(SOURCES)
    ]).drop_nulls("mw")
    out["production_par_source_horaire"] = long.group_by("date", "heure", "source_energie", "rang").agg(
        production_moyenne_mw=pl.col("mw").mean(), production_min_mw=pl.col("mw").min(),
        production_max_mw=pl.col("mw").max(), ecart_type=pl.col("mw").std(ddof=1),
    ).drop("rang")

    mix = d.filter(pl.col("production").is_not_null())
    out["mix_energetique_quotidien"] = mix.select(
        "date", nucleaire_total_mwh=pl.col("nucleaire"), renouvelables_total_mwh=pl.col("renouvelables"),
        fossiles_total_mwh=pl.col("fossiles"),
        part_nucleaire_pct=pct(pl.col("nucleaire"), pl.col("production")),
        part_renouvelables_pct=pct(pl.col("renouvelables"), pl.col("production")),
        part_fossiles_pct=pct(pl.col("fossiles"), pl.col("production")),
    )

    c = s.filter(pl.col("consommation").is_not_null())
    real = pl.col("consommation")
    out["consommation_previsions"] = c.select(
        timestamp=pl.col("horodatage"), consommation_reelle=real, prevision_j1=pl.col("prevision_j1"),
        prevision_j=pl.col("prevision_j"), ecart_j1_mw=real - pl.col("prevision_j1"),
        ecart_j_mw=real - pl.col("prevision_j"),
        erreur_j1_pct=pct(real - pl.col("prevision_j1"), real), erreur_j_pct=pct(real - pl.col("prevision_j"), real),
    )

    exchanges = []
    for country in COUNTRIES:
        exchanges.append(d.filter(pl.col(f"{country}_import").is_not_null()).select(
            "date", pays=pl.lit(country), import_total_mwh=pl.col(f"{country}_import"),
            export_total_mwh=pl.col(f"{country}_export"), solde_net_mwh=pl.col(f"{country}_solde")))
    out["echanges_internationaux"] = pl.concat(exchanges)

    known = s.filter(pl.col("taux_co2").is_not_null() & pl.col("production_totale").is_not_null())
    out["empreinte_carbone"] = known.group_by("date", "heure").agg(
        taux_co2_gkwh=pl.col("taux_co2").mean(),
        co2_total_tonnes=(pl.col("taux_co2") * pl.col("production_totale")).sum() / pl.len() / 1000.0,
        low=(pl.col("nucleaire").fill_null(0) + pl.col("renouvelables_total").fill_null(0)).sum(),
        total=pl.col("production_totale").sum(),
    ).with_columns(part_sources_bas_carbone_pct=pct(pl.col("low"), pl.col("total"))).drop("low", "total")

    def iso(frame):
        return frame.with_columns(
            annee_iso=pl.col("date").dt.iso_year(), semaine_iso=pl.col("date").dt.week(),
            debut_semaine=pl.col("date") - pl.duration(days=pl.col("date").dt.weekday() - 1))
    week_keys = ["annee_iso", "semaine_iso", "debut_semaine"]
    instants = iso(s).group_by(week_keys).agg(
        consommation_moyenne_mw=real.mean(), consommation_min_mw=real.min(), consommation_max_mw=real.max(),
        taux_co2_moyen_gkwh=pl.col("taux_co2").mean(),
        mape_prevision_j1_pct=pct(real - pl.col("prevision_j1"), real).abs().mean(),
    )
    days = iso(d).group_by(week_keys).agg(
        nb_jours=pl.col("consommation").count(), energie_consommee_mwh=pl.col("consommation").sum(),
        production_totale_mwh=pl.col("production").sum(), renouvelables=pl.col("renouvelables").sum(),
        nucleaire=pl.col("nucleaire").sum(), solde_echanges_mwh=pl.col("solde").sum(),
        # polars sums of only nulls are 0; the SQL's are null: keep the distinction.
        has_production=pl.col("production").is_not_null().any(), has_solde=pl.col("solde").is_not_null().any(),
    ).with_columns(
        production_totale_mwh=pl.when(pl.col("has_production")).then(pl.col("production_totale_mwh")),
        solde_echanges_mwh=pl.when(pl.col("has_solde")).then(pl.col("solde_echanges_mwh")),
    )
    weekly = instants.join(days, on=week_keys).with_columns(
        part_renouvelables_pct=pct(pl.col("renouvelables"), pl.col("production_totale_mwh")),
        part_nucleaire_pct=pct(pl.col("nucleaire"), pl.col("production_totale_mwh")),
    )
    out["statistiques_hebdomadaires"] = weekly.select(COLUMNS["statistiques_hebdomadaires"][0])
    return out


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    return a == b


def compare(name: str, got: pl.DataFrame, want: pl.DataFrame) -> list:
    problems = []
    columns, _ = COLUMNS[name]
    keys = KEYS[name]
    if got.height != want.height:
        problems.append(f"{name}: {got.height} rows, expected {want.height}")
    want = want.select(columns).sort(keys)
    got = got.select(columns).sort(keys)
    joined = want.join(got, on=keys, how="full", suffix="_gold", coalesce=True, nulls_equal=True)
    for row in joined.iter_rows(named=True):
        for column in columns:
            if column in keys:
                continue
            w, g = row[column], row[f"{column}_gold"]
            if not close(w, g):
                problems.append(f"{name} {[row[k] for k in keys]}: {column} = {g}, expected {w}")
                break
        if len(problems) > 20:
            break
    return problems


def main() -> int:
    lake = sys.argv[1].rstrip("/")
    silver = pl.read_delta(f"{lake}/silver/eco2mix_silver")
    want = expected(silver)
    problems = []
    for name, (columns, partition) in COLUMNS.items():
        path = f"{lake}/gold/{name}"
        table = DeltaTable(path)
        parts = table.metadata().partition_columns
        if parts != [partition]:
            problems.append(f"{name}: partitioned by {parts}, expected [{partition}]")
        got = pl.read_delta(path)
        if got.columns[: len(columns)] != columns:
            problems.append(f"{name}: columns {got.columns}, expected {columns} first")
        arrow = table.to_pyarrow_table()
        if arrow.num_rows != got.height:
            problems.append(f"{name}: deltalake reads {arrow.num_rows} rows, polars {got.height}")
        types = dict(zip(got.columns, got.dtypes))
        for column in columns:
            if column in ("date", "debut_semaine") and types[column] != pl.Date:
                problems.append(f"{name}.{column}: {types[column]}, expected Date")
            if column in ("heure", "annee_iso", "semaine_iso", "nb_jours") and types[column] != pl.Int32:
                problems.append(f"{name}.{column}: {types[column]}, expected Int32")
            if column == "timestamp" and types[column] != pl.Datetime("us", "UTC"):
                problems.append(f"{name}.{column}: {types[column]}, expected Datetime(us, UTC)")
        problems += compare(name, got, want[name])
        print(f"{name}: {got.height} rows checked")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
