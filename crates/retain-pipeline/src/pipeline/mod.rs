//! One run of a pipeline file ([`spec`]): read the transactions, take the cutoff, keep each
//! model (train and register it the first time), score every customer at the cutoff into the
//! store (each scoring run with its drift from the model's training data), and store the
//! analysis the dashboard shows. `retain run`, `retain serve --schedule` and the Python package
//! all call [`run_pipeline`].
//!
//! # Identity and idempotence
//! A run's inputs are the pipeline file's text, the SHA-256 of every input file and the cutoff
//! (its *input key*), and the production version of each of its models when it begins. The run
//! id hashes both. Running again with the same inputs, when the models are still at the
//! versions the last such run left them, finds that run and does nothing.
//!
//! # Crash safety
//! Every step's write is one transaction of the store, a step is recorded done after its write,
//! and the run is marked succeeded after its last step. Training is deterministic (seeded
//! boosting, the run's start as the model's training time), so a step redone after a crash
//! registers the same bytes, which the registry finds as the version it already has; a scoring
//! run and an analysis are keyed by their inputs and found too. So a run killed at any moment
//! is never half visible: what it wrote is whole, and the next run of the same inputs skips the
//! steps recorded and completes it. Each pipeline has a lease in the store, renewed while its
//! run lives: one run at a time per pipeline, across processes.

pub mod retrain;
pub mod spec;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use retain_data::dates::format_day;
use retain_data::PurchaseHistory;
use retain_models::btyd::FitOptions;
use retain_models::supervised::{GradientBoosting, Task};
use retain_scoring::batch::{score_batch, BatchInput, BatchOptions, ModelRef, Selector};
use retain_scoring::Artifact;
use retain_store::{NewPipelineRun, PipelineRun, PipelineStep, Store};
use serde_json::json;

use crate::analysis::{analyze, earlier_analyses, AnalysisOptions};
use crate::error::invalid;
use crate::fit::{fit_purchase_model, fit_spend_model, PurchaseData};
use crate::performance;
use crate::source::SummaryColumns;
use crate::train::{train, TrainInput, TrainOptions};
use crate::{PipelineError, Result};

pub use spec::{CutoffRule, ModelKind, ModelSpec, Pipeline, PipelineSpec};

/// The alias a pipeline serves and scores with.
pub const PRODUCTION: &str = "production";

/// Who runs a pipeline and how long its lease lasts without renewal.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The lease holder: this process on this host.
    pub owner: LeaseOwner,
    /// How long the lease outlives its last renewal: a run killed on another host frees its
    /// pipeline after this long (on this host, as soon as its process is gone). Renewed every
    /// third of it.
    pub lease: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            owner: LeaseOwner::this_process(),
            lease: Duration::from_secs(60),
        }
    }
}

/// A process on a host, as a lease names it: `pid 4242 on web-1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseOwner {
    pub pid: u32,
    pub host: String,
}

impl LeaseOwner {
    pub fn this_process() -> LeaseOwner {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".into());
        LeaseOwner {
            pid: std::process::id(),
            host,
        }
    }

    fn name(&self) -> String {
        format!("pid {} on {}", self.pid, self.host)
    }

    fn parse(name: &str) -> Option<LeaseOwner> {
        let (pid, host) = name.strip_prefix("pid ")?.split_once(" on ")?;
        Some(LeaseOwner {
            pid: pid.parse().ok()?,
            host: host.to_string(),
        })
    }

    /// Whether this holder is a process of this host that no longer exists (killed, crashed):
    /// its lease need not be waited out. Only Linux can tell (`/proc`); elsewhere, never.
    fn is_gone(&self, here: &LeaseOwner) -> bool {
        cfg!(target_os = "linux")
            && self.host == here.host
            && self.pid != here.pid
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// Takes the pipeline's lease: free, expired, ours, or held by a process of this host that is
/// gone.
async fn acquire_lease(store: &Store, pipeline: &str, options: &RunOptions) -> Result<()> {
    let (me, ttl) = (options.owner.name(), options.lease.as_millis() as i64);
    if store.acquire_pipeline_lease(pipeline, &me, ttl).await? {
        return Ok(());
    }
    if let Some((holder, _)) = store.pipeline_lease_holder(pipeline).await? {
        if LeaseOwner::parse(&holder).is_some_and(|h| h.is_gone(&options.owner))
            && store
                .take_pipeline_lease(pipeline, &holder, &me, ttl)
                .await?
        {
            return Ok(());
        }
        return Err(invalid!(
            "pipeline {pipeline} is being run by {holder}; one run at a time (a run whose              process died frees it within {} s)",
            options.lease.as_secs()
        ));
    }
    // Released between the two looks: try once more.
    if store.acquire_pipeline_lease(pipeline, &me, ttl).await? {
        return Ok(());
    }
    Err(invalid!(
        "pipeline {pipeline} is being run by another process; one run at a time"
    ))
}

/// What a call to [`run_pipeline`] did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run: PipelineRun,
    pub steps: Vec<PipelineStep>,
    /// False when the same inputs had been run before and nothing was done.
    pub ran: bool,
    /// Steps skipped because an interrupted attempt had finished them.
    pub resumed_steps: usize,
}

/// Runs a pipeline once (or finds the run of the same inputs already done).
pub async fn run_pipeline(
    store: &Store,
    pipeline: &Pipeline,
    options: &RunOptions,
) -> Result<RunReport> {
    let lease_ms = options.lease.as_millis() as i64;
    acquire_lease(store, &pipeline.name, options).await?;
    // Renew the lease while the run lives; a killed process stops renewing and the lease lapses.
    // The run's row shows it alive (not interrupted) as long as the lease is renewed.
    let current: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
    let heartbeat = {
        let (store, name, owner) = (store.clone(), pipeline.name.clone(), options.owner.name());
        let (every, current) = (options.lease / 3, current.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = store.acquire_pipeline_lease(&name, &owner, lease_ms).await;
                let run = current.lock().expect("not poisoned").clone();
                if let Some(run) = run {
                    let _ = store.touch_pipeline_run(&run, lease_until(lease_ms)).await;
                }
            }
        })
    };
    let mut outcome = run_leased(store, pipeline, lease_ms, &current).await;
    heartbeat.abort();
    // A run that failed before it began (no run row yet) is recorded too, with why.
    if let Err(error) = &outcome {
        if current.lock().expect("not poisoned").is_none() {
            if let Err(store_error) = store
                .record_failed_pipeline_run(&pipeline.name, &error.to_string())
                .await
            {
                outcome = Err(store_error.into());
            }
        }
    }
    store
        .release_pipeline_lease(&pipeline.name, &options.owner.name())
        .await?;
    outcome
}

fn lease_until(lease_ms: i64) -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        + lease_ms
}

async fn run_leased(
    store: &Store,
    pipeline: &Pipeline,
    lease_ms: i64,
    current: &std::sync::Mutex<Option<String>>,
) -> Result<RunReport> {
    let started = Instant::now();
    let Input {
        files,
        read,
        history,
        cutoff,
    } = read_input(pipeline).await?;
    let fingerprint = {
        let files = files.clone();
        tokio::task::spawn_blocking(move || retain_store::fingerprint_files(&files))
            .await
            .expect("hashing does not panic")
            .map_err(|source| PipelineError::Io {
                context: "reading the transactions again for their fingerprint".into(),
                source,
            })?
    };
    let input_key = retain_store::sha256_hex(
        json!([
            pipeline.text,
            fingerprint,
            format_day(cutoff),
            format!("{read:?}")
        ])
        .to_string()
        .as_bytes(),
    );
    let versions_before = production_versions(store, pipeline).await?;
    if let Some(done) = store
        .succeeded_pipeline_run(&pipeline.name, &input_key)
        .await?
    {
        if done.versions_after.as_ref() == Some(&versions_before) {
            let steps = store.pipeline_steps(&done.run_id).await?;
            return Ok(RunReport {
                run: done,
                steps,
                ran: false,
                resumed_steps: 0,
            });
        }
    }
    // A run of these inputs whose process died is completed, whatever it had changed; one of
    // other inputs will never be, and is closed as superseded. (This process holds the lease:
    // no unfinished run is alive.)
    let unfinished = store.unfinished_pipeline_runs(&pipeline.name).await?;
    let resumed = unfinished.iter().find(|r| r.input_key == input_key);
    let run_id = match resumed {
        Some(run) => run.run_id.clone(),
        None => retain_store::sha256_hex(
            json!([pipeline.name, input_key, versions_before])
                .to_string()
                .as_bytes(),
        )[..20]
            .to_string(),
    };
    for stale in unfinished.iter().filter(|r| r.input_key != input_key) {
        store
            .finish_pipeline_run(
                &stale.run_id,
                Err(&format!(
                    "interrupted before it finished (its process died); superseded by run \
                     {run_id} of newer inputs"
                )),
                0.0,
            )
            .await?;
    }
    let versions_before = resumed.map_or(versions_before, |r| r.versions_before.clone());
    if let Ok(done) = store.pipeline_run(&run_id).await {
        if done.status == retain_store::PipelineStatus::Succeeded {
            let steps = store.pipeline_steps(&run_id).await?;
            return Ok(RunReport {
                run: done,
                steps,
                ran: false,
                resumed_steps: 0,
            });
        }
    }
    let run = store
        .start_pipeline_run(
            &NewPipelineRun {
                run_id: run_id.clone(),
                pipeline: pipeline.name.clone(),
                input_key,
                cutoff: format_day(cutoff),
                versions_before,
                rows: serde_json::to_value(&history.report).expect("reports serialize"),
            },
            lease_until(lease_ms),
        )
        .await?;
    *current.lock().expect("not poisoned") = Some(run_id.clone());
    let done: BTreeMap<String, serde_json::Value> = store
        .pipeline_steps(&run_id)
        .await?
        .into_iter()
        .map(|s| (s.step, s.output))
        .collect();
    let context = RunContext {
        store,
        pipeline,
        history: &history,
        files: &files,
        read: &read,
        cutoff,
        run: &run,
        lease_ms,
    };
    let resumed_steps = done.len();
    match context.steps(&done).await {
        Ok(()) => {
            let versions_after = production_versions(store, pipeline).await?;
            let run = store
                .finish_pipeline_run(
                    &run_id,
                    Ok(&versions_after),
                    started.elapsed().as_secs_f64(),
                )
                .await?;
            Ok(RunReport {
                steps: store.pipeline_steps(&run_id).await?,
                run,
                ran: true,
                resumed_steps,
            })
        }
        Err(error) => {
            store
                .finish_pipeline_run(
                    &run_id,
                    Err(&error.to_string()),
                    started.elapsed().as_secs_f64(),
                )
                .await?;
            Err(error)
        }
    }
}

/// What a run reads: the files, how, the history and the cutoff it takes.
struct Input {
    files: Vec<std::path::PathBuf>,
    read: retain_data::ReadOptions,
    history: PurchaseHistory,
    cutoff: i32,
}

async fn read_input(pipeline: &Pipeline) -> Result<Input> {
    let files = pipeline.transaction_files()?;
    let read = pipeline.read_options()?;
    let history = PurchaseHistory::load(&files, read.clone(), &pipeline.spec.source.engine).await?;
    let (first, last) = history.span().ok_or_else(|| {
        invalid!(
            "{}: the transactions have no usable row",
            pipeline.path.display()
        )
    })?;
    let cutoff = pipeline.cutoff.day(last);
    if cutoff < first {
        return Err(invalid!(
            "{}: the cutoff {} is before the first transaction ({})",
            pipeline.path.display(),
            format_day(cutoff),
            format_day(first)
        ));
    }
    Ok(Input {
        files,
        read,
        history,
        cutoff,
    })
}

/// `retain retrain NAME`: one of the pipeline's models retrained now, outside a run: a
/// challenger trained, both measured on the latest out-of-time window, production moved when
/// the challenger wins; the decision stored. Its evidence is the answer's `evidence`.
pub async fn retrain_model(
    store: &Store,
    pipeline: &Pipeline,
    name: &str,
) -> Result<serde_json::Value> {
    let model = pipeline
        .spec
        .models
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            invalid!(
                "{} has no model {name}; its models: {}",
                pipeline.path.display(),
                pipeline
                    .spec
                    .models
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let champion = store.resolve(&model.name, PRODUCTION).await.map_err(|_| {
        invalid!("{name} has no production version yet: `retain run` trains its first")
    })?;
    let input = read_input(pipeline).await?;
    let started_at = retain_store::now();
    // Not stored: it names the decision and dates the challenger's training.
    let run = PipelineRun {
        run_id: format!(
            "retrain-{}",
            &retain_store::sha256_hex(format!("{name} {started_at}").as_bytes())[..12]
        ),
        pipeline: pipeline.name.clone(),
        input_key: String::new(),
        cutoff: format_day(input.cutoff),
        status: retain_store::PipelineStatus::Running,
        started_at,
        finished_at: None,
        seconds: None,
        attempts: 1,
        versions_before: json!({}),
        versions_after: None,
        rows: json!({}),
        error: None,
    };
    let context = RunContext {
        store,
        pipeline,
        history: &input.history,
        files: &input.files,
        read: &input.read,
        cutoff: input.cutoff,
        run: &run,
        lease_ms: 0,
    };
    context.retrain(model, champion).await
}

/// `{model: production version or null}` for the pipeline's models, now.
async fn production_versions(store: &Store, pipeline: &Pipeline) -> Result<serde_json::Value> {
    let mut versions = serde_json::Map::new();
    for model in &pipeline.spec.models {
        let version = store.resolve(&model.name, PRODUCTION).await.ok();
        versions.insert(model.name.clone(), json!(version));
    }
    Ok(serde_json::Value::Object(versions))
}

/// What every step of one run reads.
struct RunContext<'a> {
    store: &'a Store,
    pipeline: &'a Pipeline,
    history: &'a PurchaseHistory,
    files: &'a [std::path::PathBuf],
    read: &'a retain_data::ReadOptions,
    cutoff: i32,
    run: &'a PipelineRun,
    lease_ms: i64,
}

impl RunContext<'_> {
    async fn steps(&self, done: &BTreeMap<String, serde_json::Value>) -> Result<()> {
        // What past runs' predictions came to, now that the data may show it.
        for model in self.pipeline.spec.models.iter().filter(|m| m.score) {
            self.step(
                done,
                &format!("performance:{}", model.name),
                self.realised(model),
            )
            .await?;
        }
        for model in &self.pipeline.spec.models {
            self.step(
                done,
                &format!("model:{}", model.name),
                self.keep_model(model),
            )
            .await?;
        }
        for model in self.pipeline.spec.models.iter().filter(|m| m.score) {
            self.step(done, &format!("score:{}", model.name), self.score(model))
                .await?;
        }
        if let Some(analysis) = &self.pipeline.spec.analysis {
            self.step(
                done,
                &format!("analysis:{}", analysis.name),
                self.analysis(&analysis.name),
            )
            .await?;
        }
        Ok(())
    }

    /// Runs a step unless it is recorded done; records it when it finishes.
    async fn step(
        &self,
        done: &BTreeMap<String, serde_json::Value>,
        name: &str,
        work: impl std::future::Future<Output = Result<serde_json::Value>>,
    ) -> Result<()> {
        if done.contains_key(name) {
            return Ok(());
        }
        let output = work.await?;
        self.store
            .record_pipeline_step(&self.run.run_id, name, &output)
            .await?;
        self.store
            .touch_pipeline_run(&self.run.run_id, lease_until(self.lease_ms))
            .await?;
        Ok(())
    }

    /// The model's first version when it has none in production; else it is kept.
    async fn keep_model(&self, model: &ModelSpec) -> Result<serde_json::Value> {
        if let Ok(version) = self.store.resolve(&model.name, PRODUCTION).await {
            if !model.retrain {
                return Ok(json!({"action": "kept", "version": version}));
            }
            return self.retrain(model, version).await;
        }
        let bytes = self.train(model, self.cutoff).await?;
        let info = Artifact::from_bytes(&bytes)?.describe();
        let (registered, _) = self
            .store
            .register_as(&model.name, &bytes, &info, Some(PRODUCTION))
            .await?;
        Ok(json!({"action": "trained", "version": registered.version, "kind": info.kind}))
    }

    /// Trains a challenger on the data before the evaluation window (the horizon before the
    /// cutoff), measures it and the champion on the window, and promotes it when it wins
    /// (`retrain`). The decision is stored with its evidence under an id of this run.
    async fn retrain(&self, model: &ModelSpec, champion: i64) -> Result<serde_json::Value> {
        let kind = model.kind()?;
        let margins = model.promotion.margins(kind)?;
        let from = self.cutoff - model.horizon_days;
        let champion_bytes = self.store.artifact(&model.name, champion).await?;
        if let Some(through) = retrain::trained_through(&champion_bytes) {
            if through > from {
                return Ok(json!({
                    "action": "kept",
                    "version": champion,
                    "retrain": format!(
                        "waiting: the champion learned from the data through {}; a window out \
                         of time for it needs data through {}",
                        format_day(through),
                        format_day(through + model.horizon_days)
                    ),
                }));
            }
        }
        let challenger_bytes = self.train(model, from).await?;
        let info = Artifact::from_bytes(&challenger_bytes)?.describe();
        let (registered, _) = self
            .store
            .register_as(&model.name, &challenger_bytes, &info, None)
            .await?;
        let measure = |bytes: Vec<u8>| {
            let (spec, history, metric) =
                (model.clone(), self.history.clone(), margins.metric.clone());
            tokio::task::spawn_blocking(move || {
                retrain::evaluate(&bytes, &spec, &history, from, &metric)
            })
        };
        let (champion_metrics, champion_score, champion_features) =
            measure(champion_bytes)
                .await
                .expect("evaluating does not panic")?;
        let (challenger_metrics, challenger_score, challenger_features) = measure(challenger_bytes)
            .await
            .expect("evaluating does not panic")?;
        let decision = retrain::decide(
            &model.name,
            (from, self.cutoff),
            retrain::Candidate {
                version: champion,
                metrics: champion_metrics,
                score: champion_score,
            },
            &champion_features,
            retrain::Candidate {
                version: registered.version,
                metrics: challenger_metrics,
                score: challenger_score,
            },
            &challenger_features,
            margins,
        );
        let promoted = decision.decision == "promoted";
        let alias = if promoted { PRODUCTION } else { "challenger" };
        // Moved once, whichever attempt of the run gets here.
        if registered.version != champion
            && self.store.resolve(&model.name, alias).await.ok() != Some(registered.version)
        {
            self.store
                .move_alias(&model.name, alias, registered.version)
                .await?;
        }
        self.store
            .write_decision(&retain_store::StoredDecision {
                decision_id: format!("{}:{}", self.run.run_id, model.name),
                model: model.name.clone(),
                decision: decision.decision.clone(),
                champion_version: champion,
                challenger_version: registered.version,
                evidence: serde_json::to_value(&decision).expect("decisions serialize"),
                decided_at: retain_store::now(),
            })
            .await?;
        Ok(json!({
            "action": decision.decision,
            "version": if promoted { registered.version } else { champion },
            "champion": champion,
            "challenger": registered.version,
            "reason": decision.reason,
            "evidence": decision,
        }))
    }

    /// Realised performance of the model's past scoring runs whose horizon has passed by the
    /// cutoff, each evaluated once.
    async fn realised(&self, model: &ModelSpec) -> Result<serde_json::Value> {
        let kind = model.kind()?;
        let done: std::collections::HashSet<String> = self
            .store
            .performance_of_model(&model.name)
            .await?
            .into_iter()
            .filter(|p| p.kind == retain_store::PerformanceKind::Realised)
            .map(|p| p.run_id)
            .collect();
        let mut evaluated = Vec::new();
        for run in self.store.runs().await? {
            let (Some(as_of), Some(horizon)) = (&run.as_of, run.horizon_days) else {
                continue;
            };
            let Some(day) =
                retain_data::dates::parse_date(as_of.as_bytes(), &retain_data::DateFormat::Auto)
            else {
                continue;
            };
            let end = day + horizon as i32;
            if run.model != model.name || done.contains(&run.run_id) || end > self.cutoff {
                continue;
            }
            let predictions = all_predictions(self.store, &run.run_id).await?;
            let history = self.history.clone();
            let metrics = tokio::task::spawn_blocking(move || match kind {
                ModelKind::Churn => serde_json::to_value(performance::realised_churn(
                    &predictions,
                    &history,
                    day,
                    horizon as i32,
                )),
                ModelKind::Purchase(_) => serde_json::to_value(performance::realised_purchases(
                    &predictions,
                    &history,
                    day,
                    horizon as i32,
                )),
            })
            .await
            .expect("evaluating does not panic")
            .expect("metrics serialize");
            self.store
                .write_performance(&retain_store::StoredPerformance {
                    run_id: run.run_id.clone(),
                    kind: retain_store::PerformanceKind::Realised,
                    model: model.name.clone(),
                    version: run.version,
                    as_of: as_of.clone(),
                    horizon_end: format_day(end),
                    customers: metrics["customers"].as_i64().unwrap_or(0),
                    metrics: metrics.clone(),
                    evaluated_at: retain_store::now(),
                })
                .await?;
            evaluated.push(json!({"run_id": run.run_id, "as_of": as_of, "metrics": metrics}));
        }
        Ok(json!({"evaluated": evaluated}))
    }

    /// A model file of `model` trained on the data up to `day`: a churn model's labels come
    /// from the `horizon_days` before it, so its features are taken that much earlier.
    async fn train(&self, model: &ModelSpec, day: i32) -> Result<Vec<u8>> {
        let trained_at = self.started_unix();
        let (model, history, files) = (model.clone(), self.history.clone(), self.files.to_vec());
        tokio::task::spawn_blocking(move || match model.kind()? {
            ModelKind::Churn => train_churn(&model, history, files, day, trained_at),
            ModelKind::Purchase(kind) => fit_purchase(&model, kind, &history, day),
        })
        .await
        .expect("training does not panic")
    }

    /// The run's start in Unix seconds: a model trained in this run says it was trained then,
    /// whichever attempt trained it.
    fn started_unix(&self) -> u64 {
        chrono::DateTime::parse_from_rfc3339(&self.run.started_at)
            .map_or(0, |t| t.timestamp().max(0) as u64)
    }

    /// Every customer at the cutoff scored by the model's production version into the store.
    async fn score(&self, model: &ModelSpec) -> Result<serde_json::Value> {
        let reference = ModelRef {
            name: model.name.clone(),
            selector: Selector::Alias(PRODUCTION.into()),
        };
        let horizon = match model.kind()? {
            ModelKind::Churn => None,
            ModelKind::Purchase(_) => Some(f64::from(model.horizon_days) / 7.0),
        };
        let outcome = score_batch(
            self.store,
            &reference,
            BatchInput::Log {
                files: self.files.to_vec(),
                read: self.read.clone(),
                attributes: None,
                engine: self.pipeline.spec.source.engine.clone(),
            },
            &BatchOptions {
                at: Some(self.cutoff),
                horizon,
                drift: self.pipeline.spec.drift.options(),
                ..BatchOptions::default()
            },
        )
        .await?;
        let run = outcome.outcome.run();
        if model.kind()? == ModelKind::Churn {
            let scores: Vec<f64> = all_predictions(self.store, &run.run_id)
                .await?
                .iter()
                .map(|p| p.score)
                .collect();
            let estimate = performance::ChurnEstimate::of(&scores);
            self.store
                .write_performance(&retain_store::StoredPerformance {
                    run_id: run.run_id.clone(),
                    kind: retain_store::PerformanceKind::Estimated,
                    model: model.name.clone(),
                    version: outcome.version,
                    as_of: format_day(self.cutoff),
                    horizon_end: format_day(self.cutoff + model.horizon_days),
                    customers: scores.len() as i64,
                    metrics: serde_json::to_value(&estimate).expect("estimates serialize"),
                    evaluated_at: retain_store::now(),
                })
                .await?;
        }
        Ok(json!({
            "version": outcome.version,
            "run_id": run.run_id,
            "customers": run.customers,
            "dataset_drift": outcome.drift.as_ref().map(|d| d.data.dataset_drift),
            "drifted_features": outcome.drift.as_ref().map(|d| d.data.drifted_features),
            "features": outcome.drift.as_ref().map(|d| d.data.features.len()),
            "prediction_drift": outcome.drift.as_ref().map(|d| d.prediction.drift),
        }))
    }

    /// The dashboard's analysis at the cutoff, under an id of this run.
    async fn analysis(&self, name: &str) -> Result<serde_json::Value> {
        let options = AnalysisOptions {
            at: Some(self.cutoff),
            earlier: earlier_analyses(self.store, name).await?,
            ..AnalysisOptions::named(name)
        };
        let history = self.history.clone();
        let analysis = tokio::task::spawn_blocking(move || analyze(&history, &options))
            .await
            .expect("analysing does not panic")?;
        let source = self
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut new = analysis.to_store(&source);
        new.analysis_id = Some(self.run.run_id.clone());
        let stored = self.store.write_analysis(&new, &analysis.customers).await?;
        Ok(json!({"analysis_id": stored.analysis_id, "customers": stored.customers}))
    }
}

/// A gradient-boosted churn model from the log: features at `day − horizon`, labels from the
/// horizon after.
fn train_churn(
    model: &ModelSpec,
    history: PurchaseHistory,
    files: Vec<std::path::PathBuf>,
    day: i32,
    trained_at: u64,
) -> Result<Vec<u8>> {
    let mut boosting = GradientBoosting::new(Task::Churn);
    if let Some(rounds) = model.rounds {
        boosting.rounds = rounds;
    }
    if let Some(rate) = model.learning_rate {
        boosting.learning_rate = rate as f32;
    }
    if let Some(depth) = model.max_depth {
        boosting.max_depth = depth;
    }
    let options = TrainOptions {
        cutoff: Some(day - model.horizon_days),
        horizon_days: model.horizon_days,
        trend_days: model.trend_days,
        btyd: model.btyd_features,
        active_days: model.active_days,
        folds: model.folds.unwrap_or(5),
        boosting,
        ..TrainOptions::new(Task::Churn)
    };
    let input = TrainInput {
        history: Some(history),
        sources: files,
        ..TrainInput::default()
    };
    let trained = train(&input, &options)?;
    let mut artifact = trained.artifact(&options, &input)?;
    artifact.training.trained_at_unix = trained_at;
    Ok(serde_json::to_vec(&artifact).expect("artifacts serialize"))
}

/// A purchase model (and Gamma-Gamma as its spend model, when the log has amounts and the spec
/// does not say otherwise) fitted on every customer's summary at `day`, in weeks.
fn fit_purchase(
    model: &ModelSpec,
    kind: crate::fit::PurchaseModelKind,
    history: &PurchaseHistory,
    day: i32,
) -> Result<Vec<u8>> {
    let customers = history.customers_by(day);
    let columns = SummaryColumns::of_history(history, &customers, day, 7.0);
    let data = PurchaseData::from_columns(&columns)?;
    let fit = fit_purchase_model(kind, &data, &FitOptions::default())?;
    let mut record = fit.artifact(&data, &columns, retain_data::TimeUnit::Weeks);
    // The last day of data it learned from: a challenger is measured on days after it.
    record["fitted_at"] = format_day(day).into();
    let bytes = serde_json::to_vec(&record).expect("records serialize");
    if !model.spend_model.unwrap_or(history.has_amounts) {
        return Ok(bytes);
    }
    let spend = fit_spend_model(&columns, &FitOptions::default())?;
    let spend = serde_json::to_vec(&spend).expect("fits serialize");
    Ok(retain_scoring::with_spend_model(&bytes, &spend)?)
}

#[cfg(test)]
mod tests;

/// Every prediction of a stored run, read a page at a time.
async fn all_predictions(
    store: &Store,
    run_id: &str,
) -> Result<Vec<retain_store::StoredPrediction>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .predictions_of_run(run_id, after.as_deref(), 10_000)
            .await?;
        let Some(last) = page.last() else {
            return Ok(all);
        };
        after = Some(last.customer_id.clone());
        all.extend(page);
    }
}
