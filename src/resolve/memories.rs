//! The `memories` section: sizes, Hadamard columns, explicit rows and NPY files, checked and
//! turned into [`Memories`].

use std::path::Path;

use super::limits::{MAX_N, MAX_P};
use crate::error::{SpecError, SpecResult};
use crate::plan::memories::{Memories, hadamard_entry, random_entry};
use crate::spec::MemoriesSpec;

fn check_sizes(n: usize, p: usize, field: &str) -> SpecResult<()> {
    if n == 0 || n > MAX_N {
        return Err(SpecError::new(format!("{field}.n"), format!("{n} is out of range; accepted: 1 to {MAX_N}")));
    }
    if p == 0 || p > MAX_P {
        return Err(SpecError::new(format!("{field}.p"), format!("{p} is out of range; accepted: 1 to {MAX_P}")));
    }
    Ok(())
}

/// The memories of a spec; `base_dir` resolves a file path.
pub fn build(spec: &MemoriesSpec, base_dir: &Path) -> SpecResult<Memories> {
    match spec {
        MemoriesSpec::Hadamard { n, p, columns } => hadamard(*n, *p, columns.as_deref()),
        MemoriesSpec::Random { n, p, seed } => random(*n, *p, *seed),
        MemoriesSpec::Explicit { patterns } => explicit(patterns),
        MemoriesSpec::File { path } => file(&base_dir.join(path)),
    }
}

/// Sylvester–Hadamard columns (`columns`, default 0..P).
fn hadamard(n: usize, p: usize, columns: Option<&[usize]>) -> SpecResult<Memories> {
    check_sizes(n, p, "memories")?;
    if !n.is_power_of_two() {
        return Err(SpecError::new(
            "memories.n",
            format!("{n} is not a power of two (Hadamard memories need N = 1, 2, 4, 8, ...)"),
        ));
    }
    if p > n {
        return Err(SpecError::new("memories.p", format!("{p} exceeds N = {n}; a Hadamard matrix has only N columns")));
    }
    let cols: Vec<usize> = match columns {
        None => (0..p).collect(),
        Some(c) => {
            if c.len() != p {
                return Err(SpecError::new(
                    "memories.columns",
                    format!("has {} entries; it must have p = {p}", c.len()),
                ));
            }
            for (k, &col) in c.iter().enumerate() {
                if col >= n {
                    return Err(SpecError::new(
                        format!("memories.columns[{k}]"),
                        format!("column {col} does not exist; accepted: 0 to {}", n - 1),
                    ));
                }
                if c[..k].contains(&col) {
                    return Err(SpecError::new(
                        format!("memories.columns[{k}]"),
                        format!("column {col} is repeated; memories must be distinct"),
                    ));
                }
            }
            c.to_vec()
        }
    };
    let mut xi = vec![0f32; n * p];
    for i in 0..n {
        for (mu, &c) in cols.iter().enumerate() {
            xi[i * p + mu] = hadamard_entry(i, c);
        }
    }
    Ok(Memories { n, p, xi })
}

/// The memories' Gram matrix G[a][b] = ξ^a·ξ^b / N (`Memories::gram`). Distinct
/// Sylvester–Hadamard columns are orthogonal, so theirs is exactly the identity, given without
/// `Memories::gram`'s O(P²N/64) work (6 s at N = 2²⁰, P = 512).
pub fn gram(spec: &MemoriesSpec, memories: &Memories) -> Vec<f64> {
    if !matches!(spec, MemoriesSpec::Hadamard { .. }) {
        return memories.gram();
    }
    let p = memories.p;
    (0..p * p).map(|k| if k / p == k % p { 1.0 } else { 0.0 }).collect()
}

/// Seeded fair ±1 entries.
fn random(n: usize, p: usize, seed: u64) -> SpecResult<Memories> {
    check_sizes(n, p, "memories")?;
    let mut xi = vec![0f32; n * p];
    for i in 0..n {
        for mu in 0..p {
            xi[i * p + mu] = random_entry(seed, i, mu);
        }
    }
    Ok(Memories { n, p, xi })
}

/// P explicit rows of N entries ±1.
fn explicit(patterns: &[Vec<f64>]) -> SpecResult<Memories> {
    if patterns.is_empty() {
        return Err(SpecError::new("memories.patterns", "is empty; give P rows of N entries ±1"));
    }
    let n = patterns[0].len();
    check_sizes(n, patterns.len(), "memories").map_err(|e| SpecError::new("memories.patterns", e.message))?;
    let mut rows = Vec::with_capacity(patterns.len());
    for (mu, row) in patterns.iter().enumerate() {
        if row.len() != n {
            return Err(SpecError::new(
                format!("memories.patterns[{mu}]"),
                format!("has {} entries; every row must have N = {n}", row.len()),
            ));
        }
        if let Some(i) = row.iter().position(|&v| v != 1.0 && v != -1.0) {
            return Err(SpecError::new(
                format!("memories.patterns[{mu}][{i}]"),
                format!("{} is not accepted; entries must be 1 or -1", row[i]),
            ));
        }
        rows.push(row.iter().map(|&v| v as f32).collect::<Vec<f32>>());
    }
    Ok(Memories::from_patterns(&rows))
}

/// An NPY file [P, N] of ±1.
fn file(full: &Path) -> SpecResult<Memories> {
    let (shape, data) = read_npy_f64(full)
        .map_err(|e| SpecError::new("memories.path", format!("cannot read '{}': {e}", full.display())))?;
    if shape.len() != 2 {
        return Err(SpecError::new(
            "memories.path",
            format!("'{}' has shape {shape:?}; it must be 2-D [P, N]", full.display()),
        ));
    }
    let (p, n) = (shape[0] as usize, shape[1] as usize);
    check_sizes(n, p, "memories")
        .map_err(|e| SpecError::new("memories.path", format!("'{}': {}", full.display(), e)))?;
    if let Some(k) = data.iter().position(|&v| v != 1.0 && v != -1.0) {
        return Err(SpecError::new(
            "memories.path",
            format!("'{}' entry [{}, {}] is {}; entries must be 1 or -1", full.display(), k / n, k % n, data[k]),
        ));
    }
    let rows: Vec<Vec<f32>> = data.chunks(n).map(|r| r.iter().map(|&v| v as f32).collect()).collect();
    Ok(Memories::from_patterns(&rows))
}

/// Reads an NPY array of any integer or float dtype as f64 (C order only).
pub fn read_npy_f64(path: &Path) -> Result<(Vec<u64>, Vec<f64>), String> {
    // At most MAX_P × MAX_N values of 8 bytes, and a header.
    let bytes = crate::io::read_bounded(path, (MAX_P * MAX_N * 8 + (1 << 16)) as u64)?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| format!("not an NPY file ({e})"))?;
    if !crate::io::npy_claim_fits(&npy, bytes.len()) {
        return Err(format!("its header claims shape {:?}, more than the file holds", npy.shape()));
    }
    if npy.order() != npyz::Order::C {
        return Err("Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into());
    }
    let shape = npy.shape().to_vec();
    let dtype = match npy.dtype() {
        npyz::DType::Plain(ts) => ts.to_string(),
        other => return Err(format!("unsupported dtype {other:?}")),
    };
    let err = |e: std::io::Error| e.to_string();
    let data: Vec<f64> = match &dtype[1..] {
        "f8" => npy.into_vec::<f64>().map_err(err)?,
        "f4" => npy.into_vec::<f32>().map_err(err)?.into_iter().map(f64::from).collect(),
        "i1" => npy.into_vec::<i8>().map_err(err)?.into_iter().map(f64::from).collect(),
        "i2" => npy.into_vec::<i16>().map_err(err)?.into_iter().map(f64::from).collect(),
        "i4" => npy.into_vec::<i32>().map_err(err)?.into_iter().map(f64::from).collect(),
        "i8" => npy.into_vec::<i64>().map_err(err)?.into_iter().map(|v| v as f64).collect(),
        "u1" => npy.into_vec::<u8>().map_err(err)?.into_iter().map(f64::from).collect(),
        other => {
            return Err(format!("unsupported dtype '{other}'; accepted: int8/16/32/64, uint8, float32/64"));
        }
    };
    Ok((shape, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hadamard_columns_are_orthogonal() {
        let m = build(&MemoriesSpec::Hadamard { n: 16, p: 5, columns: Some(vec![1, 3, 4, 7, 15]) }, Path::new("."))
            .unwrap();
        let g = m.gram();
        for a in 0..5 {
            for b in 0..5 {
                assert_eq!(g[a * 5 + b], if a == b { 1.0 } else { 0.0 });
            }
        }
        assert_eq!(m.pattern(0), (0..16).map(|i| hadamard_entry(i, 1)).collect::<Vec<_>>());
    }

    /// The Hadamard Gram matrix given in closed form is the one the products give, bit for bit,
    /// at every N up to 512 with default and scattered columns.
    #[test]
    fn the_hadamard_gram_matrix_is_the_products_gram_matrix() {
        for log_n in 0..=9 {
            let n = 1usize << log_n;
            for p in [1, n.min(3), n.min(17), n] {
                let scattered: Vec<usize> = (0..p).map(|k| (k * 37 + n / 2) % n).collect();
                let mut distinct = scattered.clone();
                distinct.sort_unstable();
                distinct.dedup();
                for columns in [None, (distinct.len() == p).then_some(scattered)] {
                    let spec = MemoriesSpec::Hadamard { n, p, columns };
                    let m = build(&spec, Path::new(".")).unwrap();
                    let bits = |g: Vec<f64>| g.into_iter().map(f64::to_bits).collect::<Vec<_>>();
                    assert_eq!(bits(gram(&spec, &m)), bits(m.gram()), "N = {n}, P = {p}, {spec:?}");
                }
            }
        }
    }

    #[test]
    fn random_memories_are_fair_and_seeded() {
        let a = build(&MemoriesSpec::Random { n: 4096, p: 3, seed: 5 }, Path::new(".")).unwrap();
        let b = build(&MemoriesSpec::Random { n: 4096, p: 3, seed: 5 }, Path::new(".")).unwrap();
        let c = build(&MemoriesSpec::Random { n: 4096, p: 3, seed: 6 }, Path::new(".")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        // Mean of 12 288 fair ±1 entries: |mean| < 5/sqrt(12288) = 0.045 except with prob < 1e-6.
        let mean: f32 = a.xi.iter().sum::<f32>() / a.xi.len() as f32;
        assert!(mean.abs() < 0.045, "mean {mean}");
        // Prefix property: memory μ does not depend on N.
        let d = build(&MemoriesSpec::Random { n: 100, p: 3, seed: 5 }, Path::new(".")).unwrap();
        assert_eq!(d.pattern(2)[..], a.pattern(2)[..100]);
    }
}
