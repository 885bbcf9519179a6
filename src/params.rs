//! The flat parameter store: every trainable tensor of a model in one GPU buffer, with gradients and
//! Adam moments in three more buffers of the same layout, and a table of per-tensor options
//! (freeze flag, learning-rate scale, weight decay, optional per-row freeze mask) read by the
//! optimizer kernel.
//!
//! An f16 model ([`Precision::F16`]) keeps the f32 values as the optimizer's master copy and adds a
//! *working copy* in f16 (two per u32, the same layout at half the bytes): every kernel of the model
//! reads its weights there ([`ParamStore::view`]), its gradients are stored as f16 too (at the loss
//! scale, [`ParamStore::grad_scale`]), and the optimizer updates the master copy and writes the
//! working copy from it. Adam's moments stay f32.
//!
//! Tensors keep PyTorch's names and layouts (`lstm.weight_ih_l0` is `[4H, E]`, gates i,f,g,o), so
//! import and export are plain copies. Offsets are aligned to the device's storage-offset alignment
//! so any tensor can be bound on its own.

use std::collections::HashMap;

use crate::config::Precision;
use crate::error::{Error, Result};
use crate::gpu::{GpuContext, View, f16_values, f16_words, read_buffer};
use crate::kernels::optimizer::{AdamViews, TensorEntry};

/// A tensor copied to the host: (name, shape, values).
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// Host tensors by name: (shape, values).
pub type TensorMap = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// One tensor's place and options in the store.
#[derive(Clone, Debug)]
pub struct ParamEntry {
    /// PyTorch state_dict name (e.g. `lstm.weight_ih_l0`).
    pub name: String,
    /// Tensor shape, PyTorch layout (row-major).
    pub shape: Vec<usize>,
    /// Offset in elements.
    pub offset: usize,
    /// Skipped by the optimizer: no update, no moment update, no weight decay.
    pub frozen: bool,
    /// Multiplies the step's learning rate for this tensor (discriminative learning rates).
    pub lr_scale: f32,
    /// Weight decay of this tensor, applied as L2 or decoupled per `AdamConfig::decay`.
    pub weight_decay: f32,
    /// Per-row trainable flags (rows = `shape[0]`); `None` means every row follows `frozen`.
    pub row_mask: Option<Vec<bool>>,
    /// First row of this tensor in the shared row-mask buffer.
    mask_base: usize,
}

impl ParamEntry {
    /// Elements in the tensor (product of `shape`, padding excluded).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }
}

/// Every trainable tensor of a model in one flat f32 GPU buffer, with gradient and Adam moment
/// buffers of the same layout and the per-tensor option table the optimizer kernel reads.
pub struct ParamStore {
    entries: Vec<ParamEntry>,
    index: HashMap<String, usize>,
    total: usize,
    /// Parameter values, `total_len()` f32s (an f16 model's master copy).
    pub params: wgpu::Buffer,
    /// An f16 model's working copy of `params`: `total_len()` f16, two per u32, what its kernels read.
    work: Option<wgpu::Buffer>,
    /// Gradients, same layout as `params`: f32, or f16 pairs for an f16 model.
    pub grads: wgpu::Buffer,
    /// Adam's first moments, same layout as `params`.
    pub m: wgpu::Buffer,
    /// Adam's second moments, same layout as `params`.
    pub v: wgpu::Buffer,
    /// The factor the gradients are computed and stored at (loss scaling: the context's
    /// [`Precision::grad_scale`](crate::config::Precision::grad_scale) when the store was made). The
    /// loss kernels multiply by it, Adam divides it out, [`ParamStore::download_grads`] too.
    pub grad_scale: f32,
    table: wgpu::Buffer,
    row_masks: wgpu::Buffer,
}

impl ParamStore {
    /// Lays out `specs` (name, shape) and allocates zero-filled buffers.
    pub fn new(ctx: &GpuContext, specs: &[(String, Vec<usize>)]) -> Result<Self> {
        let half = ctx.precision() == Precision::F16;
        // Every tensor starts at a bindable offset: in f32 words, and in the f16 copies (half the bytes).
        let align = (ctx.limits().min_storage_buffer_offset_alignment as usize / 4).max(1) * if half { 2 } else { 1 };
        let mut entries = Vec::with_capacity(specs.len());
        let mut index = HashMap::new();
        let (mut total, mut rows) = (0usize, 0usize);
        for (name, shape) in specs {
            let entry = ParamEntry {
                name: name.clone(),
                shape: shape.clone(),
                offset: total,
                frozen: false,
                lr_scale: 1.0,
                weight_decay: 0.0,
                row_mask: None,
                mask_base: rows,
            };
            total = (total + entry.len()).next_multiple_of(align);
            rows += entry.rows();
            index.insert(name.clone(), entries.len());
            entries.push(entry);
        }
        let bytes = total as u64 * 4;
        let half_bytes = total as u64 * 2;
        let store = Self {
            params: ctx.storage_buffer("parameters", bytes)?,
            work: if half { Some(ctx.storage_buffer("parameters (f16 working copy)", half_bytes)?) } else { None },
            grads: ctx.storage_buffer("gradients", if half { half_bytes } else { bytes })?,
            m: ctx.storage_buffer("adam m", bytes)?,
            v: ctx.storage_buffer("adam v", bytes)?,
            table: ctx.storage_buffer("parameter table", (entries.len() * std::mem::size_of::<TensorEntry>()) as u64)?,
            row_masks: ctx.storage_buffer("row masks", rows as u64 * 4)?,
            entries,
            index,
            total,
            grad_scale: ctx.precision().grad_scale(),
        };
        store.sync_options(ctx);
        Ok(store)
    }

    /// Every tensor's entry, in store (layout) order.
    pub fn entries(&self) -> &[ParamEntry] {
        &self.entries
    }

    /// Elements in the store, padding included.
    pub fn total_len(&self) -> usize {
        self.total
    }

    /// The entry of the tensor `name` (`Error::MissingTensor` if the store has none).
    pub fn entry(&self, name: &str) -> Result<&ParamEntry> {
        self.index
            .get(name)
            .map(|&i| &self.entries[i])
            .ok_or_else(|| Error::MissingTensor { name: name.to_string(), context: " in the model's parameter store".into() })
    }

    fn entry_mut(&mut self, name: &str) -> Result<&mut ParamEntry> {
        let i = *self
            .index
            .get(name)
            .ok_or_else(|| Error::MissingTensor { name: name.to_string(), context: " in the model's parameter store".into() })?;
        Ok(&mut self.entries[i])
    }

    /// Whether the model's kernels read f16 weights and write f16 gradients.
    pub fn is_half(&self) -> bool {
        self.work.is_some()
    }

    /// One tensor's range in `buffer`, which holds the store's layout in f32 or (`half`) in f16.
    fn view_in<'a>(&self, buffer: &'a wgpu::Buffer, half: bool, name: &str) -> Result<View<'a>> {
        let e = self.entry(name)?;
        let width = if half { 2 } else { 4 };
        let size = (e.len().max(1) as u64 * width).next_multiple_of(4);
        Ok(View { buffer, offset: e.offset as u64 * width, size, half })
    }

    /// The tensor's values as the model's kernels read them (the f16 working copy of an f16 model).
    pub fn view(&self, name: &str) -> Result<View<'_>> {
        match &self.work {
            Some(work) => self.view_in(work, true, name),
            None => self.view_in(&self.params, false, name),
        }
    }

    /// The tensor's gradient.
    pub fn grad_view(&self, name: &str) -> Result<View<'_>> {
        self.view_in(&self.grads, self.is_half(), name)
    }

    /// Every gradient, as one tensor (for the global norm).
    pub fn grads_view(&self) -> View<'_> {
        View { half: self.is_half(), ..View::whole(&self.grads) }
    }

    /// Writes host values into one tensor (shape checked by length, named on failure).
    pub fn upload(&self, ctx: &GpuContext, name: &str, values: &[f32]) -> Result<()> {
        let e = self.entry(name)?;
        if values.len() != e.len() {
            return Err(Error::ShapeMismatch { name: name.into(), expected: e.shape.clone(), found: vec![values.len()] });
        }
        ctx.queue.write_buffer(&self.params, e.offset as u64 * 4, bytemuck::cast_slice(values));
        if let Some(work) = &self.work {
            // Whole words: an odd-length tensor's last word ends in padding, written as 0.
            ctx.queue.write_buffer(work, e.offset as u64 * 2, bytemuck::cast_slice(&f16_words(values)));
        }
        Ok(())
    }

    /// Replaces every tensor from `tensors` (names and shapes checked; extra tensors are ignored).
    pub fn upload_all(&self, ctx: &GpuContext, tensors: &TensorMap) -> Result<()> {
        for entry in &self.entries {
            let (shape, values) = tensors
                .get(&entry.name)
                .ok_or_else(|| Error::MissingTensor { name: entry.name.clone(), context: " in the loaded parameters".into() })?;
            if *shape != entry.shape {
                return Err(Error::ShapeMismatch { name: entry.name.clone(), expected: entry.shape.clone(), found: shape.clone() });
            }
            self.upload(ctx, &entry.name, values)?;
        }
        Ok(())
    }

    /// Every tensor's values, by name, in store order.
    pub fn download(&self, ctx: &GpuContext) -> Result<Vec<NamedTensor>> {
        self.download_from(ctx, &self.params)
    }

    /// Every tensor's values as a map by name (what [`ParamStore::upload_all`] takes back).
    pub fn download_map(&self, ctx: &GpuContext) -> Result<TensorMap> {
        Ok(self.download(ctx)?.into_iter().map(|(name, shape, values)| (name, (shape, values))).collect())
    }

    /// Every tensor's gradient, by name, in store order.
    pub fn download_grads(&self, ctx: &GpuContext) -> Result<Vec<NamedTensor>> {
        let mut grads = if self.is_half() {
            let words: Vec<u32> = read_buffer(ctx, &self.grads, 0, self.total / 2)?;
            self.split(&f16_values(&words, self.total))
        } else {
            self.download_from(ctx, &self.grads)?
        };
        if self.grad_scale != 1.0 {
            grads.iter_mut().for_each(|(_, _, g)| g.iter_mut().for_each(|v| *v /= self.grad_scale));
        }
        Ok(grads)
    }

    /// Adam's first and second moments, by name, in store order (for the training state).
    pub fn download_moments(&self, ctx: &GpuContext) -> Result<(Vec<NamedTensor>, Vec<NamedTensor>)> {
        Ok((self.download_from(ctx, &self.m)?, self.download_from(ctx, &self.v)?))
    }

    /// Restores Adam's moments of one tensor (shape checked by length, named on failure).
    pub fn upload_moments(&self, ctx: &GpuContext, name: &str, m: &[f32], v: &[f32]) -> Result<()> {
        let e = self.entry(name)?;
        for (buffer, values, what) in [(&self.m, m, "adam.m."), (&self.v, v, "adam.v.")] {
            if values.len() != e.len() {
                return Err(Error::ShapeMismatch { name: format!("{what}{name}"), expected: e.shape.clone(), found: vec![values.len()] });
            }
            ctx.queue.write_buffer(buffer, e.offset as u64 * 4, bytemuck::cast_slice(values));
        }
        Ok(())
    }

    fn download_from(&self, ctx: &GpuContext, buffer: &wgpu::Buffer) -> Result<Vec<NamedTensor>> {
        Ok(self.split(&read_buffer(ctx, buffer, 0, self.total)?))
    }

    /// Every tensor's values out of the whole store's `all`.
    fn split(&self, all: &[f32]) -> Vec<NamedTensor> {
        self.entries.iter().map(|e| (e.name.clone(), e.shape.clone(), all[e.offset..e.offset + e.len()].to_vec())).collect()
    }

    /// Freezes or unfreezes one tensor (frozen: no update, no moment update, no weight decay).
    pub fn set_frozen(&mut self, name: &str, frozen: bool) -> Result<()> {
        self.entry_mut(name)?.frozen = frozen;
        Ok(())
    }

    /// Sets one tensor's learning-rate multiplier (takes effect after `sync_options`).
    pub fn set_lr_scale(&mut self, name: &str, scale: f32) -> Result<()> {
        self.entry_mut(name)?.lr_scale = scale;
        Ok(())
    }

    /// Sets one tensor's weight decay (takes effect after `sync_options`).
    pub fn set_weight_decay(&mut self, name: &str, decay: f32) -> Result<()> {
        self.entry_mut(name)?.weight_decay = decay;
        Ok(())
    }

    /// Sets every tensor's weight decay (takes effect after `sync_options`).
    pub fn set_weight_decay_all(&mut self, decay: f32) {
        self.entries.iter_mut().for_each(|e| e.weight_decay = decay);
    }

    /// Per-row trainable flags for a tensor (e.g. embedding rows known to a source model stay fixed).
    pub fn set_row_mask(&mut self, name: &str, trainable_rows: Option<Vec<bool>>) -> Result<()> {
        let e = self.entry_mut(name)?;
        if let Some(mask) = &trainable_rows
            && mask.len() != e.rows()
        {
            return Err(Error::ShapeMismatch { name: format!("{name} (row mask)"), expected: vec![e.rows()], found: vec![mask.len()] });
        }
        e.row_mask = trainable_rows;
        Ok(())
    }

    /// Uploads the option table and row masks; call after changing options, before the next step.
    pub fn sync_options(&self, ctx: &GpuContext) {
        let mut masks: Vec<u32> = Vec::new();
        let table: Vec<TensorEntry> = self
            .entries
            .iter()
            .map(|e| {
                let mask_offset = match &e.row_mask {
                    Some(rows) => {
                        masks.resize(e.mask_base, 1);
                        masks.extend(rows.iter().map(|&r| r as u32));
                        e.mask_base as u32
                    }
                    None => u32::MAX,
                };
                TensorEntry {
                    offset: e.offset as u32,
                    len: e.len() as u32,
                    frozen: e.frozen as u32,
                    lr_scale: e.lr_scale,
                    weight_decay: e.weight_decay,
                    row_len: (e.len() / e.rows().max(1)).max(1) as u32,
                    mask_offset,
                    _pad: 0,
                }
            })
            .collect();
        if !table.is_empty() {
            ctx.queue.write_buffer(&self.table, 0, bytemuck::cast_slice(&table));
        }
        if !masks.is_empty() {
            ctx.queue.write_buffer(&self.row_masks, 0, bytemuck::cast_slice(&masks));
        }
    }

    /// Clears the Adam moments (a fresh optimizer).
    pub fn reset_moments(&self, ctx: &GpuContext) {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        encoder.clear_buffer(&self.m, 0, None);
        encoder.clear_buffer(&self.v, 0, None);
        ctx.queue.submit([encoder.finish()]);
    }

    /// The buffers the optimizer kernel binds; `stats` holds the squared gradient norm for clipping.
    pub fn adam_views<'a>(&'a self, stats: View<'a>) -> AdamViews<'a> {
        AdamViews {
            tensors: View::whole(&self.table),
            row_mask: View::whole(&self.row_masks),
            stats,
            params: View::whole(&self.params),
            grads: self.grads_view(),
            m: View::whole(&self.m),
            v: View::whole(&self.v),
            work: self.work.as_ref().map(|work| View { half: true, ..View::whole(work) }),
        }
    }
}

/// Whether a tensor-name pattern matches `name`: `*` matches any run of characters, everything else
/// itself (as in `--freeze 'lstm.*_l0'`).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else { return false };
            (0..=tail.len()).filter(|&i| tail.is_char_boundary(i)).any(|i| pattern_matches(rest, &tail[i..]))
        }
    }
}
