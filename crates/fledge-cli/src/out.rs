//! Writing to stdout without panicking on a closed pipe.

use std::io::{self, Write};

/// Writes `text` to stdout. A closed pipe (`fledge simulate ... | head`)
/// ends the output quietly.
pub(crate) fn print(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Formats a duration as plans write it.
pub(crate) fn duration(d: std::time::Duration) -> String {
    fledge_rollout::duration::Display(d).to_string()
}
