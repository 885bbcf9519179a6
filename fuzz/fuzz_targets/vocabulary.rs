//! The tokenizer and the vocabulary: any text tokenizes; a vocabulary built from it or read from a
//! token list (as a checkpoint's metadata gives one) either is refused or encodes every text into ids
//! below its size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lstm_transfer::data::{Vocab, tokenize};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let tokens = tokenize(&text);
    let built = Vocab::build([tokens.as_slice()], 1, 1000);
    for id in built.encode(&text) {
        assert!((id as usize) < built.len());
    }
    let listed: Vec<String> = text.lines().map(str::to_string).collect();
    if let Ok(vocab) = Vocab::from_tokens(listed) {
        for id in vocab.encode(&text) {
            assert!((id as usize) < vocab.len());
        }
    }
    if let Ok(listed) = serde_json::from_str::<Vec<String>>(&text) {
        let _ = Vocab::from_tokens(listed);
    }
});
