//! Progress on stderr for long reads: a spinner with the rows read so far and the rate. indicatif
//! draws nothing when stderr is not a terminal, so logs and pipes stay clean.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

/// A spinner fed by a shared row counter until it is finished.
pub struct RowProgress {
    bar: ProgressBar,
    pub counter: Arc<AtomicU64>,
    ticker: Option<std::thread::JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl RowProgress {
    pub fn start(message: &str) -> Self {
        let bar = ProgressBar::new_spinner();
        let style =
            ProgressStyle::with_template("{spinner} {msg}: {human_pos} rows ({rate}) {elapsed}")
                .expect("valid template")
                .with_key(
                    "rate",
                    |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.1}M rows/s", state.per_sec() / 1e6);
                    },
                );
        bar.set_style(style);
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        let counter = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = {
            let (bar, counter, stop) = (bar.clone(), counter.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    bar.set_position(counter.load(Ordering::Relaxed));
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        RowProgress {
            bar,
            counter,
            ticker: Some(ticker),
            stop,
        }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}
