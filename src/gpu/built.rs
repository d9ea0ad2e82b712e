//! A record of the kernels this machine's drivers have built, so that `--backend auto` knows
//! when a kernel build will be a cache hit (drivers keep compiled shaders on disk: Mesa's
//! shader cache, NVIDIA's and AMD's pipeline caches) and how long a build took here before.
//!
//! One text file, `built-kernels.txt`, in idpsim's cache directory: `$IDPSIM_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/idpsim`, else `~/.cache/idpsim` (`idpsim devices` prints it). Each line is
//! `KEY SECONDS CHECK`: the SHA-256 of the kernel source, its pipeline constants, the adapter
//! and its driver; the build's wall seconds; and the first 16 hex digits of the SHA-256 of the
//! rest of the line. Lines are appended with one write each (many processes of a Slurm array
//! may share one home directory); a line whose check does not match (a torn or edited line) is
//! ignored. `IDPSIM_CACHE=off` turns the record off: then every build counts as uncached.
//! Nothing in it changes a result; it only steers the choice of device.
//!
//! The same directory holds the pipeline caches (`pipelines/KEY.bin`, see [`load_pipelines`]):
//! what wgpu's `PipelineCache` gives back after a family's kernels were built, on adapters that
//! have one (Vulkan), so that a later process hands it to the driver.

use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

const FILE: &str = "built-kernels.txt";
/// The record starts again beyond this size.
const MAX_BYTES: u64 = 4 << 20;

/// The cache directory, or None when `IDPSIM_CACHE=off` or no home directory is known.
pub fn dir() -> Option<PathBuf> {
    if std::env::var("IDPSIM_CACHE").is_ok_and(|v| v.eq_ignore_ascii_case("off") || v == "0") {
        return None;
    }
    if let Some(d) = std::env::var_os("IDPSIM_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("idpsim"));
    }
    std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|h| PathBuf::from(h).join(".cache").join("idpsim"))
}

/// The key of one kernel set on one adapter and driver.
pub fn key(source: &str, constants: &str, info: &wgpu::AdapterInfo) -> String {
    let mut h = Sha256::new();
    for part in [source, constants, &info.name, &info.driver, &info.driver_info, &format!("{:?}", info.backend)] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn check(rest: &str) -> String {
    hex(&Sha256::digest(rest.as_bytes()))[..16].to_string()
}

/// Every intact entry: (key, seconds).
fn entries() -> Vec<(String, f64)> {
    let Some(d) = dir() else { return Vec::new() };
    let Ok(text) = std::fs::read_to_string(d.join(FILE)) else { return Vec::new() };
    text.lines()
        .filter_map(|line| {
            let (rest, sum) = line.rsplit_once(' ')?;
            if check(rest) != sum {
                return None;
            }
            let (key, secs) = rest.split_once(' ')?;
            Some((key.to_string(), secs.parse().ok()?))
        })
        .collect()
}

/// Seconds of the latest recorded build of `key`, if one is recorded (after a first build, a
/// later one is usually a driver-cache hit).
pub fn seen(key: &str) -> Option<f64> {
    entries().into_iter().rev().find(|(k, _)| k == key).map(|(_, s)| s)
}

/// Records a build of `key` that took `seconds`. Failures are logged, never fatal.
pub fn record(key: &str, seconds: f64) {
    let Some(d) = dir() else { return };
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&d)?;
        let path = d.join(FILE);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_BYTES) {
            std::fs::remove_file(&path)?;
        }
        let rest = format!("{key} {seconds:.3}");
        let line = format!("{rest} {}\n", check(&rest));
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        f.write_all(line.as_bytes())
    })();
    if let Err(e) = result {
        log::warn!("cannot record the kernel build in {}: {e}", d.display());
    }
}

/// The pipeline caches' folder in the cache directory.
pub const PIPELINES_DIR: &str = "pipelines";
/// The first bytes of a pipeline cache file: then the data's length (u64, little-endian), its
/// SHA-256, and the data.
const PIPELINES_MAGIC: &[u8; 8] = b"IDPSIMPC";
const PIPELINES_HEADER: usize = 8 + 8 + 32;

fn pipelines_path(key: &str) -> Option<PathBuf> {
    dir().map(|d| d.join(PIPELINES_DIR).join(format!("{key}.bin")))
}

/// The pipeline cache stored for `key` (a kernel family on one adapter and driver), if one is
/// stored whole: a file that is short, long, or whose checksum does not match (torn, edited) is
/// ignored, and the next build writes it again. The driver may still refuse the data (another
/// driver version): wgpu then starts from an empty cache (`fallback`).
pub fn load_pipelines(key: &str) -> Option<Vec<u8>> {
    let path = pipelines_path(key)?;
    let bytes = std::fs::read(&path).ok()?;
    let whole = bytes.len() >= PIPELINES_HEADER && &bytes[..8] == PIPELINES_MAGIC && {
        let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        len == (bytes.len() - PIPELINES_HEADER) as u64
            && Sha256::digest(&bytes[PIPELINES_HEADER..])[..] == bytes[16..48]
    };
    if !whole {
        log::warn!("ignoring a damaged pipeline cache {}; the kernels are built again", path.display());
        return None;
    }
    Some(bytes[PIPELINES_HEADER..].to_vec())
}

/// Stores the pipeline cache of `key`: written to a file of its own, then renamed over the
/// entry, so that processes sharing the directory (a Slurm array) never read a partial file.
/// Failures are logged, never fatal.
pub fn store_pipelines(key: &str, data: &[u8]) {
    let Some(path) = pipelines_path(key) else { return };
    let result = (|| -> std::io::Result<()> {
        let folder = path.parent().expect("in the cache directory");
        std::fs::create_dir_all(folder)?;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let tmp = folder.join(format!(".{key}.{}.{nanos}.tmp", std::process::id()));
        let mut bytes = Vec::with_capacity(PIPELINES_HEADER + data.len());
        bytes.extend_from_slice(PIPELINES_MAGIC);
        bytes.extend_from_slice(&(data.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&Sha256::digest(data));
        bytes.extend_from_slice(data);
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    })();
    if let Err(e) = result {
        log::warn!("cannot store the pipeline cache in {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_and_damaged_lines_ignored() {
        let tmp = std::env::temp_dir().join(format!("idpsim-built-{}", std::process::id()));
        // SAFETY: this test alone in the library's tests touches these variables.
        unsafe { std::env::set_var("IDPSIM_CACHE_DIR", &tmp) };
        record("aaaa", 12.5);
        record("bbbb", 0.2);
        assert_eq!(seen("aaaa"), Some(12.5));
        assert_eq!(seen("bbbb"), Some(0.2));
        assert_eq!(seen("cccc"), None);
        record("aaaa", 0.5);
        assert_eq!(seen("aaaa"), Some(0.5), "the latest build counts");
        // A torn line and an edited one are ignored; the intact ones still count.
        let path = tmp.join(FILE);
        let text = std::fs::read_to_string(&path).unwrap().replace("aaaa 0.500", "aaaa 1.500");
        std::fs::write(&path, format!("{text}cccc 3.0 12\ndddd 4.0")).unwrap();
        assert_eq!(seen("aaaa"), Some(12.5), "the edited line is ignored");
        assert_eq!(seen("bbbb"), Some(0.2));
        assert_eq!(seen("cccc"), None);
        unsafe { std::env::set_var("IDPSIM_CACHE", "off") };
        assert_eq!(seen("bbbb"), None);
        unsafe { std::env::remove_var("IDPSIM_CACHE") };
        // Pipeline caches: stored whole, read back; a torn or edited file is ignored.
        assert_eq!(load_pipelines("eeee"), None);
        store_pipelines("eeee", b"compiled pipelines");
        assert_eq!(load_pipelines("eeee").as_deref(), Some(&b"compiled pipelines"[..]));
        let file = tmp.join(PIPELINES_DIR).join("eeee.bin");
        let whole = std::fs::read(&file).unwrap();
        std::fs::write(&file, &whole[..whole.len() - 3]).unwrap();
        assert_eq!(load_pipelines("eeee"), None, "a torn file is ignored");
        let mut edited = whole.clone();
        *edited.last_mut().unwrap() ^= 1;
        std::fs::write(&file, &edited).unwrap();
        assert_eq!(load_pipelines("eeee"), None, "an edited file is ignored");
        store_pipelines("eeee", b"rebuilt");
        assert_eq!(load_pipelines("eeee").as_deref(), Some(&b"rebuilt"[..]));
        assert_eq!(std::fs::read_dir(tmp.join(PIPELINES_DIR)).unwrap().count(), 1, "no temporary file is left");
        unsafe { std::env::set_var("IDPSIM_CACHE", "off") };
        assert_eq!(load_pipelines("eeee"), None);
        unsafe { std::env::remove_var("IDPSIM_CACHE") };
        unsafe { std::env::remove_var("IDPSIM_CACHE_DIR") };
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
