//! Maximum likelihood for models whose parameters are all positive: L-BFGS (argmin) on the
//! logarithms of the parameters with the model's analytic gradient, lifetimes' L2 penalizer,
//! several starting points, and standard errors from the Hessian of the log-likelihood.

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason, TerminationStatus};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use serde::Serialize;

use crate::linalg::invert;
use crate::ModelError;

/// A model's log-likelihood over its data.
pub(crate) trait Likelihood {
    /// Parameter names, in order.
    const NAMES: &'static [&'static str];

    /// The weighted log-likelihood summed over customers, and its gradient with respect to the
    /// (natural, positive) parameters written into `grad`.
    fn log_likelihood(&self, params: &[f64], grad: &mut [f64]) -> f64;

    /// Customers (sum of weights).
    fn customers(&self) -> f64;
}

/// Options of a fit.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// L2 penalty on the parameters, as lifetimes' `penalizer_coef`: the objective is
    /// `-LL / customers + penalizer * sum(params^2)`.
    pub penalizer: f64,
    pub max_iterations: u64,
    /// Starting parameters (natural scale); by default a few standard ones are tried.
    pub start: Option<Vec<f64>>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            penalizer: 0.0,
            max_iterations: 1000,
            start: None,
        }
    }
}

/// A fitted model: its parameters, their standard errors, and how the fit went. Serialises to
/// `{"model","params":{…},"std_errors":{…},"log_likelihood","n_customers","converged","iterations"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Fitted<P> {
    pub model: &'static str,
    pub params: P,
    /// From the inverse Hessian of the log-likelihood; `None` where it is singular (a
    /// parameter the data do not identify).
    pub std_errors: Option<P>,
    pub log_likelihood: f64,
    pub n_customers: f64,
    pub converged: bool,
    pub iterations: u64,
    /// What the user should know about this maximum: parameters at the edge of the parameter
    /// space (the data fit a limiting case of the model as well), no standard errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The optimum in natural parameters.
pub(crate) struct Optimum {
    pub params: Vec<f64>,
    pub std_errors: Option<Vec<f64>>,
    pub log_likelihood: f64,
    pub iterations: u64,
}

/// A point (log parameters), its cost and its gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// The objective argmin minimises: mean negative log-likelihood plus penalty, in log parameters.
struct Objective<'a, L> {
    model: &'a L,
    penalizer: f64,
    /// A constant factor on the cost and gradient handed to argmin (not on `evaluate`'s).
    scale: f64,
    /// The last point evaluated, with its cost and gradient: argmin asks for the cost and the
    /// gradient of one point in separate calls (and for the gradient of the accepted point
    /// again), and one evaluation yields both.
    last: std::cell::RefCell<Option<Evaluation>>,
}

impl<'a, L: Likelihood> Objective<'a, L> {
    fn new(model: &'a L, penalizer: f64) -> Self {
        Self::scaled(model, penalizer, 1.0)
    }

    fn scaled(model: &'a L, penalizer: f64, scale: f64) -> Self {
        Objective {
            model,
            penalizer,
            scale,
            last: Default::default(),
        }
    }

    fn evaluate(&self, log_params: &[f64]) -> (f64, Vec<f64>) {
        if let Some((at, cost, grad)) = self.last.borrow().as_ref() {
            if at.as_slice() == log_params {
                return (*cost, grad.clone());
            }
        }
        let (cost, grad) = self.evaluate_afresh(log_params);
        *self.last.borrow_mut() = Some((log_params.to_vec(), cost, grad.clone()));
        (cost, grad)
    }

    fn evaluate_afresh(&self, log_params: &[f64]) -> (f64, Vec<f64>) {
        let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
        let mut grad = vec![0.0; params.len()];
        let ll = self.model.log_likelihood(&params, &mut grad);
        let n = self.model.customers();
        let penalty: f64 = params.iter().map(|p| p * p).sum::<f64>() * self.penalizer;
        let cost = -ll / n + penalty;
        // d/d(log p) = p * d/dp.
        let grad_log = params
            .iter()
            .zip(&grad)
            .map(|(p, g)| p * (-g / n + 2.0 * self.penalizer * p))
            .collect();
        (cost, grad_log)
    }
}

impl<L: Likelihood> CostFunction for Objective<'_, L> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, argmin::core::Error> {
        let (c, _) = self.evaluate(p);
        // A non-finite cost makes the line search step back instead of failing.
        Ok(if c.is_finite() {
            c * self.scale
        } else {
            f64::MAX
        })
    }
}

impl<L: Likelihood> Gradient for Objective<'_, L> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Vec<f64>, argmin::core::Error> {
        let (_, g) = self.evaluate(p);
        Ok(g.into_iter()
            .map(|v| if v.is_finite() { v * self.scale } else { 0.0 })
            .collect())
    }
}

/// Parameters outside [EDGE_LOW, EDGE_HIGH] are reported as at the edge of the parameter space.
const EDGE_LOW: f64 = 1e-6;
const EDGE_HIGH: f64 = 1e6;

/// Largest absolute gradient component (log scale, mean objective) accepted as a maximum.
const GRADIENT_TOLERANCE: f64 = 1e-5;

/// Fits `model` from the first starting point, and from the next ones only while none converged.
pub(crate) fn maximize<L: Likelihood>(
    model: &L,
    starts: &[Vec<f64>],
    options: &FitOptions,
) -> Result<Optimum, ModelError> {
    let objective = Objective::new(model, options.penalizer);
    // A given start is tried first, then the standard ones, and the best maximum wins: a start
    // in a flat corner of the surface can stop where the gradient vanishes short of the top.
    // Without one, the first standard start that converges wins (lifetimes tries one).
    let exhaustive = options.start.is_some();
    let starts: Vec<Vec<f64>> = options
        .start
        .iter()
        .cloned()
        .chain(starts.iter().cloned())
        .collect();
    let mut best: Option<(f64, Vec<f64>, u64)> = None;
    let mut last_problem = String::from("no starting point");
    for start in &starts {
        if start.len() != L::NAMES.len() || start.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(ModelError::InvalidData(format!(
                "a start needs {} positive values ({})",
                L::NAMES.len(),
                L::NAMES.join(", ")
            )));
        }
        let init: Vec<f64> = start.iter().map(|v| v.ln()).collect();
        // Scaled so that the first gradient is at most 1: L-BFGS's first step is the gradient
        // itself, and on data with a steep likelihood (thousands of purchases per customer) an
        // unscaled one leaps to parameters that overflow.
        let (_, first_gradient) = objective.evaluate(&init);
        let steepest = first_gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let scale = if steepest.is_finite() {
            1.0 / steepest.max(1.0)
        } else {
            1.0
        };
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(1e-7 * scale)
            .and_then(|s| s.with_tolerance_cost(1e-12))
            .expect("valid tolerances");
        let run = Executor::new(Objective::scaled(model, options.penalizer, scale), solver)
            .configure(|state| state.param(init).max_iters(options.max_iterations))
            .run();
        let result = match run {
            Ok(r) => r,
            Err(e) => {
                last_problem = format!("from start {start:?}: the optimiser failed ({e})");
                continue;
            }
        };
        let state = result.state();
        let Some(param) = state.get_best_param().cloned() else {
            continue;
        };
        let (cost, grad) = objective.evaluate(&param);
        let grad_max = grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let status = state.get_termination_status();
        let out_of_iterations = matches!(
            status,
            TerminationStatus::Terminated(TerminationReason::MaxItersReached)
        );
        // Relative to the objective's size: continuous-time likelihoods are densities, and
        // with many purchases per customer the mean log-likelihood runs into the thousands.
        let tolerance = GRADIENT_TOLERANCE * cost.abs().max(1.0);
        if !(cost.is_finite() && grad_max < tolerance && !out_of_iterations) {
            let why = if out_of_iterations {
                "the iteration limit was reached".to_string()
            } else if format!("{status:?}").contains("ine search") {
                "the line search found no better point (the likelihood is flat or not finite along the way)".to_string()
            } else {
                "the optimiser stopped short".to_string()
            };
            last_problem = format!(
                "from start {start:?}: {why} after {} iterations, with gradient {grad_max:.2e}",
                state.get_iter()
            );
            continue;
        }
        if best.as_ref().is_none_or(|(c, _, _)| cost < *c) {
            best = Some((cost, param, state.get_iter()));
        }
        if !exhaustive {
            break;
        }
    }
    let Some((_, log_params, iterations)) = best else {
        return Err(ModelError::NotConverged(format!(
            "no starting point reached a maximum ({last_problem}). The data may not identify the model's parameters: too few customers, or no variation in what the model explains"
        )));
    };
    Ok(optimum_at(model, &log_params, iterations))
}

/// The optimum found at `log_params`: its log-likelihood and standard errors.
fn optimum_at<L: Likelihood>(model: &L, log_params: &[f64], iterations: u64) -> Optimum {
    let params: Vec<f64> = log_params.iter().map(|v| v.exp()).collect();
    let mut grad = vec![0.0; params.len()];
    let log_likelihood = model.log_likelihood(&params, &mut grad);
    Optimum {
        std_errors: std_errors(model, &params),
        params,
        log_likelihood,
        iterations,
    }
}

/// Newton's method on the whole data from `rough` (natural parameters, the sample's optimum)
/// with the Hessian of the sample's objective: the two Hessians differ by sampling noise only,
/// so each step gains orders of magnitude and a few whole-data gradients reach the tolerance.
/// `None` when a step fails to descend (the caller falls back to L-BFGS).
fn polish<L: Likelihood>(
    model: &L,
    sample: &L,
    rough: &[f64],
    penalizer: f64,
) -> Option<(Vec<f64>, u64)> {
    const MAX_STEPS: u64 = 20;
    let n = rough.len();
    let at_sample = Objective::new(sample, penalizer);
    let mut theta: Vec<f64> = rough.iter().map(|v| v.ln()).collect();
    let mut hessian = vec![0.0; n * n];
    for j in 0..n {
        let h = 1e-4;
        let mut p = theta.clone();
        p[j] += h;
        let (_, up) = at_sample.evaluate_afresh(&p);
        p[j] -= 2.0 * h;
        let (_, down) = at_sample.evaluate_afresh(&p);
        for i in 0..n {
            hessian[i * n + j] = (up[i] - down[i]) / (2.0 * h);
        }
    }
    let inverse = invert(&hessian, n)?;
    let whole = Objective::new(model, penalizer);
    let (mut cost, mut grad) = whole.evaluate_afresh(&theta);
    for step in 1..=MAX_STEPS {
        let direction: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| inverse[i * n + j] * grad[j]).sum::<f64>())
            .collect();
        let slope: f64 = direction.iter().zip(&grad).map(|(d, g)| d * g).sum();
        if !(cost.is_finite() && slope < 0.0) {
            return None;
        }
        // Backtracking: the full step almost always; shorter ones guard the first steps.
        let mut scale = 1.0;
        let (next, next_cost, next_grad) = loop {
            let next: Vec<f64> = theta
                .iter()
                .zip(&direction)
                .map(|(t, d)| t + scale * d)
                .collect();
            let (c, g) = whole.evaluate_afresh(&next);
            if c.is_finite() && c <= cost + 1e-4 * scale * slope {
                break (next, c, g);
            }
            scale *= 0.5;
            if scale < 1e-3 {
                return None;
            }
        };
        (theta, cost, grad) = (next, next_cost, next_grad);
        // A hundred times tighter than L-BFGS's acceptance: a few more digits for one step.
        if grad.iter().all(|g| g.abs() < GRADIENT_TOLERANCE * 1e-2) {
            return Some((theta, step));
        }
    }
    None
}

/// Fits by [`maximize`] and reports the result under the model's name, with `params` turning
/// a parameter vector into the model's parameter type.
///
/// With a `sample` of the data (see [`super::RfmData::sample`]) the search first runs on it, a
/// tenth of the cost per step, and then polishes from there on the whole data: a few steps
/// instead of a few dozen. The whole data decide convergence and the result either way; the
/// usual starts remain fallbacks.
pub(crate) fn fit_model<L: Likelihood, P>(
    name: &'static str,
    likelihood: &L,
    sample: Option<&L>,
    starts: &[Vec<f64>],
    options: &FitOptions,
    params: impl Fn(&[f64]) -> P,
) -> Result<Fitted<P>, ModelError> {
    let mut starts = starts.to_vec();
    let mut polished = None;
    if let (Some(sample), None) = (sample, &options.start) {
        if let Ok(rough) = maximize(sample, &starts, options) {
            polished = polish(likelihood, sample, &rough.params, options.penalizer)
                .map(|(at, steps)| optimum_at(likelihood, &at, steps));
            starts.insert(0, rough.params);
        }
    }
    let optimum = match polished {
        Some(optimum) => optimum,
        None => maximize(likelihood, &starts, options)?,
    };
    let mut warnings: Vec<String> = L::NAMES
        .iter()
        .zip(&optimum.params)
        .filter(|(_, v)| !(EDGE_LOW..=EDGE_HIGH).contains(*v))
        .map(|(name, v)| {
            format!("{name} = {v:.3e} is at the edge of the parameter space: the data fit a limiting case of the model (e.g. no dropout, or no spread across customers) and hardly determine it")
        })
        .collect();
    // A standard error above the estimate itself: the likelihood is nearly flat along that
    // parameter, and whatever is built on it (P(alive), CLV) inherits the doubt.
    if let Some(se) = &optimum.std_errors {
        for ((name, v), e) in L::NAMES.iter().zip(&optimum.params).zip(se) {
            if (EDGE_LOW..=EDGE_HIGH).contains(v) && *e > v.abs() {
                warnings.push(format!(
                    "{name} = {v:.4} has a standard error of {e:.4}, more than the estimate: the \
                     data hardly determine it (weakly identified), so predictions that depend on \
                     it are uncertain"
                ));
            }
        }
    }
    if optimum.std_errors.is_none() {
        warnings.push(
            "the Hessian is singular or not negative definite at the maximum: no standard errors"
                .into(),
        );
    }
    Ok(Fitted {
        model: name,
        warnings,
        params: params(&optimum.params),
        std_errors: optimum.std_errors.as_deref().map(&params),
        log_likelihood: optimum.log_likelihood,
        n_customers: likelihood.customers(),
        converged: true,
        iterations: optimum.iterations,
    })
}

/// Sums `row(i)` over rows 0..n, on every core when there are enough rows to pay for it.
pub(crate) fn sum_rows<const K: usize>(
    n: usize,
    row: impl Fn(usize, &mut (f64, [f64; K])) + Sync,
) -> (f64, [f64; K]) {
    const PER_THREAD: usize = 20_000;
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(n / PER_THREAD)
        .max(1);
    let chunk = n.div_ceil(threads);
    let partial = |range: std::ops::Range<usize>| {
        let mut acc = (0.0, [0.0; K]);
        for i in range {
            row(i, &mut acc);
        }
        acc
    };
    if threads == 1 {
        return partial(0..n);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || partial(t * chunk..((t + 1) * chunk).min(n))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("likelihood thread"))
            .fold((0.0, [0.0; K]), |mut acc, (v, g)| {
                acc.0 += v;
                for (a, b) in acc.1.iter_mut().zip(g) {
                    *a += b;
                }
                acc
            })
    })
}

/// Standard errors from the observed information: the inverse of minus the Hessian of the
/// log-likelihood in natural parameters, by forward differences of the analytic gradient (one
/// evaluation per parameter; the relative error, ~1e-5, is far below what an SE is read to).
pub(crate) fn std_errors<L: Likelihood>(model: &L, params: &[f64]) -> Option<Vec<f64>> {
    let n = params.len();
    let mut hessian = vec![0.0; n * n];
    let (mut at, mut up) = (vec![0.0; n], vec![0.0; n]);
    model.log_likelihood(params, &mut at);
    for j in 0..n {
        let h = 1e-5 * params[j];
        let mut p = params.to_vec();
        p[j] = params[j] + h;
        model.log_likelihood(&p, &mut up);
        for i in 0..n {
            hessian[i * n + j] = -(up[i] - at[i]) / h;
        }
    }
    for i in 0..n {
        for j in 0..i {
            let m = 0.5 * (hessian[i * n + j] + hessian[j * n + i]);
            hessian[i * n + j] = m;
            hessian[j * n + i] = m;
        }
    }
    let cov = invert(&hessian, n)?;
    let se: Vec<f64> = (0..n)
        .map(|i| cov[i * n + i])
        .map(|v| if v > 0.0 { v.sqrt() } else { f64::NAN })
        .collect();
    se.iter().all(|v| v.is_finite()).then_some(se)
}

/// The largest relative difference between the analytic gradient and central finite
/// differences of the log-likelihood, for gradient checks in tests.
#[cfg(test)]
pub(crate) fn gradient_error<L: Likelihood>(model: &L, params: &[f64]) -> f64 {
    let n = params.len();
    let mut analytic = vec![0.0; n];
    model.log_likelihood(params, &mut analytic);
    let mut scratch = vec![0.0; n];
    (0..n)
        .map(|j| {
            // 1e-5: the truncation error (~h^2) and the rounding error (~eps/h) balance there.
            let h = 1e-5 * params[j];
            let mut p = params.to_vec();
            p[j] += h;
            let up = model.log_likelihood(&p, &mut scratch);
            p[j] -= 2.0 * h;
            let down = model.log_likelihood(&p, &mut scratch);
            let numeric = (up - down) / (2.0 * h);
            (numeric - analytic[j]).abs() / analytic[j].abs().max(1.0)
        })
        .fold(0.0, f64::max)
}
