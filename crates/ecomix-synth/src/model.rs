//! A plausible French power system: consumption with its yearly, weekly and daily shapes, a
//! production mix that meets it, exchanges that close the balance and the CO2 rate it implies.

use chrono::{Datelike, NaiveDate, Timelike, Weekday};

/// SplitMix64: tiny, fast, and the same numbers on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    seed: u64,
}

/// One instant's values, MW (and g/kWh for the CO2 rate), rounded as RTE publishes them.
#[derive(Debug, Clone, Default)]
pub struct Instant {
    pub consommation: i64,
    pub prevision_j1: i64,
    pub prevision_j: i64,
    pub fioul: i64,
    pub charbon: i64,
    pub gaz: i64,
    pub nucleaire: i64,
    pub eolien: i64,
    pub solaire: i64,
    pub hydraulique: i64,
    pub pompage: i64,
    pub bioenergies: i64,
    pub ech_physiques: i64,
    pub taux_co2: i64,
    pub ech_comm: [i64; 5],
    pub fioul_sub: [i64; 3],
    pub gaz_sub: [i64; 4],
    pub hydraulique_sub: [i64; 3],
    pub bioenergies_sub: [i64; 3],
    pub stockage_batterie: i64,
    pub destockage_batterie: i64,
    pub eolien_terrestre: i64,
    pub eolien_offshore: i64,
}

impl Model {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }

    fn noise(&self, key: u64) -> f64 {
        Rng::new(self.seed ^ key.wrapping_mul(0x2545_F491_4F6C_DD1D)).unit() - 0.5
    }

    /// The national (scale 1.0) or a region's (smaller scale) values at a local wall-clock time.
    pub fn at(&self, date: NaiveDate, time: chrono::NaiveTime, scale: f64, salt: u64) -> Instant {
        let doy = date.ordinal0() as f64;
        let hour = time.hour() as f64 + time.minute() as f64 / 60.0;
        let key =
            (date.num_days_from_ce() as u64) * 96 + (time.hour() * 4 + time.minute() / 15) as u64;
        let key = key ^ (salt << 40);
        let tau = std::f64::consts::TAU;
        let winter = (tau * (doy - 15.0) / 365.0).cos();
        let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let daily = -(tau * (hour - 4.5) / 24.0).cos() * 5200.0
            + (tau * (hour - 19.0) / 12.0).cos() * 1500.0;
        let consumption = 51_000.0 + 13_000.0 * winter + daily
            - if weekend { 4_500.0 } else { 0.0 }
            + 900.0 * self.noise(key);
        let daylight = ((hour - 7.5) / 11.5 * std::f64::consts::PI).sin().max(0.0);
        let solaire = daylight * (6_500.0 - 3_500.0 * winter) * (1.0 + 0.3 * self.noise(key ^ 1));
        let eolien = (5_500.0
            + 3_500.0 * (doy / 5.3 + self.noise(date.num_days_from_ce() as u64) * 3.0).sin()
            + 400.0 * self.noise(key ^ 2))
        .max(300.0);
        let nucleaire = 36_000.0 + 6_000.0 * winter + 500.0 * self.noise(key ^ 3);
        let hydraulique = 5_500.0
            + 2_000.0 * daylight
            + 1_500.0 * (hour / 24.0 * tau).sin().abs()
            + 300.0 * self.noise(key ^ 4);
        let bioenergies = 1_050.0 + 60.0 * self.noise(key ^ 5);
        let pompage = if (1.0..6.0).contains(&hour) || weekend && daylight > 0.8 {
            -1_800.0 - 600.0 * self.noise(key ^ 6).abs()
        } else {
            -50.0
        };
        let carbon_free = nucleaire + eolien + solaire + hydraulique + bioenergies + pompage;
        let gap = (consumption - carbon_free).max(0.0);
        let gaz = 1_200.0 + 0.55 * gap;
        let charbon = if winter > 0.6 { 0.08 * gap } else { 0.0 };
        let fioul = 110.0 + 0.02 * gap;
        let production = carbon_free + gaz + charbon + fioul;
        let ech_physiques = consumption - production;
        let co2 = (gaz * 0.429 + charbon * 0.986 + fioul * 0.777 + bioenergies * 0.494) * 1000.0
            / (production - pompage).max(1.0);
        let r = |v: f64| (v * scale).round() as i64;
        let shares = [0.31, 0.22, 0.12, 0.16, 0.19];
        let export = -ech_physiques;
        let mut ech_comm = shares.map(|s| r(-export * s));
        ech_comm[0] += r(900.0 * self.noise(key ^ 7));
        let stockage = if daylight > 0.5 {
            -(300.0 * daylight)
        } else {
            0.0
        };
        let destockage = if (18.0..21.0).contains(&hour) {
            350.0
        } else {
            0.0
        };
        Instant {
            consommation: r(consumption),
            prevision_j1: r(consumption + 1_100.0 * self.noise(key ^ 8)),
            prevision_j: r(consumption + 600.0 * self.noise(key ^ 9)),
            fioul: r(fioul),
            charbon: r(charbon),
            gaz: r(gaz),
            nucleaire: r(nucleaire),
            eolien: r(eolien),
            solaire: r(solaire),
            hydraulique: r(hydraulique),
            pompage: r(pompage),
            bioenergies: r(bioenergies),
            ech_physiques: r(ech_physiques),
            taux_co2: co2.round() as i64,
            ech_comm,
            fioul_sub: [r(fioul * 0.05), r(fioul * 0.6), r(fioul * 0.35)],
            gaz_sub: [r(gaz * 0.02), r(gaz * 0.3), r(gaz * 0.63), r(gaz * 0.05)],
            hydraulique_sub: [
                r(hydraulique * 0.55),
                r(hydraulique * 0.3),
                r(hydraulique * 0.15),
            ],
            bioenergies_sub: [
                r(bioenergies * 0.3),
                r(bioenergies * 0.45),
                r(bioenergies * 0.25),
            ],
            stockage_batterie: r(stockage),
            destockage_batterie: r(destockage),
            eolien_terrestre: r(eolien * 0.9),
            eolien_offshore: r(eolien * 0.1),
        }
    }

    /// The Tempo colour of a day: red on the coldest weekdays, white on cold ones, blue otherwise.
    pub fn tempo_colour(&self, date: NaiveDate) -> &'static str {
        let winter = (std::f64::consts::TAU * (date.ordinal0() as f64 - 15.0) / 365.0).cos();
        let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let cold = winter + 0.4 * self.noise(date.num_days_from_ce() as u64 ^ 0x7E);
        let in_red_season = matches!(date.month(), 11 | 12 | 1 | 2 | 3);
        if weekday && in_red_season && cold > 0.93 {
            "ROUGE"
        } else if date.weekday() != Weekday::Sun && cold > 0.75 {
            "BLANC"
        } else {
            "BLEU"
        }
    }
}
