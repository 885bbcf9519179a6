//! Heterogeneous transfer: carry a source classifier's parameters into a target of another hidden
//! size, depth, embedding size or directionality. Everything works on host tensors (PyTorch layouts:
//! `weight_ih` `[4H, in]`, `weight_hh` `[4H, H]`, biases `[4H]`, gate blocks i, f, g, o).
//!
//! - **Wider hidden (Net2Net, function-preserving).** Target unit j copies source unit g(j) (j < H: itself;
//!   extra units: a seeded random source unit) across all four gate blocks, both biases and the
//!   recurrent rows. Every consumer of a unit's output (recurrent columns, the next layer's input
//!   columns, the head's columns for each pooling part and direction) multiplies it by r(j), where the
//!   r of the copies of one source unit are random positive weights summing to 1. Copies have identical
//!   pre-activations, hence identical h and c, so every consumer sees exactly the source's sum: the
//!   widened model computes the same logits. Unequal splits give the copies different gradients, which
//!   breaks their symmetry without noise.
//! - **Narrower hidden (approximation).** Keep the units with the largest outgoing weight norm (recurrent
//!   columns + head columns, summed over layers and directions); the rest are dropped.
//! - **Wider embedding (function-preserving).** New embedding columns are small random values and the
//!   first layer's matching input columns are zero. **Narrower embedding (approximation):** project on the
//!   top principal directions P `[E, E']` of the source embedding rows: `emb' = emb·P`, `W_ih' = W_ih·P`.
//! - **Deeper (approximation).** New layers go on top and pass their input through: input, output gates
//!   open (bias +8), forget gate shut (bias −8), candidate weights α·I, no recurrence, so each step is
//!   h' = σ(8)·tanh(σ(8)·tanh(α·h)) — pointwise in time, so both directions pass through the same way. α
//!   is fitted (least squares over h uniform in [−0.95, 0.95]); the map compresses large |h| (e.g.
//!   0.9 → ≈0.7), so the head sees slightly shrunk features. `transfer` measures the effect on logits.
//! - **Shallower (approximation).** Keep the bottom layers; the head reads the last kept layer.
//! - **Unidirectional → bidirectional (function-preserving).** The reverse direction starts fresh, and
//!   every consumer of it (the head, the next layer's reverse-input columns) starts at zero.
//!   **Bidirectional → unidirectional (approximation):** the reverse direction and its consumers are dropped.
//! - **Head.** Same pooling and classes: columns mapped as above. Otherwise the head starts fresh.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::RowSource;
use crate::error::{Error, Result};
use crate::nn::LstmConfig;
use crate::params::TensorMap;
use crate::tasks::classify::ClassifierConfig;

/// Gate bias that opens (+) or shuts (−) a gate of an inserted pass-through layer.
const GATE_BIAS: f32 = 8.0;

/// Where each target hidden unit comes from, and the share of its output each consumer takes.
#[derive(Clone, Debug)]
pub struct UnitMap {
    /// Source unit of each target unit.
    pub source: Vec<usize>,
    /// Output share of each target unit (the shares of one source unit's copies sum to 1).
    pub share: Vec<f32>,
}

impl UnitMap {
    /// Widening (copies with random shares) or narrowing (the `target` most important units, in order).
    pub fn new(source: usize, target: usize, importance: &[f32], rng: &mut ChaCha8Rng) -> Self {
        if target >= source {
            let mut map: Vec<usize> = (0..source).collect();
            map.extend((source..target).map(|_| rng.random_range(0..source)));
            let weights: Vec<f32> = map.iter().map(|_| rng.random_range(0.5..1.5)).collect();
            let mut totals = vec![0.0f32; source];
            for (j, &u) in map.iter().enumerate() {
                totals[u] += weights[j];
            }
            let share = map.iter().enumerate().map(|(j, &u)| weights[j] / totals[u]).collect();
            Self { source: map, share }
        } else {
            let mut order: Vec<usize> = (0..source).collect();
            order.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
            let mut keep = order[..target].to_vec();
            keep.sort_unstable();
            Self { share: vec![1.0; target], source: keep }
        }
    }

    fn is_identity(&self) -> bool {
        self.source.iter().enumerate().all(|(j, &u)| j == u) && self.share.iter().all(|&s| s == 1.0)
    }
}

fn get<'a>(tensors: &'a TensorMap, name: &str) -> Result<&'a [f32]> {
    tensors
        .get(name)
        .map(|(_, v)| v.as_slice())
        .ok_or_else(|| Error::MissingTensor { name: name.into(), context: " in the source model".into() })
}

/// Sum of squares of column `col` of a row-major `[rows, cols]` matrix.
fn column_norm(m: &[f32], cols: usize, col: usize) -> f32 {
    m.chunks(cols).map(|row| row[col] * row[col]).sum()
}

/// Importance of each source hidden unit: squared norm of everything that reads its output.
fn unit_importance(src: &ClassifierConfig, tensors: &TensorMap) -> Result<Vec<f32>> {
    let lstm = src.lstm();
    let h = src.hidden;
    let mut imp = vec![0.0f32; h];
    for l in 0..lstm.layers {
        for d in 0..lstm.dirs() {
            let whh = get(tensors, &LstmConfig::param_name("lstm.", "weight_hh", l, d == 1))?;
            for (u, v) in imp.iter_mut().enumerate() {
                *v += column_norm(whh, h, u);
            }
        }
    }
    // A source without a head (a language model) ranks by its recurrent weights alone.
    if let Some((_, fc)) = tensors.get("fc.weight") {
        let f = src.features();
        for part in 0..f / h {
            for (u, v) in imp.iter_mut().enumerate() {
                *v += column_norm(fc, f, part * h + u);
            }
        }
    }
    Ok(imp)
}

/// The fitted α of a pass-through layer (see the module docs).
pub fn pass_through_alpha() -> f32 {
    let gate = 1.0 / (1.0 + (-GATE_BIAS).exp());
    let error = |alpha: f32| -> f32 {
        (0..=190).map(|i| -0.95 + i as f32 * 0.01).map(|x| (gate * (gate * (alpha * x).tanh()).tanh() - x).powi(2)).sum()
    };
    (50..=400).map(|i| i as f32 * 0.01).min_by(|&a, &b| error(a).total_cmp(&error(b))).expect("non-empty grid")
}

/// Target input column → (source column, scale) of layer `l`'s `weight_ih`, or None (zero column).
fn input_column(l: usize, col: usize, src: &ClassifierConfig, tgt: &ClassifierConfig, units: &UnitMap) -> Option<(usize, f32)> {
    if l == 0 {
        // Embedding columns are handled by the embedding map (identity here).
        return (col < src.embed).then_some((col, 1.0));
    }
    let (d, k) = (col / tgt.hidden, col % tgt.hidden);
    (d < src.lstm().dirs()).then(|| (d * src.hidden + units.source[k], units.share[k]))
}

/// The principal directions P `[E, E']` of the embedding rows (uncentred, so P·Pᵀ·x ≈ x).
fn principal_directions(emb: &[f32], e: usize, e_new: usize) -> Vec<f32> {
    let rows = emb.len() / e;
    let m = nalgebra::DMatrix::<f64>::from_fn(rows, e, |r, c| emb[r * e + c] as f64);
    let eig = (m.transpose() * &m).symmetric_eigen();
    let mut order: Vec<usize> = (0..e).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut p = vec![0.0f32; e * e_new];
    for (k, &col) in order[..e_new].iter().enumerate() {
        for r in 0..e {
            p[r * e_new + k] = eig.eigenvectors[(r, col)] as f32;
        }
    }
    p
}

/// Row-major `[n, k] · [k, m]`.
fn matmul(a: &[f32], b: &[f32], n: usize, k: usize, m: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n * m];
    for i in 0..n {
        for p in 0..k {
            let x = a[i * k + p];
            if x != 0.0 {
                for j in 0..m {
                    out[i * m + j] += x * b[p * m + j];
                }
            }
        }
    }
    out
}

/// Maps `src` tensors (config `src_cfg`) onto the target configuration. `fresh` holds the target's
/// own initialisation, used wherever nothing maps; `rows` says where each target vocabulary row
/// comes from (a source row, a row induced in the source's space, or the fresh row). Returns the
/// target tensors, one line per decision, and the names of the tensors that were mapped (the others
/// are `fresh`'s).
pub fn map_parameters(
    src_cfg: &ClassifierConfig,
    tgt_cfg: &ClassifierConfig,
    src: &TensorMap,
    fresh: &TensorMap,
    rows: &[RowSource],
    seed: u64,
) -> Result<(TensorMap, Vec<String>, Vec<String>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = fresh.clone();
    let mut notes = Vec::new();
    let mut mapped = vec!["embedding.weight".to_string()];
    let (hs, ht) = (src_cfg.hidden, tgt_cfg.hidden);
    let units = UnitMap::new(hs, ht, &unit_importance(src_cfg, src)?, &mut rng);
    match ht.cmp(&hs) {
        std::cmp::Ordering::Greater => {
            notes.push(format!("hidden {hs} → {ht}: Net2Net widening, {} units copied with split outputs (function-preserving)", ht - hs))
        }
        std::cmp::Ordering::Less => {
            notes.push(format!("hidden {hs} → {ht}: kept the {ht} units with the largest outgoing weights (approximation)"))
        }
        _ => {}
    }

    let mut m = Mapping { src_cfg, tgt_cfg, src, units: &units, out: &mut out, notes: &mut notes, mapped: &mut mapped };
    let projection = m.embedding(rows)?;
    m.lstm_layers(projection.as_deref())?;
    m.heads()?;
    let (es, et, ls, lt) = (src_cfg.embed, tgt_cfg.embed, src_cfg.layers, tgt_cfg.layers);
    let (ds, dt) = (src_cfg.lstm().dirs(), tgt_cfg.lstm().dirs());
    if units.is_identity() && es == et && ls == lt && ds == dt {
        notes.push("same shapes: mapped tensors copied as they are".into());
    }
    Ok((out, notes, mapped))
}

/// The state of one mapping: the two configurations, the source tensors, the unit map, and the
/// target tensors, notes and mapped names being written.
struct Mapping<'a> {
    src_cfg: &'a ClassifierConfig,
    tgt_cfg: &'a ClassifierConfig,
    src: &'a TensorMap,
    units: &'a UnitMap,
    out: &'a mut TensorMap,
    notes: &'a mut Vec<String>,
    mapped: &'a mut Vec<String>,
}

impl Mapping<'_> {
    /// The embedding: rows by vocabulary, columns by the embedding map. Returns the projection P
    /// (source → target columns) when the target embedding is narrower.
    fn embedding(&mut self, rows: &[RowSource]) -> Result<Option<Vec<f32>>> {
        let (src_cfg, tgt_cfg, src) = (self.src_cfg, self.tgt_cfg, self.src);
        let (es, et) = (src_cfg.embed, tgt_cfg.embed);
        let emb_src = get(src, "embedding.weight")?;
        let projection = (et < es).then(|| principal_directions(emb_src, es, et));
        // A source-space row in the target's columns: projected when narrower, else as it is.
        let columns = |row: &[f32]| -> Vec<f32> {
            match &projection {
                Some(p) => matmul(row, p, 1, es, et),
                None => row.to_vec(),
            }
        };
        let width = es.min(et);
        let emb = &mut self.out.get_mut("embedding.weight").expect("target has an embedding").1;
        let (mut copied, mut induced) = (0, 0);
        for (t, source_row) in rows.iter().enumerate() {
            let row = match source_row {
                RowSource::Source(s) => {
                    copied += 1;
                    columns(&emb_src[s * es..(s + 1) * es])
                }
                RowSource::Induced(v) => {
                    induced += 1;
                    columns(v)
                }
                RowSource::Fresh => continue,
            };
            emb[t * et..t * et + width].copy_from_slice(&row[..width]);
            if et > es {
                // New columns: small values (their first-layer weights start at zero, see below).
                for v in &mut emb[t * et + es..(t + 1) * et] {
                    *v *= 0.01;
                }
            }
        }
        if induced > 0 {
            self.notes.push(format!("embedding: {induced} new tokens' rows induced from the source's subwords"));
        }
        self.notes.push(format!("embedding: {copied} of {} rows from the source vocabulary", rows.len()));
        match et.cmp(&es) {
            std::cmp::Ordering::Greater => {
                self.notes.push(format!("embedding {es} → {et}: new columns small, their input weights zero (function-preserving)"))
            }
            std::cmp::Ordering::Less => {
                self.notes.push(format!("embedding {es} → {et}: projected on the top {et} principal directions (approximation)"))
            }
            _ => {}
        }

        Ok(projection)
    }

    /// The LSTM layers (each direction's four tensors, gate-block aware), pass-through layers on
    /// top when deepening.
    fn lstm_layers(&mut self, projection: Option<&[f32]>) -> Result<()> {
        let (src_cfg, tgt_cfg, src, units) = (self.src_cfg, self.tgt_cfg, self.src, self.units);
        let (hs, ht, es, et) = (src_cfg.hidden, tgt_cfg.hidden, src_cfg.embed, tgt_cfg.embed);
        let (ls, lt) = (src_cfg.layers, tgt_cfg.layers);
        let (ds, dt) = (src_cfg.lstm().dirs(), tgt_cfg.lstm().dirs());
        let alpha = pass_through_alpha();
        for l in 0..lt {
            for d in 0..dt {
                let name = |kind: &str| LstmConfig::param_name("lstm.", kind, l, d == 1);
                let input = tgt_cfg.lstm().layer_input(l);
                if l < ls && d >= ds {
                    // A new reverse direction keeps its fresh init; its consumers start at zero (below).
                    continue;
                }
                self.mapped.extend(["weight_ih", "weight_hh", "bias_ih", "bias_hh"].map(name));
                if l >= ls {
                    // Pass-through layer on top.
                    let wih = &mut self.out.get_mut(&name("weight_ih")).expect("target layer").1;
                    wih.iter_mut().for_each(|v| *v = 0.0);
                    for j in 0..ht {
                        wih[(2 * ht + j) * input + d * ht + j] = alpha;
                    }
                    self.out.get_mut(&name("weight_hh")).expect("target layer").1.iter_mut().for_each(|v| *v = 0.0);
                    self.out.get_mut(&name("bias_hh")).expect("target layer").1.iter_mut().for_each(|v| *v = 0.0);
                    let b = &mut self.out.get_mut(&name("bias_ih")).expect("target layer").1;
                    for j in 0..ht {
                        (b[j], b[ht + j], b[2 * ht + j], b[3 * ht + j]) = (GATE_BIAS, -GATE_BIAS, 0.0, GATE_BIAS);
                    }
                    continue;
                }
                let src_name = name;
                let (s_wih, s_whh) = (get(src, &src_name("weight_ih"))?, get(src, &src_name("weight_hh"))?);
                let (s_bih, s_bhh) = (get(src, &src_name("bias_ih"))?, get(src, &src_name("bias_hh"))?);
                let s_input = src_cfg.lstm().layer_input(l);
                // Layer 0 under an embedding projection reads P-projected inputs: W_ih·P.
                let s_wih: Vec<f32> = match (&projection, l) {
                    (Some(p), 0) => matmul(s_wih, p, 4 * hs, es, et),
                    _ => s_wih.to_vec(),
                };
                let s_cols = if l == 0 && projection.is_some() { et } else { s_input };
                let wih = &mut self.out.get_mut(&name("weight_ih")).expect("target layer").1;
                for q in 0..4 {
                    for j in 0..ht {
                        let (tr, sr) = (q * ht + j, q * hs + units.source[j]);
                        for col in 0..input {
                            let mapped = if l == 0 && projection.is_some() {
                                Some((col, 1.0))
                            } else {
                                input_column(l, col, src_cfg, tgt_cfg, units)
                            };
                            wih[tr * input + col] = match mapped {
                                Some((sc, scale)) if sc < s_cols => s_wih[sr * s_cols + sc] * scale,
                                _ => 0.0,
                            };
                        }
                    }
                }
                let whh = &mut self.out.get_mut(&name("weight_hh")).expect("target layer").1;
                for q in 0..4 {
                    for j in 0..ht {
                        let sr = q * hs + units.source[j];
                        for k in 0..ht {
                            whh[(q * ht + j) * ht + k] = s_whh[sr * hs + units.source[k]] * units.share[k];
                        }
                    }
                }
                for (bias, s_bias) in [("bias_ih", s_bih), ("bias_hh", s_bhh)] {
                    let b = &mut self.out.get_mut(&name(bias)).expect("target layer").1;
                    for q in 0..4 {
                        for j in 0..ht {
                            b[q * ht + j] = s_bias[q * hs + units.source[j]];
                        }
                    }
                }
            }
        }
        if lt > ls {
            self.notes.push(format!("layers {ls} → {lt}: {} pass-through layer(s) on top, α = {alpha:.3} (approximation)", lt - ls));
        } else if lt < ls {
            self.notes.push(format!("layers {ls} → {lt}: kept the bottom {lt} (approximation)"));
        }
        match (ds, dt) {
            (1, 2) => self
                .notes
                .push("unidirectional → bidirectional: fresh reverse direction, read with zero weights (function-preserving)".into()),
            (2, 1) => self.notes.push("bidirectional → unidirectional: reverse direction dropped (approximation)".into()),
            _ => {}
        }

        Ok(())
    }

    /// The heads: with the same pooling and classes their columns map as the units do; otherwise fresh.
    fn heads(&mut self) -> Result<()> {
        let (src_cfg, tgt_cfg, src, units) = (self.src_cfg, self.tgt_cfg, self.src, self.units);
        let (hs, ht) = (src_cfg.hidden, tgt_cfg.hidden);
        let (ds, dt) = (src_cfg.lstm().dirs(), tgt_cfg.lstm().dirs());
        for (head, classes_s, classes_t) in [("fc", src_cfg.classes, tgt_cfg.classes), ("domain", src_cfg.domains, tgt_cfg.domains)] {
            let wname = format!("{head}.weight");
            if classes_t == 0 {
                continue;
            }
            if classes_s != classes_t || src_cfg.pooling != tgt_cfg.pooling {
                self.notes.push(format!(
                    "{head}: fresh ({classes_s} → {classes_t} classes, pooling {} → {})",
                    src_cfg.pooling.name(),
                    tgt_cfg.pooling.name()
                ));
                continue;
            }
            let (fs, ft) = (src_cfg.features(), tgt_cfg.features());
            let sw = get(src, &wname)?;
            let w = &mut self.out.get_mut(&wname).expect("target head").1;
            for c in 0..classes_t {
                for col in 0..ft {
                    let (part, d, k) = (col / (dt * ht), (col / ht) % dt, col % ht);
                    w[c * ft + col] = if d < ds { sw[c * fs + part * ds * hs + d * hs + units.source[k]] * units.share[k] } else { 0.0 };
                }
            }
            let bname = format!("{head}.bias");
            self.out.get_mut(&bname).expect("target head").1.copy_from_slice(get(src, &bname)?);
            self.mapped.extend([wname, bname]);
        }
        Ok(())
    }
}
