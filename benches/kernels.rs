//! `cargo bench`: the same tables as `lstm-transfer bench` (ceilings; GEMM, LSTM forward and
//! forward+backward, a classifier training step; a per-kernel profile) at the standard shapes, on
//! the adapter picked by LSTM_TRANSFER_BACKEND / LSTM_TRANSFER_ADAPTER. Set LSTM_TRANSFER_BENCH_REPEATS to change the number of timed runs (default 3).

use lstm_transfer::bench::{STANDARD_SHAPES, bench_shape, format_report, measure_ceilings};
use lstm_transfer::{AdapterChoice, GpuContext};

fn main() -> Result<(), lstm_transfer::Error> {
    // `cargo test --benches` runs this binary with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let repeats = std::env::var("LSTM_TRANSFER_BENCH_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let ctx = GpuContext::new(&AdapterChoice::from_env())?;
    let ceilings = measure_ceilings(&ctx, repeats)?;
    let results = STANDARD_SHAPES.iter().map(|&s| bench_shape(&ctx, s, repeats, &ceilings)).collect::<Result<Vec<_>, _>>()?;
    print!("{}", format_report(&ctx, &ceilings, &results));
    Ok(())
}
