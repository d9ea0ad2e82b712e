//! One run over several backends at once (`--adapter all`, or a list): each backend takes the
//! next chunk as soon as it has finished its last, so a slower device takes fewer; what a
//! backend delivers for a chunk is recorded and replayed into the outputs in chunk order, so the
//! outputs see exactly the deliveries of a one-backend run and write the same bytes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{Collector, Watch, chunks_of};
use crate::backend::{Backend, Sink};
use crate::outputs::{self, Store};
use crate::plan::Plan;

/// The backends of one run, each used by its own thread.
pub type Backends = Vec<Box<dyn Backend + Send>>;

/// The backend kind and the devices of a run on `backends` ("a + b").
pub fn describe(backends: &Backends) -> (&'static str, String) {
    let kind = backends.first().map_or("gpu", |b| b.kind());
    (kind, backends.iter().map(|b| b.adapter()).collect::<Vec<_>>().join(" + "))
}

/// What a backend delivered for one chunk, in order.
enum Delivery {
    Partials(usize, usize, Vec<f32>),
    Overlaps(usize, usize, Vec<f32>),
    FinalState(Vec<f32>),
    Histogram(Vec<u64>),
    Observations(Vec<f32>),
}

/// The [`Sink`] of a worker: records the chunk's deliveries, counts progress, and stops when
/// the run is stopped.
struct Recorder<'a> {
    calls: Vec<Delivery>,
    done: &'a AtomicU64,
    stop: &'a AtomicBool,
}

impl Sink for Recorder<'_> {
    fn partials(&mut self, first: usize, slots: usize, partials: &[f32]) -> Result<()> {
        self.calls.push(Delivery::Partials(first, slots, partials.to_vec()));
        Ok(())
    }
    fn overlaps(&mut self, first: usize, slots: usize, overlaps: &[f32]) -> Result<()> {
        self.calls.push(Delivery::Overlaps(first, slots, overlaps.to_vec()));
        Ok(())
    }
    fn final_state(&mut self, states: &[f32]) -> Result<()> {
        self.calls.push(Delivery::FinalState(states.to_vec()));
        Ok(())
    }
    fn histogram(&mut self, counts: &[u64]) -> Result<()> {
        self.calls.push(Delivery::Histogram(counts.to_vec()));
        Ok(())
    }
    fn trajectory_observations(&mut self, obs: &[f32]) -> Result<()> {
        self.calls.push(Delivery::Observations(obs.to_vec()));
        Ok(())
    }
    fn progress(&mut self, trajectory_steps: u64) -> Result<bool> {
        self.done.fetch_add(trajectory_steps, Ordering::Relaxed);
        if self.stop.load(Ordering::Relaxed) {
            anyhow::bail!("stopped");
        }
        Ok(true)
    }
}

/// Replays one chunk's deliveries into the outputs.
fn replay(col: &mut Collector, calls: Vec<Delivery>) -> Result<()> {
    for c in calls {
        match c {
            Delivery::Partials(first, slots, p) => col.partials(first, slots, &p)?,
            Delivery::Overlaps(first, slots, o) => col.overlaps(first, slots, &o)?,
            Delivery::FinalState(s) => col.final_state(&s)?,
            Delivery::Histogram(h) => col.histogram(&h)?,
            Delivery::Observations(o) => col.trajectory_observations(&o)?,
        }
    }
    Ok(())
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
    let mut col = Collector::new(plan, outputs::catalogue(plan, store)?, watch, false);
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
                    let mut rec = Recorder { calls: Vec::new(), done, stop };
                    let r = b.run_chunk(plan, chunks[k], None, total_steps, &mut rec).map(|_| rec.calls);
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
                col.watch.progress(done.load(Ordering::Relaxed), total)?;
                while let Some(r) = pending.remove(&want) {
                    col.begin(chunks[want]);
                    replay(&mut col, r?)?;
                    col.end()?;
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
    col.finish(store, t1)
}
