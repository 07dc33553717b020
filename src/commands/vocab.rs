//! `swan vocab build` and `swan vocab tokenize`.

use std::io::BufRead;

use anyhow::Context;
use swan_embedder::text::{tokenize, Vocab};
use swan_store::{Corpus, CorpusOptions, Layout};

use crate::cli::VocabCommand;

pub fn run(cmd: VocabCommand) -> anyhow::Result<()> {
    match cmd {
        VocabCommand::Build { corpus, splits, min_count, out, json } => {
            let mut captions = Vec::new();
            let is_precomp = corpus.is_dir();
            let splits: Vec<Option<String>> = if is_precomp { splits.into_iter().map(Some).collect() } else { vec![None] };
            for split in splits {
                let options = CorpusOptions { split: split.clone(), layout: is_precomp.then_some(Layout::Precomp), ..Default::default() };
                let c = Corpus::open(&corpus, &options).with_context(|| format!("reading corpus {}", corpus.display()))?;
                captions.extend(c.captions.into_iter().map(|c| c.text));
            }
            let vocab = Vocab::build(captions.iter().map(String::as_str), min_count);
            vocab.save(&out)?;
            if json {
                crate::output::json_line(
                    &serde_json::json!({ "out": out, "words": vocab.len() - 1, "unk": vocab.unk(), "captions": captions.len() }),
                )?;
                return Ok(());
            }
            crate::output::message(&format!(
                "wrote {} ({} words + <unk> = {}, from {} captions)",
                out.display(),
                vocab.len() - 1,
                vocab.unk(),
                captions.len()
            ));
            Ok(())
        }
        VocabCommand::Tokenize { vocab, file } => {
            let vocab = Vocab::load(&vocab)?;
            let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(std::io::BufReader::new(std::fs::File::open(&file).with_context(|| file.display().to_string())?))
            };
            let mut out = crate::output::stdout();
            for (i, line) in reader.split(b'\n').enumerate() {
                let line = line.with_context(|| file.display().to_string())?;
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                let text = match std::str::from_utf8(line) {
                    Ok(t) => t.to_owned(),
                    Err(e) => {
                        crate::output::message(&format!(
                            "warning: {}:{}: not valid UTF-8 (byte {}); invalid bytes replaced",
                            file.display(),
                            i + 1,
                            e.valid_up_to() + 1
                        ));
                        String::from_utf8_lossy(line).into_owned()
                    }
                };
                let tokens = tokenize(&text);
                let ids: Vec<i64> = tokens.iter().map(|t| vocab.id(t)).collect();
                out.json_line(&serde_json::json!({ "line": i + 1, "tokens": tokens, "ids": ids }))?;
            }
            Ok(())
        }
    }
}
