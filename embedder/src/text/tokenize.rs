//! NLTK 3.9.4 `word_tokenize`: Punkt sentences (see [`super::punkt`]), each split by
//! `NLTKWordTokenizer` (`nltk/tokenize/destructive.py`, the "improved Treebank" tokenizer).
//!
//! `NLTKWordTokenizer.tokenize` is a fixed sequence of regex substitutions over the whole
//! sentence. Each is ported below as one hand-written pass with `re.sub` semantics (leftmost,
//! non-overlapping matches, tested against the original string) and named after the NLTK list
//! and pattern it mirrors. NLTK 3.10.1 changed the quote rule (a leading apostrophe is split off
//! any word); the published models saw 3.9.4, which splits it off a single letter only.

use super::chars::{ci_eq, is_digit, is_space, is_word, match_ci, prev_char, word_boundary};
use super::punkt::sentence_spans;

/// Tokens of already lower-cased `text`, as NLTK 3.9.4's `word_tokenize(text)` gives them.
///
/// ```
/// use swan_embedder::text::word_tokenize;
/// assert_eq!(word_tokenize("a truck's road. it can't"), ["a", "truck", "'s", "road", ".", "it", "ca", "n't"]);
/// ```
pub fn word_tokenize(text: &str) -> Vec<String> {
    sentence_spans(text).into_iter().flat_map(|(a, b)| treebank(&text[a..b])).collect()
}

/// CONTRACTIONS2: `(?i)\b(a)(b)\b` (`wanna` ends with `(?=\s)` instead).
const CONTRACTIONS: [(&str, &str, End); 8] = [
    ("can", "not", End::Boundary),
    ("d", "'ye", End::Boundary),
    ("gim", "me", End::Boundary),
    ("gon", "na", End::Boundary),
    ("got", "ta", End::Boundary),
    ("lem", "me", End::Boundary),
    ("more", "'n", End::Boundary),
    ("wan", "na", End::Space),
];

/// Closing characters the first final-period rule of PUNCTUATION keeps after the period: NLTK
/// builds that class from two string literals, which also admits `»`, `”`, `’` and a space.
const CLOSERS_WIDE: &str = "])}>\"'»”’ ";
/// Closing characters of the second final-period rule.
const CLOSERS: &str = "])}>\"'";

/// `NLTKWordTokenizer.tokenize(sentence)` (without `convert_parentheses`).
fn treebank(sentence: &str) -> Vec<String> {
    // STARTING_QUOTES
    let mut t = pad(sentence, "«“‘„", true);
    if let Some(rest) = t.strip_prefix('"') {
        t = format!("``{rest}"); // ^\"  ->  ``
    }
    t = t.replace("``", " `` ");
    t = open_double_quotes(&t);
    t = quoted_letter(&t);

    // PUNCTUATION
    t = final_period(&t, CLOSERS_WIDE, true);
    t = comma_colon(&t);
    t = final_comma_colon(&t);
    t = pad_periods(&t);
    t = pad(&t, ";@#$%&", false);
    t = pad(&t, "\u{2012}\u{2013}\u{2014}\u{2015}", false);
    t = final_period(&t, CLOSERS, false);
    t = pad(&t, "?!", false);
    t = closing_single_quote(&t);
    t = pad(&t, "*", false);

    // PARENS_BRACKETS, DOUBLE_DASHES
    t = pad(&t, "][(){}<>", false);
    t = t.replace("--", " -- ");

    // ENDING_QUOTES
    t = format!(" {t} ");
    t = pad(&t, "»”’", false);
    t = t.replace("''", " '' ");
    t = t.replace('"', " '' ");
    t = collapse_space(&t);
    t = clitic_s_m_d(&t);
    t = clitic_ll_re_ve_nt(&t);

    // CONTRACTIONS2, then CONTRACTIONS3 (CONTRACTIONS4 is commented out in NLTK).
    for (a, b, end) in CONTRACTIONS {
        t = contraction(&t, a, b, end);
    }
    t = tis_twas(&t, "is");
    t = tis_twas(&t, "was");

    t.split(is_space).filter(|w| !w.is_empty()).map(str::to_string).collect()
}

/// `re.sub(r"[set]", r" \g<0> ")` for the characters of `set`; with `backticks`, also
/// `[`]+` (a run of backticks padded as one).
fn pad(s: &str, set: &str, backticks: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '`' && backticks {
            out.push_str(" `");
            while chars.next_if_eq(&'`').is_some() {
                out.push('`');
            }
            out.push(' ');
        } else if set.contains(c) {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// `re.sub(r"\.{2,}", r" \g<0> ")`: an ellipsis becomes one token.
fn pad_periods(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(i) = rest.find('.') {
        out.push_str(&rest[..i]);
        let run = rest[i..].len() - rest[i..].trim_start_matches('.').len();
        let dots = &rest[i..i + run];
        if run >= 2 {
            out.push_str(&format!(" {dots} "));
        } else {
            out.push_str(dots);
        }
        rest = &rest[i + run..];
    }
    out.push_str(rest);
    out
}

/// `([ \(\[{<])(\"|\'{2})` -> `\1 `` `: an opening double quote after a space or bracket.
fn open_double_quotes(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        out.push(c);
        i += c.len_utf8();
        if matches!(c, ' ' | '(' | '[' | '{' | '<') {
            let quote = if s[i..].starts_with('"') {
                1
            } else if s[i..].starts_with("''") {
                2
            } else {
                0
            };
            if quote > 0 {
                out.push_str(" `` ");
                i += quote;
            }
        }
    }
    out
}

/// `(?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b` -> `\1 \2`: an apostrophe before a one-letter word,
/// as in `'c'` -> `' c '`. (Two-letter lookaheads can never hold before `\w\b`.)
fn quoted_letter(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        out.push(c);
        i += c.len_utf8();
        if c != '\'' {
            continue;
        }
        let Some(w) = s[i..].chars().next() else {
            continue;
        };
        let excluded = ['m', 't', 's', 'd', 'n'].into_iter().any(|p| ci_eq(w, p));
        if is_word(w) && !excluded && word_boundary(s, i + w.len_utf8()) {
            out.push(' ');
            out.push(w);
            i += w.len_utf8();
        }
    }
    out
}

/// The two final-period rules of PUNCTUATION:
/// `([^\.])(\.)([<closers>]*)\s*$` -> `\1 \2 \3 ` (`spaced`) or `\1 \2\3 `. The match starts at
/// the leftmost period (not after another period) followed only by closers and white space.
fn final_period(s: &str, closers: &str, spaced: bool) -> String {
    for (j, _) in s.match_indices('.') {
        let Some(prev) = prev_char(s, j) else {
            continue;
        };
        if prev == '.' {
            continue;
        }
        let rest = &s[j + 1..];
        let kept = rest.len() - rest.trim_start_matches(|c| closers.contains(c)).len();
        if !rest[kept..].chars().all(is_space) {
            continue;
        }
        let mut out = String::with_capacity(s.len() + 4);
        out.push_str(&s[..j]);
        out.push_str(if spaced { " . " } else { " ." });
        out.push_str(&rest[..kept]);
        out.push(' ');
        return out;
    }
    s.to_string()
}

/// `([:,])([^\d])` -> ` \1 \2`: split a comma or colon unless a digit follows (`1,000`).
fn comma_colon(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, ':' | ',') {
            if let Some(n) = chars.next_if(|&n| !is_digit(n)) {
                out.push(' ');
                out.push(c);
                out.push(' ');
                out.push(n);
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// `([:,])$` -> ` \1 `: `$` also matches before a final newline.
fn final_comma_colon(s: &str) -> String {
    let body = s.strip_suffix('\n').filter(|b| b.ends_with([':', ','])).unwrap_or(s);
    match body.chars().next_back() {
        Some(c @ (':' | ',')) => {
            let at = body.len() - 1;
            format!("{} {c} {}", &s[..at], &s[at + 1..])
        }
        _ => s.to_string(),
    }
}

/// `([^'])' ` -> `\1 ' `: a closing single quote before a space.
fn closing_single_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        out.push(c);
        i += c.len_utf8();
        if c != '\'' && s[i..].starts_with("' ") {
            out.push_str(" ' ");
            i += 2;
        }
    }
    out
}

/// `\s+` -> ` `.
fn collapse_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if is_space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// `([^' ])('[sS]|'[mM]|'[dD]|') ` -> `\1 \2 `: `truck's` -> `truck 's`, `trucks'` -> `trucks '`.
fn clitic_s_m_d(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        out.push(c);
        i += c.len_utf8();
        if matches!(c, '\'' | ' ') {
            continue;
        }
        let b = &s.as_bytes()[i..];
        let clitic = match b {
            [b'\'', b'S' | b's' | b'M' | b'm' | b'D' | b'd', b' ', ..] => 2,
            [b'\'', b' ', ..] => 1,
            _ => 0,
        };
        if clitic > 0 {
            out.push(' ');
            out.push_str(&s[i..i + clitic + 1]);
            i += clitic + 1;
        }
    }
    out
}

/// `([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ` -> `\1 \2 `: `we're` -> `we 're`,
/// `can't` -> `ca n't`.
fn clitic_ll_re_ve_nt(s: &str) -> String {
    const CLITICS: [&str; 8] = ["'ll ", "'LL ", "'re ", "'RE ", "'ve ", "'VE ", "n't ", "N'T "];
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        out.push(c);
        i += c.len_utf8();
        if !matches!(c, '\'' | ' ') && CLITICS.iter().any(|k| s[i..].starts_with(k)) {
            out.push(' ');
            out.push_str(&s[i..i + 4]);
            i += 4;
        }
    }
    out
}

/// How a CONTRACTIONS2 pattern ends: `\b`, or `(?=\s)` for `wanna`.
#[derive(Clone, Copy)]
enum End {
    Boundary,
    Space,
}

/// Whether ASCII `s` cannot hold `a` followed by `b` in any case: then a contraction pass has
/// nothing to do (non-ASCII text always takes the full pass, for `İ`, `ſ` and the Kelvin sign).
fn cannot_hold(s: &str, a: &str, b: &str) -> bool {
    if !s.is_ascii() {
        return false;
    }
    let (a, b, bytes) = (a.as_bytes(), b.as_bytes(), s.as_bytes());
    let n = a.len() + b.len();
    // Scan for the first byte (either case) before comparing whole windows.
    let (lo, up) = (a[0].to_ascii_lowercase(), a[0].to_ascii_uppercase());
    !(0..bytes.len().saturating_sub(n - 1)).any(|i| {
        (bytes[i] == lo || bytes[i] == up)
            && bytes[i..i + a.len()].eq_ignore_ascii_case(a)
            && bytes[i + a.len()..i + n].eq_ignore_ascii_case(b)
    })
}

/// `(?i)\b(a)(b)\b` -> ` \1 \2 `: `cannot` -> `can not`.
fn contraction(s: &str, a: &str, b: &str, end: End) -> String {
    if cannot_hold(s, a, b) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        if word_boundary(s, i) {
            if let Some(la) = match_ci(s, i, a) {
                if let Some(lb) = match_ci(s, i + la, b) {
                    let stop = i + la + lb;
                    let ends = match end {
                        End::Boundary => word_boundary(s, stop),
                        End::Space => s[stop..].chars().next().is_some_and(is_space),
                    };
                    if ends {
                        out.push(' ');
                        out.push_str(&s[i..i + la]);
                        out.push(' ');
                        out.push_str(&s[i + la..stop]);
                        out.push(' ');
                        i = stop;
                        continue;
                    }
                }
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// `(?i) ('t)(is)\b` -> ` \1 \2 ` (and `was`): `'tis` -> `'t is`.
fn tis_twas(s: &str, word: &str) -> String {
    if cannot_hold(s, " 't", word) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(c) = s[i..].chars().next() {
        if c == ' ' {
            if let Some(lt) = match_ci(s, i + 1, "'t") {
                if let Some(lw) = match_ci(s, i + 1 + lt, word) {
                    let stop = i + 1 + lt + lw;
                    if word_boundary(s, stop) {
                        out.push(' ');
                        out.push_str(&s[i + 1..i + 1 + lt]);
                        out.push(' ');
                        out.push_str(&s[i + 1 + lt..stop]);
                        out.push(' ');
                        i = stop;
                        continue;
                    }
                }
            }
        }
        out.push(c);
        i += c.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tb(s: &str) -> Vec<String> {
        treebank(s)
    }

    #[test]
    fn treebank_rules() {
        assert_eq!(tb("\"hi\" (2) it's ok, 1,000 . . x"), ["``", "hi", "''", "(", "2", ")", "it", "'s", "ok", ",", "1,000", ".", ".", "x"]);
        assert_eq!(tb("the 'c' and 'eagles' here."), ["the", "'", "c", "'", "and", "'eagles", "'", "here", "."]);
        assert_eq!(tb("cannot gonna wanna go 'tis"), ["can", "not", "gon", "na", "wan", "na", "go", "'t", "is"]);
        assert_eq!(tb("water’s edge"), ["water", "’", "s", "edge"]);
        assert_eq!(tb("a--b ... c"), ["a", "--", "b", "...", "c"]);
    }
}
