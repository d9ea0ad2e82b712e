//! One run over several backends at once (`--adapter all`, or a list): each backend takes the
//! next chunk as soon as it has finished its last, so a slower device takes fewer; each chunk's
//! [`ChunkResults`] wait until the chunks before them are handed to the outputs, so the outputs
//! take them in chunk order, as in a one-backend run, and write the same bytes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Watch, chunks_of, deliver, finish};
use crate::backend::{Backend, ChunkResults, Progress};
use crate::outputs::{self, Store};
use crate::plan::Plan;

/// The backends of one run, each used by its own thread.
pub type Backends = Vec<Box<dyn Backend + Send>>;

/// The backend kind and the devices of a run on `backends` ("a + b").
pub fn describe(backends: &Backends) -> (&'static str, String) {
    let kind = backends.first().map_or("gpu", |b| b.kind());
    (kind, backends.iter().map(|b| b.adapter()).collect::<Vec<_>>().join(" + "))
}

/// The [`Progress`] of a worker: counts progress, and stops when the run is stopped.
struct Shared<'a> {
    done: &'a AtomicU64,
    stop: &'a AtomicBool,
}

impl Progress for Shared<'_> {
    fn advance(&mut self, trajectory_steps: u64) -> Result<bool> {
        self.done.fetch_add(trajectory_steps, Ordering::Relaxed);
        if self.stop.load(Ordering::Relaxed) {
            anyhow::bail!("stopped");
        }
        Ok(true)
    }
}

/// Runs a plan on every backend of `backends` at once and finishes the outputs into `store`
/// (with one backend, exactly [`super::simulate_with`]).
pub fn simulate_many(plan: &Plan, backends: &mut Backends, mut store: Store, watch: &mut dyn Watch) -> Result<Store> {
    if backends.len() == 1 {
        return super::simulate_with(plan, backends[0].as_mut(), store, watch);
    }
    let r = run(plan, backends, &mut store, watch);
    watch.finish();
    r.map(|()| store)
}

fn run(plan: &Plan, backends: &mut Backends, store: &mut Store, watch: &mut dyn Watch) -> Result<()> {
    let t0 = Instant::now();
    for b in backends.iter_mut() {
        b.prepare(plan)?;
    }
    store.timing.setup_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    // Chunks every backend can take.
    let max = backends.iter().map(|b| b.max_chunk(plan)).min().unwrap_or(0);
    let chunks = chunks_of(plan, max);
    let total_steps = plan.time.total_steps;
    let total = plan.ensemble.trajectories * total_steps as u64;
    // A chunk is handed out only within WINDOW chunks of the next to deliver, so the chunks
    // waiting for an earlier one stay few.
    let window = 2 * backends.len();
    let next = AtomicUsize::new(0);
    let delivered = Mutex::new(0usize);
    let turn = Condvar::new();
    let (done, stop) = (AtomicU64::new(0), AtomicBool::new(false));
    let mut outputs = outputs::catalogue(plan, store)?;
    let outcome = std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::channel();
        for b in backends.iter_mut() {
            let tx = tx.clone();
            let (next, delivered, turn, done, stop, chunks) = (&next, &delivered, &turn, &done, &stop, &chunks);
            scope.spawn(move || {
                loop {
                    let k = {
                        let mut d = delivered.lock().expect("delivery count");
                        loop {
                            if stop.load(Ordering::Relaxed) || next.load(Ordering::Relaxed) >= chunks.len() {
                                return;
                            }
                            let k = next.load(Ordering::Relaxed);
                            if k < *d + window {
                                next.store(k + 1, Ordering::Relaxed);
                                break k;
                            }
                            d = turn.wait(d).expect("delivery count");
                        }
                    };
                    let mut results = ChunkResults::new(plan, chunks[k]);
                    let r = b
                        .run_chunk(plan, chunks[k], None, total_steps, &mut results, &mut Shared { done, stop })
                        .map(|_| results);
                    let failed = r.is_err();
                    if tx.send((k, r)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut want = 0usize;
        let result = (|| -> Result<()> {
            while want < chunks.len() {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok((k, r)) => {
                        pending.insert(k, r);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        anyhow::bail!("internal error: the backends stopped before chunk {want} was integrated")
                    }
                }
                watch.progress(done.load(Ordering::Relaxed), total)?;
                while let Some(r) = pending.remove(&want) {
                    deliver(&mut outputs, &r?)?;
                    want += 1;
                    *delivered.lock().expect("delivery count") = want;
                    turn.notify_all();
                }
            }
            Ok(())
        })();
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
            turn.notify_all();
        }
        result
    });
    outcome?;
    finish(outputs, store, t1)
}
