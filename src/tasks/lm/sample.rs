//! Text from a trained language model, for a first look at what it learnt: the prompt is read, then
//! tokens are drawn one at a time from the softmax of the logits at a temperature, optionally among
//! the `top_k` most likely only.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::LanguageModel;
use crate::config::validate::{check_positive_f32, check_size};
use crate::error::Result;
use crate::gpu::GpuContext;

/// How tokens are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleConfig {
    /// Tokens to generate at most.
    pub tokens: usize,
    /// Divides the logits before the softmax: below 1 sharper, above 1 flatter.
    pub temperature: f32,
    /// Draw among the `top_k` most likely tokens only (0: all).
    pub top_k: usize,
    /// Seeds the draws.
    pub seed: u64,
}

/// Index `i` of `weights` with probability `weights[i] / Σ weights`, for `u` uniform in [0, 1).
fn draw(weights: &[(u32, f64)], u: f64) -> u32 {
    let total: f64 = weights.iter().map(|w| w.1).sum();
    let mut left = u * total;
    for &(token, w) in weights {
        if left < w {
            return token;
        }
        left -= w;
    }
    weights.last().map_or(0, |w| w.0)
}

/// The next token drawn from `logits`.
pub fn draw_token(logits: &[f32], cfg: &SampleConfig, rng: &mut ChaCha8Rng) -> u32 {
    let mut ranked: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &z)| (i as u32, z)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    if cfg.top_k > 0 {
        ranked.truncate(cfg.top_k);
    }
    let max = ranked.first().map_or(0.0, |r| r.1) as f64;
    let weights: Vec<(u32, f64)> = ranked.iter().map(|&(t, z)| (t, ((z as f64 - max) / cfg.temperature as f64).exp())).collect();
    draw(&weights, rng.random::<f64>())
}

/// Up to `cfg.tokens` tokens after `prompt` (ids; not empty), stopping after `stop` when given. The
/// model must have been made for one stream (`batch` 1); its state starts at zero.
pub fn sample(ctx: &GpuContext, model: &mut LanguageModel, prompt: &[u32], cfg: &SampleConfig, stop: Option<u32>) -> Result<Vec<u32>> {
    check_size("tokens", cfg.tokens, 1 << 20)?;
    check_positive_f32("temperature", cfg.temperature)?;
    check_size("prompt tokens", prompt.len(), usize::MAX)?;
    model.reset_state(ctx);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut logits = Vec::new();
    for chunk in prompt.chunks(model.steps_cap()) {
        logits = model.next_logits(ctx, chunk)?;
    }
    let mut out = Vec::with_capacity(cfg.tokens);
    while out.len() < cfg.tokens {
        let token = draw_token(&logits, cfg, &mut rng);
        out.push(token);
        if Some(token) == stop {
            break;
        }
        logits = model.next_logits(ctx, &[token])?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_softmax_and_top_k_keeps_the_likeliest() {
        let logits = [0.0f32, 2.0, 1.0, -1.0];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cfg = SampleConfig { tokens: 1, temperature: 1.0, top_k: 0, seed: 1 };
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            counts[draw_token(&logits, &cfg, &mut rng) as usize] += 1;
        }
        let z: f64 = logits.iter().map(|&l| (l as f64).exp()).sum();
        for (i, &c) in counts.iter().enumerate() {
            let expected = (logits[i] as f64).exp() / z;
            assert!((c as f64 / 20_000.0 - expected).abs() < 0.02, "token {i}: {c} draws, expected share {expected:.3}");
        }
        let top1 = SampleConfig { top_k: 1, ..cfg };
        assert!((0..100).all(|_| draw_token(&logits, &top1, &mut rng) == 1));
        let cold = SampleConfig { temperature: 0.01, ..cfg };
        assert!((0..100).all(|_| draw_token(&logits, &cold, &mut rng) == 1));
    }
}
