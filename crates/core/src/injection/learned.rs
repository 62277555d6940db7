//! The learned layer: a linear model over hashed n-grams of the [normalised](super::normal)
//! text, trained offline by `scripts/train-injection/` and shipped in the binary
//! (`model.bin`, 256 KiB of weights). No network, no download, no allocation per
//! call beyond the thread's reusable buffers.
//!
//! Features, all hashed into 2^18 buckets:
//! - every 4-byte window of the normalised UTF-8 (character 4-grams of Latin
//!   text, two-character grams of Cyrillic);
//! - outside ASCII, every pair of adjacent characters (Chinese and Japanese
//!   bigrams, which byte windows would cut apart);
//! - every word and every pair of adjacent words.
//!
//! A text is cut into segments at sentence ends and line breaks; a *window* is one,
//! two or three adjacent segments, and the text's score is the highest window
//! score. An instruction planted in the middle of a long document is read with
//! the sentences around it, not diluted by the whole document. The value of a
//! feature in a window is its count divided by the square root of the window's
//! feature count; the training script builds its matrix the same way from this
//! code's output (`cargo run -p airlock_core --example injection_features`), so
//! training and serving cannot disagree on a feature.

use std::cell::RefCell;
use std::sync::OnceLock;

use super::normal::normalise_into;

/// log2 of the number of buckets.
pub const BITS: u32 = 18;
const BUCKETS: usize = 1 << BITS;

const SEED_GRAM4: u64 = 0x243F_6A88_85A3_08D3;
const SEED_WORD: u64 = 0xA409_3822_299F_31D0;
const SEED_PAIR: u64 = 0x082E_FA98_EC4E_6C89;
const SEED_CHARS: u64 = 0x4528_21E6_38D0_1377;

/// A window needs this many features before its score counts; a two-word
/// fragment says too little to be judged alone.
const MIN_WINDOW_FEATURES: u32 = 24;

#[inline]
fn bucket(value: u64, seed: u64) -> u32 {
    ((value ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS)) as u32
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// FNV-1a: words are short, and it can be computed a byte at a time.
fn word_hash(word: &[u8]) -> u64 {
    word.iter().fold(FNV_OFFSET, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

/// Where segments end: after a line break, after `.`, `!`, `?` or `;` followed by
/// a space, and after the CJK full stop, exclamation and question marks.
fn segment_ends(text: &[u8], mut each: impl FnMut(usize)) {
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        let end = match b {
            b'\n' => Some(i + 1),
            b'.' | b'!' | b'?' | b';' if text.get(i + 1) == Some(&b' ') => Some(i + 2),
            // 。 ！ ？ are E3 80 82, EF BC 81, EF BC 9F.
            0xE3 if text.get(i + 1) == Some(&0x80) && text.get(i + 2) == Some(&0x82) => Some(i + 3),
            0xEF if text.get(i + 1) == Some(&0xBC)
                && matches!(text.get(i + 2), Some(0x81 | 0x9F)) =>
            {
                Some(i + 3)
            }
            _ => None,
        };
        match end {
            Some(end) => {
                each(end);
                i = end;
            }
            None => i += 1,
        }
    }
}

/// Fills `segments` with one accumulator per segment of the normalised text and
/// calls `each(accumulator, bucket)` for every feature, with the accumulator of
/// the segment the feature starts in.
pub fn walk_features<T: Clone + Default>(
    text: &[u8],
    segments: &mut Vec<T>,
    mut each: impl FnMut(&mut T, u32),
) {
    let mut ends = Vec::new();
    segment_ends(text, |end| ends.push(end));
    if ends.last() != Some(&text.len()) {
        ends.push(text.len());
    }
    segments.clear();
    segments.resize(ends.len(), T::default());
    let mut each = |segment: usize, bucket: u32| each(&mut segments[segment], bucket);
    // Segment by segment, so the inner loop does not check for a boundary at
    // every byte. A word belongs to the segment it starts in; its FNV-1a hash is
    // built as its bytes go by.
    let len = text.len();
    let mut seg_start = 0;
    let mut word: Option<(usize, u64)> = None;
    let mut previous_word: Option<u64> = None;
    for (segment, &seg_end) in ends.iter().enumerate() {
        for i in seg_start..seg_end {
            let b = text[i];
            if i + 4 <= len {
                let gram = u32::from_le_bytes([text[i], text[i + 1], text[i + 2], text[i + 3]]);
                each(segment, bucket(u64::from(gram), SEED_GRAM4));
            }
            if b >= 0xC0 {
                // Outside ASCII, byte windows cut characters apart: two whole
                // characters from here (a CJK bigram, or two Cyrillic letters).
                if let Some(end) = chars_end(text, i, 2) {
                    each(segment, bucket(word_hash(&text[i..end]), SEED_CHARS));
                }
            }
            // Words: runs of bytes that are not ASCII space or punctuation
            // (multi-byte characters count as word bytes; CJK runs become long
            // "words", which the byte grams cover).
            if b >= 0x80 || b.is_ascii_alphanumeric() {
                let (_, h) = word.get_or_insert((segment, FNV_OFFSET));
                *h = (*h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            } else if let Some((word_segment, h)) = word.take() {
                emit_word(h, previous_word, word_segment, &mut each);
                previous_word = Some(h);
            }
        }
        seg_start = seg_end;
    }
    if let Some((word_segment, h)) = word {
        emit_word(h, previous_word, word_segment, &mut each);
    }
}

/// The end of `count` whole characters from `start`, if the text has them.
#[inline]
fn chars_end(text: &[u8], start: usize, count: usize) -> Option<usize> {
    let mut end = start;
    for _ in 0..count {
        let len = match *text.get(end)? {
            b if b < 0x80 => 1,
            b if b >= 0xF0 => 4,
            b if b >= 0xE0 => 3,
            _ => 2,
        };
        end += len;
    }
    (end <= text.len()).then_some(end)
}

fn emit_word(h: u64, previous: Option<u64>, segment: usize, each: &mut impl FnMut(usize, u32)) {
    each(segment, bucket(h, SEED_WORD));
    if let Some(p) = previous {
        each(segment, bucket(p.rotate_left(23) ^ h, SEED_PAIR));
    }
}

/// The shipped model.
pub struct Model {
    /// One signed byte per bucket; a fixed size, so no lookup needs a bounds check.
    weights: &'static [u8; BUCKETS],
    scale: f32,
    bias: f32,
    /// A direct text scoring at or above this is an attack.
    pub direct_threshold: f32,
    /// A document (tool result, quoted material) scoring at or above this holds
    /// an instruction addressed to the model.
    pub indirect_threshold: f32,
    /// Scores from here up to the threshold are uncertain (what a judge reads).
    pub uncertain_from: f32,
}

/// The model file could not be read (a build shipped a broken `model.bin`; a test
/// loads it, so this does not happen in a tested build).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadModel;

const MAGIC: &[u8; 8] = b"ALINJ001";
static MODEL_FILE: &[u8] = include_bytes!("model.bin");

impl Model {
    /// Parses a model file: magic, bits (u32), scale, bias, three thresholds
    /// (f32, little-endian), then one signed byte per bucket.
    pub fn parse(bytes: &'static [u8]) -> Result<Model, BadModel> {
        let header = 8 + 4 + 5 * 4;
        if bytes.len() != header + BUCKETS || &bytes[..8] != MAGIC {
            return Err(BadModel);
        }
        let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        if u32::from_le_bytes(word(8)) != BITS {
            return Err(BadModel);
        }
        let float = |at: usize| f32::from_le_bytes(word(at));
        let model = Model {
            scale: float(12),
            bias: float(16),
            direct_threshold: float(20),
            indirect_threshold: float(24),
            uncertain_from: float(28),
            weights: bytes[header..].try_into().map_err(|_| BadModel)?,
        };
        let sane = |x: f32| x.is_finite();
        if ![model.scale, model.bias].into_iter().all(sane)
            || ![
                model.direct_threshold,
                model.indirect_threshold,
                model.uncertain_from,
            ]
            .into_iter()
            .all(|t| (0.0..=1.0).contains(&t))
        {
            return Err(BadModel);
        }
        Ok(model)
    }

    #[inline]
    fn weight(&self, bucket: u32) -> i32 {
        i32::from(self.weights[bucket as usize & (BUCKETS - 1)] as i8)
    }

    /// The probability that the normalised `text` holds an attack: the highest
    /// score of its windows.
    pub fn score_normalised(&self, text: &[u8], segments: &mut Vec<(i32, u32)>) -> f32 {
        walk_features(text, segments, |s, bucket| {
            s.0 += self.weight(bucket);
            s.1 += 1;
        });
        let total: u32 = segments.iter().map(|s| s.1).sum();
        if total == 0 {
            return 0.0;
        }
        let mut best = f32::NEG_INFINITY;
        for start in 0..segments.len() {
            let (mut sum, mut count) = (0i32, 0u32);
            for s in &segments[start..segments.len().min(start + 3)] {
                sum += s.0;
                count += s.1;
                // Short texts are judged whole, however few features they have.
                if count >= MIN_WINDOW_FEATURES || count == total {
                    best = best.max(self.logit(sum, count));
                }
            }
        }
        if best == f32::NEG_INFINITY {
            return 0.0;
        }
        1.0 / (1.0 + (-best).exp())
    }

    fn logit(&self, sum: i32, count: u32) -> f32 {
        if count == 0 {
            return self.bias;
        }
        self.bias + self.scale * sum as f32 / (count as f32).sqrt()
    }
}

/// The shipped model, parsed on first use.
pub fn model() -> Result<&'static Model, BadModel> {
    static MODEL: OnceLock<Result<Model, BadModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| Model::parse(MODEL_FILE))
        .as_ref()
        .map_err(|e| *e)
}

struct Scratch {
    normal: String,
    fold: String,
    segments: Vec<(i32, u32)>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch {
        normal: String::new(),
        fold: String::new(),
        segments: Vec::new(),
    }) };
}

/// The model's score of `text` (0 = benign, 1 = attack).
pub fn score(text: &str) -> Result<f32, BadModel> {
    let model = model()?;
    Ok(SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let Scratch {
            normal,
            fold,
            segments,
        } = &mut *scratch;
        normalise_into(text, normal, fold);
        let score = model.score_normalised(normal.as_bytes(), segments);
        // Keep the thread's buffers from growing for good after one huge text.
        if normal.capacity() > 1 << 20 {
            *normal = String::new();
            *fold = String::new();
        }
        score
    }))
}

/// The features of a text, per segment, for the training script.
pub fn segment_features(text: &str) -> Vec<Vec<u32>> {
    let (mut normal, mut fold) = (String::new(), String::new());
    normalise_into(text, &mut normal, &mut fold);
    let mut segments: Vec<Vec<u32>> = Vec::new();
    walk_features(normal.as_bytes(), &mut segments, |s, bucket| s.push(bucket));
    segments
}
