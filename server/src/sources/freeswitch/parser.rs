//! The FreeSWITCH event socket wire format (inbound ESL): messages of
//! `Key: Value` header lines ended by an empty line, followed by a body of
//! exactly `Content-Length` bytes when the headers give one. Fed bytes as
//! they arrive (partial reads, LF or CRLF), it yields whole messages; it
//! never panics on garbage and bounds what it buffers.
//!
//! An event (`Content-Type: text/event-plain`) carries its own header block
//! in the body, values URL-encoded, possibly followed by a body of its own
//! (`Content-Length` inside): [`Message::event`] reads it. FreeSWITCH
//! escapes `"\r\n #%&+:;<=>?@[\\]^`{|}` in values and sends an empty one as
//! `_undef_`.

use crate::sources::lines::Lines;

/// A header line longer than this is cut (the rest of it is dropped).
pub const MAX_LINE: usize = 16 * 1024;
/// A message with more header lines than this is dropped whole.
pub const MAX_HEADERS: usize = 512;
/// A body longer than this is skipped, not buffered (an `api` reply listing
/// 20,000 agents is a few MB).
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// One message: its headers in order (keys compare case-insensitively) and
/// its body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        get(&self.headers, key)
    }

    pub fn content_type(&self) -> Option<&str> {
        self.get("Content-Type")
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The event a `text/event-plain` message carries.
    pub fn event(&self) -> Option<Event> {
        (self.content_type() == Some("text/event-plain")).then(|| Event::parse(&self.body))
    }
}

fn get<'a>(headers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// An event's headers, values URL-decoded, and its own body if any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Event {
    pub fn get(&self, key: &str) -> Option<&str> {
        get(&self.headers, key)
    }

    /// `Event-Name`, and for `CUSTOM` events `Event-Subclass` too.
    pub fn name(&self) -> Option<&str> {
        self.get("Event-Name")
    }

    /// Reads an event-plain body: header lines up to an empty line, then
    /// `Content-Length` bytes of body (as many as there are).
    pub fn parse(bytes: &[u8]) -> Event {
        let text = String::from_utf8_lossy(bytes);
        let mut event = Event::default();
        let mut rest = text.as_ref();
        while !rest.is_empty() {
            let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
            rest = after;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                break;
            }
            if event.headers.len() >= MAX_HEADERS {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                // An empty value is sent as `_undef_`.
                let v = match v.trim_start() {
                    "_undef_" => String::new(),
                    v => url_decode(v),
                };
                event.headers.push((k.trim().to_string(), v));
            }
        }
        if let Some(len) = event
            .get("Content-Length")
            .and_then(|n| n.trim().parse::<usize>().ok())
        {
            let end = rest
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(rest.len()))
                .take_while(|i| *i <= len)
                .last()
                .unwrap_or(0);
            event.body = rest[..end].to_string();
        }
        event
    }
}

/// Decodes `%XX` escapes (FreeSWITCH's encoding of header values); a `%`
/// not followed by two hex digits stays as it is, and bytes that do not
/// form UTF-8 are replaced.
pub fn url_decode(value: &str) -> String {
    if !value.contains('%') {
        return value.to_string();
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Headers,
    /// Reading a body: bytes still to come.
    Body(usize),
    /// Skipping a body over [`MAX_BODY`]: bytes still to come.
    Skip(usize),
}

#[derive(Debug, Default)]
pub struct Parser {
    state: State,
    /// The header line being read.
    lines: Lines,
    current: Message,
    /// The current message ran over [`MAX_HEADERS`]: dropped at its end.
    overflow: bool,
    /// Messages dropped for being too big.
    pub dropped: u64,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Feeds bytes; returns the messages they completed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Message> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            match self.state {
                State::Body(left) => {
                    let n = left.min(bytes.len());
                    self.current.body.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if n == left {
                        self.finish(&mut out);
                    } else {
                        self.state = State::Body(left - n);
                    }
                }
                State::Skip(left) => {
                    let n = left.min(bytes.len());
                    bytes = &bytes[n..];
                    if n == left {
                        self.current = Message::default();
                        self.state = State::Headers;
                    } else {
                        self.state = State::Skip(left - n);
                    }
                }
                State::Headers => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    if let Some(line) = self.lines.push(b, MAX_LINE) {
                        self.on_line(&line, &mut out);
                    }
                }
            }
        }
        out
    }

    fn on_line(&mut self, line: &str, out: &mut Vec<Message>) {
        if !line.is_empty() {
            if self.current.headers.len() >= MAX_HEADERS {
                self.overflow = true;
            } else if let Some((k, v)) = line.split_once(':') {
                self.current
                    .headers
                    .push((k.trim().to_string(), v.trim_start().to_string()));
            }
            return;
        }
        // Empty lines between messages are nothing.
        if self.current.headers.is_empty() && !self.overflow {
            return;
        }
        if self.overflow {
            self.overflow = false;
            self.dropped += 1;
            let len = self.content_length();
            self.current = Message::default();
            if len > 0 {
                self.state = State::Skip(len);
            }
            return;
        }
        match self.content_length() {
            0 => self.finish(out),
            len if len > MAX_BODY => {
                self.dropped += 1;
                self.state = State::Skip(len);
            }
            len => {
                self.current.body.reserve(len.min(64 * 1024));
                self.state = State::Body(len);
            }
        }
    }

    fn content_length(&self) -> usize {
        self.current
            .get("Content-Length")
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0)
    }

    fn finish(&mut self, out: &mut Vec<Message>) {
        self.state = State::Headers;
        out.push(std::mem::take(&mut self.current));
    }
}

/// A command line to send (`auth …`, `event plain …`, `api …`), ended by
/// the empty line the socket waits for. Line breaks inside are removed, so
/// a value from the config cannot add a command.
pub fn command(line: &str) -> Vec<u8> {
    let mut out: Vec<u8> = line
        .bytes()
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "Content-Type: auth/request\n\n";
    const REPLY: &str = "Content-Type: command/reply\nReply-Text: +OK accepted\n\n";

    fn event_message(body: &str) -> String {
        format!(
            "Content-Length: {}\nContent-Type: text/event-plain\n\n{body}",
            body.len()
        )
    }

    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let body = "Event-Name: CUSTOM\nEvent-Subclass: callcenter%3A%3Ainfo\nCC-Action: agent-status-change\nCC-Agent-UUID: _undef_\nCC-Agent: 1000%40default\nCC-Agent-Status: Available%20(On%20Demand)\n\n";
        let api = "Content-Type: api/response\nContent-Length: 6\n\n+OK\n\n\n";
        let wire = format!("{AUTH}{REPLY}{}{api}", event_message(body));
        let whole = Parser::new().feed(wire.as_bytes());
        assert_eq!(whole.len(), 4);
        for split in 1..wire.len() {
            let mut p = Parser::new();
            let mut got = p.feed(&wire.as_bytes()[..split]);
            got.extend(p.feed(&wire.as_bytes()[split..]));
            assert_eq!(got, whole, "split at {split}");
        }
        assert_eq!(whole[0].content_type(), Some("auth/request"));
        assert_eq!(whole[1].get("reply-text"), Some("+OK accepted"));
        let event = whole[2].event().expect("an event");
        assert_eq!(event.name(), Some("CUSTOM"));
        assert_eq!(event.get("Event-Subclass"), Some("callcenter::info"));
        assert_eq!(event.get("CC-Agent"), Some("1000@default"));
        assert_eq!(event.get("CC-Agent-Status"), Some("Available (On Demand)"));
        assert_eq!(event.get("CC-Agent-UUID"), Some(""));
        assert_eq!(whole[3].text(), "+OK\n\n\n");
    }

    #[test]
    fn an_events_own_body_is_read_after_its_headers() {
        let body = "Event-Name: BACKGROUND_JOB\nContent-Length: 4\n\n+OK\nrest";
        let m = Parser::new().feed(event_message(body).as_bytes());
        let e = m[0].event().unwrap();
        assert_eq!(e.body, "+OK\n");
    }

    #[test]
    fn crlf_lines_and_blank_lines_between_messages_are_accepted() {
        let wire = "\r\n\r\nContent-Type: command/reply\r\nReply-Text: -ERR invalid\r\n\r\n";
        let m = Parser::new().feed(wire.as_bytes());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].get("Reply-Text"), Some("-ERR invalid"));
    }

    #[test]
    fn url_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(url_decode("a%20b"), "a b");
        assert_eq!(url_decode("%E7%8E%8B%E8%8A%B3"), "王芳");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%4"), "%zz%4");
        assert_eq!(url_decode("%FF"), "\u{fffd}");
    }

    #[test]
    fn too_big_is_dropped_and_what_follows_still_reads() {
        let mut p = Parser::new();
        let huge = format!(
            "Content-Type: api/response\nContent-Length: {}\n\n",
            MAX_BODY + 1
        );
        assert!(p.feed(huge.as_bytes()).is_empty());
        // The skipped body, fed in pieces, buffers nothing.
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..MAX_BODY / chunk.len() {
            assert!(p.feed(&chunk).is_empty());
        }
        assert!(p.current.body.is_empty());
        let tail = vec![b'y'; MAX_BODY + 1 - (MAX_BODY / chunk.len()) * chunk.len()];
        let mut got = p.feed(&tail);
        got.extend(p.feed(REPLY.as_bytes()));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].get("Reply-Text"), Some("+OK accepted"));
        assert_eq!(p.dropped, 1);

        let many: String = (0..MAX_HEADERS + 5).map(|i| format!("H{i}: v\n")).collect();
        let mut p = Parser::new();
        let got = p.feed(format!("{many}\n{REPLY}").as_bytes());
        assert_eq!(
            got.len(),
            1,
            "the over-long message is dropped, the next kept"
        );
        assert_eq!(p.dropped, 1);

        let long_line = format!("X: {}\n{REPLY}", "z".repeat(MAX_LINE * 3));
        let got = Parser::new().feed(long_line.as_bytes());
        assert_eq!(got[0].get("X").map(str::len), Some(MAX_LINE - 3));
    }

    #[test]
    fn a_command_cannot_carry_a_second_one() {
        assert_eq!(
            command("auth Clue\nCon\r\napi x"),
            b"auth ClueConapi x\n\n".to_vec()
        );
    }
}
