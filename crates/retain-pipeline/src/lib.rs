//! retain-pipeline: the steps a user of retain runs, as functions with typed options. Each
//! takes plain structs (with `Default` where a default makes sense) and returns typed results;
//! none knows of flags, terminals or HTTP. The command line, the HTTP server, the scheduler and
//! the Python package translate their inputs into these options and call them, so every door
//! computes the same numbers.

mod columns;
mod error;

pub mod analysis;
pub mod attributes;
pub mod clv;
pub mod cohorts;
pub mod diagnose;
pub mod drivers;
pub mod fit;
pub mod lifecycle;
pub mod performance;
pub mod pipeline;
pub mod predict;
pub mod seasonality;
pub mod segment;
pub mod source;
pub mod survival;
pub mod train;

pub use error::{PipelineError, Result};
