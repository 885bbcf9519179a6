//! Buffer helpers: allocation checked against the device limits, views for binding part of a
//! buffer, blocking readback for tests and tools, and the 1-D dispatch grid.

use std::num::NonZeroU64;

use wgpu::util::DeviceExt;

use super::GpuContext;
use crate::config::Precision;
use crate::error::{Error, Result};

/// Every storage buffer may be copied into and out of and bound read-only or read-write.
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_SRC).union(wgpu::BufferUsages::COPY_DST);

/// A byte range of a buffer, bound as one kernel argument.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// The buffer the range lies in.
    pub buffer: &'a wgpu::Buffer,
    /// Start of the range, in bytes; must be a multiple of the device's storage offset alignment.
    pub offset: u64,
    /// Length of the range, in bytes.
    pub size: u64,
    /// The range holds f16 pairs ([`Precision::F16`]), not f32: a kernel reads it through an f16
    /// module ([`HalfBindings`](super::HalfBindings)).
    pub half: bool,
}

impl<'a> View<'a> {
    /// The whole of `buffer`, f32.
    pub fn whole(buffer: &'a wgpu::Buffer) -> Self {
        Self { buffer, offset: 0, size: buffer.size(), half: false }
    }

    /// The whole of `buffer`, holding tensors of `precision`.
    pub fn tensor(buffer: &'a wgpu::Buffer, precision: Precision) -> Self {
        Self { half: precision == Precision::F16, ..Self::whole(buffer) }
    }

    /// The range as a bind group resource (a size of 0 binds the rest of the buffer).
    pub fn binding(&self) -> wgpu::BindingResource<'a> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer: self.buffer, offset: self.offset, size: NonZeroU64::new(self.size) })
    }
}

impl GpuContext {
    /// Checks `bytes` against the device's buffer and binding limits, naming the buffer on failure.
    pub fn check_buffer_size(&self, name: &str, bytes: u64) -> Result<()> {
        let limits = self.limits();
        let checks =
            [(limits.max_buffer_size, "max_buffer_size"), (limits.max_storage_buffer_binding_size, "max_storage_buffer_binding_size")];
        for (limit, what) in checks {
            if bytes > limit {
                return Err(Error::BufferTooLarge { name: name.to_string(), bytes, limit, what });
            }
        }
        Ok(())
    }

    fn count_allocation(&self, bytes: u64) {
        self.storage_bytes.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Bytes of every storage buffer created through this context so far (the engine frees nothing
    /// while a model lives, so the growth across building and running a model is its GPU memory).
    pub fn storage_bytes_allocated(&self) -> u64 {
        self.storage_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A zero-filled storage buffer of `bytes` (at least 4: wgpu rejects empty bindings).
    pub fn storage_buffer(&self, name: &str, bytes: u64) -> Result<wgpu::Buffer> {
        let buffer = self.scratch_buffer(name, bytes)?;
        self.count_allocation(buffer.size());
        Ok(buffer)
    }

    /// A zero-filled storage buffer for transient work (the tuner's scratch), dropped right after
    /// use and so left out of [`GpuContext::storage_bytes_allocated`].
    pub fn scratch_buffer(&self, name: &str, bytes: u64) -> Result<wgpu::Buffer> {
        let bytes = bytes.max(4).next_multiple_of(4);
        self.check_buffer_size(name, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(name), size: bytes, usage: STORAGE, mapped_at_creation: false }))
    }

    /// A storage buffer holding `data`.
    pub fn storage_buffer_init<T: bytemuck::Pod>(&self, name: &str, data: &[T]) -> Result<wgpu::Buffer> {
        if data.is_empty() {
            return self.storage_buffer(name, 4);
        }
        let bytes = bytemuck::cast_slice::<T, u8>(data);
        self.check_buffer_size(name, bytes.len() as u64)?;
        self.count_allocation(bytes.len() as u64);
        Ok(self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(name), contents: bytes, usage: STORAGE }))
    }

    /// A uniform buffer holding one parameter block (written again with `queue.write_buffer`).
    pub fn uniform_buffer<T: bytemuck::Pod>(&self, name: &str, value: &T) -> wgpu::Buffer {
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(name),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
    }
}

/// Copies `len` values of type `T` starting at byte `offset` of `buffer` back to the host, waiting
/// for the GPU. Meant for tests, tools and checkpoints, not for the training loop (which reads one
/// small stats buffer every few steps).
pub fn read_buffer<T: bytemuck::Pod>(ctx: &GpuContext, buffer: &wgpu::Buffer, offset: u64, len: usize) -> Result<Vec<T>> {
    let bytes = (len * std::mem::size_of::<T>()) as u64;
    if len == 0 {
        return Ok(Vec::new());
    }
    let staging = staging_buffer(ctx, "readback staging", bytes);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes.next_multiple_of(4));
    ctx.queue.submit([encoder.finish()]);
    read_staging(ctx, &staging, len)
}

/// A MAP_READ buffer of `bytes` that a command encoder copies results into.
pub fn staging_buffer(ctx: &GpuContext, name: &str, bytes: u64) -> wgpu::Buffer {
    ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(name),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// `values` as an f16 tensor stores them ([`crate::config::Precision::F16`]): two f16 per u32, the
/// first in the low half; an odd count's last word ends in a zero half.
pub fn f16_words(values: &[f32]) -> Vec<u32> {
    let bits = |i: usize| values.get(i).map_or(0, |&v| half::f16::from_f32(v).to_bits() as u32);
    (0..values.len().div_ceil(2)).map(|w| bits(2 * w) | bits(2 * w + 1) << 16).collect()
}

/// The first `n` values of f16 pairs packed as [`f16_words`] packs them.
pub fn f16_values(words: &[u32], n: usize) -> Vec<f32> {
    (0..n).map(|i| half::f16::from_bits((words[i / 2] >> (16 * (i % 2))) as u16).to_f32()).collect()
}

/// Waits for the submitted copy into `staging`, then returns its first `len` values; an error where
/// a persistent LSTM kernel a model recorded gave up a wait (`Error::PersistentStalled`).
pub fn read_staging<T: bytemuck::Pod>(ctx: &GpuContext, staging: &wgpu::Buffer, len: usize) -> Result<Vec<T>> {
    let values = read_mapped(ctx, staging, len)?;
    ctx.check_persistent()?;
    Ok(values)
}

/// The first u32 of `buffer`, waiting for the GPU (no check: [`GpuContext::check_persistent`] reads
/// with it).
pub(super) fn read_word(ctx: &GpuContext, buffer: &wgpu::Buffer) -> Result<u32> {
    let staging = staging_buffer(ctx, "status staging", 4);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, 4);
    ctx.queue.submit([encoder.finish()]);
    Ok(read_mapped::<u32>(ctx, &staging, 1)?[0])
}

/// Waits for the submitted copy into `staging`, then returns its first `len` values.
fn read_mapped<T: bytemuck::Pod>(ctx: &GpuContext, staging: &wgpu::Buffer, len: usize) -> Result<Vec<T>> {
    map_and_wait(ctx, staging)?;
    let bytes = len * std::mem::size_of::<T>();
    let values = {
        let data = staging.get_mapped_range(..).map_err(|e| Error::Readback(e.to_string()))?;
        bytemuck::cast_slice::<u8, T>(&data[..bytes]).to_vec()
    };
    staging.unmap();
    Ok(values)
}

/// Maps a MAP_READ buffer and blocks until the mapping is ready.
#[cfg(not(target_arch = "wasm32"))]
fn map_and_wait(ctx: &GpuContext, staging: &wgpu::Buffer) -> Result<()> {
    let (sender, receiver) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = sender.send(r);
    });
    ctx.wait_idle()?;
    receiver.recv().map_err(|e| Error::Readback(e.to_string()))?.map_err(|e| Error::Readback(e.to_string()))
}

/// A browser's main thread cannot block: the mapping only completes when the page yields to its
/// event loop. A blocking read there is an error that says what to use instead.
#[cfg(target_arch = "wasm32")]
fn map_and_wait(_ctx: &GpuContext, _staging: &wgpu::Buffer) -> Result<()> {
    Err(Error::Readback(
        "a blocking readback cannot run in a browser: submit and poll instead (Pending, PendingStats, Predictor::submit)".into(),
    ))
}

/// A readback in flight: the copy is submitted and the buffer's mapping requested; [`Pending::poll`]
/// checks without blocking whether the values have arrived. For applications that own the frame loop.
pub struct Pending<T> {
    staging: wgpu::Buffer,
    len: usize,
    mapped: std::sync::mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
    _values: std::marker::PhantomData<T>,
}

impl<T: bytemuck::Pod> Pending<T> {
    /// Requests the mapping of `staging` (whose copy was just submitted); `len` values of T.
    pub fn new(staging: wgpu::Buffer, len: usize) -> Self {
        let (sender, mapped) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = sender.send(r);
        });
        Self { staging, len, mapped, _values: std::marker::PhantomData }
    }

    /// Makes progress without waiting; `Ok(Some(values))` once the GPU has finished.
    pub fn poll(&self, ctx: &GpuContext) -> Result<Option<Vec<T>>> {
        ctx.device.poll(wgpu::PollType::Poll).map_err(|e| Error::Readback(e.to_string()))?;
        match self.mapped.try_recv() {
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
            Err(e) => Err(Error::Readback(e.to_string())),
            Ok(Err(e)) => Err(Error::Readback(e.to_string())),
            Ok(Ok(())) => {
                let values = {
                    let data = self.staging.get_mapped_range(..).map_err(|e| Error::Readback(e.to_string()))?;
                    bytemuck::cast_slice::<u8, T>(&data[..self.len * std::mem::size_of::<T>()]).to_vec()
                };
                self.staging.unmap();
                Ok(Some(values))
            }
        }
    }
}

/// Workgroup counts for `n` invocations of `wg_size` threads, folded into a 2-D grid so that no
/// dimension exceeds 65535 (the kernels recover the index with the prelude's `linear_index`).
pub fn grid_1d(n: usize, wg_size: u32) -> [u32; 3] {
    let groups = (n as u64).div_ceil(wg_size as u64).max(1);
    if groups <= 65535 {
        return [groups as u32, 1, 1];
    }
    let x = 65535u64;
    [x as u32, groups.div_ceil(x) as u32, 1]
}
