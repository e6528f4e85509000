//! `retain serve --schedule DIR`: the pipeline files of a folder, each run on its cron
//! schedule by the same [`run_pipeline`] as `retain run`. One task a pipeline: it sleeps until
//! the next time its schedule fires, runs, and only then looks for the next time, so a pipeline
//! never overlaps itself (a run that outlasts its interval skips the times it missed); the
//! store's lease keeps other processes out too. Every run, failed or not, is recorded in the
//! store and listed by `GET /v1/pipeline-runs` and on the dashboard.

use std::path::Path;

use retain_pipeline::pipeline::{run_pipeline, Pipeline, RunOptions};
use retain_store::Store;

/// The scheduled pipelines of a folder.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub pipelines: Vec<Pipeline>,
}

impl Schedule {
    /// Reads every `*.toml` of `dir`; each must be a valid pipeline file with a schedule, and
    /// no two may share a name.
    pub fn read_dir(dir: &Path) -> Result<Schedule, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut files: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(format!("{} holds no pipeline file (*.toml)", dir.display()));
        }
        let mut pipelines: Vec<Pipeline> = Vec::new();
        for file in files {
            let pipeline = Pipeline::read(&file).map_err(|e| e.to_string())?;
            if pipeline.schedule.is_none() {
                return Err(format!(
                    "{}: no schedule (add e.g. schedule = \"0 6 * * MON\"); `retain run` runs a \
                     pipeline without one",
                    file.display()
                ));
            }
            if let Some(other) = pipelines.iter().find(|p| p.name == pipeline.name) {
                return Err(format!(
                    "{} and {} are both named {}; a pipeline's name is its identity",
                    other.path.display(),
                    file.display(),
                    pipeline.name
                ));
            }
            pipelines.push(pipeline);
        }
        Ok(Schedule { pipelines })
    }

    /// Starts one task a pipeline; they run until aborted.
    pub fn spawn(&self, store: Store, options: RunOptions) -> Vec<tokio::task::JoinHandle<()>> {
        self.pipelines
            .iter()
            .cloned()
            .map(|pipeline| {
                let (store, options) = (store.clone(), options.clone());
                tokio::spawn(async move { keep_running(store, pipeline, options).await })
            })
            .collect()
    }
}

async fn keep_running(store: Store, pipeline: Pipeline, options: RunOptions) {
    loop {
        let now = chrono::Utc::now();
        let Some(next) = pipeline.next_due(now) else {
            eprintln!(
                "retain serve: pipeline {}: its schedule fires no more",
                pipeline.name
            );
            return;
        };
        tokio::time::sleep((next - now).to_std().unwrap_or_default()).await;
        match run_pipeline(&store, &pipeline, &options).await {
            Ok(report) if report.ran => eprintln!(
                "retain serve: pipeline {} run {} {:?} at cutoff {} in {:.1} s",
                pipeline.name,
                report.run.run_id,
                report.run.status,
                report.run.cutoff,
                report.run.seconds.unwrap_or(0.0)
            ),
            Ok(_) => {}
            Err(error) => eprintln!("retain serve: pipeline {}: {error}", pipeline.name),
        }
    }
}
