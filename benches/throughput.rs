//! `cargo bench`: the standard throughput cases of `idpsim bench` (docs/ARCHITECTURE.md, "Benchmarks") on the default
//! adapter. `IDPSIM_BENCH_QUICK=1` divides the ensembles by 16 for a smoke run.

use idpsim::bench::{BenchArgs, run};

fn main() -> anyhow::Result<()> {
    let quick = std::env::var("IDPSIM_BENCH_QUICK").is_ok_and(|v| v == "1");
    run(&BenchArgs {
        backend: Some("gpu".into()),
        adapter: None,
        cases: Vec::new(),
        scale_down: if quick { 16 } else { 1 },
        layout: None,
        histogram_every: None,
        repeat: 1,
        increments: None,
    })
}
