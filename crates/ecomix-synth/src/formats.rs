//! The published layouts, written exactly: labels, separators, encodings, trailers.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone};

use crate::model::{Instant, Model, Rng};

pub const DISCLAIMER: &str = "RTE ne pourra être tenu responsable de l'usage qui pourrait être fait des données mises à disposition, ni en cas de prévisions qui se révèleraient imprécises.";
const TEMPO_DISCLAIMER: &str = "RTE ne pourra être tenu responsable de l'usage qui pourrait être fait des données mises à disposition, ni en cas de prévisions qui se révèleraient imprécises. Les couleurs Tempo sont publiées à titre indicatif ; seules les couleurs communiquées par votre fournisseur font foi.";

/// The national header of 2024 and later (40 columns), `" Stockage batterie"` and its space
/// included; `?` stands where RTE's apostrophe did not survive ISO-8859-1.
const NATIONAL_HEADER: [&str; 40] = [
    "Périmètre",
    "Nature",
    "Date",
    "Heures",
    "Consommation",
    "Prévision J-1",
    "Prévision J",
    "Fioul",
    "Charbon",
    "Gaz",
    "Nucléaire",
    "Eolien",
    "Solaire",
    "Hydraulique",
    "Pompage",
    "Bioénergies",
    "Ech. physiques",
    "Taux de Co2",
    "Ech. comm. Angleterre",
    "Ech. comm. Espagne",
    "Ech. comm. Italie",
    "Ech. comm. Suisse",
    "Ech. comm. Allemagne-Belgique",
    "Fioul - TAC",
    "Fioul - Cogén.",
    "Fioul - Autres",
    "Gaz - TAC",
    "Gaz - Cogén.",
    "Gaz - CCG",
    "Gaz - Autres",
    "Hydraulique - Fil de l?eau + éclusée",
    "Hydraulique - Lacs",
    "Hydraulique - STEP turbinage",
    "Bioénergies - Déchets",
    "Bioénergies - Biomasse",
    "Bioénergies - Biogaz",
    " Stockage batterie",
    "Déstockage batterie",
    "Eolien terrestre",
    "Eolien offshore",
];

const REGIONAL_HEADER: [&str; 13] = [
    "Périmètre",
    "Nature",
    "Date",
    "Heures",
    "Consommation",
    "Thermique",
    "Nucléaire",
    "Eolien",
    "Solaire",
    "Hydraulique",
    "Pompage",
    "Bioénergies",
    "Ech. physiques",
];

/// The portal's national export with field names (37 columns).
const PORTAL_HEADER: [&str; 37] = [
    "perimetre",
    "nature",
    "date",
    "heure",
    "date_heure",
    "consommation",
    "prevision_j1",
    "prevision_j",
    "fioul",
    "charbon",
    "gaz",
    "nucleaire",
    "eolien",
    "solaire",
    "hydraulique",
    "pompage",
    "bioenergies",
    "ech_physiques",
    "taux_co2",
    "ech_comm_angleterre",
    "ech_comm_espagne",
    "ech_comm_italie",
    "ech_comm_suisse",
    "ech_comm_allemagne_belgique",
    "fioul_tac",
    "fioul_cogen",
    "fioul_autres",
    "gaz_tac",
    "gaz_cogen",
    "gaz_ccg",
    "gaz_autres",
    "hydraulique_fil_eau_eclusee",
    "hydraulique_lacs",
    "hydraulique_step_turbinage",
    "bioenergies_dechets",
    "bioenergies_biomasse",
    "bioenergies_biogaz",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nature {
    RealTime,
    Consolidated,
    Definitive,
}

impl Nature {
    pub fn label(self) -> &'static str {
        match self {
            Nature::RealTime => "Données temps réel",
            Nature::Consolidated => "Données consolidées",
            Nature::Definitive => "Données définitives",
        }
    }
}

/// A perimeter in RTE's regional layout: a region, or a smaller site at larger scales.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    pub name: String,
    /// Its share of the national values.
    pub scale: f64,
    /// Whether it has a nuclear plant, and pumped storage: RTE writes `-` for a source a
    /// perimeter does not have.
    pub nuclear: bool,
    pub pumping: bool,
}

impl Region {
    pub fn new(name: &str, scale: f64, nuclear: bool, pumping: bool) -> Self {
        Self {
            name: name.to_string(),
            scale,
            nuclear,
            pumping,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope<'a> {
    National,
    Region(&'a Region),
}

/// How a file departs from the plain layout.
#[derive(Debug, Clone, Copy, Default)]
pub struct Variations {
    /// Real-time files stop measuring at this time on their last day (later rows keep only
    /// forecasts, `ND` for the intraday one).
    pub measured_until: Option<NaiveTime>,
    /// National files before 2020 have no battery columns and no onshore/offshore wind split.
    pub without_recent_columns: bool,
    /// Now and then (one row in 2,000) a measure published as `ND`, as RTE does for a meter
    /// that did not report.
    pub occasional_nd: bool,
}

/// The 96 quarter-hours of a day, as RTE lists them whatever the DST.
fn quarter_hours() -> impl Iterator<Item = NaiveTime> {
    (0..96).map(|q| NaiveTime::from_hms_opt(q / 4, (q % 4) * 15, 0).expect("valid quarter-hour"))
}

fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// The local time whose values a published row carries: on the spring-forward day, the rows
/// 02:00–02:45 of a time that does not exist copy 01:00–01:45, as RTE's real-time files do.
fn source_time(date: NaiveDate, time: NaiveTime) -> NaiveTime {
    let paris = ecomix_core::TIME_ZONE;
    match paris.from_local_datetime(&date.and_time(time)) {
        chrono::LocalResult::None => time - Duration::hours(1),
        _ => time,
    }
}

fn latin1(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable, "sample text must be ISO-8859-1");
    bytes.into_owned()
}

/// RTE's ".xls" download: ISO-8859-1 TSV, trailing tab on data rows, disclaimer and empty line.
/// Real-time files stop measuring at `measured_until` on their last day (later rows keep only
/// forecasts, `ND` for the intraday one).
pub fn rte_text(
    model: &Model,
    scope: Scope,
    nature: Nature,
    from: NaiveDate,
    to: NaiveDate,
    measured_until: Option<NaiveTime>,
) -> (Vec<u8>, usize) {
    let variations = Variations {
        measured_until,
        ..Variations::default()
    };
    rte_text_with(model, scope, nature, from, to, variations)
}

/// [`rte_text`] with the variations of older or larger files.
pub fn rte_text_with(
    model: &Model,
    scope: Scope,
    nature: Nature,
    from: NaiveDate,
    to: NaiveDate,
    variations: Variations,
) -> (Vec<u8>, usize) {
    let measured_until = variations.measured_until;
    let header: &[&str] = match scope {
        Scope::National if variations.without_recent_columns => &NATIONAL_HEADER[..36],
        Scope::National => &NATIONAL_HEADER,
        Scope::Region(_) => &REGIONAL_HEADER,
    };
    let mut text = String::with_capacity(
        (to - from).num_days().max(0) as usize * 96 * 8 * header.len() + 1024,
    );
    text.push_str(&header.join("\t"));
    text.push('\n');
    let mut rows = 0;
    let mut rng = Rng::new(0xB2E7_A6E0);
    let mut gaps = Rng::new(0x0ED5_u64 ^ salt(scope) ^ ((from.num_days_from_ce() as u64) << 20));
    for date in days(from, to) {
        for time in quarter_hours() {
            let measured = !(date == to && measured_until.is_some_and(|t| time >= t));
            let on_grid = nature == Nature::RealTime || on_half_hour(time);
            let values = model.at(date, source_time(date, time), scale(scope), salt(scope));
            let forecasts = model.at(date, time, scale(scope), salt(scope));
            let mut fields: Vec<String> = vec![
                match scope {
                    Scope::National => "France".into(),
                    Scope::Region(r) => r.name.clone(),
                },
                nature.label().into(),
                date.format("%Y-%m-%d").to_string(),
                time.format("%H:%M").to_string(),
            ];
            let realized = measured && on_grid;
            match scope {
                Scope::National => {
                    national_fields(&mut fields, &values, &forecasts, realized, measured)
                }
                Scope::Region(region) => {
                    regional_fields(&mut fields, &values, region, realized, nature, &mut rng)
                }
            }
            fields.truncate(header.len());
            if variations.occasional_nd && realized && gaps.unit() < 0.0005 {
                let column = 4 + (gaps.next_u64() % (header.len() as u64 - 4)) as usize;
                fields[column] = "ND".into();
            }
            text.push_str(&fields.join("\t"));
            text.push_str("\t\n");
            rows += 1;
        }
    }
    text.push_str(DISCLAIMER);
    text.push_str("\n\n");
    (latin1(&text), rows)
}

/// Consolidated and definitive files fill their measures at :00 and :30 only.
fn on_half_hour(time: NaiveTime) -> bool {
    use chrono::Timelike;
    time.minute().is_multiple_of(30)
}

fn scale(scope: Scope) -> f64 {
    match scope {
        Scope::National => 1.0,
        Scope::Region(region) => region.scale,
    }
}

fn salt(scope: Scope) -> u64 {
    match scope {
        Scope::National => 0,
        Scope::Region(region) => region.name.bytes().map(u64::from).sum(),
    }
}

fn national_fields(
    fields: &mut Vec<String>,
    v: &Instant,
    forecast: &Instant,
    realized: bool,
    measured: bool,
) {
    let value = |x: i64| {
        if realized {
            x.to_string()
        } else {
            String::new()
        }
    };
    fields.push(value(v.consommation));
    fields.push(forecast.prevision_j1.to_string());
    fields.push(if measured {
        forecast.prevision_j.to_string()
    } else {
        "ND".into()
    });
    for x in [
        v.fioul,
        v.charbon,
        v.gaz,
        v.nucleaire,
        v.eolien,
        v.solaire,
        v.hydraulique,
        v.pompage,
        v.bioenergies,
        v.ech_physiques,
        v.taux_co2,
    ] {
        fields.push(value(x));
    }
    for x in v
        .ech_comm
        .iter()
        .chain(&v.fioul_sub)
        .chain(&v.gaz_sub)
        .chain(&v.hydraulique_sub)
        .chain(&v.bioenergies_sub)
    {
        fields.push(value(*x));
    }
    for x in [
        v.stockage_batterie,
        v.destockage_batterie,
        v.eolien_terrestre,
        v.eolien_offshore,
    ] {
        fields.push(value(x));
    }
}

fn regional_fields(
    fields: &mut Vec<String>,
    v: &Instant,
    region: &Region,
    realized: bool,
    nature: Nature,
    rng: &mut Rng,
) {
    let value = |x: i64| {
        if realized {
            x.to_string()
        } else {
            String::new()
        }
    };
    // Regional real-time files also use `-` now and then for a value that is missing.
    let consumption = if realized && nature == Nature::RealTime && rng.unit() < 0.02 {
        "-".to_string()
    } else {
        value(v.consommation)
    };
    fields.push(consumption);
    fields.push(value(v.fioul + v.charbon + v.gaz));
    // RTE writes `-` where a source does not exist in the perimeter.
    let absent = || if realized { "-".into() } else { String::new() };
    fields.push(if region.nuclear {
        value(v.nucleaire)
    } else {
        absent()
    });
    for x in [v.eolien, v.solaire, v.hydraulique] {
        fields.push(value(x));
    }
    fields.push(if region.pumping {
        value(v.pompage)
    } else {
        absent()
    });
    fields.push(value(v.bioenergies));
    fields.push(value(v.ech_physiques));
}

/// The portal's export: UTF-8, `;`, CRLF, field names, rows in no particular order.
pub fn portal_csv(model: &Model, from: NaiveDate, to: NaiveDate) -> (Vec<u8>, usize) {
    let paris = ecomix_core::TIME_ZONE;
    let mut lines = Vec::new();
    for date in days(from, to) {
        for time in quarter_hours() {
            let Some(instant) = paris.from_local_datetime(&date.and_time(time)).earliest() else {
                continue;
            };
            let v = model.at(date, time, 1.0, 0);
            let mut fields: Vec<String> = vec![
                "France".into(),
                Nature::RealTime.label().into(),
                date.format("%Y-%m-%d").to_string(),
                time.format("%H:%M").to_string(),
                instant.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            ];
            national_fields(&mut fields, &v, &v, true, true);
            fields.truncate(PORTAL_HEADER.len());
            lines.push(fields.join(";"));
        }
    }
    // A deterministic shuffle: the portal's exports are not sorted.
    let mut rng = Rng::new(0x0DE5);
    for i in (1..lines.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        lines.swap(i, j);
    }
    let rows = lines.len();
    let mut text = PORTAL_HEADER.join(";");
    for line in lines {
        text.push_str("\r\n");
        text.push_str(&line);
    }
    text.push_str("\r\n");
    (text.into_bytes(), rows)
}

/// The Tempo calendar of the season starting in September of `year`: UTF-8, two columns,
/// one disclaimer line, no trailing tab.
pub fn tempo(model: &Model, year: i32) -> (Vec<u8>, usize) {
    let from = NaiveDate::from_ymd_opt(year, 9, 1).expect("valid date");
    let to = NaiveDate::from_ymd_opt(year + 1, 8, 31).expect("valid date");
    let mut text = String::from("Date\tType de jour TEMPO\n");
    let mut rows = 0;
    for date in days(from, to) {
        text.push_str(&format!(
            "{}\t{}\n",
            date.format("%Y-%m-%d"),
            model.tempo_colour(date)
        ));
        rows += 1;
    }
    text.push_str(TEMPO_DISCLAIMER);
    text.push('\n');
    (text.into_bytes(), rows)
}
