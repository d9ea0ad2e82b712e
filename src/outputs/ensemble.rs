//! Ensemble statistics of every saved quantity: times.npy, overlaps_mean/std/abs_mean/abs_std.npy,
//! the exact sums (overlaps_sums.npy, what merge adds up), overlaps.png, and with the energy or
//! the modern model's layers their means and stds (and saliency.png).

use crate::error::{Input, UsageError};
use anyhow::Result;

use super::{ChunkResults, Output, Shard, Store};
use crate::io::plot;
use crate::plan::{Plan, SaveLayout};
use crate::stats::{self, OverlapSums, SUMS, from_fixed};

/// The exact ensemble sums (what `idpsim merge` adds up).
pub const SUMS_FILE: &str = "overlaps_sums.npy";

pub struct EnsembleSums {
    sums: OverlapSums,
    layout: SaveLayout,
    times: Vec<f64>,
    name: String,
    model: &'static str,
    trajectories: u64,
}

impl EnsembleSums {
    pub fn new(plan: &Plan) -> Self {
        let layout = plan.saves();
        EnsembleSums {
            sums: OverlapSums::new(plan.n_saves(), layout.q()),
            layout,
            times: plan.save_times(),
            name: plan.spec.name.clone(),
            model: plan.model.name(),
            trajectories: plan.ensemble.trajectories,
        }
    }
}

/// The (population) standard deviation of |m| of every saved quantity [T, Q], from the exact
/// sums: |m|² = m², so Var |m| = E[m²] − (E|m|)², both of which the sums hold exactly.
fn abs_std(sums: &OverlapSums) -> Vec<f32> {
    let c = sums.count.max(1) as f64;
    sums.sums
        .chunks(SUMS)
        .map(|s| {
            let (m2, ma) = (from_fixed(s[1]) / c, from_fixed(s[2]) / c);
            (m2 - ma * ma).max(0.0).sqrt() as f32
        })
        .collect()
}

impl Output for EnsembleSums {
    fn chunk(&mut self, c: &ChunkResults) -> Result<()> {
        self.sums.add(&c.sums).map_err(|(save, q, e)| {
            stats::overflow(self.layout, self.times.get(save).copied().unwrap_or(f64::NAN), q, e)
        })
    }

    fn finish(mut self: Box<Self>, store: &mut Store) -> Result<()> {
        self.sums.count = self.trajectories;
        let (q, l) = (self.layout.q(), self.layout);
        let (t, p) = (self.sums.saves, l.p);
        let sums = &self.sums;
        store.npy("times.npy", &[t as u64], self.times.clone())?;
        let (mean_q, std_q, abs_q) = sums.finish();
        let (mean, std, abs) =
            (l.columns(&mean_q, l.overlaps()), l.columns(&std_q, l.overlaps()), l.columns(&abs_q, l.overlaps()));
        let abs_std = l.columns(&abs_std(sums), l.overlaps());
        let (tu, pu) = (t as u64, p as u64);
        store.npy("overlaps_mean.npy", &[tu, pu], mean)?;
        store.npy("overlaps_std.npy", &[tu, pu], std)?;
        store.npy("overlaps_abs_mean.npy", &[tu, pu], abs.clone())?;
        store.npy("overlaps_abs_std.npy", &[tu, pu], abs_std.clone())?;
        store.npy(SUMS_FILE, &[tu, q as u64, SUMS as u64, 2], sums.words())?;
        let title = format!("{} — {} model, {} trajectories", self.name, self.model, sums.count);
        store.picture("overlaps.png", |f| plot::overlaps_png(f, &title, &self.times, &abs, &abs_std, p))?;
        if let (Some(y), Some(a)) = (l.memory_layer(), l.saliency()) {
            store.npy("memory_layer_mean.npy", &[tu, pu], l.columns(&mean_q, y.clone()))?;
            store.npy("memory_layer_std.npy", &[tu, pu], l.columns(&std_q, y))?;
            let (a_mean, a_std) = (l.columns(&mean_q, a.clone()), l.columns(&std_q, a));
            store.npy("saliency_mean.npy", &[tu, pu], a_mean.clone())?;
            store.npy("saliency_std.npy", &[tu, pu], a_std.clone())?;
            let title = format!("{} — saliency layer α_μ(t), {} trajectories", self.name, sums.count);
            store.picture("saliency.png", |f| {
                plot::series_png(f, &title, "mean α_μ (± std over trajectories)", &self.times, &a_mean, &a_std, p)
            })?;
        }
        if let Some(e) = l.energy_index() {
            store.npy("energy_mean.npy", &[tu], l.columns(&mean_q, e..e + 1))?;
            store.npy("energy_std.npy", &[tu], l.columns(&std_q, e..e + 1))?;
        }
        store.sums = self.sums;
        Ok(())
    }

    fn merge(mut self: Box<Self>, shards: &[Shard], store: &mut Store) -> Result<()> {
        let want = [self.sums.saves as u64, self.layout.q() as u64, SUMS as u64, 2];
        for s in shards {
            let mut part = OverlapSums::new(self.sums.saves, self.layout.q());
            part.set_words(&s.read_shaped::<u64>(SUMS_FILE, &want)?);
            part.count = s.count;
            self.sums.merge(&part).map_err(|e| {
                UsageError::new(
                    Input::Dir,
                    format!("{}: its {SUMS_FILE} cannot be added exactly: {e}", s.dir.display()),
                )
            })?;
        }
        self.finish(store)
    }
}
