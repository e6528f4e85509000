//! A real Ballista cluster on loopback: `retain cluster scheduler` and two `retain cluster
//! executor`s, and the summaries they compute compared with this machine's, byte for byte, on
//! CDNOW and Online Retail; rejected rows accounted the same; an executor killed mid-query.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::retain;

const CDNOW: &[&str] = &[
    "-t",
    "../../data/cdnow/CDNOW_sample.txt",
    "--customer-col",
    "2",
    "--date-col",
    "3",
    "--amount-col",
    "5",
    "--calibration-end",
    "1997-09-30",
    "--observation-end",
    "1998-06-30",
];

const ONLINE_RETAIL: &[&str] = &[
    "-t",
    "../../data/online_retail/online_retail.csv.gz",
    "--customer-col",
    "CustomerID",
    "--date-col",
    "InvoiceDate",
    "--quantity-col",
    "Quantity",
    "--price-col",
    "UnitPrice",
    "--calibration-end",
    "2011-09-30",
    "--observation-end",
    "2011-12-09",
    "--unit",
    "days",
];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scheduler and its executors, killed when dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    port: u16,
    _work: tempfile::TempDir,
}

impl Cluster {
    /// Executors lost after 6 s without a heartbeat; stalled jobs cancelled after 20 s.
    fn start(executors: usize) -> Cluster {
        Cluster::start_with(executors, 6, 20)
    }

    fn start_with(executors: usize, executor_timeout: u64, stall_timeout: u64) -> Cluster {
        let work = tempfile::tempdir().unwrap();
        let port = free_port();
        let scheduler = Command::new(env!("CARGO_BIN_EXE_retain"))
            .args(["cluster", "scheduler", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--executor-timeout", &executor_timeout.to_string()])
            .args(["--stall-timeout", &stall_timeout.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut cluster = Cluster {
            scheduler,
            executors: Vec::new(),
            port,
            _work: work,
        };
        for i in 0..executors {
            let child = cluster.spawn_executor(i);
            cluster.executors.push(child);
        }
        cluster.wait_ready();
        cluster
    }

    /// Executor `i` on ports free a moment ago (another test may take one first: `wait_ready`
    /// starts it again then).
    fn spawn_executor(&self, i: usize) -> Child {
        let dir = self._work.path().join(format!("executor{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        Command::new(env!("CARGO_BIN_EXE_retain"))
            .args(["cluster", "executor", "--scheduler"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["--port", &free_port().to_string()])
            .args(["--grpc-port", &free_port().to_string()])
            .args(["--concurrent-tasks", "1"])
            .arg("--work-dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn engine(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.port)
    }

    /// Until a small summary goes through (the executors have registered). An executor that
    /// exited (its port taken meanwhile) is started again; a probe that hangs (no executor
    /// registered yet takes its job) is stopped and retried.
    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            for i in 0..self.executors.len() {
                if self.executors[i].try_wait().unwrap().is_some() {
                    self.executors[i] = self.spawn_executor(i);
                }
            }
            let mut probe = Command::new(env!("CARGO_BIN_EXE_retain"))
                .arg("summarize")
                .args(CDNOW)
                .args(["--engine", &self.engine()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let probe_start = Instant::now();
            let status = loop {
                if let Some(status) = probe.try_wait().unwrap() {
                    break Some(status);
                }
                if probe_start.elapsed() > Duration::from_secs(20) {
                    let _ = probe.kill();
                    let _ = probe.wait();
                    break None;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            if status.is_some_and(|s| s.success()) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the cluster did not come up (last probe: {status:?})"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn summarize(input: &[&str], extra: &[&str], output: Option<&Path>) -> std::process::Output {
    let mut args = vec!["summarize"];
    args.extend_from_slice(input);
    args.extend_from_slice(extra);
    let output_arg;
    if let Some(path) = output {
        output_arg = path.display().to_string();
        args.extend(["-o", &output_arg]);
    }
    retain(&args)
}

/// Panics at the first line where two outputs differ (whole outputs are too long to show).
fn assert_same(local: &str, remote: &str, what: &str) {
    for (n, (l, r)) in local.lines().zip(remote.lines()).enumerate() {
        assert_eq!(l, r, "{what}: line {} differs", n + 1);
    }
    assert_eq!(
        local.lines().count(),
        remote.lines().count(),
        "{what}: line counts differ"
    );
}

/// Stdout and the row accounting of stderr (the progress spinner aside).
fn run(input: &[&str], extra: &[&str]) -> (String, String) {
    let out = summarize(input, extra, None);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{extra:?}: {stderr}");
    let accounting = stderr
        .lines()
        .filter(|l| !l.contains("reading and aggregating"))
        .collect::<Vec<_>>()
        .join("\n");
    (String::from_utf8(out.stdout).unwrap(), accounting)
}

#[test]
fn a_cluster_summarises_as_this_machine_does() {
    let cluster = Cluster::start(2);
    let engine = cluster.engine();
    let work = tempfile::tempdir().unwrap();

    for (name, input) in [("CDNOW", CDNOW), ("Online Retail", ONLINE_RETAIL)] {
        let local = run(input, &[]);
        let remote = run(input, &["--engine", &engine]);
        assert!(local.0.lines().count() > 2000, "{name}: {}", local.1);
        assert_same(&local.0, &remote.0, name);
        assert_eq!(local.1, remote.1, "{name}: the row accounting differs");
    }

    // Two files with rejected rows: the same bad-rows file, the same summary.
    let cdnow = std::fs::read_to_string("../../data/cdnow/CDNOW_sample.txt").unwrap();
    let lines: Vec<&str> = cdnow.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let mut damaged = second.to_vec();
    damaged[10] = " 00077 0077 1997O3O1  2   19.98";
    damaged[200] = " 00124 0124 19970405  1   twelve";
    let a = work.path().join("part-a.txt");
    let b = work.path().join("part-b.txt");
    std::fs::write(&a, first.join("\n") + "\n").unwrap();
    std::fs::write(&b, damaged.join("\n") + "\n").unwrap();
    let two_files = |bad: &Path| -> Vec<String> {
        let mut args: Vec<String> = vec![
            "-t".into(),
            a.display().to_string(),
            b.display().to_string(),
        ];
        args.extend(CDNOW[2..].iter().map(|s| s.to_string()));
        args.push("--bad-rows".into());
        args.push(bad.display().to_string());
        args
    };
    let local_bad = work.path().join("bad-local.csv");
    let remote_bad = work.path().join("bad-remote.csv");
    let local_args = two_files(&local_bad);
    let remote_args = two_files(&remote_bad);
    let local = run(
        &local_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &[],
    );
    let remote = run(
        &remote_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &["--engine", &engine],
    );
    assert_same(&local.0, &remote.0, "two files with rejected rows");
    assert!(local.1.contains("rejected 2"), "{}", local.1);
    assert_eq!(
        local.1.replace("bad-local", "bad-remote"),
        remote.1,
        "the accounting of rejected rows differs"
    );
    assert_eq!(
        std::fs::read_to_string(&local_bad).unwrap(),
        std::fs::read_to_string(&remote_bad).unwrap()
    );

    // Without a bad-rows file the first rejected row fails the run, named as here.
    let mut args: Vec<String> = vec!["-t".into(), b.display().to_string()];
    args.extend(CDNOW[2..].iter().map(|s| s.to_string()));
    args.extend(["--engine".into(), engine.clone()]);
    let out = retain(
        &std::iter::once("summarize")
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}:11, column 3", b.display())) && stderr.contains("1997O3O1"),
        "{stderr}"
    );
}

/// A log of `files` files big enough that its tasks outlive the kill.
fn big_log(dir: &Path, files: usize, rows: usize) -> Vec<PathBuf> {
    use std::io::Write;
    (0..files)
        .map(|f| {
            let path = dir.join(format!("log-{f}.csv"));
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
            writeln!(out, "customer_id,date,amount").unwrap();
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ f as u64;
            for _ in 0..rows {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let customer = state % 200_000;
                let day = (state >> 20) % 1000;
                let cents = (state >> 32) % 20_000;
                let date = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap()
                    + chrono::Duration::days(day as i64);
                writeln!(out, "c{customer},{date},{}.{:02}", cents / 100, cents % 100).unwrap();
            }
            path
        })
        .collect()
}

/// `retain summarize` of `input` on `cluster` into `output`, started and left running.
fn start_summary(cluster: &Cluster, input: &[&str], output: &Path) -> Child {
    let mut args = vec!["summarize".to_string()];
    args.extend(input.iter().map(|s| s.to_string()));
    args.extend(["--engine".into(), cluster.engine(), "-o".into()]);
    args.push(output.display().to_string());
    let mut client = Command::new(env!("CARGO_BIN_EXE_retain"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        client.try_wait().unwrap().is_none(),
        "the run ended within a second: make the log bigger"
    );
    client
}

/// `-t` and the files of a log big enough that its tasks outlive a second.
fn big_input(dir: &Path) -> Vec<String> {
    let mut input: Vec<String> = vec!["-t".into()];
    input.extend(
        big_log(dir, 6, 500_000)
            .iter()
            .map(|f| f.display().to_string()),
    );
    input
}

// Ballista 55 reran the lost tasks in 4 runs of 5 and in 18 of 18 by hand, but once the job hung
// past 120 s after the kill (CI, 2026-12-01); the scheduler's stall watchdog now cancels such a
// job, which this test accepts as a clean failure.
#[test]
fn an_executor_killed_mid_query_is_retried_or_the_run_fails_cleanly() {
    let work = tempfile::tempdir().unwrap();
    let input = big_input(work.path());
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let local_out = work.path().join("local.csv");
    assert!(summarize(&input, &[], Some(&local_out)).status.success());

    let mut cluster = Cluster::start(2);
    let remote_out = work.path().join("remote.csv");
    let mut client = start_summary(&cluster, &input, &remote_out);
    cluster.executors[0].kill().unwrap();
    // A run that neither finishes nor fails is the one outcome not allowed.
    let start = Instant::now();
    while client.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            let _ = client.kill();
            panic!("the run neither finished nor failed within 120 s of losing an executor");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        // Ballista ran the lost executor's tasks again on the other.
        assert_same(
            &std::fs::read_to_string(&local_out).unwrap(),
            &std::fs::read_to_string(&remote_out).unwrap(),
            "after a retry",
        );
    } else {
        assert!(stderr.contains("cluster"), "{stderr}");
        assert!(
            !remote_out.exists(),
            "a failed run left {}",
            remote_out.display()
        );
    }
}

/// An executor that stops answering (SIGSTOP) holds its task forever: the run still ends, with
/// a clear error (Ballista's own once the only executor is lost, or the scheduler's stall
/// watchdog), and nothing is written.
#[cfg(unix)]
#[test]
fn a_run_on_a_frozen_executor_fails_with_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let input = big_input(work.path());
    let input: Vec<&str> = input.iter().map(String::as_str).collect();
    let cluster = Cluster::start_with(1, 6, 20);
    let out_path = work.path().join("remote.csv");
    let client = start_summary(&cluster, &input, &out_path);
    let frozen = Command::new("kill")
        .args(["-STOP", &cluster.executors[0].id().to_string()])
        .status()
        .unwrap();
    assert!(frozen.success());
    let start = Instant::now();
    let out = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the run succeeded on a frozen executor"
    );
    assert!(
        stderr.contains("all executors were lost") || stderr.contains("cancelled the job"),
        "{stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "failed only after {:?}",
        start.elapsed()
    );
    assert!(
        !out_path.exists(),
        "a failed run left {}",
        out_path.display()
    );
}
