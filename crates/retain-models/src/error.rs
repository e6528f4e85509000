//! The error of every model family (purchase and spend models, survival, drivers, segments,
//! supervised models, seasonality): why a model could not be fitted or applied.

/// Why a model could not be fitted or applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("customer row {row}: {message}")]
    InvalidRow { row: usize, message: String },
    #[error("{0}")]
    InvalidData(String),
    #[error("the fit did not converge: {0}")]
    NotConverged(String),
}
