//! Wire level of the fake FreeSWITCH: splits what the server sends into commands the way
//! mod_event_socket reads them, and encodes what FreeSWITCH sends back (frames, URL-encoded
//! values). Owns no socket and no call state.

/// FreeSWITCH refuses bodies above 16 MiB; so does the fake.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// A header block larger than this is treated as garbage (FreeSWITCH has a similar cap).
pub const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// One command as the server sent it: the raw bytes plus the parsed view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Every byte of the command, header block, blank line and body.
    pub raw: Vec<u8>,
    /// The first line, e.g. `sendmsg`, `api uuid_break X`, `filter Event-Name DTMF`.
    pub line: String,
    /// `Name: value` lines after the first one, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// `Content-Length` bytes after the blank line (empty if none).
    pub body: Vec<u8>,
}

impl Command {
    /// First header with this name, compared case-insensitively (like FreeSWITCH).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The command word (`sendmsg`, `api`, `linger`...), lower-cased.
    pub fn verb(&self) -> String {
        self.line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    }

    /// Everything after the command word, trimmed.
    pub fn rest(&self) -> &str {
        let line = self.line.trim_start();
        match line.find(char::is_whitespace) {
            Some(i) => line[i..].trim(),
            None => "",
        }
    }
}

/// Why the byte stream from the server could not be split into commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    HeaderTooLarge(usize),
    BadContentLength(String),
    BodyTooLarge(usize),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::HeaderTooLarge(n) => write!(f, "header block over {n} bytes"),
            WireError::BadContentLength(v) => write!(f, "bad Content-Length {v:?}"),
            WireError::BodyTooLarge(n) => write!(f, "body of {n} bytes is over the cap"),
        }
    }
}

/// Finds the end of a header block the way mod_event_socket does: two `\n` with only `\r`
/// (or nothing) between them. Returns the index just past the block.
fn block_end(buf: &[u8]) -> Option<usize> {
    let mut newlines = 0;
    for (i, b) in buf.iter().enumerate() {
        match b {
            b'\n' => {
                newlines += 1;
                if newlines == 2 {
                    return Some(i + 1);
                }
            }
            b'\r' => {}
            _ => newlines = 0,
        }
    }
    None
}

/// Parses one command from the front of `buf`. `Ok(None)` means "need more bytes".
/// Leading blank lines are skipped (FreeSWITCH ignores them too).
pub fn parse_command(buf: &[u8]) -> Result<Option<(Command, usize)>, WireError> {
    let skip = buf
        .iter()
        .take_while(|b| **b == b'\n' || **b == b'\r')
        .count();
    let rest = &buf[skip..];
    let Some(end) = block_end(rest) else {
        if rest.len() > MAX_HEADER_BLOCK {
            return Err(WireError::HeaderTooLarge(MAX_HEADER_BLOCK));
        }
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&rest[..end]);
    // A carriage return is a line break too (seen on a real FreeSWITCH).
    let mut lines = text.split(['\n', '\r']).filter(|l| !l.is_empty());
    let line = lines.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.to_string(), v.trim_start_matches(' ').to_string()))
        })
        .collect();
    let mut cmd = Command {
        raw: Vec::new(),
        line,
        headers,
        body: Vec::new(),
    };
    let len = match cmd.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| WireError::BadContentLength(v.to_string()))?,
    };
    if len > MAX_BODY {
        return Err(WireError::BodyTooLarge(len));
    }
    if rest.len() < end + len {
        return Ok(None);
    }
    cmd.body = rest[end..end + len].to_vec();
    let used = skip + end + len;
    cmd.raw = buf[..used].to_vec();
    Ok(Some((cmd, used)))
}

/// URL-encodes a value like FreeSWITCH's `switch_url_encode`: control bytes, bytes above
/// 0x7E and `\r\n #%&+:;<=>?@[\]^`{|}"` become `%XX`, except a `%` already followed by two
/// hex digits (FreeSWITCH is lossy there on purpose). Empty becomes `_undef_`.
pub fn url_encode(value: &str) -> String {
    if value.is_empty() {
        return "_undef_".to_string();
    }
    const SPECIAL: &[u8] = b" #%&+:;<=>?@[\\]^`{|}\"";
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(bytes.len() + 8);
    for (i, &b) in bytes.iter().enumerate() {
        let already = b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if !already && (!(0x20..=0x7E).contains(&b) || SPECIAL.contains(&b)) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Decodes `%XX` only (never `+`), lossily: what a correct client does with event values.
pub fn url_decode(value: &str) -> String {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A header block of `Name: value` lines, each value URL-encoded, ending with a blank line.
pub fn encoded_block(headers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {}\n", url_encode(v)).as_bytes());
    }
    out.push(b'\n');
    out
}

/// A `text/event-plain` frame: Content-Length before Content-Type, as FreeSWITCH writes it.
pub fn event_frame(headers: &[(String, String)]) -> Vec<u8> {
    let body = encoded_block(headers);
    let mut out = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// A plain `command/reply` (Reply-Text not encoded).
pub fn reply_frame(text: &str) -> Vec<u8> {
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n").into_bytes()
}

/// An `api/response` frame with its body.
pub fn api_frame(body: &str) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: api/response\nContent-Length: {}\n\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// The 67-byte goodbye FreeSWITCH sends before it closes the socket.
pub const GOODBYE: &str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

/// `text/disconnect-notice` with `Content-Disposition: disconnect` and the goodbye body.
pub fn disconnect_frame(uuid: &str) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n\
         Content-Disposition: disconnect\nContent-Length: {}\n\n",
        GOODBYE.len()
    )
    .into_bytes();
    out.extend_from_slice(GOODBYE.as_bytes());
    out
}

/// `text/disconnect-notice` with `Content-Disposition: linger` (not end-of-stream).
pub fn linger_frame(uuid: &str, channel_name: &str, linger_time: i64) -> Vec<u8> {
    format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n\
         Content-Disposition: linger\nChannel-Name: {channel_name}\n\
         Linger-Time: {linger_time}\nContent-Length: 0\n\n"
    )
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn parses_header_form_and_body_form_commands() {
        let raw = b"sendmsg\ncall-command: execute\nexecute-app-name: playback\n\
                    content-type: text/plain\ncontent-length: 5\n\nhello";
        assert_eq!(parse_command(&raw[..raw.len() - 1]).unwrap(), None);
        let (cmd, used) = parse_command(raw).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(cmd.verb(), "sendmsg");
        assert_eq!(cmd.header("Execute-App-Name"), Some("playback"));
        assert_eq!(cmd.body, b"hello");
        let (api, _) = parse_command(b"api uuid_break abc all\n\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (api.verb().as_str(), api.rest()),
            ("api", "uuid_break abc all")
        );
    }

    #[test]
    fn a_carriage_return_is_a_line_break_like_in_freeswitch() {
        let raw = b"sendmsg\nexecute-app-arg: a\rcall-command: hangup\r\n\r\n";
        let (cmd, used) = parse_command(raw).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(cmd.header("execute-app-arg"), Some("a"));
        assert_eq!(cmd.header("call-command"), Some("hangup"));
    }

    #[test]
    fn refuses_bad_lengths() {
        assert!(parse_command(b"x\ncontent-length: -1\n\n").is_err());
        let huge = format!("x\ncontent-length: {}\n\n", MAX_BODY + 1);
        assert!(parse_command(huge.as_bytes()).is_err());
    }

    #[test]
    fn encodes_like_switch_url_encode() {
        assert_eq!(
            url_encode("tone_stream://%(200,0,440)"),
            "tone_stream%3A//%25(200,0,440)"
        );
        assert_eq!(url_encode("100%41 a:b é+c"), "100%41%20a%3Ab%20%C3%A9%2Bc");
        assert_eq!(url_encode("+OK\n"), "%2BOK%0A");
        assert_eq!(url_encode(""), "_undef_");
        assert_eq!(url_decode("100%41%20a%3Ab%20%C3%A9%2Bc+"), "100A a:b é+c+");
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_command(&bytes);
            let _ = url_decode(&String::from_utf8_lossy(&bytes));
        }
    }
}
