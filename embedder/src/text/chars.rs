//! Python `re` character classes, as NLTK's regular expressions see them.
//!
//! NLTK compiles its patterns on `str` (Unicode mode), so `\s`, `\w`, `\d`, `\b` and `(?i)` follow
//! CPython's Unicode tables, not ASCII. These helpers reproduce them closely enough that every
//! caption (ASCII plus U+2019) and ordinary text behave identically; the remaining gaps are noted
//! on each function.

/// `\s` and `str.isspace()`: CPython's `Py_UNICODE_ISSPACE`. Rust's `char::is_whitespace` is the
/// Unicode White_Space property, which lacks the four ASCII separators U+001C..U+001F that
/// CPython counts as space (bidirectional class B/S).
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `\w`: CPython's `str.isalnum()` or `_`. Approximated by `char::is_alphanumeric`, which also
/// admits the Other_Alphabetic marks and symbols (combining vowel signs, circled letters) that
/// Python's letter categories leave out. No caption contains such a character.
pub(crate) fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// First code points of the runs of ten decimal digits (`str.isdecimal()`, Unicode category Nd)
/// in CPython 3.11 (Unicode 14), generated with
/// `[c for c in range(0x110000) if chr(c).isdecimal()]`. U+1D7CE..U+1D7FF (mathematical digits,
/// fifty in a row) is handled apart.
const DECIMAL_RUNS: [u32; 61] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66, 0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090,
    0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90, 0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0,
    0xff10, 0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650, 0x116c0, 0x11730, 0x118e0, 0x11950,
    0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// `\d`: CPython's `Py_UNICODE_ISDECIMAL` (category Nd only: not `²` or `½`, which
/// `char::is_numeric` would accept).
pub(crate) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    let u = c as u32;
    if (0x1d7ce..=0x1d7ff).contains(&u) {
        return true;
    }
    let i = DECIMAL_RUNS.partition_point(|&start| start <= u);
    i > 0 && u - DECIMAL_RUNS[i - 1] < 10
}

/// Whether `c` matches the ASCII lowercase letter `p` under `(?i)` in Python's `re`: ASCII case
/// plus the equivalences `sre` adds (`İ`/`ı` ~ `i`, `ſ` ~ `s`, Kelvin sign ~ `k`).
pub(crate) fn ci_eq(c: char, p: char) -> bool {
    debug_assert!(p.is_ascii_lowercase());
    c.to_ascii_lowercase() == p
        || match p {
            'i' => c == '\u{130}' || c == '\u{131}',
            's' => c == '\u{17f}',
            'k' => c == '\u{212a}',
            _ => false,
        }
}

/// Whether the chars of `s` starting at byte `at` match `pat` (ASCII, lowercase letters compared
/// with [`ci_eq`], other characters exactly). Returns the byte length matched.
pub(crate) fn match_ci(s: &str, at: usize, pat: &str) -> Option<usize> {
    let mut chars = s[at..].char_indices();
    for p in pat.chars() {
        let (_, c) = chars.next()?;
        let ok = if p.is_ascii_lowercase() { ci_eq(c, p) } else { c == p };
        if !ok {
            return None;
        }
    }
    Some(chars.next().map_or(s.len() - at, |(i, _)| i))
}

/// The character before byte `at`, if any.
pub(crate) fn prev_char(s: &str, at: usize) -> Option<char> {
    s[..at].chars().next_back()
}

/// The character at byte `at`, if any.
pub(crate) fn char_at(s: &str, at: usize) -> Option<char> {
    s[at..].chars().next()
}

/// Python's `\b` at byte `at`: exactly one side is a word character.
pub(crate) fn word_boundary(s: &str, at: usize) -> bool {
    prev_char(s, at).is_some_and(is_word) != char_at(s, at).is_some_and(is_word)
}

/// Python's `str.rstrip()` (Unicode white space).
pub(crate) fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_follow_python_isdecimal() {
        assert!(is_digit('7') && is_digit('\u{663}') && is_digit('\u{ff19}') && is_digit('\u{1d7ff}'));
        assert!(!is_digit('²') && !is_digit('½') && !is_digit('a') && !is_digit('\u{66a}'));
    }

    #[test]
    fn space_includes_ascii_separators() {
        assert!(is_space('\u{1c}') && is_space('\u{b}') && is_space('\u{3000}') && is_space('\u{85}'));
        assert!(!is_space('\u{200b}') && !is_space('a'));
    }

    #[test]
    fn ignorecase_equivalences() {
        assert!(ci_eq('I', 'i') && ci_eq('\u{130}', 'i') && ci_eq('\u{17f}', 's') && ci_eq('\u{212a}', 'k'));
        assert!(!ci_eq('\u{e9}', 'e'));
        assert_eq!(match_ci("xCaNnot", 1, "cannot"), Some(6));
        assert_eq!(match_ci("\u{130}s", 0, "is"), Some(3));
        assert_eq!(match_ci("can", 0, "cannot"), None);
    }
}
