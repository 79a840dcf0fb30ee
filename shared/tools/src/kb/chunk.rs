//! Splits a document into overlapping chunks counted in OpenAI `cl100k_base` tokens (the
//! tokenizer of `text-embedding-3-small`, embedded in `tiktoken-rs`: nothing is downloaded).
//!
//! Chunks are windows of [`CHUNK_TOKENS`] tokens of the document's own tokenization, each
//! starting [`OVERLAP_TOKENS`] before the previous one ended, so a sentence cut at a boundary is
//! whole in one of the two chunks. A chunk's text is the exact byte range of its tokens: the
//! chunks, minus their overlaps, concatenate to the document. Where a window edge would split a
//! multi-byte character (a character spread over several tokens), the edge moves back to the
//! character's start, so a chunk may be a few tokens shorter and an overlap a few tokens longer.

use tiktoken_rs::CoreBPE;

/// Tokens per chunk.
pub(crate) const CHUNK_TOKENS: usize = 500;
/// Tokens two consecutive chunks share.
pub(crate) const OVERLAP_TOKENS: usize = 50;

/// One chunk of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub index: usize,
    pub text: String,
    /// Its first token's position in the document's tokens.
    pub start_token: usize,
    /// How many of the document's tokens it covers.
    pub tokens: usize,
}

fn tokenizer() -> &'static CoreBPE {
    tiktoken_rs::cl100k_base_singleton()
}

/// The number of `cl100k_base` tokens of `text`.
#[cfg(test)]
pub(crate) fn count_tokens(text: &str) -> usize {
    tokenizer().encode_ordinary(text).len()
}

/// The chunks of `text` (none for an empty text).
pub(crate) fn chunks(text: &str) -> Vec<Chunk> {
    chunks_of(text, CHUNK_TOKENS, OVERLAP_TOKENS)
}

/// `text` in windows of `size` tokens overlapping by `overlap` (`overlap < size`).
fn chunks_of(text: &str, size: usize, overlap: usize) -> Vec<Chunk> {
    let bpe = tokenizer();
    let tokens = bpe.encode_ordinary(text);
    // offsets[i]: the byte where token i starts; offsets[n] = text.len().
    let mut offsets = Vec::with_capacity(tokens.len() + 1);
    let mut at = 0;
    offsets.push(0);
    for t in &tokens {
        at += bpe.decode_bytes(&[*t]).map_or(0, |b| b.len());
        offsets.push(at);
    }
    let clean = |i: usize| offsets.get(i).is_some_and(|&b| text.is_char_boundary(b));
    let n = tokens.len();
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let mut end = (start + size).min(n);
        while end > start + 1 && !clean(end) {
            end -= 1;
        }
        out.push(Chunk {
            index: out.len(),
            text: text[offsets[start]..offsets[end]].to_owned(),
            start_token: start,
            tokens: end - start,
        });
        if end == n {
            break;
        }
        let mut next = end.saturating_sub(overlap).max(start + 1);
        while next > start + 1 && !clean(next) {
            next -= 1;
        }
        start = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(words: usize) -> String {
        let vocabulary = [
            "the",
            "harbour",
            "pilot",
            "guided",
            "vessel",
            "through",
            "narrow",
            "channel,",
            "while",
            "tide",
            "turned.",
            "Cargo",
            "manifests",
            "listed",
            "grain",
            "and",
            "steel;",
        ];
        (0..words)
            .map(|i| vocabulary[(i * 7 + i / 3) % vocabulary.len()])
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn chunks_are_500_tokens_overlapping_by_50_and_rebuild_the_text() {
        let text = corpus(1_400);
        let total = count_tokens(&text);
        assert!(total > 1_200, "{total}");
        let chunks = chunks(&text);
        assert!(chunks.len() >= 3, "{}", chunks.len());
        let mut rebuilt = String::new();
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.index, i);
            assert!(c.tokens <= CHUNK_TOKENS);
            assert!(count_tokens(&c.text) <= CHUNK_TOKENS, "chunk {i}");
            if i + 1 < chunks.len() {
                assert_eq!(c.tokens, CHUNK_TOKENS, "only the last chunk is short");
                let next = &chunks[i + 1];
                assert_eq!(c.start_token + c.tokens - next.start_token, OVERLAP_TOKENS);
            }
            let overlap_bytes = if i == 0 {
                0
            } else {
                let prev = &chunks[i - 1];
                let shared = prev.start_token + prev.tokens - c.start_token;
                let bpe = tokenizer();
                let ids = bpe.encode_ordinary(&c.text);
                bpe.decode_bytes(&ids[..shared]).expect("decode").len()
            };
            rebuilt.push_str(&c.text[overlap_bytes..]);
        }
        assert_eq!(rebuilt, text);
        assert_eq!(chunks.last().map(|c| c.start_token + c.tokens), Some(total));
    }

    #[test]
    fn multibyte_characters_are_never_split() {
        let text = "Grüße aus Köln — 東京の港 🚢 ".repeat(200);
        let chunks = chunks_of(&text, 37, 5);
        assert!(chunks.len() > 10);
        for pair in chunks.windows(2) {
            assert!(pair[1].start_token > pair[0].start_token);
            assert!(pair[1].start_token < pair[0].start_token + pair[0].tokens);
        }
        assert_eq!(
            chunks.last().map(|c| c.start_token + c.tokens),
            Some(count_tokens(&text))
        );
    }

    #[test]
    fn short_and_empty_texts() {
        assert!(chunks("").is_empty());
        let one = chunks("hello world");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].text, "hello world");
        assert_eq!(one[0].tokens, 2);
    }
}
