//! Sharding the experiment's grid over processes or machines (a Slurm array, a Kubernetes Indexed
//! Job): shard K/N owns every N-th run of the grid (targets × budgets × seeds × methods, in the order
//! an unsharded run takes them), writes its runs to `results-shard-K-of-N.json` beside the shared
//! source model, and [`merge`] puts the shards back in the unsharded order — refusing a shard that is
//! missing, given twice, unfinished, or run on another configuration.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{ExperimentConfig, RunResult};
use crate::error::{Error, Result};
use crate::fsutil::{read_file, read_utf8, write_atomic};

/// Slice `index` (1-based) of `count` disjoint slices of the grid; written `K/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "ShardFields")]
pub struct Shard {
    /// Which slice, from 1.
    pub index: usize,
    /// How many slices.
    pub count: usize,
}

/// A shard as a results file writes it, checked by [`Shard::new`] when read.
#[derive(serde::Deserialize)]
struct ShardFields {
    index: usize,
    count: usize,
}

impl TryFrom<ShardFields> for Shard {
    type Error = Error;
    fn try_from(f: ShardFields) -> Result<Self> {
        Shard::new(f.index, f.count)
    }
}

impl Shard {
    /// The whole grid.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Slice `index` of `count`; refuses 0 and an index past the count.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index == 0 || index > count {
            return Err(Error::InvalidInput(format!("shard {index}/{count}: expected K/N with 1 <= K <= N")));
        }
        Ok(Self { index, count })
    }

    /// Whether the run at `position` of the grid is this slice's (round robin, so every slice gets
    /// a share of each method and budget).
    pub fn owns(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// The slice's results file in the experiment's output directory.
    pub fn file_name(self) -> String {
        format!("results-shard-{}-of-{}.json", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidInput(format!("shard '{s}': expected K/N, e.g. 2/8 (the 2nd of 8 slices)"));
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        Shard::new(k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?)
    }
}

/// The runs of the grid in the unsharded order: one (target, budget, seed, method) per position.
pub fn grid_size(cfg: &ExperimentConfig) -> usize {
    cfg.targets.len() * cfg.budgets.len() * cfg.seeds.len() * cfg.methods.len()
}

/// What a shard writes: its runs with their positions in the grid, and what they ran on.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ShardResults {
    /// Which slice.
    pub shard: Shard,
    /// The adapter(s) it ran on (`GpuContext::adapter_line`; `; `-separated when resumed elsewhere).
    pub adapter: String,
    /// The configuration it ran (merged shards must share it).
    pub config: ExperimentConfig,
    /// SHA-256 of the source model's file the runs started from (merged shards must share it).
    pub source_sha256: String,
    /// Position in the grid of each run, ascending.
    pub positions: Vec<usize>,
    /// The runs, parallel to `positions`.
    pub runs: Vec<RunResult>,
}

impl ShardResults {
    /// Reads a shard's results file (its configuration checked as a TOML one is).
    pub fn load(path: &Path) -> Result<Self> {
        let file_error = |message: String| Error::File { path: path.into(), message };
        let results: Self = serde_json::from_str(&read_utf8(path)?).map_err(|e| file_error(format!("not a shard's results file ({e})")))?;
        results.config.validate().map_err(|e| file_error(format!("its configuration: {e}")))?;
        Ok(results)
    }

    /// Writes it atomically (a shard killed mid-write leaves the previous version).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, serde_json::to_string_pretty(self).expect("shard results serialize").as_bytes())
    }

    /// The positions this shard runs, in order.
    pub fn expected_positions(&self) -> Vec<usize> {
        (0..grid_size(&self.config)).filter(|&p| self.shard.owns(p)).collect()
    }

    /// Whether `other` ran the same grid from the same source model.
    pub fn same_experiment(&self, other: &ShardResults) -> bool {
        let config = |r: &ShardResults| serde_json::to_value(&r.config).expect("configs serialize");
        self.source_sha256 == other.source_sha256 && config(self) == config(other)
    }
}

/// SHA-256 of a file's bytes, in hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest;
    Ok(sha2::Sha256::digest(read_file(path)?).iter().map(|b| format!("{b:02x}")).collect())
}

/// The shards' results files in `dirs` (files given directly are taken as they are), sorted.
pub fn find_shard_files(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for dir in dirs {
        if dir.is_file() {
            files.push(dir.clone());
            continue;
        }
        let entries = std::fs::read_dir(dir).map_err(|e| Error::File { path: dir.clone(), message: e.to_string() })?;
        for entry in entries {
            let path = entry.map_err(|e| Error::File { path: dir.clone(), message: e.to_string() })?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with("results-shard-") && name.ends_with(".json") {
                files.push(path);
            }
        }
    }
    files.sort();
    if files.is_empty() {
        let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        return Err(Error::InvalidInput(format!("no results-shard-K-of-N.json in {}", dirs.join(", "))));
    }
    Ok(files)
}

/// The merged experiment: every run in the unsharded order, and the adapter(s) they ran on.
pub struct Merged {
    /// The configuration every shard ran.
    pub config: ExperimentConfig,
    /// Adapters, `; `-separated when the shards ran on different ones.
    pub adapter: String,
    /// All runs, in the order an unsharded run would have produced them.
    pub runs: Vec<RunResult>,
}

/// Merges the shards' results files: all N slices present once, each finished, all on one
/// configuration and source model, every run where its position says (target, seed, method).
pub fn merge(files: &[PathBuf]) -> Result<Merged> {
    let shards: Vec<(PathBuf, ShardResults)> = files.iter().map(|f| Ok((f.clone(), ShardResults::load(f)?))).collect::<Result<_>>()?;
    let (first_path, first) = shards.first().ok_or_else(|| Error::InvalidInput("no shard results to merge".into()))?;
    let count = first.shard.count;
    let mut owner: Vec<Option<&Path>> = vec![None; count];
    let file_error = |path: &Path, message: String| Error::File { path: path.into(), message };
    for (path, s) in &shards {
        if s.shard.count != count {
            return Err(file_error(
                path,
                format!("is shard {} but {} is shard {}: merge one split of the grid", s.shard, first_path.display(), first.shard),
            ));
        }
        if !s.same_experiment(first) {
            return Err(file_error(path, format!("ran another configuration or source model than {}", first_path.display())));
        }
        if let Some(other) = owner[s.shard.index - 1].replace(path) {
            return Err(file_error(path, format!("is shard {} and so is {}", s.shard, other.display())));
        }
        let expected = s.expected_positions();
        let ascending = s.positions.windows(2).all(|w| w[0] < w[1]);
        if s.positions.len() != s.runs.len() || !ascending || !s.positions.iter().all(|p| expected.contains(p)) {
            return Err(file_error(path, format!("its runs are not shard {}'s positions in the grid", s.shard)));
        }
        if s.positions != expected {
            return Err(file_error(
                path,
                format!(
                    "shard {} has {} of its {} runs: it has not finished (rerun it with --resume)",
                    s.shard,
                    s.positions.len(),
                    expected.len()
                ),
            ));
        }
    }
    if let Some(missing) = owner.iter().position(Option::is_none) {
        let shard = Shard { index: missing + 1, count };
        return Err(Error::InvalidInput(format!("shard {shard} is missing (no {} among the files given)", shard.file_name())));
    }
    let mut placed: Vec<(usize, &RunResult, &Path)> =
        shards.iter().flat_map(|(path, s)| s.positions.iter().zip(&s.runs).map(move |(&p, r)| (p, r, path.as_path()))).collect();
    placed.sort_by_key(|(p, ..)| *p);
    for &(position, r, path) in &placed {
        let (target, seed, method) = grid_cell(&first.config, position);
        if r.target != target || r.seed != seed || r.method != method {
            return Err(file_error(
                path,
                format!(
                    "run at grid position {position} is {} seed {} {}, expected {target} seed {seed} {method}",
                    r.target, r.seed, r.method
                ),
            ));
        }
    }
    let mut adapters: Vec<&str> = Vec::new();
    for (_, s) in &shards {
        if !adapters.contains(&s.adapter.as_str()) {
            adapters.push(&s.adapter);
        }
    }
    Ok(Merged { config: first.config.clone(), adapter: adapters.join("; "), runs: placed.into_iter().map(|(_, r, _)| r.clone()).collect() })
}

/// The target name, seed and method name of the run at `position` (the order of
/// [`super::run_grid`]: targets, then budgets, then seeds, then methods).
fn grid_cell(cfg: &ExperimentConfig, position: usize) -> (&str, u64, &str) {
    let m = position % cfg.methods.len();
    let s = position / cfg.methods.len() % cfg.seeds.len();
    let t = position / (cfg.methods.len() * cfg.seeds.len() * cfg.budgets.len());
    (&cfg.targets[t].name, cfg.seeds[s], cfg.methods[m].name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_grid_disjointly_and_parse_k_of_n() {
        let shards: Vec<Shard> = (1..=3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for p in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.owns(p)).count(), 1, "position {p}");
        }
        assert_eq!(Shard::WHOLE.to_string(), "1/1");
        for bad in ["0/3", "4/3", "1/0", "3", "a/b", ""] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("K/N"), "{bad}: {err}");
        }
        // A results file's shard is checked as it is read.
        assert!(serde_json::from_str::<Shard>(r#"{"index": 2, "count": 3}"#).is_ok());
        for bad in [r#"{"index": 0, "count": 3}"#, r#"{"index": 4, "count": 3}"#, r#"{"index": 1, "count": 0}"#] {
            assert!(serde_json::from_str::<Shard>(bad).is_err(), "{bad}");
        }
    }
}
