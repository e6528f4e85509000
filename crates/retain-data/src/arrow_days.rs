//! Arrow date and timestamp columns (Parquet's typed dates) as calendar days, each value checked
//! against the accepted days (years 1 to 9999, see [`crate::dates::FIRST_DAY`]). A value no
//! calendar can hold, such as a Date32 of two billion days, becomes a value problem for its row
//! with the raw number as found, instead of a panic in a later calendar computation or a failed
//! cast of the whole batch.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use datafusion::arrow::error::ArrowError;

use crate::dates::is_accepted_day;

/// One value of a date column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DayValue {
    Missing,
    Day(i32),
    /// Not an accepted day; `found` is the raw value with its unit, for the message.
    OutOfRange {
        found: String,
    },
}

/// A Date32, Date64 or Timestamp column read as days.
pub(crate) struct DayColumn {
    /// The stored numbers: days, milliseconds or timestamp units since 1970-01-01.
    raw: Int64Array,
    units_per_day: i64,
    unit_name: &'static str,
    /// For timestamps with a time zone: the day in that zone (Arrow's own conversion) of every
    /// value whose UTC day is near the accepted range, null elsewhere.
    zoned: Option<Date32Array>,
}

impl DayColumn {
    /// `None` when the column is not of a date or timestamp type.
    pub(crate) fn new(array: &ArrayRef) -> Option<Result<DayColumn, ArrowError>> {
        let (units_per_day, unit_name, zone) = match array.data_type() {
            DataType::Date32 => (1, "days", None),
            DataType::Date64 => (86_400_000, "milliseconds", None),
            DataType::Timestamp(unit, zone) => {
                let (per_second, name) = match unit {
                    TimeUnit::Second => (1, "seconds"),
                    TimeUnit::Millisecond => (1_000, "milliseconds"),
                    TimeUnit::Microsecond => (1_000_000, "microseconds"),
                    TimeUnit::Nanosecond => (1_000_000_000, "nanoseconds"),
                };
                (86_400 * per_second, name, zone.clone())
            }
            _ => return None,
        };
        Some((|| {
            let raw = cast(array, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone();
            let zoned = match zone {
                None => None,
                Some(_) => {
                    // Arrow fails the whole cast on one value outside chrono's range: hand it
                    // only values whose UTC day is within a day of the range (a zone moves the
                    // day by less than one), the others are out of range whatever the zone.
                    let near: Int64Array = raw.unary_opt(|v| {
                        let day = v.div_euclid(units_per_day);
                        (is_accepted_day(day - 1) || is_accepted_day(day + 1)).then_some(v)
                    });
                    let near = cast(&(Arc::new(near) as ArrayRef), array.data_type())?;
                    Some(
                        cast(&near, &DataType::Date32)?
                            .as_primitive::<Date32Type>()
                            .clone(),
                    )
                }
            };
            Ok(DayColumn {
                raw,
                units_per_day,
                unit_name,
                zoned,
            })
        })())
    }

    pub(crate) fn value(&self, row: usize) -> DayValue {
        if self.raw.is_null(row) {
            return DayValue::Missing;
        }
        let raw = self.raw.value(row);
        let day = match &self.zoned {
            None => Some(raw.div_euclid(self.units_per_day)),
            Some(zoned) => (!zoned.is_null(row)).then(|| i64::from(zoned.value(row))),
        };
        match day {
            Some(day) if is_accepted_day(day) => {
                DayValue::Day(i32::try_from(day).expect("accepted days fit in i32"))
            }
            _ => DayValue::OutOfRange {
                found: format!("{raw} ({} since 1970-01-01)", self.unit_name),
            },
        }
    }
}

/// A cell as text for a rejected row's record: Arrow's display, or for a date outside the
/// accepted days its stored number (Arrow shows no value there, only an error text).
pub(crate) fn cell_text(array: &ArrayRef, row: usize) -> String {
    if let Some(Ok(days)) = DayColumn::new(&array.slice(row, 1)) {
        if let DayValue::OutOfRange { .. } = days.value(0) {
            return days.raw.value(0).to_string();
        }
    }
    datafusion::arrow::util::display::array_value_to_string(array, row).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::{days_from_civil, FIRST_DAY, LAST_DAY};
    use datafusion::arrow::array::{Date64Array, TimestampSecondArray};

    #[test]
    fn dates_and_timestamps_outside_the_calendar_are_out_of_range_values() {
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![
            Some(0),
            None,
            Some(2_000_000_000),
            Some(LAST_DAY),
            Some(FIRST_DAY - 1),
        ]));
        let column = DayColumn::new(&dates).unwrap().unwrap();
        assert_eq!(column.value(0), DayValue::Day(0));
        assert_eq!(column.value(1), DayValue::Missing);
        assert_eq!(
            column.value(2),
            DayValue::OutOfRange {
                found: "2000000000 (days since 1970-01-01)".into()
            }
        );
        assert_eq!(column.value(3), DayValue::Day(LAST_DAY));
        assert!(matches!(column.value(4), DayValue::OutOfRange { .. }));

        // Milliseconds before the epoch that are not whole days belong to the day before.
        let ms: ArrayRef = Arc::new(Date64Array::from(vec![-1, i64::MAX]));
        let column = DayColumn::new(&ms).unwrap().unwrap();
        assert_eq!(column.value(0), DayValue::Day(-1));
        assert!(matches!(column.value(1), DayValue::OutOfRange { .. }));

        let noon_1997 = i64::from(days_from_civil(1997, 1, 1)) * 86_400 + 43_200;
        for zone in [None, Some("+05:00"), Some("America/New_York")] {
            let seconds = TimestampSecondArray::from(vec![noon_1997, i64::MAX, i64::MIN])
                .with_timezone_opt(zone);
            let seconds: ArrayRef = Arc::new(seconds);
            let column = DayColumn::new(&seconds).unwrap().unwrap();
            assert_eq!(
                column.value(0),
                DayValue::Day(days_from_civil(1997, 1, 1)),
                "{zone:?}"
            );
            assert_eq!(
                column.value(1),
                DayValue::OutOfRange {
                    found: format!("{} (seconds since 1970-01-01)", i64::MAX)
                }
            );
            assert!(matches!(column.value(2), DayValue::OutOfRange { .. }));
        }
        let text: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec!["x"]));
        assert!(DayColumn::new(&text).is_none());
    }

    #[test]
    fn cells_outside_the_calendar_show_their_number() {
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![2_000_000_000, 0]));
        assert_eq!(cell_text(&dates, 0), "2000000000");
        assert_eq!(cell_text(&dates, 1), "1970-01-01");
    }
}
