//! Splitting a socket's bytes into text lines, for the line-based wire
//! formats (the Asterisk manager's, FreeSWITCH's event socket headers).

/// The line being read: bytes up to LF (a CR before it dropped), a line
/// longer than the limit cut (the rest of it is dropped).
#[derive(Debug, Default)]
pub struct Lines {
    line: Vec<u8>,
    /// The current line was too long: drop until its end.
    skipping: bool,
}

impl Lines {
    /// Takes one byte; returns the line it ends (its kept start, when it was
    /// cut at `max` bytes), invalid UTF-8 replaced.
    pub fn push(&mut self, b: u8, max: usize) -> Option<String> {
        if b == b'\n' {
            self.skipping = false;
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = String::from_utf8_lossy(&self.line).into_owned();
            self.line.clear();
            return Some(line);
        }
        if !self.skipping {
            if self.line.len() >= max {
                self.skipping = true;
            } else {
                self.line.push(b);
            }
        }
        None
    }
}
