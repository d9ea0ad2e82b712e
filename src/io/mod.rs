//! Writers: atomic files (write to a hidden temporary name, then rename), NPY arrays (whole or
//! streamed row by row), JSON, and the PNG pictures.

pub mod plot;

use crate::error::{Input, UsageError, mention};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use npyz::WriterBuilder;

/// A file written under a temporary name in its final folder and renamed on `commit`, so a
/// crash never leaves a half-written file under the final name.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> Result<Self> {
        let name = dest.file_name().context("output path has no file name")?.to_string_lossy();
        let tmp = dest.with_file_name(format!(".{name}.tmp"));
        let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(AtomicFile { tmp, dest: dest.to_path_buf(), writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("not committed")
    }

    pub fn commit(mut self) -> Result<()> {
        let w = self.writer.take().expect("not committed");
        let file = w
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", self.dest.display()))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&self.tmp);
            })?;
        file.sync_all().ok();
        drop(file);
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.dest.display()))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&self.tmp);
            })
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes bytes atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.writer().write_all(bytes).with_context(|| format!("cannot write {}", dest.display()))?;
    f.commit()
}

pub fn write_json(dest: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(dest, text.as_bytes())
}

/// Writes a whole NPY array atomically.
pub fn write_npy<T: npyz::AutoSerialize + Copy>(dest: &Path, shape: &[u64], data: &[T]) -> Result<()> {
    let mut s = NpyStream::<T>::create(dest, shape)?;
    s.push(data)?;
    s.finish()
}

/// An NPY array written element by element in C order and committed at the end.
pub struct NpyStream<T: npyz::AutoSerialize> {
    writer: Option<npyz::NpyWriter<T, BufWriter<File>>>,
    tmp: PathBuf,
    dest: PathBuf,
    expected: u64,
    written: u64,
}

impl<T: npyz::AutoSerialize + Copy> NpyStream<T> {
    pub fn create(dest: &Path, shape: &[u64]) -> Result<Self> {
        let name = dest.file_name().context("output path has no file name")?.to_string_lossy();
        let tmp = dest.with_file_name(format!(".{name}.tmp"));
        let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        let writer = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(BufWriter::with_capacity(1 << 20, file))
            .begin_nd()
            .with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(NpyStream {
            writer: Some(writer),
            tmp,
            dest: dest.to_path_buf(),
            expected: shape.iter().product(),
            written: 0,
        })
    }

    pub fn push(&mut self, data: &[T]) -> Result<()> {
        let w = self.writer.as_mut().expect("not finished");
        w.extend(data.iter().copied()).with_context(|| format!("cannot write {}", self.dest.display()))?;
        self.written += data.len() as u64;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        anyhow::ensure!(
            self.written == self.expected,
            "internal error: {} holds {} values, its shape needs {}",
            self.dest.display(),
            self.written,
            self.expected
        );
        let finished = self
            .writer
            .take()
            .expect("not finished")
            .finish()
            .with_context(|| format!("cannot write {}", self.dest.display()));
        // Once the writer is taken, Drop no longer removes the temporary: do it on failure here.
        finished
            .and_then(|_| {
                std::fs::rename(&self.tmp, &self.dest)
                    .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.dest.display()))
            })
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&self.tmp);
            })
    }
}

impl<T: npyz::AutoSerialize> Drop for NpyStream<T> {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Largest spec or run.json read.
pub const MAX_DOCUMENT_BYTES: u64 = 64 << 20;

/// Reads a whole regular file of at most `max` bytes; anything else (a device such as
/// /dev/zero, a FIFO, a directory, a file too large) is refused before reading. The error
/// says what the file is; the caller names it.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("is not a regular file (a device, a FIFO or a directory)".into());
    }
    if meta.len() > max {
        return Err(format!("is {} bytes; at most {max} are read", meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path).and_then(|f| f.take(max + 1).read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        return Err(format!("grew beyond {max} bytes while being read"));
    }
    Ok(bytes)
}

/// Whether an NPY file of `file_bytes` can hold the data its header claims (checked before
/// anything is allocated for it).
pub fn npy_claim_fits<R: std::io::Read>(npy: &npyz::NpyFile<R>, file_bytes: usize) -> bool {
    let item = match npy.dtype() {
        npyz::DType::Plain(t) => t.num_bytes().unwrap_or(usize::MAX) as u128,
        _ => return false,
    };
    let count = npy.shape().iter().try_fold(1u128, |a, &d| a.checked_mul(d as u128));
    count.and_then(|c| c.checked_mul(item)).is_some_and(|b| b <= file_bytes as u128)
}

/// Takes the lock of an output directory (created if missing) for as long as the returned file
/// lives: a second idpsim writing into the same directory is refused instead of mixing its
/// files with the first one's. The lock is the operating system's (released when the process
/// ends, however it ends).
pub fn lock_dir(dir: &Path) -> Result<File, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
    let f = File::open(dir).map_err(|e| format!("cannot open '{}': {e}", dir.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "'{}' is being written by another idpsim process; wait for it to end or choose another directory",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock '{}': {e}", dir.display())),
    }
}

/// What a command writes into its output directory, for the words of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// A run (or a sweep): completed by a run.json written last, so a directory without one
    /// holds an interrupted run. `holds` describes what the directory holds when the caller
    /// knows better (a sweep's results).
    Run { holds: Option<&'static str> },
    /// Files (pictures, tables) with no record of their own.
    Files,
}

/// Makes `dir` ready for outputs: created if missing; refused if it holds anything and
/// `force` is false (a mistake about the output directory).
pub fn prepare_out_dir(dir: &Path, force: bool, writes: Writes) -> Result<(), UsageError> {
    let refuse = |m: String| UsageError::new(Input::Out, m);
    if dir.exists() {
        if !dir.is_dir() {
            return Err(refuse(format!("'{}' exists and is not a directory", dir.display())));
        }
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| refuse(format!("cannot read '{}': {e}", dir.display())))?
            .next()
            .is_some();
        if non_empty && !force {
            if let Writes::Run { holds: Some(holds) } = writes {
                return Err(refuse(format!(
                    "'{}' holds {holds}; choose another directory or pass {} to run it again",
                    dir.display(),
                    mention(&Input::Force)
                )));
            }
            if writes != Writes::Files && (dir.join("INCOMPLETE").exists() || !dir.join("run.json").exists()) {
                return Err(refuse(format!(
                    "'{}' holds an interrupted run (or files of another program): it has no complete run.json; choose another directory or pass {} to start again",
                    dir.display(),
                    mention(&Input::Force)
                )));
            }
            return Err(refuse(format!(
                "'{}' is not empty; choose another directory or pass {} to overwrite",
                dir.display(),
                mention(&Input::Force)
            )));
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| refuse(format!("cannot create '{}': {e}", dir.display())))?;
    }
    Ok(())
}
