//! The Asterisk Manager Interface wire format: messages of `Key: Value`
//! lines ended by an empty line, after a one-line banner. Fed bytes as they
//! arrive (partial reads, CRLF or LF), it yields whole messages; it never
//! panics on garbage and bounds what it buffers.
//!
//! `Response: Follows` (a command's output) ends with `--END COMMAND--`
//! instead of an empty line, and its body lines are not `Key: Value`; they
//! are kept under the key `Output`.

use crate::sources::lines::Lines;

/// A line longer than this is cut (the rest of it is dropped).
pub const MAX_LINE: usize = 16 * 1024;
/// A message with more lines than this is dropped whole.
pub const MAX_LINES: usize = 512;

/// One message: its headers in order. Keys compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub headers: Vec<(String, String)>,
}

impl Message {
    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The event name, for `Event:` messages.
    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    /// The response (`Success`, `Error`, `Follows`…), for replies.
    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }
}

#[derive(Debug, Default)]
pub struct Parser {
    /// The line being read.
    lines: Lines,
    /// The banner line has been read.
    banner: Option<String>,
    current: Message,
    /// Inside a `Response: Follows` message.
    follows: bool,
    /// Past its headers, in the command's output.
    follows_body: bool,
    /// The current message ran over [`MAX_LINES`]: dropped at its end.
    overflow: bool,
    /// Messages dropped for being too big.
    pub dropped: u64,
}

impl Parser {
    /// A parser that expects the banner first (`Asterisk Call Manager/x`).
    pub fn new() -> Parser {
        Parser::default()
    }

    /// The banner, once read.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// Feeds bytes; returns the messages they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        for &b in bytes {
            // A cut line still counts, with the start that was kept.
            if let Some(line) = self.lines.push(b, MAX_LINE) {
                self.on_line(&line, &mut out);
            }
        }
        out
    }

    fn on_line(&mut self, line: &str, out: &mut Vec<Message>) {
        if self.banner.is_none() {
            self.banner = Some(line.to_string());
            return;
        }
        if self.follows {
            if line.trim_end() == "--END COMMAND--" {
                self.follows = false;
                self.follows_body = false;
                self.finish(out);
                return;
            }
            // Headers (`ActionID: 3`) until the first line that is not one.
            let header = line
                .split_once(':')
                .filter(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace));
            match header {
                Some((k, v)) if !self.follows_body => self.push(k.into(), v.trim_start().into()),
                _ => {
                    self.follows_body = true;
                    self.push("Output".into(), line.to_string());
                }
            }
            return;
        }
        if line.is_empty() {
            self.finish(out);
            return;
        }
        let (key, value) = match line.split_once(':') {
            Some((k, v)) => (k.trim().to_string(), v.trim_start().to_string()),
            None => ("Output".to_string(), line.to_string()),
        };
        let starts_follows = key.eq_ignore_ascii_case("Response") && value == "Follows";
        self.push(key, value);
        if starts_follows {
            self.follows = true;
        }
    }

    fn push(&mut self, key: String, value: String) {
        if self.current.headers.len() >= MAX_LINES {
            self.overflow = true;
        } else {
            self.current.headers.push((key, value));
        }
    }

    fn finish(&mut self, out: &mut Vec<Message>) {
        let message = std::mem::take(&mut self.current);
        if std::mem::take(&mut self.overflow) {
            self.dropped += 1;
        } else if !message.headers.is_empty() {
            out.push(message);
        }
    }
}

/// An action: `Action: name` then the headers, ended by an empty line.
pub fn action(name: &str, id: u64, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut text = format!("Action: {name}\r\nActionID: {id}\r\n");
    for (k, v) in headers {
        // A value may not break the framing.
        let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSCRIPT: &str = "Asterisk Call Manager/7.0.3\r\nResponse: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\nEvent: QueueCallerJoin\r\nPrivilege: agent,all\r\nQueue: sales\r\nUniqueid: 1700000000.1\r\nPosition: 1\r\n\r\n";

    #[test]
    fn any_split_of_the_bytes_gives_the_same_messages() {
        let whole = Parser::new().feed(TRANSCRIPT.as_bytes());
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[1].event(), Some("QueueCallerJoin"));
        assert_eq!(whole[1].get("queue"), Some("sales"));
        for cut in 0..TRANSCRIPT.len() {
            let mut p = Parser::new();
            let mut got = p.feed(&TRANSCRIPT.as_bytes()[..cut]);
            got.extend(p.feed(&TRANSCRIPT.as_bytes()[cut..]));
            assert_eq!(got, whole, "cut at {cut}");
            assert_eq!(p.banner(), Some("Asterisk Call Manager/7.0.3"));
        }
        // One byte at a time, and with bare LF line ends.
        let lf = TRANSCRIPT.replace("\r\n", "\n");
        let mut p = Parser::new();
        let got: Vec<Message> = lf.bytes().flat_map(|b| p.feed(&[b])).collect();
        assert_eq!(got, whole);
    }

    #[test]
    fn command_output_is_kept_until_its_end_marker() {
        let text = "Asterisk Call Manager/5.0\nResponse: Follows\nActionID: 3\nPrivilege: Command\nName  State\n: odd: line\n--END COMMAND--\n\nEvent: FullyBooted\n\n";
        let got = Parser::new().feed(text.as_bytes());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].response(), Some("Follows"));
        let output: Vec<&str> = got[0]
            .headers
            .iter()
            .filter(|(k, _)| k == "Output")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(output, ["Name  State", ": odd: line"]);
        assert_eq!(got[1].event(), Some("FullyBooted"));
    }

    #[test]
    fn huge_fields_and_garbage_are_bounded_and_do_not_panic() {
        let mut p = Parser::new();
        p.feed(b"banner\n");
        let huge = format!(
            "Event: X\nVariable: {}\nQueue: q\n\n",
            "a".repeat(MAX_LINE * 3)
        );
        let got = p.feed(huge.as_bytes());
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].get("Variable").unwrap().len(),
            MAX_LINE - "Variable: ".len()
        );
        assert_eq!(
            got[0].get("Queue"),
            Some("q"),
            "the next line is read whole"
        );
        // Too many lines: the message is dropped, the next one is read.
        let many = format!("Event: Y\n{}\nEvent: Z\n\n", "K: v\n".repeat(MAX_LINES + 1));
        let got = p.feed(many.as_bytes());
        assert_eq!(
            got.iter().map(|m| m.event()).collect::<Vec<_>>(),
            [Some("Z")]
        );
        assert_eq!(p.dropped, 1);
        // Random bytes, invalid UTF-8 included.
        let mut seed = 7u64;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let b = (seed >> 56) as u8;
                if b < 40 { b'\n' } else { b }
            })
            .collect();
        let _ = p.feed(&noise);
        assert!(p.current.headers.len() <= MAX_LINES);
    }

    #[test]
    fn actions_cannot_break_the_framing() {
        let bytes = action(
            "Login",
            1,
            &[("Username", "wb"), ("Secret", "a\r\n\r\nAction: Logoff")],
        );
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "Action: Login\r\nActionID: 1\r\nUsername: wb\r\nSecret: aAction: Logoff\r\n\r\n"
        );
    }
}
