//! retain-models: the statistics of customer value and retention. `btyd` holds the "buy till
//! you die" models fitted by maximum likelihood with analytic gradients (BG/NBD, Gamma-Gamma),
//! each reproducing its published estimates; `survival` the Kaplan-Meier curves and log-rank
//! tests of how long customers stay.

pub mod btyd;
mod linalg;
mod quad;
pub mod special;
pub mod survival;
