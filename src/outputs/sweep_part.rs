//! What an output adds to a sweep: its columns of sweep.csv, its columns of report.md's table,
//! its pictures against the swept axes and its paragraphs. Each output with something to compare
//! across points implements [`SweepPart`] in its own file and reads its values from the points'
//! [`Findings`]; `outputs::sweep_parts` lists the parts in the order their columns appear, and
//! `crate::sweep` composes them (it knows the axes, the replicate networks and the pictures'
//! layout, and nothing of any observer).

use anyhow::Result;

use super::Findings;
use crate::io::plot::SweepLine;
use crate::plan::Plan;

/// A number of a finished point, for a picture or an aggregate over networks: (y, error-bar
/// low, error-bar high), or None where the point has no such value.
pub type Measure = dyn Fn(&Plan, &Findings) -> Option<(f64, f64, f64)>;

/// A sweep's points as a part sees them (implemented by `crate::sweep`).
pub trait SweepView {
    /// The sweep's name (its spec's).
    fn name(&self) -> &str;
    /// How many points; they are numbered 0.. in the order of sweep.csv's rows.
    fn points(&self) -> usize;
    fn plan(&self, point: usize) -> &Plan;
    /// The point's coordinates on the axes, as a reader finds it ("noise.sigma = 2").
    fn describe(&self, point: usize) -> String;
    /// What a finished point's outputs found; None for a point that failed.
    fn findings(&self, point: usize) -> Option<&Findings>;
    /// Networks per point when the sweep has replicate networks (`"replicates": K`).
    fn networks(&self) -> Option<usize>;
    /// With replicate networks, for every point: how many of its group's networks (the points
    /// that differ from it only in `replicate`) finished, and the mean of `measure` over those
    /// that have it with its standard error (None with fewer than two). None without.
    fn over_networks(&self, measure: &Measure) -> Option<Vec<NetworkValue>>;
    /// `measure` as lines against the first numeric axis (one line per combination of the other
    /// axes; with replicate networks, their mean ± 1 standard error), with that axis' index.
    /// None when no axis is numeric or no point has the measure.
    fn lines(&self, measure: &Measure) -> Option<(usize, Vec<SweepLine>)>;
    /// Draws `lines` against the axis `xa` into `file` beside the points' directories.
    fn draw(&self, file: &str, title: &str, y_desc: &str, xa: usize, lines: &[SweepLine], unit: bool) -> Result<()>;
}

/// A point's group of replicate networks: how many finished, and a measure's mean and standard
/// error over them.
pub type NetworkValue = (usize, Option<(f64, Option<f64>)>);

/// Columns of a table: their names and one row of cells per point (a point that failed gets
/// empty cells in sweep.csv and "—" in report.md, unless a cell aggregates over networks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Block {
    /// The cells of point `i` (none for a block without columns).
    pub fn row(&self, i: usize) -> &[String] {
        self.rows.get(i).map_or(&[], Vec::as_slice)
    }
}

/// A line picture of one measure against the first numeric axis, linked from report.md.
pub struct LinePicture {
    pub file: &'static str,
    /// The link's text in report.md.
    pub alt: &'static str,
    pub title: String,
    pub y_desc: &'static str,
    pub measure: Box<Measure>,
    /// The y axis is [0, 1].
    pub unit: bool,
}

/// Heat maps of two measures on [0, 1] over the first two numeric axes.
pub struct Heat {
    pub file: &'static str,
    /// What the maps show, in the title ("retrieval over x × y").
    pub what: &'static str,
    /// The upper map's measure and the lower one's.
    pub measures: [Box<Measure>; 2],
}

/// An output's share of a sweep. Every method has the whole sweep at hand, so that columns can
/// be the union over points (the largest P, every equilibrium's label).
pub trait SweepPart {
    /// Every file this part may write beside the points (a forced rerun removes them first).
    fn files(&self) -> &'static [&'static str] {
        &[]
    }

    /// Its columns of sweep.csv, after the point's status and trajectories.
    fn csv(&self, sweep: &dyn SweepView) -> Block;

    /// A paragraph for the report's set-up, from the first point's plan.
    fn setup(&self, _first: &Plan) -> Option<String> {
        None
    }

    /// Its line pictures, in the order report.md links them.
    fn pictures(&self, _sweep: &dyn SweepView) -> Vec<LinePicture> {
        Vec::new()
    }

    /// Its heat maps, when the sweep has two numeric axes.
    fn heat(&self) -> Option<Heat> {
        None
    }

    /// Its measures in the report's table over networks: (column name, measure).
    fn over_networks(&self) -> Vec<(&'static str, Box<Measure>)> {
        Vec::new()
    }

    /// Its columns of the report's table (one row per point).
    fn table(&self, _sweep: &dyn SweepView) -> Block {
        Block::default()
    }

    /// Paragraphs after the report's table (pictures it draws itself, with their text).
    fn notes(&self, _sweep: &dyn SweepView) -> Result<Option<String>> {
        Ok(None)
    }
}

/// A CSV cell: the number as Rust writes it, or empty.
pub fn cell(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}
