//! NLTK's English stopword list (`stopwords.words("english")`), dropped when a vocabulary is
//! built.
//!
//! These are the 179 words of NLTK's `corpora/stopwords/english` file, in file order. A later
//! revision of that file has 198 words, adding contractions such as `he's` and `we've`; since
//! `word_tokenize` always splits those (`he 's`), both lists build the same vocabularies, and this
//! one reproduces both reference files (see `tests/tokenizer.rs`).

/// NLTK's English stopwords, in file order.
#[rustfmt::skip]
pub const STOPWORDS: [&str; 179] = [
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've",
    "you'll", "you'd", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself",
    "she", "she's", "her", "hers", "herself", "it", "it's", "its", "itself", "they", "them",
    "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "that'll",
    "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has",
    "had", "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or",
    "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against",
    "between", "into", "through", "during", "before", "after", "above", "below", "to", "from",
    "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once",
    "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more",
    "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than",
    "too", "very", "s", "t", "can", "will", "just", "don", "don't", "should", "should've", "now",
    "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "aren't", "couldn", "couldn't", "didn",
    "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't", "isn",
    "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't",
    "shouldn", "shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn",
    "wouldn't",
];

/// Whether `token` is one of [`STOPWORDS`].
pub fn is_stopword(token: &str) -> bool {
    STOPWORDS.contains(&token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_nltks() {
        assert_eq!(STOPWORDS.len(), 179);
        assert_eq!(STOPWORDS[0], "i");
        assert_eq!(STOPWORDS[178], "wouldn't");
        let unique: std::collections::HashSet<_> = STOPWORDS.iter().collect();
        assert_eq!(unique.len(), 179);
        assert!(is_stopword("the") && is_stopword("don't") && !is_stopword("river"));
    }
}
