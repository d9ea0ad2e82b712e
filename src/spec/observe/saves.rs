//! What one save of one trajectory holds: the one definition of the per-save layout that the
//! backends fill, the kernels index and the outputs take apart.

use std::ops::Range;

/// Quantities per save and trajectory, in order: the P overlaps, then the energy if observed,
/// then (modern model) the memory layer y and the saliencies α, P each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveLayout {
    pub p: usize,
    pub energy: bool,
    pub layers: bool,
}

impl SaveLayout {
    /// Values per save (Q).
    pub fn q(&self) -> usize {
        self.p + self.energy as usize + if self.layers { 2 * self.p } else { 0 }
    }

    pub fn overlaps(&self) -> Range<usize> {
        0..self.p
    }

    /// Index of the energy.
    pub fn energy_index(&self) -> Option<usize> {
        self.energy.then_some(self.p)
    }

    /// Index of y_0 (the modern model's memory layer); α follows y.
    pub fn y_first(&self) -> usize {
        self.p + self.energy as usize
    }

    pub fn memory_layer(&self) -> Option<Range<usize>> {
        self.layers.then(|| self.y_first()..self.y_first() + self.p)
    }

    /// What quantity q of a save is, in words.
    pub fn name(&self, q: usize) -> String {
        if self.overlaps().contains(&q) {
            format!("the overlap m_{q}")
        } else if self.energy_index() == Some(q) {
            "the energy".into()
        } else if let Some(y) = self.memory_layer().filter(|y| y.contains(&q)) {
            format!("the memory layer y_{}", q - y.start)
        } else {
            format!("the saliency α_{}", q - self.saliency().map_or(0, |a| a.start))
        }
    }

    pub fn saliency(&self) -> Option<Range<usize>> {
        self.layers.then(|| self.y_first() + self.p..self.y_first() + 2 * self.p)
    }

    /// One column range of every save in rows of Q values.
    pub fn columns(&self, rows: &[f32], r: Range<usize>) -> Vec<f32> {
        rows.chunks(self.q()).flat_map(|row| row[r.clone()].iter().copied()).collect()
    }
}
