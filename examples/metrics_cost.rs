//! What the always-on metrics cost per request: the listener's `Metrics::request` (the
//! heaviest call, one per request), timed over many calls, uncontended and from two threads
//! at once (contended cache lines, as with several busy workers).
//!
//!     cargo run --release --no-default-features --example metrics_cost

use serendb_data_api::Metrics;
use std::time::Instant;

const CALLS: u64 = 5_000_000;

fn run(m: &Metrics, calls: u64) {
    for i in 0..calls {
        let status = if i % 10 == 0 { 404 } else { 200 };
        m.request("GET", status, (i % 1000) as f64 * 1e-5, 0, 120);
    }
}

fn main() {
    let m = Metrics::new();
    let t = Instant::now();
    run(&m, CALLS);
    let one = t.elapsed().as_nanos() as f64 / CALLS as f64;
    let t = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| run(&m, CALLS));
        s.spawn(|| run(&m, CALLS));
    });
    let two = t.elapsed().as_nanos() as f64 / (2 * CALLS) as f64;
    let t = Instant::now();
    let text = m.render();
    let render = t.elapsed();
    println!("Metrics::request: {one:.1} ns/call uncontended, {two:.1} ns/call from 2 threads");
    println!("render(): {render:?} for {} bytes", text.len());
}
