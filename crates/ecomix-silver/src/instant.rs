//! Published wall-clock times (Europe/Paris) to UTC instants.
//!
//! eCO2mix lists 96 quarter-hours every day. On the spring-forward Sunday 02:00–02:45 do not
//! exist (RTE fills them with copies of neighbouring rows): they are not instants. On the
//! fall-back Sunday 02:00–02:45 happen twice but are published once: they are read as the first
//! occurrence, at +02:00 (the hour at +01:00 is simply not published).

use chrono::{DateTime, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// A time that happens once.
    Exact(DateTime<Utc>),
    /// A time that happens twice; the earlier instant (summer time, +02:00).
    Ambiguous(DateTime<Utc>),
    /// A time skipped by the clocks going forward.
    Nonexistent,
}

impl Local {
    pub fn instant(self) -> Option<DateTime<Utc>> {
        match self {
            Local::Exact(t) | Local::Ambiguous(t) => Some(t),
            Local::Nonexistent => None,
        }
    }
}

pub fn to_utc(date: NaiveDate, time: NaiveTime) -> Local {
    match ecomix_core::TIME_ZONE.from_local_datetime(&date.and_time(time)) {
        LocalResult::Single(t) => Local::Exact(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(earlier, _) => Local::Ambiguous(earlier.with_timezone(&Utc)),
        LocalResult::None => Local::Nonexistent,
    }
}

/// The UTC offset in seconds of `date` when it holds from its first second to its last (every
/// day but the two clock changes), else `None`.
pub fn whole_day_offset(date: NaiveDate) -> Option<i64> {
    let offset = |time: NaiveTime| match to_utc(date, time) {
        Local::Exact(t) => Some(date.and_time(time).and_utc().timestamp() - t.timestamp()),
        _ => None,
    };
    let first = offset(NaiveTime::MIN)?;
    let last = offset(NaiveTime::from_hms_opt(23, 59, 59).expect("a valid time"))?;
    (first == last).then_some(first)
}

/// `HH:MM` (or `H:MM`, or with seconds) as published.
pub fn parse_heure(text: &str) -> Option<NaiveTime> {
    let two = |b: &[u8]| -> Option<u32> {
        match b {
            [d] if d.is_ascii_digit() => Some(u32::from(d - b'0')),
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
                Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
            }
            _ => None,
        }
    };
    let mut parts = text.as_bytes().split(|&b| b == b':');
    let hour = two(parts.next()?)?;
    let minute = parts.next().filter(|m| m.len() == 2).and_then(two)?;
    let second = match parts.next() {
        None => 0,
        Some(s) if s.len() == 2 => two(s)?,
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    NaiveTime::from_hms_opt(hour, minute, second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, time: &str) -> Local {
        to_utc(
            NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            parse_heure(time).unwrap(),
        )
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn winter_summer_and_the_two_dst_sundays() {
        let nonexistent = Local::Nonexistent;
        let cases = [
            (
                "2025-01-15",
                "12:00",
                Local::Exact(utc("2025-01-15T11:00:00Z")),
            ),
            (
                "2025-07-15",
                "12:00",
                Local::Exact(utc("2025-07-15T10:00:00Z")),
            ),
            (
                "2025-03-30",
                "01:45",
                Local::Exact(utc("2025-03-30T00:45:00Z")),
            ),
            ("2025-03-30", "02:00", nonexistent),
            ("2025-03-30", "02:15", nonexistent),
            ("2025-03-30", "02:30", nonexistent),
            ("2025-03-30", "02:45", nonexistent),
            (
                "2025-03-30",
                "03:00",
                Local::Exact(utc("2025-03-30T01:00:00Z")),
            ),
            (
                "2024-10-27",
                "02:15",
                Local::Ambiguous(utc("2024-10-27T00:15:00Z")),
            ),
            (
                "2024-10-27",
                "03:00",
                Local::Exact(utc("2024-10-27T02:00:00Z")),
            ),
        ];
        for (date, time, expected) in cases {
            assert_eq!(at(date, time), expected, "{date} {time}");
        }
    }

    #[test]
    fn a_whole_day_offset_except_on_clock_changes() {
        let day = |d: &str| whole_day_offset(NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap());
        assert_eq!(day("2025-01-15"), Some(3_600));
        assert_eq!(day("2025-03-29"), Some(3_600));
        assert_eq!(day("2025-03-30"), None);
        assert_eq!(day("2025-03-31"), Some(7_200));
        assert_eq!(day("2024-10-26"), Some(7_200));
        assert_eq!(day("2024-10-27"), None);
        assert_eq!(day("2024-10-28"), Some(3_600));
    }

    #[test]
    fn published_times_parse_and_nonsense_does_not() {
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0);
        assert_eq!(parse_heure("00:15"), hm(0, 15));
        assert_eq!(parse_heure("9:45"), hm(9, 45));
        assert_eq!(parse_heure("23:45:00"), hm(23, 45));
        for bad in [
            "24:00",
            "12:60",
            "12:5",
            "1230",
            "12:30:00:00",
            "",
            "ab:cd",
            "12:30:5",
        ] {
            assert_eq!(parse_heure(bad), None, "{bad}");
        }
    }
}
