//! Rows for the target's words that the source never saw, read off the source's subwords.
//!
//! fastText represents a word as the mean of its character n-gram vectors (n = 3..=5 of `<word>`,
//! with `<` and `>` marking the word's ends), so a word never seen in training still gets a vector
//! from the n-grams it shares with words that were. A source trained with word embeddings only has
//! no n-gram vectors, but its word vectors determine them: [`SubwordTable::fit`] finds n-gram vectors
//! z whose mean over each source word's n-grams reproduces the learned part of that word's row
//! (`LearnedRows` below; by backfitting from the n-grams' centroids, see [`FIT_PASSES`]), and
//! [`SubwordTable::induce`] gives a new word the rows' mean plus the mean of the vectors of its
//! n-grams that the source has: "loving" lands with "love" and "lovely". A word sharing no n-gram
//! with the source, or a source whose rows show nothing learned, gives nothing (the row stays fresh).
//! [`fidelity`] measures how well this recovers the source's own held-out words. An induced row has
//! no random part, so its norm is well below a trained or fresh row's: the LSTM reads the new word
//! as the source's words with those n-grams, minus what made each of them individual.
//!
//! Everything is host-side and reads only the source's `embedding.weight`: the target's checkpoint
//! keeps PyTorch's `nn.Embedding` layout, and every transfer method that copies the embedding
//! carries the induced rows (hetero maps them like source rows).

use std::collections::HashMap;

/// Lengths of the character n-grams, in characters (the end marks count).
pub const NGRAM_LENGTHS: std::ops::RangeInclusive<usize> = 3..=5;
/// Backfitting passes after the centroid start. Each pass adds to every n-gram the mean residual of
/// the words holding it: a damped, preconditioned least-squares step (stable: it never overshoots),
/// whose fixed point weights each word by its number of n-grams. Enough passes to take most of the
/// centroids' shrinkage out, few enough that the n-grams shared by many words keep a share of the
/// signal instead of ceding it all to rare, word-specific ones.
pub const FIT_PASSES: usize = 4;

/// The character n-grams of `word` marked `<word>` for n in [`NGRAM_LENGTHS`], each once, in order
/// of first appearance.
///
/// ```
/// use lstm_transfer::transfer::subword::char_ngrams;
/// let grams = char_ngrams("love");
/// assert_eq!(&grams[..4], ["<lo", "lov", "ove", "ve>"]);
/// assert!(grams.contains(&"<love".to_string()) && grams.contains(&"love>".to_string()));
/// ```
pub fn char_ngrams(word: &str) -> Vec<String> {
    ngrams_of(word, NGRAM_LENGTHS)
}

/// The character n-grams of `<word>` for n in `lengths`, each once, in order of first appearance.
pub fn ngrams_of(word: &str, lengths: std::ops::RangeInclusive<usize>) -> Vec<String> {
    let chars: Vec<char> = std::iter::once('<').chain(word.chars()).chain(std::iter::once('>')).collect();
    let mut seen = std::collections::HashSet::new();
    lengths
        .flat_map(|n| chars.windows(n).map(|w| w.iter().collect::<String>()).collect::<Vec<_>>())
        .filter(|g| seen.insert(g.clone()))
        .collect()
}

/// n-gram vectors fitted to a source's word vectors (see the module's doc).
pub struct SubwordTable {
    dim: usize,
    index: HashMap<String, usize>,
    /// `[n-grams, dim]` row-major: vectors of the learned part.
    vectors: Vec<f32>,
    /// The mean of the source rows, added back to every induced row.
    mean: Vec<f32>,
}

/// Fewest rows per embedding column to look for learned directions: with fewer, the median
/// eigenvalue underestimates the bulk's variance and noise directions would pass the edge.
const MIN_ROWS_PER_DIM: usize = 4;

/// How far above the bulk's Marchenko–Pastur edge a direction's variance must be to count as
/// learned: the largest eigenvalue of pure noise fluctuates around the edge (Tracy–Widom).
const EDGE_MARGIN: f64 = 1.25;

/// The source rows split into their mean, a learned part and noise. An embedding starts as
/// isotropic random rows (PyTorch's N(0, 1)) and training moves them along few directions: the
/// directions where the rows vary more than the isotropic bulk does are the learned ones. The bulk's
/// variance is estimated as the median eigenvalue of the rows' covariance, and its top edge as the
/// Marchenko–Pastur bound `median · (1 + √(dim / rows))²`; the directions above it (by
/// [`EDGE_MARGIN`]) span the learned part. A rare word's row is mostly its random start, which no
/// n-gram can predict: fitting the n-grams to whole rows gave induced rows at cosine 0.001–0.005
/// with the held-out words' own rows (the shipped web source, results/subword's source), so they are
/// fitted to the learned part.
struct LearnedRows<'a> {
    embedding: &'a [f32],
    dim: usize,
    mean: Vec<f32>,
    /// `[directions, dim]`: orthonormal learned directions.
    basis: Vec<f32>,
    directions: usize,
}

impl<'a> LearnedRows<'a> {
    fn new(embedding: &'a [f32], dim: usize, words: &[usize]) -> Self {
        let n = words.len().max(1) as f64;
        let row = |w: usize| &embedding[w * dim..(w + 1) * dim];
        let mut mean = vec![0f64; dim];
        for &w in words {
            mean.iter_mut().zip(row(w)).for_each(|(m, &x)| *m += x as f64 / n);
        }
        let mut learned = Self { embedding, dim, mean: mean.iter().map(|&m| m as f32).collect(), basis: Vec::new(), directions: 0 };
        if dim == 0 || words.len() < MIN_ROWS_PER_DIM * dim {
            return learned;
        }
        let centred = nalgebra::DMatrix::<f64>::from_fn(words.len(), dim, |i, c| row(words[i])[c] as f64 - mean[c]);
        let eigen = (centred.tr_mul(&centred) / n).symmetric_eigen();
        let mut values: Vec<f64> = eigen.eigenvalues.iter().copied().collect();
        values.sort_by(f64::total_cmp);
        let edge = EDGE_MARGIN * values[dim / 2] * (1.0 + (dim as f64 / n).sqrt()).powi(2);
        for (k, &value) in eigen.eigenvalues.iter().enumerate() {
            if value > edge {
                learned.basis.extend(eigen.eigenvectors.column(k).iter().map(|&x| x as f32));
                learned.directions += 1;
            }
        }
        learned
    }

    /// The learned part of row `w`: its centred row projected on the learned directions.
    fn signal(&self, w: usize) -> Vec<f32> {
        let centred: Vec<f32> = self.embedding[w * self.dim..(w + 1) * self.dim].iter().zip(&self.mean).map(|(x, m)| x - m).collect();
        let mut out = vec![0f32; self.dim];
        for u in self.basis.chunks(self.dim) {
            let along: f32 = u.iter().zip(&centred).map(|(a, b)| a * b).sum();
            out.iter_mut().zip(u).for_each(|(o, &a)| *o += along * a);
        }
        out
    }
}

impl SubwordTable {
    /// Fits n-gram vectors to the learned part (see the module's doc) of the rows of `embedding`
    /// (`[tokens.len(), dim]`) of every token in `words` (ids into `tokens`; the caller leaves out
    /// the specials).
    pub fn fit(tokens: &[String], embedding: &[f32], dim: usize, words: &[usize]) -> Self {
        let learned = LearnedRows::new(embedding, dim, words);
        Self::fit_passes(tokens, &learned, words, FIT_PASSES)
    }

    /// [`SubwordTable::fit`] on rows already split, with `passes` backfitting passes after the
    /// centroids.
    fn fit_passes(tokens: &[String], learned: &LearnedRows, words: &[usize], passes: usize) -> Self {
        let dim = learned.dim;
        let mut index: HashMap<String, usize> = HashMap::new();
        // Each fitted word: its learned part and the ids of its n-grams.
        let mut fitted: Vec<(Vec<f32>, Vec<usize>)> = Vec::new();
        if learned.directions > 0 {
            for &w in words {
                let grams = char_ngrams(&tokens[w])
                    .into_iter()
                    .map(|g| {
                        let next = index.len();
                        *index.entry(g).or_insert(next)
                    })
                    .collect();
                fitted.push((learned.signal(w), grams));
            }
        }
        let mut uses = vec![0usize; index.len()];
        for (_, grams) in &fitted {
            grams.iter().for_each(|&g| uses[g] += 1);
        }
        // Start at the centroids: each n-gram's vector is the mean of the words holding it.
        let mut vectors = vec![0f32; index.len() * dim];
        spread(&mut vectors, &fitted, &uses, dim, |row, _| row.to_vec());
        // Backfitting: add to each n-gram the mean residual of the words holding it.
        for _ in 0..passes {
            let current = vectors.clone();
            spread(&mut vectors, &fitted, &uses, dim, |row, grams| {
                let predicted = mean_of(&current, grams, dim);
                row.iter().zip(predicted).map(|(target, p)| target - p).collect()
            });
        }
        Self { dim, index, vectors, mean: learned.mean.clone() }
    }

    /// The source rows' mean plus the mean vector of `word`'s n-grams that the source has; None
    /// when it has none of them (or the source's rows show nothing learned).
    pub fn induce(&self, word: &str) -> Option<Vec<f32>> {
        self.induce_signal(word).map(|v| v.iter().zip(&self.mean).map(|(x, m)| x + m).collect())
    }

    /// The mean vector of `word`'s known n-grams (the learned part, without the rows' mean).
    fn induce_signal(&self, word: &str) -> Option<Vec<f32>> {
        let known: Vec<usize> = char_ngrams(word).iter().filter_map(|g| self.index.get(g).copied()).collect();
        (!known.is_empty()).then(|| mean_of(&self.vectors, &known, self.dim))
    }
}

/// How well induction recovers what the source learned: one source word in `HOLD_OUT_EVERY` is held
/// out, the table is fitted on the others, and each held-out word with a known n-gram is induced and
/// compared with the learned part of its own row.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fidelity {
    /// Learned directions found in the source's rows (0: nothing to induce; then both figures are 0).
    pub directions: usize,
    /// Mean cosine between the induced rows and the learned part of the held-out words' own rows,
    /// over the words that got one (0 when the rows show nothing learned).
    pub cosine: f64,
    /// Share of the held-out words that got an induced row (shared an n-gram with the others).
    pub induced_share: f64,
}

/// One source word in this many is held out by [`fidelity`].
pub const HOLD_OUT_EVERY: usize = 10;

/// [`Fidelity`] of induction on the source's own words `words` (ids into `tokens`, rows of
/// `embedding` `[tokens.len(), dim]`), compared on the learned part; None with fewer than
/// [`HOLD_OUT_EVERY`] words.
pub fn fidelity(tokens: &[String], embedding: &[f32], dim: usize, words: std::ops::Range<usize>) -> Option<Fidelity> {
    if words.len() < HOLD_OUT_EVERY {
        return None;
    }
    let start = words.start;
    let (held_out, kept): (Vec<usize>, Vec<usize>) = words.partition(|w| (w - start) % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1);
    // Directions, mean and n-grams from the kept words only: nothing of the held-out rows leaks in.
    let learned = LearnedRows::new(embedding, dim, &kept);
    let table = SubwordTable::fit_passes(tokens, &learned, &kept, FIT_PASSES);
    let cosines: Vec<f64> =
        held_out.iter().filter_map(|&w| table.induce_signal(&tokens[w]).map(|v| cosine(&v, &learned.signal(w)))).collect();
    let cosine = if cosines.is_empty() { 0.0 } else { cosines.iter().sum::<f64>() / cosines.len() as f64 };
    Some(Fidelity { directions: learned.directions, cosine, induced_share: cosines.len() as f64 / held_out.len() as f64 })
}

/// Cosine of two vectors (0 when either is zero).
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let n = norm(a) * norm(b);
    if n == 0.0 { 0.0 } else { dot / n }
}

/// Adds to each n-gram's vector the mean, over the words holding it, of `value(word's row, its n-grams)`.
fn spread(
    vectors: &mut [f32],
    fitted: &[(Vec<f32>, Vec<usize>)],
    uses: &[usize],
    dim: usize,
    value: impl Fn(&[f32], &[usize]) -> Vec<f32>,
) {
    for (row, grams) in fitted {
        let v = value(row, grams);
        for &g in grams {
            let share = 1.0 / uses[g] as f32;
            for (z, x) in vectors[g * dim..(g + 1) * dim].iter_mut().zip(&v) {
                *z += share * x;
            }
        }
    }
}

/// The mean of the rows `ids` of `vectors` (`[_, dim]`); `ids` is not empty.
fn mean_of(vectors: &[f32], ids: &[usize], dim: usize) -> Vec<f32> {
    let mut sum = vec![0f32; dim];
    for &g in ids {
        sum.iter_mut().zip(&vectors[g * dim..(g + 1) * dim]).for_each(|(s, z)| *s += z);
    }
    sum.iter().map(|s| s / ids.len() as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn ngrams_mark_the_ends_and_handle_short_and_non_ascii_words() {
        assert_eq!(char_ngrams("a"), ["<a>"]);
        assert_eq!(char_ngrams("ok"), ["<ok", "ok>", "<ok>"]);
        assert_eq!(char_ngrams("été")[..3], ["<ét", "été", "té>"]);
        assert_eq!(char_ngrams("aaaa").iter().filter(|g| *g == "aaa").count(), 1, "each n-gram once");
    }

    /// A source embedding as training leaves it: N(0, 1) rows of width 16, and along the first axis
    /// +3 for words starting "lov", −3 for "hat" (random three-letter endings), 0 for "tab".
    fn source() -> (Vec<String>, Vec<f32>) {
        let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut tokens: Vec<String> = vec!["<pad>".into(), "<unk>".into()];
        let mut embedding = vec![0f32; 2 * 16];
        for i in 0..300 {
            let (stem, sign) = [("lov", 1.0), ("hat", -1.0), ("tab", 0.0)][i % 3];
            let ending: String = (0..3).map(|_| g.random_range(b'a'..=b'z') as char).collect();
            tokens.push(format!("{stem}{ending}"));
            let noise: Vec<f32> = (0..16).map(|_| g.random::<f32>() * 2.0 - 1.0).map(|u| u * 3f32.sqrt()).collect();
            embedding.extend(noise.iter().enumerate().map(|(c, n)| n + if c == 0 { 3.0 * sign } else { 0.0 }));
        }
        (tokens, embedding)
    }

    #[test]
    fn a_new_word_lands_with_the_source_words_it_shares_ngrams_with() {
        let (tokens, embedding) = source();
        let words: Vec<usize> = (2..tokens.len()).collect();
        let table = SubwordTable::fit(&tokens, &embedding, 16, &words);
        let loving = table.induce("loving").expect("shares <lo, lov, <lov with the lov-words");
        let hates = table.induce("hates").expect("shares <ha, hat, <hat with the hat-words");
        assert!(loving[0] > 2.0 && hates[0] < -2.0, "first axis: loving {}, hates {}", loving[0], hates[0]);
        assert!(loving[1..].iter().all(|x| x.abs() < 1.0), "the noise is not learned: {loving:?}");
        assert_eq!(table.induce("123"), None, "no n-gram in common (the endings are letters)");
    }

    #[test]
    fn fidelity_compares_the_learned_part_of_held_out_words() {
        let (tokens, embedding) = source();
        let f = fidelity(&tokens, &embedding, 16, 2..tokens.len()).unwrap();
        assert_eq!((f.directions, f.induced_share), (1, 1.0));
        assert!(f.cosine > 0.8, "{f:?}");
        assert_eq!(fidelity(&tokens, &embedding, 16, 2..5), None, "too few words to hold any out");
    }

    #[test]
    fn rows_without_learned_directions_induce_nothing() {
        // The first axis replaced by values unrelated to the words' stems, of the noise's variance.
        let (tokens, mut embedding) = source();
        for (r, x) in embedding.iter_mut().enumerate().skip(2 * 16).step_by(16) {
            *x = ((r / 16 * 7919) % 17) as f32 / 17.0 * 3.4 - 1.7;
        }
        let words: Vec<usize> = (2..tokens.len()).collect();
        assert_eq!(SubwordTable::fit(&tokens, &embedding, 16, &words).induce("loving"), None);
    }

    #[test]
    fn backfitting_explains_the_learned_part_better_than_centroids() {
        let (tokens, embedding) = source();
        let words: Vec<usize> = (2..tokens.len()).collect();
        let learned = LearnedRows::new(&embedding, 16, &words);
        assert_eq!(learned.directions, 1, "one learned axis");
        let error = |passes: usize| -> f32 {
            let table = SubwordTable::fit_passes(&tokens, &learned, &words, passes);
            let sq = |w: usize| {
                table.induce_signal(&tokens[w]).unwrap().iter().zip(learned.signal(w)).map(|(a, b)| (a - b).powi(2)).sum::<f32>()
            };
            words.iter().map(|&w| sq(w)).sum()
        };
        let (centroids, fitted) = (error(0), error(FIT_PASSES));
        assert!(fitted < 0.5 * centroids, "squared error {fitted} after {FIT_PASSES} passes, {centroids} from the centroids");
    }
}
