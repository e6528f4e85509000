//! retain-models: the statistics of customer value and retention. `btyd` holds the "buy till
//! you die" models fitted by maximum likelihood with analytic gradients (BG/NBD, Gamma-Gamma),
//! each reproducing its published estimates; `survival` the Kaplan-Meier curves and log-rank
//! tests of how long customers stay; `drivers` what separates churned from retained customers;
//! `lifecycle` the stages (new, active, at risk, lapsed) of customers at a date; `seasonality`
//! the test of whether a rate differs between months or weekdays. [`ModelError`] is the error of
//! all of them.

pub mod btyd;
pub mod drift;
pub mod drivers;
mod error;
pub mod lifecycle;
pub mod lift;
mod linalg;
mod quad;
pub mod seasonality;
pub mod segment;
pub mod special;
pub mod supervised;
pub mod survival;

pub use error::ModelError;
