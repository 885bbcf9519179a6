//! GPU acquisition: pick an adapter (or adopt a host application's device), and the shared pieces
//! every kernel launcher needs — buffers, the shader/pipeline cache, timestamp queries.

mod buffers;
mod shaders;
mod timestamps;
mod tuning;

pub use buffers::{Pending, View, f16_values, f16_words, grid_1d, read_buffer, read_staging, staging_buffer};
pub use shaders::{HalfBindings, SHADER_FAMILIES, ShaderFamily};
pub use timestamps::GpuTimer;
pub use tuning::{Candidate, TuneMode, TuneRecord, Tuning, adapter_key, default_cache_path};

use crate::config::Precision;
use crate::error::{Error, Result};
use shaders::PipelineCache;

/// A graphics API wgpu can run on, as the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Backend {
    /// Vulkan (Linux, Windows, Android; lavapipe without a GPU).
    Vulkan,
    /// Metal (macOS, iOS).
    Metal,
    /// Direct3D 12 (Windows).
    Dx12,
    /// OpenGL / OpenGL ES (the fallback).
    Gl,
}

impl Backend {
    /// wgpu's flag for this backend.
    pub fn flag(self) -> wgpu::Backends {
        match self {
            Self::Vulkan => wgpu::Backends::VULKAN,
            Self::Metal => wgpu::Backends::METAL,
            Self::Dx12 => wgpu::Backends::DX12,
            Self::Gl => wgpu::Backends::GL,
        }
    }
}

/// How to choose an adapter. Empty fields mean "any"; `from_env` reads `LSTM_TRANSFER_BACKEND`
/// (vulkan, metal, dx12, gl; comma-separated) and `LSTM_TRANSFER_ADAPTER` (part of the adapter name, or its whole
/// PCI bus id; case-insensitive).
#[derive(Clone, Debug, Default)]
pub struct AdapterChoice {
    /// Backends to consider; `None` allows all.
    pub backends: Option<wgpu::Backends>,
    /// Case-insensitive substring of the adapter's name, or its whole PCI bus id; `None` allows any.
    pub name: Option<String>,
}

impl AdapterChoice {
    /// Reads `LSTM_TRANSFER_BACKEND` and `LSTM_TRANSFER_ADAPTER`; unset or empty variables mean "any".
    pub fn from_env() -> Self {
        let backends = std::env::var("LSTM_TRANSFER_BACKEND").ok().filter(|s| !s.is_empty());
        let name = std::env::var("LSTM_TRANSFER_ADAPTER").ok().filter(|s| !s.is_empty());
        Self { backends: backends.map(|b| wgpu::Backends::from_comma_list(&b)), name }
    }

    /// Command-line values override the environment (an empty `backends` keeps it).
    pub fn with_overrides(mut self, backends: &[Backend], name: Option<&str>) -> Self {
        if !backends.is_empty() {
            self.backends = Some(backends.iter().fold(wgpu::Backends::empty(), |all, b| all | b.flag()));
        }
        if let Some(n) = name {
            self.name = Some(n.to_string());
        }
        self
    }

    /// The error when no adapter matches this choice, naming what was asked for.
    pub fn none_found(&self) -> Error {
        let detail = match (&self.backends, &self.name) {
            (None, None) => String::new(),
            (b, n) => format!(" matching backend {b:?} and name {n:?}"),
        };
        Error::NoAdapter { detail }
    }

    fn accepts(&self, info: &wgpu::AdapterInfo) -> bool {
        let backend_ok = self.backends.is_none_or(|b| b.contains(wgpu::Backends::from(info.backend)));
        // The PCI bus id (whole, as `lstm-transfer info` prints it) tells apart identical GPUs.
        let name_ok = self.name.as_ref().is_none_or(|n| {
            info.name.to_lowercase().contains(&n.to_lowercase())
                || (!info.device_pci_bus_id.is_empty() && info.device_pci_bus_id.eq_ignore_ascii_case(n))
        });
        backend_ok && name_ok
    }
}

/// What `lstm-transfer info` prints for one adapter.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// Name, vendor, device type, backend and driver.
    pub info: wgpu::AdapterInfo,
    /// Every feature the adapter supports.
    pub features: wgpu::Features,
    /// The adapter's best limits.
    pub limits: wgpu::Limits,
}

/// Every adapter wgpu can see on this machine, best first.
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters(choice: &AdapterChoice) -> Vec<AdapterSummary> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::all(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    adapters.retain(|a| choice.accepts(&a.get_info()));
    adapters.sort_by_key(|a| rank(&a.get_info()));
    adapters.iter().map(|a| AdapterSummary { info: a.get_info(), features: a.features(), limits: a.limits() }).collect()
}

/// Lower is better: real GPUs before software, Vulkan/Metal/DX12 before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let device = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let backend = if info.backend == wgpu::Backend::Gl { 1 } else { 0 };
    (backend, device)
}

/// The features that matter to lstm-transfer, requested whenever the adapter has them.
pub const USEFUL_FEATURES: &[(wgpu::Features, &str)] = &[
    (wgpu::Features::SHADER_F16, "SHADER_F16"),
    (wgpu::Features::SUBGROUP, "SUBGROUP"),
    (wgpu::Features::TIMESTAMP_QUERY, "TIMESTAMP_QUERY"),
    (wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS, "TIMESTAMP_QUERY_INSIDE_ENCODERS"),
];

/// A device and queue with the pipeline cache built on them. Cheap to share by reference; the
/// wgpu handles inside are reference-counted, so an embedding application keeps its own clones.
///
/// ```no_run
/// use lstm_transfer::{AdapterChoice, GpuContext};
///
/// // The best adapter (LSTM_TRANSFER_BACKEND / LSTM_TRANSFER_ADAPTER narrow the choice)…
/// let ctx = GpuContext::new(&AdapterChoice::from_env())?;
/// println!("training on {}", ctx.adapter_line());
/// // …or a device the application already owns (a renderer's), shared with the engine.
/// let shared = GpuContext::from_device(ctx.device.clone(), ctx.queue.clone(), ctx.info.clone());
/// assert_eq!(shared.info.name, ctx.info.name);
/// # Ok::<(), lstm_transfer::Error>(())
/// ```
pub struct GpuContext {
    /// The logical device every buffer and pipeline is created on.
    pub device: wgpu::Device,
    /// The device's queue, used for submits and buffer writes.
    pub queue: wgpu::Queue,
    /// The adapter the device was opened on.
    pub info: wgpu::AdapterInfo,
    /// The GEMM kernel this adapter runs where tuning is off; public so a kernel benchmark can switch it.
    pub gemm_kernel: GemmKernel,
    tuning: Tuning,
    precision: Precision,
    pipelines: PipelineCache,
    storage_bytes: std::sync::atomic::AtomicU64,
    setup_nanos: std::sync::atomic::AtomicU64,
    /// The exchange buffers of the persistent LSTM kernels that live models recorded on this
    /// context (weak: a dropped model's buffer is freed and forgotten); word 0 says whether one of
    /// their waits gave up ([`GpuContext::check_persistent`]).
    exchanges: std::sync::Mutex<Vec<std::sync::Weak<wgpu::Buffer>>>,
}

impl GpuContext {
    /// Opens the best adapter allowed by `choice`: Vulkan, Metal or DX12 first, GL as the fallback.
    /// Blocks; in a browser, where nothing may block, use [`GpuContext::new_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(choice: &AdapterChoice) -> Result<Self> {
        pollster::block_on(Self::new_async(choice))
    }

    /// [`GpuContext::new`] as a future: the way to open a device in a browser (WebGPU). Asks for
    /// every useful feature the adapter has and for the adapter's own limits (model size is bounded
    /// by these).
    pub async fn new_async(choice: &AdapterChoice) -> Result<Self> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::all(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let mut adapters: Vec<wgpu::Adapter> =
            instance.enumerate_adapters(wgpu::Backends::all()).await.into_iter().filter(|a| choice.accepts(&a.get_info())).collect();
        adapters.sort_by_key(|a| rank(&a.get_info()));
        let Some(adapter) = adapters.into_iter().next() else {
            return Err(choice.none_found());
        };
        let info = adapter.get_info();
        let wanted: wgpu::Features = USEFUL_FEATURES.iter().fold(wgpu::Features::empty(), |f, (x, _)| f | *x);
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("lstm-transfer"),
            required_features: adapter.features() & wanted,
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) = adapter
            .request_device(&descriptor)
            .await
            .map_err(|e| Error::RequestDevice { adapter: info.name.clone(), reason: e.to_string() })?;
        Ok(Self::from_device(device, queue, info))
    }

    /// Adopts a device that a host application already owns (e.g. a renderer's). The engine only
    /// uses the features and limits that device was created with.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        let gemm_kernel = GemmKernel::for_adapter(&info);
        Self {
            device,
            queue,
            info,
            gemm_kernel,
            tuning: Tuning::default(),
            precision: Precision::F32,
            pipelines: PipelineCache::default(),
            storage_bytes: Default::default(),
            setup_nanos: Default::default(),
            exchanges: Default::default(),
        }
    }

    /// This context with kernel tuning set up (the default is [`TuneMode::Off`]); see
    /// `kernels::tune`.
    pub fn with_tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// This context with the LSTM's activations stored at `precision` (the default is f32) by every
    /// model built on it afterwards.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// How models built on this context store the LSTM's activations.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Watches the exchange buffer of a persistent LSTM kernel a model recorded: while the model
    /// lives, every blocking readback ([`read_staging`]) first checks that none of its waits gave up.
    pub(crate) fn watch_exchange(&self, buffer: &std::sync::Arc<wgpu::Buffer>) {
        let mut exchanges = self.exchanges.lock().unwrap();
        if !exchanges.iter().any(|w| std::ptr::eq(w.as_ptr(), std::sync::Arc::as_ptr(buffer))) {
            exchanges.push(std::sync::Arc::downgrade(buffer));
        }
    }

    /// An error where a persistent LSTM kernel a model recorded on this context gave up waiting for
    /// another workgroup (the adapter did not run them all at once), so that its results, whatever
    /// they look like, never reach the host as if they were right. Reads each exchange's status
    /// word (sticky), waiting for the GPU; reads nothing where no model recorded such a kernel.
    pub(crate) fn check_persistent(&self) -> Result<()> {
        let exchanges: Vec<std::sync::Arc<wgpu::Buffer>> = {
            let mut watched = self.exchanges.lock().unwrap();
            watched.retain(|w| w.strong_count() > 0);
            watched.iter().filter_map(|w| w.upgrade()).collect()
        };
        for buffer in &exchanges {
            if buffers::read_word(self, buffer)? != 0 {
                return Err(Error::PersistentStalled { adapter: self.info.name.clone() });
            }
        }
        Ok(())
    }

    /// The kernel-tuning mode, cache and results.
    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// Whether the device has subgroup operations with subgroups of at least 8 invocations (what the
    /// `*_subgroups.wgsl` kernels need).
    pub fn has_subgroups_of_8(&self) -> bool {
        self.features().contains(wgpu::Features::SUBGROUP) && self.info.subgroup_min_size >= 8
    }

    /// The features the device was created with.
    pub fn features(&self) -> wgpu::Features {
        self.device.features()
    }

    /// The limits the device was created with (buffer sizes are checked against these).
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// One line naming the adapter, for logs and benchmark tables.
    pub fn adapter_line(&self) -> String {
        format!(
            "{} ({:?}, {:?}, driver {} {})",
            self.info.name, self.info.backend, self.info.device_type, self.info.driver, self.info.driver_info
        )
    }

    /// The compute pipeline for `entry` in `family`, compiled once and cached.
    pub fn pipeline(&self, family: ShaderFamily, half: HalfBindings, entry: &'static str) -> Result<wgpu::ComputePipeline> {
        self.pipelines.get(&self.device, family, half, entry)
    }

    /// Pipelines compiled so far (each once, on first use).
    pub fn pipelines_built(&self) -> usize {
        self.pipelines.len()
    }

    /// Seconds of one-time work so far: recording step plans (shader and pipeline compilation
    /// included) and the first run of a training plan that brought new pipelines (drivers that
    /// compile a kernel on its first dispatch, like lavapipe, do it then). Throughput figures leave
    /// this out.
    pub fn setup_seconds(&self) -> f64 {
        self.setup_nanos.load(std::sync::atomic::Ordering::Relaxed) as f64 * 1e-9
    }

    /// Adds one-time work to [`GpuContext::setup_seconds`].
    pub fn add_setup_time(&self, time: std::time::Duration) {
        let nanos = time.as_nanos().min(u64::MAX as u128) as u64;
        self.setup_nanos.fetch_add(nanos, std::sync::atomic::Ordering::Relaxed);
    }

    /// Blocks until all submitted work is done.
    pub fn wait_idle(&self) -> Result<()> {
        self.device.poll(wgpu::PollType::wait_indefinitely()).map(|_| ()).map_err(|e| Error::Readback(e.to_string()))
    }
}

/// Which GEMM kernel runs (an entry point of shaders/matmul.wgsl or matmul_subgroups.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum GemmKernel {
    /// Workgroup-memory tiling: the classic GPU kernel, any shape; 64×64 tiles of C.
    #[serde(rename = "tiled")]
    Tiled,
    /// [`GemmKernel::Tiled`] with 32×32 tiles: 4× the workgroups, for products too small to fill a
    /// large GPU with 64×64 tiles (a batch of one).
    #[serde(rename = "tiled-32")]
    TiledSmall,
    /// Register blocking with vec4 loads straight from storage: ~3–6× faster on lavapipe; used where
    /// `Gemm::blocked_ok` holds, the tiled kernel elsewhere.
    #[serde(rename = "blocked")]
    Blocked,
    /// [`GemmKernel::Blocked`] with both operands shared by subgroup shuffles inside each group of 8
    /// lanes (a 2×4 patch of blocks): 6 loads per 4 k instead of 16. Needs the SUBGROUP feature with
    /// subgroups of at least 8 invocations.
    #[serde(rename = "blocked-sg")]
    BlockedSubgroup,
}

impl GemmKernel {
    /// Every kernel, in the order the tuner times them.
    pub const ALL: [GemmKernel; 4] = [Self::Tiled, Self::TiledSmall, Self::Blocked, Self::BlockedSubgroup];

    /// The rule where nothing is timed: register blocking on CPU drivers (lavapipe, llvmpipe GL,
    /// SwiftShader), tiling on GPUs; `LSTM_TRANSFER_GEMM` naming a kernel overrides it (not
    /// blocked-sg, which needs the device's subgroups: [`GemmKernel::forced`] pins that one).
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Self {
        let named = std::env::var("LSTM_TRANSFER_GEMM").ok();
        let pinned = Self::ALL.into_iter().find(|k| Some(k.name()) == named.as_deref() && *k != Self::BlockedSubgroup);
        match pinned {
            Some(kernel) => kernel,
            None if info.device_type == wgpu::DeviceType::Cpu => Self::Blocked,
            None => Self::Tiled,
        }
    }

    /// The kernel `LSTM_TRANSFER_GEMM` names (benchmarks pin a kernel this way, past the tuner;
    /// the subgroup kernel only where it [applies](GemmKernel::applies)).
    pub fn forced(ctx: &GpuContext) -> Option<Self> {
        let name = std::env::var("LSTM_TRANSFER_GEMM").ok()?;
        Self::ALL.into_iter().find(|k| k.name() == name && k.applies(ctx))
    }

    /// Whether the device can run this kernel (the subgroup one needs subgroups of 8 or more).
    pub fn applies(self, ctx: &GpuContext) -> bool {
        self != Self::BlockedSubgroup || ctx.has_subgroups_of_8()
    }

    /// Whether this is one of the workgroup-memory kernels, which run any shape (the blocked ones
    /// need [`crate::kernels::matmul::Gemm::blocked_ok`]).
    pub fn is_tiled(self) -> bool {
        matches!(self, Self::Tiled | Self::TiledSmall)
    }

    /// Edge of the square tile of C one workgroup computes.
    pub fn tile_edge(self) -> u32 {
        match self {
            Self::TiledSmall => ShaderFamily::GEMM_TILE_SMALL,
            _ => ShaderFamily::GEMM_TILE,
        }
    }

    /// Short name, as the tuning cache and `bench` print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tiled => "tiled",
            Self::TiledSmall => "tiled-32",
            Self::Blocked => "blocked",
            Self::BlockedSubgroup => "blocked-sg",
        }
    }
}
