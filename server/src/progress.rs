//! The progress display of the commands that send logs (`demo`, `bench ingest`, `tail --to`):
//! lines sent and lines/s, on standard error, drawn only when that is a terminal (indicatif
//! hides it otherwise, so scripts and CI logs stay clean).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` lines, or a counter when the total is open-ended (the file tail).
pub fn lines(total: Option<u64>) -> ProgressBar {
    match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{bar:40.cyan/blue} {human_pos}/{human_len} lines  {per_sec}  {elapsed_precise} (eta {eta})",
            )
            .expect("a valid template")
            .progress_chars("█▉▊▋▌▍▎▏ "),
        ),
        None => ProgressBar::no_length().with_style(
            ProgressStyle::with_template("{spinner} {human_pos} lines shipped  {per_sec}  {elapsed_precise}")
                .expect("a valid template"),
        ),
    }
}
