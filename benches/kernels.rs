//! `cargo bench`: the same table as `lstm-transfer bench` (GEMM, LSTM forward and forward+backward, a
//! classifier training step) at the standard shapes, on the adapter picked by LSTM_TRANSFER_BACKEND /
//! LSTM_TRANSFER_ADAPTER. Set LSTM_TRANSFER_BENCH_REPEATS to change the number of timed runs (default 3).

use lstm_transfer::bench::{bench_shape, format_table, STANDARD_SHAPES};
use lstm_transfer::{AdapterChoice, GpuContext};

fn main() -> Result<(), lstm_transfer::Error> {
    // `cargo test --benches` runs this binary with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return Ok(());
    }
    let repeats = std::env::var("LSTM_TRANSFER_BENCH_REPEATS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let ctx = GpuContext::new(&AdapterChoice::from_env())?;
    let mut rows = Vec::new();
    for shape in STANDARD_SHAPES {
        rows.extend(bench_shape(&ctx, shape, repeats)?);
    }
    print!("{}", format_table(&ctx, &rows));
    Ok(())
}
