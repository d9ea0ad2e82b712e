//! Writers: atomic files (write to a hidden temporary name, then rename), NPY arrays (whole or
//! streamed row by row), JSON, and the PNG pictures.

pub mod plot;

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
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all().ok();
        drop(file);
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.dest.display()))
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
    f.writer().write_all(bytes)?;
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
            .begin_nd()?;
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
        w.extend(data.iter().copied())?;
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
        self.writer.take().expect("not finished").finish()?;
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot rename {} to {}", self.tmp.display(), self.dest.display()))
    }
}

impl<T: npyz::AutoSerialize> Drop for NpyStream<T> {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Makes `dir` ready for outputs: created if missing; refused if it holds anything and
/// `force` is false.
pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<(), String> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(format!("'{}' exists and is not a directory", dir.display()));
        }
        let non_empty =
            std::fs::read_dir(dir).map_err(|e| format!("cannot read '{}': {e}", dir.display()))?.next().is_some();
        if non_empty && !force {
            return Err(format!(
                "--out: '{}' is not empty; choose another directory or pass --force to overwrite",
                dir.display()
            ));
        }
    } else {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create '{}': {e}", dir.display()))?;
    }
    Ok(())
}
