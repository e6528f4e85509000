//! The scheduler's stall watchdog: cancels a job that can no longer finish, so that its client
//! fails with a clear error instead of waiting forever.
//!
//! Ballista reruns the tasks of an executor it has given up on, and fails every job once no
//! executor is left; but after an executor loss a job was once seen to stay "running" with
//! nothing running anywhere (Ballista 55, one run in five of the executor-kill test). A job is
//! taken as stalled when, for the whole stall time, its progress (stages done, tasks running and
//! where, tasks waiting) has not changed, some executor is live, and no task of any job runs on
//! a live executor. A job waiting for slots another job holds is not stalled; nor is one on a
//! cluster without live executors, which Ballista itself fails after its grace period.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ballista_core::serde::protobuf::executor_status;
use ballista_core::JobId;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

/// Where a job stands: any change is progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobProgress {
    pub completed_stages: usize,
    /// (stage, task, executor), sorted.
    pub running: Vec<(usize, usize, String)>,
    pub waiting: usize,
}

/// Remembers each running job's progress and since when it has not changed.
#[derive(Debug)]
pub(crate) struct StallWatch {
    stall_after: Duration,
    seen: HashMap<String, (JobProgress, Instant)>,
}

impl StallWatch {
    pub fn new(stall_after: Duration) -> Self {
        StallWatch {
            stall_after,
            seen: HashMap::new(),
        }
    }

    /// Takes the running jobs as they are at `now` and returns those stalled for the stall time
    /// (forgotten once returned).
    pub fn observe(
        &mut self,
        now: Instant,
        jobs: Vec<(String, JobProgress)>,
        live: &HashSet<String>,
    ) -> Vec<String> {
        let busy = live.is_empty()
            || jobs.iter().any(|(_, p)| {
                p.running
                    .iter()
                    .any(|(_, _, executor)| live.contains(executor))
            });
        let mut stalled = Vec::new();
        let mut seen = HashMap::with_capacity(jobs.len());
        for (job, progress) in jobs {
            let since = match self.seen.remove(&job) {
                Some((before, since)) if before == progress && !busy => since,
                _ => now,
            };
            if now.duration_since(since) >= self.stall_after {
                stalled.push(job);
            } else {
                seen.insert(job, (progress, since));
            }
        }
        self.seen = seen;
        stalled
    }
}

/// Watches the scheduler's running jobs every second and cancels the stalled ones.
pub(crate) async fn watch(
    scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    stall_after: Duration,
    executor_timeout: Duration,
) {
    let mut watch = StallWatch::new(stall_after);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let mut jobs = Vec::new();
        for (job, info) in scheduler.state.task_manager.get_running_job_cache().iter() {
            let graph = info.execution_graph.read().await;
            let mut running: Vec<_> = graph
                .running_tasks()
                .into_iter()
                .map(|t| (t.stage_id, t.task_id, t.executor_id))
                .collect();
            running.sort();
            jobs.push((
                job.to_string(),
                JobProgress {
                    completed_stages: graph.completed_stages(),
                    running,
                    waiting: graph.available_tasks(),
                },
            ));
        }
        let live = live_executors(&scheduler, executor_timeout).await;
        for job in watch.observe(Instant::now(), jobs, &live) {
            log::warn!(
                "cancelling job {job}: no progress for {} s and no task running on a live executor",
                stall_after.as_secs()
            );
            if let Err(e) = scheduler.cancel_job(JobId::from(job.clone())).await {
                log::error!("cancelling stalled job {job}: {e}");
            }
        }
    }
}

/// Executors whose last heartbeat says active and is younger than the executor timeout (as
/// Ballista's own, crate-private, notion of alive).
async fn live_executors(
    scheduler: &SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
    executor_timeout: Duration,
) -> HashSet<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let executors = &scheduler.state.executor_manager;
    let Ok(registered) = executors.get_executors_state().await else {
        return HashSet::new();
    };
    registered
        .into_iter()
        .map(|(metadata, _, _)| metadata.id)
        .filter(|id| {
            executors.get_executor_hearbeat(id).is_some_and(|beat| {
                let active = matches!(
                    beat.status.as_ref().and_then(|s| s.status.as_ref()),
                    Some(executor_status::Status::Active(_))
                );
                active && now.saturating_sub(beat.timestamp) <= executor_timeout.as_secs()
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(stages: usize, running: &[(usize, &str)], waiting: usize) -> JobProgress {
        JobProgress {
            completed_stages: stages,
            running: running
                .iter()
                .map(|(task, executor)| (1, *task, executor.to_string()))
                .collect(),
            waiting,
        }
    }

    #[test]
    fn a_job_with_nothing_running_anywhere_is_stalled_after_the_stall_time() {
        let mut watch = StallWatch::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let live = HashSet::from(["alive".to_string()]);
        let stuck = || vec![("j".to_string(), progress(1, &[(0, "dead")], 2))];
        assert!(watch.observe(t0, stuck(), &live).is_empty());
        assert!(watch
            .observe(t0 + Duration::from_secs(9), stuck(), &live)
            .is_empty());
        assert_eq!(
            watch.observe(t0 + Duration::from_secs(10), stuck(), &live),
            ["j"]
        );
        // Returned once, then watched afresh.
        assert!(watch
            .observe(t0 + Duration::from_secs(11), stuck(), &live)
            .is_empty());
    }

    #[test]
    fn progress_or_work_on_a_live_executor_is_not_a_stall() {
        let mut watch = StallWatch::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let live = HashSet::from(["alive".to_string()]);
        // A long task on a live executor: no change, but not stalled.
        let long = || vec![("j".to_string(), progress(0, &[(0, "alive")], 0))];
        for s in [0, 20, 40] {
            assert!(watch
                .observe(t0 + Duration::from_secs(s), long(), &live)
                .is_empty());
        }
        // A job waiting for slots another job holds on a live executor.
        let queued = || {
            vec![
                ("a".to_string(), progress(0, &[(0, "alive")], 3)),
                ("b".to_string(), progress(0, &[], 5)),
            ]
        };
        for s in [50, 70, 90] {
            assert!(watch
                .observe(t0 + Duration::from_secs(s), queued(), &live)
                .is_empty());
        }
        // No live executor at all: Ballista's own grace period decides.
        let mut watch = StallWatch::new(Duration::from_secs(10));
        let stuck = || vec![("j".to_string(), progress(1, &[(0, "dead")], 2))];
        for s in [0, 20, 40] {
            assert!(watch
                .observe(t0 + Duration::from_secs(s), stuck(), &HashSet::new())
                .is_empty());
        }
        // Changing progress restarts the clock.
        let mut watch = StallWatch::new(Duration::from_secs(10));
        for (s, stages) in [(0, 0), (8, 1), (16, 2)] {
            let jobs = vec![("j".to_string(), progress(stages, &[], 1))];
            assert!(watch
                .observe(t0 + Duration::from_secs(s), jobs, &live)
                .is_empty());
        }
    }
}
