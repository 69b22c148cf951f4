//! Throughput of one miner on one core: the 8 Loghub-2k raw logs (whole lines, headers
//! included, no stripping), repeated to at least 1,000,000 lines, mined as 8 services.
//!
//! `cargo run -p patterns --release --example bench [DATA_DIR] [MIN_LINES]`

use std::time::Instant;

use patterns::{Miner, MinerConfig};

const DATASETS: [&str; 8] = [
    "HDFS",
    "Hadoop",
    "Spark",
    "BGL",
    "Linux",
    "Apache",
    "Proxifier",
    "Mac",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/loghub-2k").to_string()
    });
    let min_lines: usize = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let mut lines: Vec<(&str, String)> = Vec::new();
    for d in DATASETS {
        let raw = std::fs::read(format!("{dir}/{d}/{d}_2k.log"))?;
        let text = String::from_utf8_lossy(&raw);
        lines.extend(text.lines().map(|l| (d, l.to_string())));
    }
    let per_pass = lines.len();
    let passes = min_lines.div_ceil(per_pass.max(1));
    let bytes_per_pass: usize = lines.iter().map(|(_, l)| l.len() + 1).sum();
    // Floor for comparison on a shared machine: only splitting every line into tokens.
    let start = Instant::now();
    let mut tokens = 0usize;
    for _ in 0..passes {
        for (_, line) in &lines {
            tokens += std::hint::black_box(line).split_ascii_whitespace().count();
        }
    }
    let floor = start.elapsed().as_secs_f64();
    let mut miner = Miner::new(MinerConfig::default())?;
    let start = Instant::now();
    let mut checksum = 0u64;
    for _ in 0..passes {
        for (svc, line) in &lines {
            checksum = checksum.wrapping_add(miner.mine(svc, line).pattern_id.0);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let total = per_pass * passes;
    let mb = (bytes_per_pass * passes) as f64 / 1e6;
    println!(
        "{total} lines, {mb:.1} MB in {secs:.3} s: {:.0} lines/s, {:.1} MB/s ({} patterns, checksum {checksum:x})",
        total as f64 / secs,
        mb / secs,
        miner.pattern_count()
    );
    println!("(floor: splitting the same lines into {tokens} tokens alone takes {floor:.3} s)");
    Ok(())
}
