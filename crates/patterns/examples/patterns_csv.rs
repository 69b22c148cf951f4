//! Mines one message per line (stdin, or the file named by the first argument) as service
//! `default` and prints `line,pattern_id,template` CSV.
//!
//! Patterns merge online, so a line's id is resolved at the end: every merge reported by
//! [`patterns::Match::merged`] is recorded as a redirect, and each line prints the id of the
//! pattern its cluster belongs to after all input was read, with that pattern's final template.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::sync::Arc;

use patterns::{Miner, MinerConfig, PatternId};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = Vec::new();
    match std::env::args().nth(1) {
        Some(path) => input = std::fs::read(path)?,
        None => {
            std::io::stdin().lock().read_to_end(&mut input)?;
        }
    }
    let mut miner = Miner::new(MinerConfig::default())?;
    let mut ids = Vec::new();
    let mut redirect: HashMap<PatternId, PatternId> = HashMap::new();
    let mut templates: HashMap<PatternId, Arc<str>> = HashMap::new();
    for line in input.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        let m = miner.mine("default", line);
        for old in &m.merged {
            redirect.insert(*old, m.pattern_id);
        }
        templates.insert(m.pattern_id, m.template.clone());
        ids.push(m.pattern_id);
    }
    // `split` yields one empty piece after a final newline; it is not a line.
    if input.ends_with(b"\n") || input.is_empty() {
        ids.pop();
    }
    let resolve = |mut id: PatternId| {
        // Redirect chains are short and acyclic (merges always point at an older pattern).
        while let Some(&next) = redirect.get(&id) {
            id = next;
        }
        id
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    writeln!(out, "line,pattern_id,template")?;
    for (i, id) in ids.into_iter().enumerate() {
        let id = resolve(id);
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
