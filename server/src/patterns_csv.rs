//! `loginsight patterns [FILE]`: mines one message per line and prints
//! `line,pattern_id,template` CSV. This is how pattern accuracy is scored on Loghub.
//!
//! Patterns merge online, so a line's id is settled at the end: every merge reported while
//! mining is recorded as a redirect, and each line prints the pattern its cluster belongs to
//! after all input was read, with that pattern's final template.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use patterns::{Miner, MinerConfig, PatternId, Redirects};

/// Service name every line is mined under.
const SERVICE: &str = "default";

pub fn run(file: Option<&Path>) -> anyhow::Result<()> {
    let mut input = Vec::new();
    match file {
        Some(path) => {
            input =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            std::io::stdin().lock().read_to_end(&mut input)?;
        }
    }
    let mut miner = Miner::new(MinerConfig::default())?;
    let mut ids = Vec::new();
    let mut redirects = Redirects::default();
    let mut templates: HashMap<PatternId, Arc<str>> = HashMap::new();
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    // `split` yields one empty piece after a final newline; it is not a line.
    if input.ends_with(b"\n") || input.is_empty() {
        lines.pop();
    }
    for line in lines {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let m = miner.mine(SERVICE, line);
        redirects.record(&m);
        templates.insert(m.pattern_id, m.template.clone());
        ids.push(m.pattern_id);
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "line,pattern_id,template")?;
    for (i, id) in ids.into_iter().enumerate() {
        let id = redirects.resolve(id);
        let template = templates.get(&id).map_or("", |t| t);
        writeln!(
            out,
            "{},{},\"{}\"",
            i + 1,
            id,
            template.replace('"', "\"\"")
        )?;
    }
    out.flush()?;
    Ok(())
}
