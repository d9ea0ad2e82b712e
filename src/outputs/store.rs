//! Where outputs go: [`Store`] writes files into a run directory, or keeps the same arrays and
//! documents in memory (what a library caller gets back). [`Shard`] reads one shard's files
//! back for `merge`, refusing anything missing or of the wrong shape with the file named.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::error::{Input, UsageError};
use crate::io::{self, NpyStream};
use crate::stats::OverlapSums;

/// The element types outputs are written in.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayData {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    I8(Vec<i8>),
    U32(Vec<u32>),
    U64(Vec<u64>),
}

/// An n-dimensional array in C order, as its NPY file holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<u64>,
    pub data: ArrayData,
}

/// A type an output array can hold.
pub trait Element: npyz::AutoSerialize + npyz::Deserialize + Copy {
    fn wrap(v: Vec<Self>) -> ArrayData;
    fn view(d: &ArrayData) -> Option<&[Self]>;
}

macro_rules! element {
    ($t:ty, $v:ident) => {
        impl Element for $t {
            fn wrap(v: Vec<Self>) -> ArrayData {
                ArrayData::$v(v)
            }
            fn view(d: &ArrayData) -> Option<&[Self]> {
                match d {
                    ArrayData::$v(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
element!(f32, F32);
element!(f64, F64);
element!(i32, I32);
element!(i8, I8);
element!(u32, U32);
element!(u64, U64);

/// A per-trajectory array filled chunk by chunk: streamed to its file, or kept in memory.
pub enum Column<T: Element> {
    Stream(NpyStream<T>),
    Memory(Vec<u64>, Vec<T>),
}

impl<T: Element> Column<T> {
    /// Takes the column out, leaving an empty one (a streamed file's temporary is removed).
    pub fn take(&mut self) -> Column<T> {
        std::mem::replace(self, Column::Memory(Vec::new(), Vec::new()))
    }

    pub fn push(&mut self, data: &[T]) -> Result<()> {
        match self {
            Column::Stream(s) => s.push(data),
            Column::Memory(_, v) => {
                v.extend_from_slice(data);
                Ok(())
            }
        }
    }
}

/// Outputs as they are finished: into a directory (files), or in memory (arrays named by their
/// file's stem, documents by their file name). `files` lists what was written, in order.
#[derive(Default)]
pub struct Store {
    dir: Option<PathBuf>,
    /// Pictures are not drawn (a checkpoint's chunk, whose arrays are merged later).
    no_pictures: bool,
    pub files: Vec<String>,
    pub arrays: Vec<(String, Array)>,
    pub docs: Vec<(String, Value)>,
    /// Sections of run.json contributed by outputs ("retrieval", "first_passage", "occupancy"),
    /// each under a key of its own that run.json's other fields do not use
    /// (`manifest::add_summaries` writes them all).
    pub summaries: serde_json::Map<String, Value>,
    /// The exact ensemble sums.
    pub sums: OverlapSums,
    /// What the outputs found, typed (a sweep's columns and the front ends' lines read them).
    pub findings: Findings,
    /// What the person should know about the outputs (a histogram that lost samples outside
    /// its range), said by [`Store::say_warnings`] once the run is complete, never for a run
    /// that fails.
    pub warnings: Vec<String>,
    /// Where the run's time went.
    pub timing: Timing,
}

/// What a run's outputs found, one value per type (an output's statistics, such as
/// `RetrievalStats`): put by the output that computed it, read by whoever knows the type (the
/// output's own sweep columns, a front end's summary line). Cloning shares the values.
#[derive(Clone, Default)]
pub struct Findings(Vec<std::sync::Arc<dyn std::any::Any + Send + Sync>>);

impl Findings {
    /// Keeps `value`, replacing an earlier value of its type.
    pub fn put<T: std::any::Any + Send + Sync>(&mut self, value: T) {
        self.0.retain(|v| !v.is::<T>());
        self.0.push(std::sync::Arc::new(value));
    }

    /// The value of type T, if an output put one.
    pub fn get<T: std::any::Any>(&self) -> Option<&T> {
        self.0.iter().find_map(|v| v.downcast_ref::<T>())
    }
}

impl std::fmt::Debug for Findings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Findings({} values)", self.0.len())
    }
}

/// Seconds spent building kernels and buffers, integrating (the chunk loop, delivery to the
/// outputs included) and writing the outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timing {
    pub setup_s: f64,
    pub integration_s: f64,
    pub writing_s: f64,
}

fn stem(file: &str) -> String {
    file.rsplit_once('.').map_or(file, |s| s.0).to_string()
}

impl Store {
    /// Files in `dir` (which the caller has prepared).
    pub fn dir(dir: &Path) -> Store {
        Store { dir: Some(dir.to_path_buf()), ..Default::default() }
    }

    /// Files in `dir`, without pictures.
    pub fn dir_without_pictures(dir: &Path) -> Store {
        Store { no_pictures: true, ..Store::dir(dir) }
    }

    /// Arrays and documents in memory.
    pub fn memory() -> Store {
        Store::default()
    }

    pub fn in_memory(&self) -> bool {
        self.dir.is_none()
    }

    /// Holds one part of a run (a checkpoint's chunk, merged later), not its final outputs.
    pub fn partial(&self) -> bool {
        self.no_pictures
    }

    /// Says the outputs' warnings (one line each on stderr, even under `--quiet`); called once
    /// the run is complete.
    pub fn say_warnings(&self) {
        for w in &self.warnings {
            crate::notice::warn(w);
        }
    }

    /// A whole array.
    pub fn npy<T: Element>(&mut self, file: &str, shape: &[u64], data: Vec<T>) -> Result<()> {
        match &self.dir {
            Some(d) => io::write_npy(&d.join(file), shape, &data)?,
            None => self.arrays.push((stem(file), Array { shape: shape.to_vec(), data: T::wrap(data) })),
        }
        self.files.push(file.to_string());
        Ok(())
    }

    /// A JSON document.
    pub fn json(&mut self, file: &str, value: Value) -> Result<()> {
        match &self.dir {
            Some(d) => io::write_json(&d.join(file), &value)?,
            None => self.docs.push((file.to_string(), value)),
        }
        self.files.push(file.to_string());
        Ok(())
    }

    /// A picture, drawn only into a directory.
    pub fn picture(&mut self, file: &str, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        if let Some(d) = self.dir.as_ref().filter(|_| !self.no_pictures) {
            draw(&d.join(file))?;
            self.files.push(file.to_string());
        }
        Ok(())
    }

    /// A per-trajectory array of `shape` to fill chunk by chunk.
    pub fn column<T: Element>(&self, file: &str, shape: &[u64]) -> Result<Column<T>> {
        Ok(match &self.dir {
            Some(d) => Column::Stream(NpyStream::create(&d.join(file), shape)?),
            None => Column::Memory(shape.to_vec(), Vec::new()),
        })
    }

    /// Completes a column.
    pub fn close<T: Element>(&mut self, file: &str, col: Column<T>) -> Result<()> {
        match col {
            Column::Stream(s) => s.finish()?,
            Column::Memory(shape, data) => self.arrays.push((stem(file), Array { shape, data: T::wrap(data) })),
        }
        self.files.push(file.to_string());
        Ok(())
    }

    /// An in-memory array that is not a file (raw values a caller may want); ignored in a
    /// directory.
    pub fn keep<T: Element>(&mut self, name: &str, shape: &[u64], data: Vec<T>) {
        if self.in_memory() {
            self.arrays.push((name.to_string(), Array { shape: shape.to_vec(), data: T::wrap(data) }));
        }
    }

    /// The in-memory array named `name` (a file's stem).
    pub fn array(&self, name: &str) -> Option<&Array> {
        self.arrays.iter().find(|a| a.0 == name).map(|a| &a.1)
    }

    /// The values of an in-memory array of element type T.
    pub fn values<T: Element>(&self, name: &str) -> Option<Vec<T>> {
        self.array(name).and_then(|a| T::view(&a.data)).map(<[T]>::to_vec)
    }

    pub fn f32(&self, name: &str) -> Option<Vec<f32>> {
        self.values(name)
    }

    /// The in-memory document `file`.
    pub fn doc(&self, file: &str) -> Option<&Value> {
        self.docs.iter().find(|d| d.0 == file).map(|d| &d.1)
    }
}

/// One shard directory of a sharded run, as merge reads it.
pub struct Shard {
    pub dir: PathBuf,
    pub run: Value,
    pub first: u64,
    pub count: u64,
    pub total: u64,
}

impl Shard {
    fn refuse(&self, file: &str, what: impl std::fmt::Display) -> anyhow::Error {
        UsageError::new(Input::Dir, format!("{}: {file} {what}", self.dir.display())).into()
    }

    /// An NPY array of this shard, with its shape.
    pub fn read<T: Element>(&self, file: &str) -> Result<(Vec<u64>, Vec<T>)> {
        let path = self.dir.join(file);
        let bytes = std::fs::read(&path).map_err(|e| self.refuse(file, format!("cannot be read ({e})")))?;
        let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| self.refuse(file, format!("is not an NPY file ({e})")))?;
        let shape = npy.shape().to_vec();
        let data: Vec<T> = npy.into_vec().map_err(|e| self.refuse(file, format!("has the wrong type ({e})")))?;
        Ok((shape, data))
    }

    /// An NPY array whose shape must be `want`.
    pub fn read_shaped<T: Element>(&self, file: &str, want: &[u64]) -> Result<Vec<T>> {
        let (shape, data) = self.read(file)?;
        if shape != want || data.len() as u64 != want.iter().product::<u64>() {
            return Err(self.refuse(file, format!("has shape {shape:?}; this run's shard needs {want:?}")));
        }
        Ok(data)
    }

    /// A JSON document of this shard.
    pub fn read_json(&self, file: &str) -> Result<Value> {
        let text = io::read_bounded(&self.dir.join(file), io::MAX_DOCUMENT_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(|_| "is not UTF-8 text".to_string()))
            .map_err(|e| self.refuse(file, format!("cannot be read: it {e}")))?;
        serde_json::from_str(&text).map_err(|e| self.refuse(file, format!("is not valid JSON ({e})")))
    }
}

/// Concatenates one per-trajectory array of every shard ([count, row…] each) into `file`.
pub fn concat<T: Element>(shards: &[Shard], file: &str, row: &[u64], store: &mut Store) -> Result<()> {
    let total: u64 = shards.iter().map(|s| s.count).sum();
    let shape: Vec<u64> = std::iter::once(total).chain(row.iter().copied()).collect();
    let mut col = store.column::<T>(file, &shape)?;
    for s in shards {
        let want: Vec<u64> = std::iter::once(s.count).chain(row.iter().copied()).collect();
        col.push(&s.read_shaped::<T>(file, &want)?)?;
    }
    store.close(file, col)
}
