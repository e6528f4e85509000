//! Times ingestion alone (parse, validate, intern, build batches) on a log: `cargo run --release
//! --example ingest_only -- FILE`. The summary benchmark's other half is the DataFusion plan.
fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: ingest_only FILE"));
    let start = std::time::Instant::now();
    let t = retain_data::ingest::read_all(&[path], Default::default()).expect("read");
    let rows: usize = t.batches.iter().map(|b| b.num_rows()).sum();
    println!(
        "{rows} rows, {} interned ids, in {:.3} s",
        t.customers.interned(),
        start.elapsed().as_secs_f64()
    );
}
