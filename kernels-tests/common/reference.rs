//! Plain-Rust f64 references of every kernel, written for clarity, not speed. Layouts match the
//! shaders' headers: sequences time-major [T,B,…], ids batch-first [B,T], gates i,f,g,o.

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// C[m,n] = op(A)·op(B); A is [m,k] (or [k,m] if ta), B is [k,n] (or [n,k] if tb).
pub fn matmul(a: &[f64], b: &[f64], m: usize, n: usize, k: usize, ta: bool, tb: bool) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k)
                .map(|p| {
                    let av = if ta { a[p * m + i] } else { a[i * k + p] };
                    let bv = if tb { b[j * k + p] } else { b[p * n + j] };
                    av * bv
                })
                .sum();
        }
    }
    c
}

/// One LSTM direction's forward results.
pub struct LstmOut {
    pub gates: Vec<f64>,  // [T,B,4H] activations
    pub states: Vec<f64>, // [2][T+1][B][H]
    pub y: Vec<f64>,      // [T,B,H]
}

pub struct LstmShape {
    pub b: usize,
    pub t: usize,
    pub h: usize,
    pub reverse: bool,
}

impl LstmShape {
    pub fn st(&self, part: usize, slot: usize, b: usize, j: usize) -> usize {
        ((part * (self.t + 1) + slot) * self.b + b) * self.h + j
    }
    pub fn time(&self, s: usize) -> usize {
        if self.reverse { self.t - 1 - s } else { s }
    }
    pub fn before(&self, t: usize) -> usize {
        if self.reverse { t + 1 } else { t }
    }
    pub fn after(&self, t: usize) -> usize {
        if self.reverse { t } else { t + 1 }
    }
    pub fn first(&self) -> usize {
        if self.reverse { self.t } else { 0 }
    }
}

/// Sequential LSTM recurrence given pre = x·W_ihᵀ + b_ih + b_hh.
pub fn lstm_forward(sh: &LstmShape, pre: &[f64], w_hh: &[f64], lengths: &[u32], state0: &[f64]) -> LstmOut {
    let (bn, tn, h) = (sh.b, sh.t, sh.h);
    let mut out = LstmOut { gates: vec![0.0; tn * bn * 4 * h], states: vec![0.0; 2 * (tn + 1) * bn * h], y: vec![0.0; tn * bn * h] };
    for b in 0..bn {
        for j in 0..h {
            out.states[sh.st(0, sh.first(), b, j)] = state0[b * h + j];
            out.states[sh.st(1, sh.first(), b, j)] = state0[(bn + b) * h + j];
        }
        for s in 0..tn {
            let t = sh.time(s);
            let row = t * bn + b;
            for j in 0..h {
                let (src, dst) = (sh.before(t), sh.after(t));
                let mut hn = out.states[sh.st(0, src, b, j)];
                let mut cn = out.states[sh.st(1, src, b, j)];
                if (t as u32) < lengths[b] {
                    let z: Vec<f64> = (0..4)
                        .map(|g| {
                            pre[row * 4 * h + g * h + j]
                                + (0..h).map(|k| w_hh[(g * h + j) * h + k] * out.states[sh.st(0, src, b, k)]).sum::<f64>()
                        })
                        .collect();
                    let (i, f, gg, o) = (sigmoid(z[0]), sigmoid(z[1]), z[2].tanh(), sigmoid(z[3]));
                    cn = f * cn + i * gg;
                    hn = o * cn.tanh();
                    for (g, v) in [i, f, gg, o].into_iter().enumerate() {
                        out.gates[row * 4 * h + g * h + j] = v;
                    }
                }
                out.states[sh.st(0, dst, b, j)] = hn;
                out.states[sh.st(1, dst, b, j)] = cn;
                out.y[row * h + j] = hn;
            }
        }
    }
    out
}

/// Backward through the recurrence: returns (dgates [T,B,4H] w.r.t. pre-activations, d_state0 [2,B,H]).
pub fn lstm_backward(sh: &LstmShape, w_hh: &[f64], lengths: &[u32], fwd: &LstmOut, dy: &[f64], d_state_n: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (bn, tn, h) = (sh.b, sh.t, sh.h);
    let mut dgates = vec![0.0; tn * bn * 4 * h];
    let mut ds = d_state_n.to_vec();
    for b in 0..bn {
        for s in (0..tn).rev() {
            let t = sh.time(s);
            let row = t * bn + b;
            let active = (t as u32) < lengths[b];
            for j in 0..h {
                let dh = ds[b * h + j] + dy[row * h + j];
                if !active {
                    ds[b * h + j] = dh;
                    continue;
                }
                let g = |k: usize| fwd.gates[row * 4 * h + k * h + j];
                let (i, f, gg, o) = (g(0), g(1), g(2), g(3));
                let c_prev = fwd.states[sh.st(1, sh.before(t), b, j)];
                let tc = fwd.states[sh.st(1, sh.after(t), b, j)].tanh();
                let dc = ds[(bn + b) * h + j] + dh * o * (1.0 - tc * tc);
                dgates[row * 4 * h + j] = dc * gg * i * (1.0 - i);
                dgates[row * 4 * h + h + j] = dc * c_prev * f * (1.0 - f);
                dgates[row * 4 * h + 2 * h + j] = dc * i * (1.0 - gg * gg);
                dgates[row * 4 * h + 3 * h + j] = dh * tc * o * (1.0 - o);
                ds[(bn + b) * h + j] = dc * f;
            }
            if active {
                for k in 0..h {
                    ds[b * h + k] = (0..4 * h).map(|r| w_hh[r * h + k] * dgates[row * 4 * h + r]).sum();
                }
            }
        }
    }
    (dgates, ds)
}

/// x[T,B,E] = table[ids[B,T]].
pub fn gather(ids: &[u32], table: &[f64], b: usize, t: usize, e: usize) -> Vec<f64> {
    let mut x = vec![0.0; t * b * e];
    for tt in 0..t {
        for bb in 0..b {
            let id = ids[bb * t + tt] as usize;
            x[(tt * b + bb) * e..(tt * b + bb + 1) * e].copy_from_slice(&table[id * e..(id + 1) * e]);
        }
    }
    x
}

/// d_table[V,E] = Σ over valid positions (t < lengths[b]) of dx[t,b,:] into row ids[b,t].
pub fn scatter_add(ids: &[u32], lengths: &[u32], dx: &[f64], v: usize, b: usize, t: usize, e: usize) -> Vec<f64> {
    let mut d = vec![0.0; v * e];
    for bb in 0..b {
        for tt in 0..lengths[bb] as usize {
            let id = ids[bb * t + tt] as usize;
            for k in 0..e {
                d[id * e + k] += dx[(tt * b + bb) * e + k];
            }
        }
    }
    d
}

/// Source row of the `last` pooling for feature column c of row b.
pub fn pool_source(lengths: &[u32], b: usize, bn: usize, c: usize, h: usize, f: usize) -> usize {
    let t = if c >= h { 0 } else { lengths[b] as usize - 1 };
    (t * bn + b) * f + c
}

/// A pooling, in the order the concatenation uses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PoolKind {
    Last,
    Max,
    Mean,
}

/// Index into y [T,B,F] that the max pooling of (b, c) picks: the first t holding the maximum.
fn arg_max(y: &[f64], lengths: &[u32], b: usize, bn: usize, c: usize, f: usize) -> usize {
    let mut best = 0;
    for t in 1..lengths[b] as usize {
        if y[(t * bn + b) * f + c] > y[(best * bn + b) * f + c] {
            best = t;
        }
    }
    (best * bn + b) * f + c
}

/// features [B, kinds·F] from y [T,B,F].
pub fn pool(y: &[f64], lengths: &[u32], bn: usize, h: usize, f: usize, kinds: &[PoolKind]) -> Vec<f64> {
    let w = kinds.len() * f;
    let mut out = vec![0.0; bn * w];
    for b in 0..bn {
        let len = lengths[b] as usize;
        for c in 0..f {
            for (k, kind) in kinds.iter().enumerate() {
                out[b * w + k * f + c] = match kind {
                    PoolKind::Last => y[pool_source(lengths, b, bn, c, h, f)],
                    PoolKind::Max => y[arg_max(y, lengths, b, bn, c, f)],
                    PoolKind::Mean => (0..len).map(|t| y[(t * bn + b) * f + c]).sum::<f64>() / len as f64,
                };
            }
        }
    }
    out
}

/// dy [T,B,F] of the pooling, given d_features [B, kinds·F].
pub fn pool_backward(y: &[f64], lengths: &[u32], dfeat: &[f64], bn: usize, tn: usize, h: usize, f: usize, kinds: &[PoolKind]) -> Vec<f64> {
    let w = kinds.len() * f;
    let mut dy = vec![0.0; tn * bn * f];
    for b in 0..bn {
        let len = lengths[b] as usize;
        for c in 0..f {
            for (k, kind) in kinds.iter().enumerate() {
                let g = dfeat[b * w + k * f + c];
                match kind {
                    PoolKind::Last => dy[pool_source(lengths, b, bn, c, h, f)] += g,
                    PoolKind::Max => dy[arg_max(y, lengths, b, bn, c, f)] += g,
                    PoolKind::Mean => (0..len).for_each(|t| dy[(t * bn + b) * f + c] += g / len as f64),
                }
            }
        }
    }
    dy
}

/// PCG's output permutation, as in shaders/dropout.wgsl.
pub fn pcg(v: u32) -> u32 {
    let state = v.wrapping_mul(747796405).wrapping_add(2891336453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277803737);
    (word >> 22) ^ word
}

/// Whether dropout keeps element i.
pub fn dropout_keep(i: u32, counter: u32, seed: u32, threshold: u32) -> bool {
    pcg(i.wrapping_add(pcg(counter.wrapping_add(pcg(seed))))) >= threshold
}

/// (mean loss, d_logits, correct) of softmax cross-entropy; rows labelled u32::MAX are ignored.
pub fn cross_entropy(logits: &[f64], labels: &[u32], r: usize, c: usize) -> (f64, Vec<f64>, usize) {
    let n = labels.iter().filter(|&&l| l != u32::MAX).count().max(1) as f64;
    let (mut loss, mut correct) = (0.0, 0);
    let mut d = vec![0.0; r * c];
    for i in 0..r {
        let row = &logits[i * c..(i + 1) * c];
        let label = labels[i];
        if label == u32::MAX {
            continue;
        }
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|z| (z - m).exp()).sum();
        loss += s.ln() + m - row[label as usize];
        let best = (0..c).fold(0, |b, k| if row[k] > row[b] { k } else { b });
        correct += (best == label as usize) as usize;
        for k in 0..c {
            d[i * c + k] = ((row[k] - m).exp() / s - if k == label as usize { 1.0 } else { 0.0 }) / n;
        }
    }
    (loss / n, d, correct)
}

pub fn mse(pred: &[f64], target: &[f64]) -> (f64, Vec<f64>) {
    let n = pred.len() as f64;
    let loss = pred.iter().zip(target).map(|(p, t)| (p - t) * (p - t)).sum::<f64>() / n;
    (loss, pred.iter().zip(target).map(|(p, t)| 2.0 * (p - t) / n).collect())
}

pub fn softmax(logits: &[f64], r: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        let row = &logits[i * c..(i + 1) * c];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|z| (z - m).exp()).sum();
        for k in 0..c {
            out[i * c + k] = (row[k] - m).exp() / s;
        }
    }
    out
}

pub fn column_sum(x: &[f64], r: usize, c: usize) -> Vec<f64> {
    (0..c).map(|j| (0..r).map(|i| x[i * c + j]).sum()).collect()
}

/// One Adam (decay 0/1) or AdamW (decay 2) step on (p, m, v), PyTorch's formulation.
#[allow(clippy::too_many_arguments)]
pub fn adam(
    p: &mut [f64],
    g: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    lr: f64,
    b1: f64,
    b2: f64,
    eps: f64,
    wd: f64,
    decay: u32,
    step: i32,
    clip: f64,
) {
    let (bc1, bc2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
    for i in 0..p.len() {
        let mut gi = g[i] * clip;
        if decay == 1 {
            gi += wd * p[i];
        }
        if decay == 2 {
            p[i] -= lr * wd * p[i];
        }
        m[i] = b1 * m[i] + (1.0 - b1) * gi;
        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
        p[i] -= (lr / bc1) * m[i] / (v[i].sqrt() / bc2.sqrt() + eps);
    }
}
