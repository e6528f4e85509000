//! retain-models: the statistics of customer value and retention. `btyd` holds the "buy till
//! you die" models fitted by maximum likelihood with analytic gradients (BG/NBD, Gamma-Gamma),
//! each reproducing its published estimates.

pub mod btyd;
mod linalg;
mod quad;
pub mod special;
