//! Punkt sentence boundaries: a port of `PunktSentenceTokenizer.span_tokenize` from NLTK 3.9.4
//! (`nltk/tokenize/punkt.py`) with the pretrained English `punkt_tab` model, which is what
//! `word_tokenize` runs before the Treebank word tokenizer.
//!
//! Why it matters for captions: the Treebank tokenizer splits a period off only at the end of a
//! sentence, so `river. there` (a boundary) gives `river . there`, while `mr. sima` (a known
//! abbreviation) and `there are 3. the rest` (a number followed by a word the model has seen in
//! lower case) stay one sentence and keep `mr.` and `3.`.
//!
//! Offsets are byte offsets where Python uses code point offsets; all offset arithmetic below
//! steps over ASCII characters only, so the two agree.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::chars::{is_digit, is_space, is_word, rstrip};

// The English model (`punkt_tab/english/`): sorted copies of NLTK's files, see data/README.md.
const ABBREV_TYPES: &str = include_str!("data/punkt_english/abbrev_types.txt");
const COLLOCATIONS: &str = include_str!("data/punkt_english/collocations.tab");
const SENT_STARTERS: &str = include_str!("data/punkt_english/sent_starters.txt");
const ORTHO_CONTEXT: &str = include_str!("data/punkt_english/ortho_context.tab");

// Orthographic context flags (`_ORTHO_*` in punkt.py).
const ORTHO_MID_UC: u8 = 1 << 2;
const ORTHO_BEG_LC: u8 = 1 << 4;
const ORTHO_UC: u8 = (1 << 1) | (1 << 2) | (1 << 3);
const ORTHO_LC: u8 = (1 << 4) | (1 << 5) | (1 << 6);

/// `PunktParameters` as `load_punkt_params` reads them.
struct Params {
    abbrev_types: HashSet<&'static str>,
    collocations: HashSet<(&'static str, &'static str)>,
    sent_starters: HashSet<&'static str>,
    ortho_context: HashMap<&'static str, u8>,
}

/// Lines of a `punkt_tab` file: `PunktDecoder` strips only the line end, so the odd entry
/// `". . "` keeps its trailing space.
fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.is_empty())
}

fn params() -> &'static Params {
    static PARAMS: OnceLock<Params> = OnceLock::new();
    // The tables are compiled in and checked by the unit tests, so a malformed line is a build
    // defect, not bad input.
    PARAMS.get_or_init(|| Params {
        abbrev_types: lines(ABBREV_TYPES).collect(),
        collocations: lines(COLLOCATIONS).map(|l| l.split_once('\t').expect("collocations.tab: two columns")).collect(),
        sent_starters: lines(SENT_STARTERS).collect(),
        ortho_context: lines(ORTHO_CONTEXT)
            .map(|l| {
                let (k, v) = l.rsplit_once('\t').expect("ortho_context.tab: two columns");
                (k, v.parse().expect("ortho_context.tab: integer flags"))
            })
            .collect(),
    })
}

/// `_re_non_word_chars`: characters that cannot appear within words.
fn is_non_word(c: char) -> bool {
    ")\";}]*:@'({[?!".contains(c)
}

/// Byte length of `_re_multi_char_punct` (`\-{2,}|\.{2,}|(?:\.\s){2,}\.`) matched at `at`.
fn multi_char_punct(s: &str, at: usize) -> Option<usize> {
    let rest = &s[at..];
    for ch in ['-', '.'] {
        let run = rest.len() - rest.trim_start_matches(ch).len();
        if run >= 2 {
            return Some(run);
        }
    }
    // `(?:\.\s){2,}\.`: as many ". " pairs as there are, backing off until a period follows.
    let mut pair_ends = Vec::new();
    let mut pos = 0;
    loop {
        let mut cs = rest[pos..].chars();
        match (cs.next(), cs.next()) {
            (Some('.'), Some(c)) if is_space(c) => {
                pos += 1 + c.len_utf8();
                pair_ends.push(pos);
            }
            _ => break,
        }
    }
    pair_ends.iter().enumerate().rev().find(|&(i, &end)| i >= 1 && rest[end..].starts_with('.')).map(|(_, &end)| end + 1)
}

/// The end of a word in `_word_tokenize_fmt`: white space, end of text, a non-word character,
/// multi-character punctuation, or a comma that itself ends the word.
fn word_ends_at(s: &str, at: usize) -> bool {
    let Some(c) = s[at..].chars().next() else {
        return true;
    };
    if is_space(c) || is_non_word(c) || multi_char_punct(s, at).is_some() {
        return true;
    }
    if c != ',' {
        return false;
    }
    let after = at + 1;
    match s[after..].chars().next() {
        None => true,
        Some(n) => is_space(n) || is_non_word(n) || multi_char_punct(s, after).is_some(),
    }
}

/// `_re_word_start` is `[^\(\"\`{\[:;&\#\*@\)}\]\-,]`: these characters never start a word.
const NOT_WORD_START: &str = "(\"`{[:;&#*@)}]-,";

/// `PunktLanguageVars.word_tokenize`: the regex `findall` that splits off punctuation other than
/// periods (so `house.the`, `mr.` and `3.` come out whole).
fn punkt_words(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(c) = s[pos..].chars().next() {
        if let Some(n) = multi_char_punct(s, pos) {
            out.push(&s[pos..pos + n]);
            pos += n;
        } else if is_space(c) {
            pos += c.len_utf8();
        } else if !NOT_WORD_START.contains(c) {
            // `(?=WordStart)\S+?(?=end)`: the shortest run that reaches a word end.
            let mut end = pos + c.len_utf8();
            while !word_ends_at(s, end) {
                end += s[end..].chars().next().map_or(0, char::len_utf8);
            }
            out.push(&s[pos..end]);
            pos = end;
        } else {
            out.push(&s[pos..pos + c.len_utf8()]);
            pos += c.len_utf8();
        }
    }
    out
}

/// `PunktToken` with the annotations the sentence tokenizer uses.
struct Token<'a> {
    tok: &'a str,
    typ: String,
    sentbreak: bool,
    abbr: bool,
    ellipsis: bool,
}

/// `_RE_NUMERIC` (`^-?[\.,]?\d[\d,\.-]*\.?$`): numbers get the type `##number##`.
fn is_numeric_token(t: &str) -> bool {
    let t = t.strip_prefix('-').unwrap_or(t);
    let t = t.strip_prefix(['.', ',']).unwrap_or(t);
    let mut cs = t.chars();
    cs.next().is_some_and(is_digit) && cs.all(|c| is_digit(c) || matches!(c, ',' | '.' | '-'))
}

impl<'a> Token<'a> {
    fn new(tok: &'a str) -> Self {
        let lower = tok.to_lowercase();
        let typ = if is_numeric_token(&lower) { "##number##".to_string() } else { lower };
        Token { tok, typ, sentbreak: false, abbr: false, ellipsis: false }
    }

    fn period_final(&self) -> bool {
        self.tok.ends_with('.')
    }

    fn type_no_period(&self) -> &str {
        match self.typ.strip_suffix('.') {
            Some(t) if !t.is_empty() => t,
            _ => &self.typ,
        }
    }

    fn type_no_sentperiod(&self) -> &str {
        if self.sentbreak {
            self.type_no_period()
        } else {
            &self.typ
        }
    }

    fn first_upper(&self) -> bool {
        self.tok.chars().next().is_some_and(char::is_uppercase)
    }

    fn first_lower(&self) -> bool {
        self.tok.chars().next().is_some_and(char::is_lowercase)
    }

    /// `_RE_INITIAL` (`[^\W\d]\.$`): one letter and a period.
    fn is_initial(&self) -> bool {
        let mut cs = self.tok.chars();
        matches!((cs.next(), cs.next(), cs.next()), (Some(c), Some('.'), None) if is_word(c) && !is_digit(c))
    }

    /// `_RE_ELLIPSIS` (`\.\.+$`).
    fn is_ellipsis(&self) -> bool {
        self.tok.len() >= 2 && self.tok.bytes().all(|b| b == b'.')
    }
}

/// `_first_pass_annotation`: decisions from the token's own type.
fn first_pass(t: &mut Token, p: &Params) {
    if matches!(t.tok, "." | "?" | "!") {
        t.sentbreak = true;
    } else if t.is_ellipsis() {
        t.ellipsis = true;
    } else if t.period_final() && !t.tok.ends_with("..") {
        let base = t.tok[..t.tok.len() - 1].to_lowercase();
        let last = base.rsplit('-').next().unwrap_or("");
        if p.abbrev_types.contains(base.as_str()) || p.abbrev_types.contains(last) {
            t.abbr = true;
        } else {
            t.sentbreak = true;
        }
    }
}

/// `_ortho_heuristic`: Some(true) sentence starter, Some(false) not, None "unknown".
fn ortho_heuristic(t: &Token, p: &Params) -> Option<bool> {
    if matches!(t.tok, ";" | ":" | "," | "." | "!" | "?") {
        return Some(false);
    }
    let ctx = p.ortho_context.get(t.type_no_sentperiod()).copied().unwrap_or(0);
    if t.first_upper() && ctx & ORTHO_LC != 0 && ctx & ORTHO_MID_UC == 0 {
        return Some(true);
    }
    if t.first_lower() && (ctx & ORTHO_UC != 0 || ctx & ORTHO_BEG_LC == 0) {
        return Some(false);
    }
    None
}

/// `_second_pass_annotation`: collocations, abbreviations before sentence starters, and initials
/// or numbers before words that are not sentence starters.
fn second_pass(t1: &mut Token, t2: &Token, p: &Params) {
    if !t1.period_final() {
        return;
    }
    let typ = t1.type_no_period().to_string();
    let next_typ = t2.type_no_sentperiod();
    let initial = t1.is_initial();
    if p.collocations.contains(&(typ.as_str(), next_typ)) {
        t1.sentbreak = false;
        t1.abbr = true;
        return;
    }
    if (t1.abbr || t1.ellipsis) && !initial {
        let starter = ortho_heuristic(t2, p);
        if starter == Some(true) {
            t1.sentbreak = true;
            return;
        }
        if t2.first_upper() && p.sent_starters.contains(next_typ) {
            t1.sentbreak = true;
            return;
        }
    }
    if initial || typ == "##number##" {
        let starter = ortho_heuristic(t2, p);
        if starter == Some(false) {
            t1.sentbreak = false;
            t1.abbr = true;
            return;
        }
        let ctx = p.ortho_context.get(next_typ).copied().unwrap_or(0);
        if starter.is_none() && initial && t2.first_upper() && ctx & ORTHO_LC == 0 {
            t1.sentbreak = false;
            t1.abbr = true;
        }
    }
}

/// `text_contains_sentbreak`: whether any token but the last of `context` ends a sentence.
fn contains_sentbreak(context: &str, p: &Params) -> bool {
    // `_tokenize_words`: line by line, skipping blank lines.
    let mut toks: Vec<Token> =
        context.split('\n').filter(|l| !l.trim_matches(is_space).is_empty()).flat_map(punkt_words).map(Token::new).collect();
    for t in &mut toks {
        first_pass(t, p);
    }
    // `_pair_iter`: each token is updated from its successor's first-pass annotation.
    for i in 0..toks.len().saturating_sub(1) {
        let (head, tail) = toks.split_at_mut(i + 1);
        second_pass(&mut head[i], &tail[0], p);
        if head[i].sentbreak {
            return true;
        }
    }
    false
}

/// One match of `period_context_re`: a `.`, `?` or `!` followed by a non-word character or by
/// white space and a token.
struct PeriodMatch {
    start: usize,
    /// End of the lookahead group `after_tok`.
    after_end: usize,
    /// Start of `next_tok`, when the match continued with white space and a token.
    next_tok: Option<usize>,
}

impl PeriodMatch {
    fn end(&self) -> usize {
        self.start + 1
    }
}

fn period_matches(text: &str) -> Vec<PeriodMatch> {
    let mut out = Vec::new();
    for (i, c) in text.char_indices() {
        if !matches!(c, '.' | '?' | '!') {
            continue;
        }
        let rest = &text[i + 1..];
        let Some(n) = rest.chars().next() else {
            continue;
        };
        if is_non_word(n) {
            out.push(PeriodMatch { start: i, after_end: i + 1 + n.len_utf8(), next_tok: None });
        } else if is_space(n) {
            let tok_start = text.len() - rest.trim_start_matches(is_space).len();
            let tok_end = text[tok_start..].find(is_space).map_or(text.len(), |e| tok_start + e);
            if tok_end > tok_start {
                out.push(PeriodMatch { start: i, after_end: tok_end, next_tok: Some(tok_start) });
            }
        }
    }
    out
}

/// `_get_last_whitespace_index`: the last ASCII white space (`string.whitespace`), or 0 when
/// there is none *or it is at 0* (a quirk kept as is).
fn last_whitespace_index(s: &str) -> usize {
    s.bytes().rposition(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)).unwrap_or(0)
}

/// `_match_potential_end_contexts`: each candidate boundary with the text around it (the word
/// before, the punctuation, what follows). Candidates whose preceding word overlaps the previous
/// candidate's (as in `!!!`) are dropped in favour of the later one.
fn end_contexts(text: &str) -> Vec<(PeriodMatch, String)> {
    let mut out = Vec::new();
    let mut prev_slice = (0usize, 0usize);
    let mut prev_match: Option<PeriodMatch> = None;
    let context = |m: &PeriodMatch, slice: (usize, usize)| format!("{}{}", &text[slice.0..slice.1], &text[m.start..m.after_end]);
    for m in period_matches(text) {
        let before = &text[prev_slice.1..m.start];
        let idx = match last_whitespace_index(before) {
            0 => prev_slice.0,
            i => i + prev_slice.1 + 1,
        };
        let word_slice = (idx, m.start);
        if let Some(pm) = prev_match.take() {
            if prev_slice.1 <= word_slice.0 {
                let ctx = context(&pm, prev_slice);
                out.push((pm, ctx));
            }
        }
        prev_match = Some(m);
        prev_slice = word_slice;
    }
    if let Some(pm) = prev_match {
        let ctx = context(&pm, prev_slice);
        out.push((pm, ctx));
    }
    out
}

/// `re_boundary_realignment` (`["\')\]}]+?(?:\s+|(?=--)|$)`, multiline) matched at the start of
/// `seg`: the byte length of the closing punctuation and of the whole match.
fn realignment(seg: &str) -> Option<(usize, usize)> {
    for (i, c) in seg.char_indices() {
        if !matches!(c, '"' | '\'' | ')' | ']' | '}') {
            return None;
        }
        let k = i + 1;
        let rest = &seg[k..];
        let ws = rest.len() - rest.trim_start_matches(is_space).len();
        if ws > 0 {
            return Some((k, k + ws));
        }
        if rest.is_empty() || rest.starts_with("--") {
            return Some((k, k));
        }
    }
    None
}

/// Sentence spans of `text` (`span_tokenize` with `realign_boundaries=True`). Spans that Python
/// would yield empty are left out: they hold no tokens.
pub(crate) fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let p = params();
    // `_slices_from_text`.
    let mut slices = Vec::new();
    let mut last_break = 0;
    for (m, ctx) in end_contexts(text) {
        if contains_sentbreak(&ctx, p) {
            slices.push((last_break, m.end()));
            last_break = m.next_tok.unwrap_or(m.end());
        }
    }
    slices.push((last_break, rstrip(text).len()));

    // `_realign_boundaries`: closing quotes and brackets after a boundary join the sentence.
    let mut out = Vec::new();
    let mut realign = 0;
    for (i, &(start, stop)) in slices.iter().enumerate() {
        let start = start + realign;
        let Some(&(next_start, next_stop)) = slices.get(i + 1) else {
            if start < stop {
                out.push((start, stop));
            }
            continue;
        };
        if let Some((closers, end)) = realignment(&text[next_start..next_stop]) {
            if start < next_start + closers {
                out.push((start, next_start + closers));
            }
            realign = end;
        } else {
            realign = 0;
            if start < stop {
                out.push((start, stop));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(t: &str) -> Vec<&str> {
        sentence_spans(t).into_iter().map(|(a, b)| &t[a..b]).collect()
    }

    #[test]
    fn model_tables_load() {
        let p = params();
        assert_eq!(p.abbrev_types.len(), 156);
        assert_eq!(p.collocations.len(), 37);
        assert_eq!(p.sent_starters.len(), 39);
        assert_eq!(p.ortho_context.len(), 20366);
        assert!(p.abbrev_types.contains("mr") && p.abbrev_types.contains(". . "));
        assert_eq!(p.ortho_context.get("the"), Some(&126));
    }

    #[test]
    fn boundaries() {
        assert_eq!(sentences("the river. there is a boat."), ["the river.", "there is a boat."]);
        assert_eq!(sentences("mr. sima is here."), ["mr. sima is here."]);
        assert_eq!(sentences("there are 3. the rest"), ["there are 3. the rest"]);
        assert_eq!(sentences("a house.the road"), ["a house.the road"]);
        assert_eq!(sentences("wow!!! it is. (yes.) no"), ["wow!!!", "it is.", "(yes.)", "no"]);
        assert_eq!(sentences("  \n"), Vec::<&str>::new());
        assert_eq!(sentences("end. \"quoted.\" next"), ["end.", "\"quoted.\"", "next"]);
    }

    #[test]
    fn punkt_word_split() {
        assert_eq!(punkt_words("mr. (sima), x,y a--b . . . c"), ["mr.", "(", "sima", ")", ",", "x,y", "a", "--", "b", ". . .", "c"]);
    }
}
