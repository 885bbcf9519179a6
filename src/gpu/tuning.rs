//! The kernel-tuning cache: for each (adapter, kernel shape), which variant was fastest and how long
//! each candidate took. `kernels::tune` does the timing; this module only keeps and persists the
//! results, as cuDNN's find mode and Burn's autotune keep theirs.
//!
//! On disk it is one JSON file (by default `<user cache dir>/lstm-transfer/tuning.json`):
//! `{"format": 1, "kernels": "<hash of the WGSL sources>", "entries": {"<adapter> | <shape>": record}}`.
//! A file written for other kernel sources (another version of this crate), or one that cannot be
//! read or parsed, is ignored with a note ([`Tuning::notes`]) and rewritten at the next save. Saves
//! re-read the file and merge, and each write is atomic; processes tuning side by side without a lock
//! can still drop each other's newest entries (those shapes are timed again on a later run).
//! In a browser (wasm32) tuning is always off: nothing there may block, and it has no file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use super::SHADER_FAMILIES;

/// When kernel variants are timed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum TuneMode {
    /// Use the cached winner; time the variants of a shape the cache lacks, and save the result.
    Cached,
    /// Time every shape again, ignoring (and then updating) the cache.
    Force,
    /// Time nothing: a fixed rule per adapter type picks the variant. The library's default, so that
    /// a run's kernels (and so its last bits) never depend on a timing.
    #[default]
    Off,
}

/// One candidate's measured times, in milliseconds (GPU timestamps where the adapter has them, else
/// wall clock).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// The variant's short name (e.g. "slices", "blocked").
    pub variant: String,
    /// Its time at the screening size (a smaller instance of the shape, timed once).
    pub screen_ms: f64,
    /// Its best time at the tuned size; `None` where screening dropped it (much slower than the best)
    /// or it failed.
    pub ms: Option<f64>,
    /// Why its results cannot be used on this adapter, where they cannot (the persistent LSTM
    /// kernel's workgroups did not all run at once): it never wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// The outcome of tuning one shape.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TuneRecord {
    /// The fastest candidate's name.
    pub winner: String,
    /// Every candidate timed, in the order they ran.
    pub candidates: Vec<Candidate>,
}

impl TuneRecord {
    /// The record of these timings: the winner is the fastest at the tuned size (the first on a tie)
    /// of those that did not fail.
    pub fn from_candidates(candidates: Vec<Candidate>) -> Option<Self> {
        let usable = candidates.iter().filter(|c| c.failed.is_none());
        let best = usable.filter_map(|c| Some((c, c.ms?))).min_by(|a, b| a.1.total_cmp(&b.1))?.0;
        Some(Self { winner: best.variant.clone(), candidates })
    }
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct CacheFile {
    format: u32,
    kernels: String,
    entries: BTreeMap<String, TuneRecord>,
}

const FORMAT: u32 = 1;

/// Called with each note about the cache file as it arises (the command line prints them).
pub type NoteReporter = Box<dyn Fn(&str) + Send + Sync>;

/// The tuning state of one [`super::GpuContext`]: its mode, its cache file and what is known so far.
#[derive(Default)]
pub struct Tuning {
    mode: TuneMode,
    path: Option<PathBuf>,
    /// The records known; `None` until first needed (in cached mode the file is read then).
    entries: Mutex<Option<BTreeMap<String, TuneRecord>>>,
    notes: Mutex<Vec<String>>,
    reporter: Option<NoteReporter>,
}

/// `<user cache dir>/lstm-transfer/tuning.json` (`$XDG_CACHE_HOME` or `~/.cache` on Linux), where the
/// platform has one.
pub fn default_cache_path() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("lstm-transfer").join("tuning.json"))
}

/// A hash of every kernel source, computed once: a cache written for other kernels is not trusted.
fn kernels_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let mut hasher = Sha256::new();
        for family in SHADER_FAMILIES {
            hasher.update(family.source().as_bytes());
        }
        hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    })
}

impl Tuning {
    /// Tuning in `mode`, persisted in `path` (`None`: kept for this process only). In
    /// [`TuneMode::Cached`] the file is read when the first shape is looked up. Always off in a browser.
    pub fn new(mode: TuneMode, path: Option<PathBuf>) -> Self {
        let mode = if cfg!(target_arch = "wasm32") { TuneMode::Off } else { mode };
        Self { mode, path, ..Default::default() }
    }

    /// This tuning with `reporter` called on each note as it arises (see [`Tuning::notes`]).
    pub fn reporting(mut self, reporter: NoteReporter) -> Self {
        self.reporter = Some(reporter);
        self
    }

    /// The mode.
    pub fn mode(&self) -> TuneMode {
        self.mode
    }

    /// The cache file, if results are persisted.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// What went wrong with the cache file (unreadable, corrupt, written for other kernels, not
    /// writable), for the command line to print; tuning goes on without it.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }

    /// The record of `key`, if known (tuned in this process, or in the file in cached mode).
    pub fn get(&self, key: &str) -> Option<TuneRecord> {
        self.with_entries(|entries| entries.get(key).cloned())
    }

    /// Every record known, by key.
    pub fn records(&self) -> BTreeMap<String, TuneRecord> {
        self.with_entries(|entries| entries.clone())
    }

    fn with_entries<T>(&self, f: impl FnOnce(&mut BTreeMap<String, TuneRecord>) -> T) -> T {
        let mut entries = self.entries.lock().unwrap();
        let entries = entries.get_or_insert_with(|| if self.mode == TuneMode::Cached { self.read_file() } else { BTreeMap::new() });
        f(entries)
    }

    /// Keeps `record` for `key` and saves it to the cache file (merged with what the file holds now).
    pub fn insert(&self, key: &str, record: TuneRecord) {
        self.with_entries(|entries| entries.insert(key.to_string(), record.clone()));
        if let Some(path) = &self.path {
            let mut entries = self.read_file();
            entries.insert(key.to_string(), record);
            let file = CacheFile { format: FORMAT, kernels: kernels_hash().to_string(), entries };
            let written = serde_json::to_vec_pretty(&file)
                .map_err(|e| e.to_string())
                .and_then(|bytes| crate::fsutil::write_atomic(path, &bytes).map_err(|e| e.to_string()));
            if let Err(e) = written {
                self.note(format!("could not save the tuning cache {}: {e}", path.display()));
            }
        }
    }

    /// Records a note (and reports it, once) about the cache or a shape that could not be tuned.
    pub fn note(&self, note: String) {
        let mut notes = self.notes.lock().unwrap();
        if !notes.contains(&note) {
            if let Some(report) = &self.reporter {
                report(&note);
            }
            notes.push(note);
        }
    }

    /// The file's entries; empty (with a note) where it is missing, unreadable, corrupt or stale.
    fn read_file(&self) -> BTreeMap<String, TuneRecord> {
        let Some(path) = self.path.as_deref().filter(|p| p.exists()) else { return BTreeMap::new() };
        // Read as any input is: a regular file within the input limit (`--tune-cache /dev/zero`
        // must not read forever).
        let bytes = match crate::fsutil::read_file(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.note(format!("ignoring the tuning cache: {e}"));
                return BTreeMap::new();
            }
        };
        match serde_json::from_slice::<CacheFile>(&bytes) {
            Ok(file) if file.format == FORMAT && file.kernels == kernels_hash() => file.entries,
            Ok(_) => {
                self.note(format!("the tuning cache {} was written for other kernels; its shapes are timed again", path.display()));
                BTreeMap::new()
            }
            Err(e) => {
                self.note(format!("ignoring the tuning cache {} (not a tuning cache: {e}); it will be rewritten", path.display()));
                BTreeMap::new()
            }
        }
    }
}

/// The adapter part of a cache key: name, backend and driver, so a driver update re-tunes.
pub fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!("{} / {:?} / {} {}", info.name, info.backend, info.driver, info.driver_info)
}
