//! Dates as days since 1970-01-01 (Arrow `Date32`): fast parsing of the layouts transaction logs
//! use (YYYYMMDD, ISO date, ISO date-time), an explicit `--date-format`, and calendar periods.
//!
//! Only the calendar day matters to the summaries, so a time of day is validated and dropped, and
//! a zone offset is not applied: the date is taken as written.

use chrono::{Datelike, NaiveDate, NaiveDateTime};

/// What a date field is read as.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DateFormat {
    /// YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD, or any of those dates followed by `T` or a space and a
    /// time of day (HH:MM[:SS[.fff]] with an optional `Z` or offset).
    #[default]
    Auto,
    /// A chrono `strftime` layout such as `%d/%m/%Y %H:%M`.
    Strftime(String),
}

/// The first day retain accepts, 0001-01-01: the accepted days are the years 1 to 9999, those a
/// four-digit year writes, so every accepted day prints as YYYY-MM-DD and every calendar
/// computation on it stays far inside chrono's range.
pub const FIRST_DAY: i32 = days_from_civil(1, 1, 1);
/// The last day retain accepts, 9999-12-31.
pub const LAST_DAY: i32 = days_from_civil(9999, 12, 31);
/// Text for error messages: the accepted days, as [`FIRST_DAY`] and [`LAST_DAY`] say.
pub const ACCEPTED_DAYS: &str = "a date from 0001-01-01 to 9999-12-31";

/// Whether `day` (days since 1970-01-01; `i64` so that day counts derived from timestamps are
/// checked before they are narrowed) is an accepted day.
pub fn is_accepted_day(day: i64) -> bool {
    (i64::from(FIRST_DAY)..=i64::from(LAST_DAY)).contains(&day)
}

/// Text for error messages: what a field of this format looks like.
pub fn expected_text(format: &DateFormat) -> String {
    match format {
        DateFormat::Auto => "a date (YYYYMMDD, YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, years 0001 to \
                             9999; other layouts need --date-format)"
            .to_string(),
        DateFormat::Strftime(f) => {
            format!("a date in the layout {f:?} (--date-format), years 0001 to 9999")
        }
    }
}

/// Parses one field to days since 1970-01-01, or `None` if it is not a valid date or not an
/// accepted day (years 1 to 9999; see [`FIRST_DAY`]).
pub fn parse_date(field: &[u8], format: &DateFormat) -> Option<i32> {
    let field = field.trim_ascii();
    let day = match format {
        DateFormat::Auto => parse_auto(field)?,
        DateFormat::Strftime(layout) => {
            let s = std::str::from_utf8(field).ok()?;
            let date = NaiveDateTime::parse_from_str(s, layout)
                .map(|dt| dt.date())
                .or_else(|_| NaiveDate::parse_from_str(s, layout))
                .ok()?;
            // chrono reads years past 9999 (with a sign) and before 1: out of range here.
            if !(1..=9999).contains(&date.year()) {
                return None;
            }
            days_from_civil(date.year(), date.month(), date.day())
        }
    };
    is_accepted_day(day.into()).then_some(day)
}

fn digits<const N: usize>(b: &[u8]) -> Option<u32> {
    if b.len() != N {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn parse_auto(b: &[u8]) -> Option<i32> {
    let (y, m, d, rest) = if b.len() == 8 {
        (
            digits::<4>(&b[0..4])?,
            digits::<2>(&b[4..6])?,
            digits::<2>(&b[6..8])?,
            &b[8..],
        )
    } else if b.len() >= 10 && (b[4] == b'-' || b[4] == b'/') && b[7] == b[4] {
        (
            digits::<4>(&b[0..4])?,
            digits::<2>(&b[5..7])?,
            digits::<2>(&b[8..10])?,
            &b[10..],
        )
    } else {
        return None;
    };
    if !rest.is_empty() && !valid_time_suffix(rest) {
        return None;
    }
    let y = y as i32;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `T`/space, HH:MM, optional :SS, optional fraction, optional `Z` or `±HH[:]MM`.
fn valid_time_suffix(rest: &[u8]) -> bool {
    if rest.len() < 6 || !(rest[0] == b'T' || rest[0] == b' ') {
        return false;
    }
    let t = &rest[1..];
    let (Some(h), Some(mi)) = (digits::<2>(&t[0..2]), digits::<2>(&t[3..5])) else {
        return false;
    };
    if t[2] != b':' || h > 23 || mi > 59 {
        return false;
    }
    let mut i = 5;
    if t.len() >= i + 3 && t[i] == b':' {
        match digits::<2>(&t[i + 1..i + 3]) {
            Some(s) if s <= 60 => i += 3,
            _ => return false,
        }
        if t.len() > i && t[i] == b'.' {
            i += 1;
            let start = i;
            while i < t.len() && t[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
    }
    let zone = &t[i..];
    match zone {
        [] | [b'Z'] => true,
        [b'+' | b'-', rest @ ..] => {
            matches!(rest.len(), 2 | 4 | 5) && rest.iter().all(|c| c.is_ascii_digit() || *c == b':')
        }
        _ => false,
    }
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub const fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe as i32 - 719_468
}

/// The calendar date of a day number, for days within chrono's range (about ±262,000 years;
/// every accepted day, see [`is_accepted_day`], and any day a computation derives from them).
pub fn civil_from_days(days: i32) -> NaiveDate {
    checked_civil_from_days(days).expect("day number within chrono's range")
}

/// The calendar date of a day number, or `None` outside chrono's range.
pub fn checked_civil_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(719_163)?)
}

/// Formats a day number as YYYY-MM-DD; a day outside any calendar is named by its number, so
/// that a message about it never fails.
pub fn format_day(days: i32) -> String {
    match checked_civil_from_days(days) {
        Some(date) => date.format("%Y-%m-%d").to_string(),
        None => format!("day {days} since 1970-01-01 (outside the calendar)"),
    }
}

/// The period transactions are merged into (several transactions of one customer in one period
/// count as one, amounts summed). Each period is represented by its first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    #[default]
    Day,
    /// ISO weeks, Monday to Sunday (pandas' `W`, which ends on Sunday).
    Week,
    Month,
    Quarter,
}

impl Period {
    /// The first day of the period that contains `day`.
    pub fn start(self, day: i32) -> i32 {
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: shift so that Monday is weekday 0.
            Period::Week => day - (day + 3).rem_euclid(7),
            Period::Month | Period::Quarter => {
                let date = civil_from_days(day);
                let month = if self == Period::Month {
                    date.month()
                } else {
                    (date.month() - 1) / 3 * 3 + 1
                };
                days_from_civil(date.year(), month, 1)
            }
        }
    }

    /// The period's number in a sequence without gaps (consecutive periods differ by 1).
    pub fn ordinal(self, day: i32) -> i32 {
        match self {
            Period::Day => day,
            Period::Week => (self.start(day) + 3).div_euclid(7),
            Period::Month | Period::Quarter => {
                let date = civil_from_days(day);
                let month = date.year() * 12 + date.month0() as i32;
                if self == Period::Month {
                    month
                } else {
                    month.div_euclid(3)
                }
            }
        }
    }

    /// The first day of the period numbered `ordinal` (the inverse of [`Period::ordinal`]).
    pub fn first_day(self, ordinal: i32) -> i32 {
        match self {
            Period::Day => ordinal,
            Period::Week => ordinal * 7 - 3,
            Period::Month => {
                days_from_civil(ordinal.div_euclid(12), ordinal.rem_euclid(12) as u32 + 1, 1)
            }
            Period::Quarter => Period::Month.first_day(ordinal * 3),
        }
    }

    /// How people name the period: 1997-03-17 (day; week: its Monday), 1997-03, 1997-Q1.
    pub fn label(self, ordinal: i32) -> String {
        let first = civil_from_days(self.first_day(ordinal));
        match self {
            Period::Day | Period::Week => first.format("%Y-%m-%d").to_string(),
            Period::Month => first.format("%Y-%m").to_string(),
            Period::Quarter => format!("{}-Q{}", first.year(), first.month0() / 3 + 1),
        }
    }
}

/// The time unit of recency, T and durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Days,
    /// 7 days, as in the CDNOW papers and lifetimes' `freq='D', freq_multiplier=7`.
    #[default]
    Weeks,
    /// An average Gregorian month, 365.25 / 12 = 30.4375 days.
    Months,
}

impl TimeUnit {
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
            TimeUnit::Months => 365.25 / 12.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(s: &str) -> Option<i32> {
        parse_date(s.as_bytes(), &DateFormat::Auto)
    }

    #[test]
    fn period_ordinals_are_consecutive_and_invert() {
        for period in [Period::Day, Period::Week, Period::Month, Period::Quarter] {
            let mut last = period.ordinal(days_from_civil(1999, 12, 20));
            for day in days_from_civil(1999, 12, 21)..days_from_civil(2001, 3, 1) {
                let o = period.ordinal(day);
                assert!(o == last || o == last + 1, "{period:?} {day}");
                if o == last + 1 {
                    assert_eq!(period.first_day(o), day, "{period:?}");
                }
                assert_eq!(period.first_day(o), period.start(day));
                last = o;
            }
        }
        let d = days_from_civil(1997, 2, 14);
        assert_eq!(Period::Month.label(Period::Month.ordinal(d)), "1997-02");
        assert_eq!(Period::Quarter.label(Period::Quarter.ordinal(d)), "1997-Q1");
        // 1997-02-14 was a Friday; its ISO week began on Monday 1997-02-10.
        assert_eq!(Period::Week.label(Period::Week.ordinal(d)), "1997-02-10");
    }

    #[test]
    fn civil_round_trip_matches_chrono() {
        for days in (-800_000..800_000).step_by(97) {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year(), d.month(), d.day()), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1997, 1, 1), 9862);
    }

    #[test]
    fn auto_layouts() {
        let jan1 = days_from_civil(1997, 1, 1);
        for s in [
            "19970101",
            "1997-01-01",
            "1997/01/01",
            " 1997-01-01 ",
            "1997-01-01 08:26",
            "1997-01-01 08:26:00",
            "1997-01-01T08:26:00.123Z",
            "1997-01-01T23:59:59+02:00",
        ] {
            assert_eq!(auto(s), Some(jan1), "{s}");
        }
        for s in [
            "",
            "1997-13-01",
            "1997-02-29",
            "19970132",
            "01/01/1997",
            "1997-01-01 25:00",
            "1997-01-01x",
            "abc",
        ] {
            assert_eq!(auto(s), None, "{s}");
        }
        assert_eq!(auto("2000-02-29"), Some(days_from_civil(2000, 2, 29)));
    }

    #[test]
    fn accepted_days_are_the_years_1_to_9999() {
        assert_eq!(FIRST_DAY, -719_162);
        assert_eq!(LAST_DAY, 2_932_896);
        assert_eq!(format_day(FIRST_DAY), "0001-01-01");
        assert_eq!(format_day(LAST_DAY), "9999-12-31");
        assert!(is_accepted_day(FIRST_DAY.into()) && is_accepted_day(LAST_DAY.into()));
        assert!(!is_accepted_day(i64::from(FIRST_DAY) - 1));
        assert!(!is_accepted_day(i64::from(LAST_DAY) + 1));
        assert_eq!(auto("0001-01-01"), Some(FIRST_DAY));
        assert_eq!(auto("99991231"), Some(LAST_DAY));
        // Four digits write the year 0 too, which is not a year of the calendar in use.
        assert_eq!(auto("0000-06-15"), None);
        assert_eq!(auto("00001231"), None);
        let f = DateFormat::Strftime("%Y-%m-%d".into());
        assert_eq!(parse_date(b"9999-12-31", &f), Some(LAST_DAY));
        for past_the_range in ["+10000-01-01", "-0001-01-01", "0000-01-01", "262143-01-01"] {
            assert_eq!(
                parse_date(past_the_range.as_bytes(), &f),
                None,
                "{past_the_range}"
            );
        }
    }

    #[test]
    fn format_day_names_days_outside_any_calendar_instead_of_panicking() {
        for day in [2_000_000_000, i32::MAX, i32::MIN, -2_000_000_000] {
            let text = format_day(day);
            assert!(text.contains(&day.to_string()), "{text}");
            assert!(checked_civil_from_days(day).is_none());
        }
    }

    #[test]
    fn strftime_layouts() {
        let f = DateFormat::Strftime("%d/%m/%Y %H:%M".into());
        assert_eq!(
            parse_date(b"12/01/2011 08:26", &f),
            Some(days_from_civil(2011, 1, 12))
        );
        let f = DateFormat::Strftime("%m/%d/%Y".into());
        assert_eq!(
            parse_date(b"12/01/2011", &f),
            Some(days_from_civil(2011, 12, 1))
        );
        assert_eq!(parse_date(b"13/01/2011", &f), None);
    }

    #[test]
    fn periods_start_where_pandas_does() {
        // 1997-01-01 was a Wednesday; its ISO week starts Monday 1996-12-30.
        let d = days_from_civil(1997, 1, 1);
        assert_eq!(Period::Week.start(d), days_from_civil(1996, 12, 30));
        assert_eq!(
            Period::Week.start(days_from_civil(1997, 1, 5)),
            days_from_civil(1996, 12, 30)
        );
        assert_eq!(
            Period::Week.start(days_from_civil(1997, 1, 6)),
            days_from_civil(1997, 1, 6)
        );
        assert_eq!(
            Period::Month.start(days_from_civil(1997, 2, 28)),
            days_from_civil(1997, 2, 1)
        );
        assert_eq!(
            Period::Quarter.start(days_from_civil(1997, 6, 30)),
            days_from_civil(1997, 4, 1)
        );
        assert_eq!(Period::Day.start(d), d);
    }
}
