//! Terminal-safe display of names chosen by a peer or found on disk (security.md T8): C0/C1
//! controls, DEL, line and paragraph separators (U+2028, U+2029), bidi overrides, zero-width
//! and tag characters are shown escaped. Escaping is idempotent (its output is plain ASCII
//! where it changed anything), so every message line is sanitised once more when printed.

/// Escape `s` for display (the one escaping rule lives in the pure core, which must escape
/// the names it puts into protocol errors: `proto::transfer::shown`).
pub fn sanitize(s: &str) -> String {
    crate::proto::transfer::shown(s)
}

/// Escape raw bytes (e.g. a symlink target) for display.
pub fn sanitize_bytes(b: &[u8]) -> String {
    sanitize(&String::from_utf8_lossy(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T8: escape sequences in names never reach the terminal raw.
    #[test]
    fn escapes_controls_and_bidi() {
        assert_eq!(sanitize("a\x1b[1A\rb"), "a\\u{1b}[1A\\u{d}b");
        assert_eq!(sanitize("x\u{9b}y"), "x\\u{9b}y");
        assert_eq!(sanitize("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(sanitize("plain é 日本"), "plain é 日本");
        assert_eq!(sanitize("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
        let once = sanitize("x\x1b[2J\u{202e}y");
        assert_eq!(sanitize(&once), once, "idempotent");
    }
}
