//! The pipeline's one error type. It names options by their field in the option structs
//! (`cutoff`, `label`), columns and values by their names, never command-line flags: each door
//! (the CLI, the server) adds its own hint for an [`PipelineError::Missing`] option.

use retain_data::DataError;
use retain_models::btyd::ModelError;
use retain_scoring::ScoringError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// An option the step needs was not given: `option` is the field's name, `why` says what
    /// it is for.
    #[error("{why}")]
    Missing { option: &'static str, why: String },
    /// Options whose values do not fit the data (a window past the log's end): `options` are
    /// the fields to change.
    #[error("{why}")]
    Unfit {
        options: &'static [&'static str],
        why: String,
    },
    /// The inputs do not allow the step, said in their terms (dates, columns, counts).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Scoring(#[from] ScoringError),
    #[error(transparent)]
    Store(#[from] retain_store::StoreError),
    /// Boxed: a batch's error is large, and every result of the pipeline carries this type.
    #[error(transparent)]
    Batch(Box<retain_scoring::batch::BatchError>),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

impl From<retain_scoring::batch::BatchError> for PipelineError {
    fn from(e: retain_scoring::batch::BatchError) -> PipelineError {
        PipelineError::Batch(Box::new(e))
    }
}

impl PipelineError {
    pub(crate) fn missing(option: &'static str, why: impl Into<String>) -> PipelineError {
        PipelineError::Missing {
            option,
            why: why.into(),
        }
    }

    /// The option this error asks for, when it asks for one.
    pub fn missing_option(&self) -> Option<&'static str> {
        match self {
            PipelineError::Missing { option, .. } => Some(option),
            _ => None,
        }
    }

    /// The options whose values do not fit the data, when that is the error.
    pub fn unfit_options(&self) -> &'static [&'static str] {
        match self {
            PipelineError::Unfit { options, .. } => options,
            _ => &[],
        }
    }
}

/// `PipelineError::Invalid` from a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::error::PipelineError::Invalid(format!($($arg)*))
    };
}
pub(crate) use invalid;
