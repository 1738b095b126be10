//! The transfer code `channel-w1-w2[-w3…]` (security.md §2.2): generation, parsing and
//! normalization into the PAKE password.
//!
//! Owns: the BIP39 English word list and the one canonical spelling of a code.
//! Does not own: channel allocation at the rendezvous, reading the code from a prompt.

use std::fmt;
use std::sync::OnceLock;

use rand_core::{CryptoRng, RngCore};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use super::{Error, Result};

/// Fewest secret words a code may have (22 bits).
pub const MIN_SECRET_WORDS: usize = 2;
/// Secret words in a generated code unless asked otherwise (33 bits).
pub const DEFAULT_SECRET_WORDS: usize = 3;
/// Most secret words a code may have.
pub const MAX_SECRET_WORDS: usize = 12;
/// Longest input [`Code::parse`] looks at, checked before normalizing.
pub const MAX_CODE_INPUT_LEN: usize = 512;

/// The BIP39 English list: 2048 lower-case ASCII words, sorted, unique by their first 4
/// letters, one per line.
const WORDLIST: &str = include_str!("bip39-english.txt");
const WORD_COUNT: usize = 2048;

/// A transfer code in canonical form: NFKC, lower case, words from the BIP39 English list
/// joined by single `-`. The first word is the public channel; the others are secret.
///
/// `Display` prints the code (it is meant to be shown to the sender); `Debug` shows only the
/// channel and the number of secret words. The text is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Code {
    /// Canonical text, e.g. `abandon-ability-able-about`.
    text: Zeroizing<String>,
    /// Byte length of the channel word, the prefix of `text` before the first `-`.
    channel_len: usize,
    secret_words: usize,
}

impl Code {
    /// Makes a random code: a random channel word and `secret_words` random secret words, each
    /// 11 uniform bits from `rng` (2048 is a power of two, so masking is unbiased).
    ///
    /// Fails with [`Error::BadCode`] when `secret_words` is not within
    /// [`MIN_SECRET_WORDS`]`..=`[`MAX_SECRET_WORDS`].
    pub fn generate(rng: &mut (impl RngCore + CryptoRng), secret_words: usize) -> Result<Self> {
        check_secret_word_count(secret_words)?;
        let list = words()?;
        let mut text = Zeroizing::new(String::with_capacity(9 * (secret_words + 1)));
        for i in 0..=secret_words {
            if i > 0 {
                text.push('-');
            }
            let index = (rng.next_u32() & 0x7FF) as usize;
            let word = list.get(index).ok_or(Error::Internal("word list index"))?;
            text.push_str(word);
        }
        Self::from_canonical(text, secret_words)
    }

    /// Parses a typed code.
    ///
    /// Normalization: NFKC, lower case, surrounding whitespace trimmed, and every run of
    /// whitespace and `-` between words becomes one `-`. Each word must be in the BIP39 English
    /// list; a word of at least 4 letters that is the start of exactly one list word (BIP39 words
    /// are unique by their first 4 letters) is completed to it, so `aban-abil-able` reads as
    /// `abandon-ability-able`. At least [`MIN_SECRET_WORDS`] secret words are required.
    ///
    /// Errors name the position of a bad word, never its text, since it may be a secret word.
    pub fn parse(input: &str) -> Result<Self> {
        if input.len() > MAX_CODE_INPUT_LEN {
            return Err(Error::BadCode(format!("longer than {MAX_CODE_INPUT_LEN} bytes")));
        }
        let normalized: Zeroizing<String> = Zeroizing::new(input.nfkc().flat_map(char::to_lowercase).collect());
        let list = words()?;
        let mut text = Zeroizing::new(String::with_capacity(normalized.len()));
        let mut count = 0usize;
        for typed in normalized.split(|c: char| c == '-' || c.is_whitespace()).filter(|w| !w.is_empty()) {
            count += 1;
            if count > MAX_SECRET_WORDS + 1 {
                return Err(Error::BadCode(format!("more than {MAX_SECRET_WORDS} secret words")));
            }
            if !typed.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(Error::BadCode(format!("word {count} has characters other than the letters a-z")));
            }
            let word = lookup(list, typed)
                .ok_or_else(|| Error::BadCode(format!("word {count} is not in the BIP39 English word list")))?;
            if count > 1 {
                text.push('-');
            }
            text.push_str(word);
        }
        if count == 0 {
            return Err(Error::BadCode("empty".into()));
        }
        Self::from_canonical(text, count - 1)
    }

    /// The public channel word, the only part the rendezvous and mDNS see.
    pub fn channel(&self) -> &str {
        &self.text[..self.channel_len]
    }

    /// The PAKE password: the whole canonical code as UTF-8 (ASCII) bytes.
    pub fn password(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Number of secret words (11 bits each).
    pub fn secret_words(&self) -> usize {
        self.secret_words
    }

    fn from_canonical(text: Zeroizing<String>, secret_words: usize) -> Result<Self> {
        check_secret_word_count(secret_words)?;
        let channel_len = text.find('-').ok_or(Error::Internal("code without '-'"))?;
        Ok(Self { text, channel_len, secret_words })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Code")
            .field("channel", &self.channel())
            .field("secret_words", &format_args!("{} (redacted)", self.secret_words))
            .finish()
    }
}

/// Turns `bits` (at least `11 * n` of them, read from the most significant bit of `bytes[0]`)
/// into `n` list words joined by `sep`; used for the PAKE verifier.
pub(crate) fn words_from_bits(bytes: &[u8], n: usize, sep: char) -> Result<String> {
    let list = words()?;
    let mut out = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut bytes = bytes.iter();
    for i in 0..n {
        while bits < 11 {
            let b = bytes.next().ok_or(Error::Internal("too few bits for words"))?;
            acc = (acc << 8) | u32::from(*b);
            bits += 8;
        }
        bits -= 11;
        let index = ((acc >> bits) & 0x7FF) as usize;
        acc &= (1 << bits) - 1;
        if i > 0 {
            out.push(sep);
        }
        out.push_str(list.get(index).ok_or(Error::Internal("word list index"))?);
    }
    Ok(out)
}

fn check_secret_word_count(n: usize) -> Result<()> {
    if n < MIN_SECRET_WORDS {
        return Err(Error::BadCode(format!("it needs a channel word and at least {MIN_SECRET_WORDS} secret words")));
    }
    if n > MAX_SECRET_WORDS {
        return Err(Error::BadCode(format!("more than {MAX_SECRET_WORDS} secret words")));
    }
    Ok(())
}

/// The word list, split once. Fails only if the embedded file is not 2048 words (a build bug,
/// also caught by a test).
fn words() -> Result<&'static [&'static str]> {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    let list = WORDS.get_or_init(|| WORDLIST.lines().collect());
    if list.len() == WORD_COUNT {
        Ok(list)
    } else {
        Err(Error::Internal("embedded word list is not 2048 words"))
    }
}

/// Exact match, or the one word starting with a typed prefix of at least 4 letters.
fn lookup(list: &'static [&'static str], typed: &str) -> Option<&'static str> {
    let at = list.partition_point(|w| *w < typed);
    let candidate = *list.get(at)?;
    if candidate == typed {
        return Some(candidate);
    }
    if typed.len() < 4 || !candidate.starts_with(typed) {
        return None;
    }
    // Unique by the first 4 letters, so at most one word has this prefix; check anyway.
    match list.get(at + 1) {
        Some(next) if next.starts_with(typed) => None,
        _ => Some(candidate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    #[test]
    fn word_list_is_bip39_english() {
        let list = words().unwrap();
        assert_eq!(list.len(), 2048);
        assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert_eq!(list[0], "abandon");
        assert_eq!(list[2047], "zoo");
        assert!(list.iter().all(|w| (3..=8).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase())));
        let mut prefixes: Vec<&str> = list.iter().map(|w| &w[..w.len().min(4)]).collect();
        prefixes.dedup();
        assert_eq!(prefixes.len(), 2048, "unique by first 4 letters");
    }

    #[test]
    fn generate_default_and_roundtrip() {
        for _ in 0..50 {
            let code = Code::generate(&mut OsRng, DEFAULT_SECRET_WORDS).unwrap();
            assert_eq!(code.secret_words(), 3);
            assert_eq!(code.to_string().split('-').count(), 4);
            let parsed = Code::parse(&code.to_string()).unwrap();
            assert_eq!(parsed, code);
            assert_eq!(parsed.password(), code.to_string().as_bytes());
        }
    }

    #[test]
    fn generate_rejects_too_few_words() {
        assert!(matches!(Code::generate(&mut OsRng, 1), Err(Error::BadCode(_))));
        assert!(matches!(Code::generate(&mut OsRng, 0), Err(Error::BadCode(_))));
        assert!(Code::generate(&mut OsRng, 2).is_ok());
        assert!(matches!(Code::generate(&mut OsRng, MAX_SECRET_WORDS + 1), Err(Error::BadCode(_))));
    }

    #[test]
    fn parse_normalizes() {
        let want = "abandon-ability-able-about";
        for input in [
            "abandon-ability-able-about",
            "  abandon-ability-able-about\n",
            "ABANDON-Ability-able-ABOUT",
            "abandon ability able about",
            "abandon--ability - able\t-about",
            "-abandon-ability-able-about-",
            // Full-width letters and hyphen-minus normalize under NFKC.
            "ａｂａｎｄｏｎ-ability-able-about",
            "abandon\u{FF0D}ability-able-about",
            // Unique 4-letter prefixes are completed.
            "aban-abil-able-abou",
            "aband-ability-able-about",
        ] {
            let code = Code::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(code.to_string(), want, "{input:?}");
            assert_eq!(code.channel(), "abandon");
            assert_eq!(code.secret_words(), 3);
        }
    }

    #[test]
    fn parse_two_secret_words_minimum() {
        assert_eq!(Code::parse("zoo-zone-zero").unwrap().secret_words(), 2);
        for input in ["zoo-zone", "zoo", "", "   ", "---"] {
            assert!(matches!(Code::parse(input), Err(Error::BadCode(_))), "{input:?}");
        }
    }

    #[test]
    fn parse_rejects_bad_words_without_echoing_them() {
        for (input, pos) in [
            ("abandon-abilityx-able", "word 2"),
            ("abandon-ability-abl", "word 3"),  // 3-letter prefix: not completed
            ("abandon-ability-abxy", "word 3"), // not a prefix of any word
            ("abandon-ability-able-zzzz", "word 4"),
            ("abandon-abilit\u{e9}-able", "word 2"), // é is not a-z
            ("abandon-ab1lity-able", "word 2"),
            ("abandon_ability-able-about", "word 1"),
        ] {
            let err = Code::parse(input).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::BadCode(_)), "{input:?}");
            assert!(msg.contains(pos), "{input:?}: {msg}");
            assert!(!msg.contains("abilit") && !msg.contains("abxy") && !msg.contains("zzzz"));
        }
    }

    #[test]
    fn parse_caps_input() {
        let long = "abandon-".repeat(100);
        assert!(matches!(Code::parse(&long), Err(Error::BadCode(_))));
        let many = vec!["zoo"; MAX_SECRET_WORDS + 2].join("-");
        assert!(matches!(Code::parse(&many), Err(Error::BadCode(_))));
        let max = vec!["zoo"; MAX_SECRET_WORDS + 1].join("-");
        assert!(Code::parse(&max).is_ok());
    }

    #[test]
    fn debug_redacts_secret_words() {
        let code = Code::parse("abandon-zebra-zone-zoo").unwrap();
        let dbg = format!("{code:?}");
        assert!(dbg.contains("abandon"));
        for secret in ["zebra", "zone", "zoo"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
        assert_eq!(code.to_string(), "abandon-zebra-zone-zoo");
    }

    #[test]
    fn words_from_bits_exact() {
        // 0x00 0x20 → first 11 bits 0b00000000001 = 1 ("ability").
        assert_eq!(words_from_bits(&[0x00, 0x20], 1, ' ').unwrap(), "ability");
        assert_eq!(words_from_bits(&[0xFF; 6], 4, ' ').unwrap(), "zoo zoo zoo zoo");
        assert!(words_from_bits(&[0xFF; 5], 4, ' ').is_err());
    }
}
