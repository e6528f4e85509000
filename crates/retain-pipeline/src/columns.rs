//! Columns of a customer table that an option names. `retain_data`'s accessors word a missing
//! column's hint for the command line; here the hint names the option's field instead, so the
//! library names no flag (the CLI puts its own flag back, see `retain`'s `failure::with_flags`).

use retain_data::DataError;

use crate::Result;

/// `result` of reading the column that the option `option` names, its missing-column hint
/// naming the option.
pub(crate) fn named_by<T>(option: &str, result: retain_data::Result<T>) -> Result<T> {
    result.map_err(|error| match error {
        DataError::MissingColumn {
            file,
            wanted,
            available,
            hint: _,
        } => DataError::MissingColumn {
            file,
            wanted,
            available,
            hint: format!(" (set {option} to one of them)"),
        }
        .into(),
        error => error.into(),
    })
}
