//! What the simulated FreeSWITCH writes, byte for byte as FreeSWITCH 1.10 writes it
//! (fixtures/esl): the connect reply, command replies, `api/response`, `text/event-plain`
//! events and the disconnect notices. Reading commands is `crate::esl`'s job
//! (`FrameCodec` + `Command::from_frame`); this file only encodes.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What `switch_url_encode` escapes besides control bytes and bytes above 0x7E (which
/// `utf8_percent_encode` always escapes): see esl-notes, "URL-decoding of values".
const FS_ESCAPED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}')
    .add(b'"')
    .add(0x7F);

/// A header value as FreeSWITCH writes it in events and the connect reply; empty is
/// `_undef_`.
pub fn encode_value(value: &str) -> String {
    if value.is_empty() {
        return "_undef_".into();
    }
    utf8_percent_encode(value, FS_ESCAPED).to_string()
}

/// `Name: value` lines, values URL-encoded, then the blank line.
fn encoded_block(headers: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(encode_value(value).as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// The reply to `connect`: ONE header block, no Content-Length, the channel data first and
/// the reply headers last, every value URL-encoded (Reply-Text included).
pub fn connect_reply(channel: &[(String, String)]) -> Vec<u8> {
    let mut headers = channel.to_vec();
    for (n, v) in [
        ("Content-Type", "command/reply"),
        ("Reply-Text", "+OK\n"),
        ("Socket-Mode", "async"),
        ("Control", "full"),
    ] {
        headers.push((n.into(), v.into()));
    }
    encoded_block(&headers)
}

/// An ordinary `command/reply`; its Reply-Text is not encoded.
pub fn reply(text: &str) -> Vec<u8> {
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n").into_bytes()
}

/// An `api/response` with its body.
pub fn api_response(body: &str) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: api/response\nContent-Length: {}\n\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// A `text/event-plain` frame: Content-Length before Content-Type, as FreeSWITCH writes it.
pub fn event(headers: &[(String, String)]) -> Vec<u8> {
    let body = encoded_block(headers);
    let mut out = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The notice `linger` asks for: the channel hung up, the stream goes on.
pub fn linger_notice(uuid: &str, channel_name: &str) -> Vec<u8> {
    format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n\
         Content-Disposition: linger\nChannel-Name: {channel_name}\n\
         Linger-Time: -1\nContent-Length: 0\n\n"
    )
    .into_bytes()
}

/// The 67-byte goodbye FreeSWITCH sends after `+OK bye`, right before it closes.
const GOODBYE: &str = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n";

pub fn disconnect_notice(uuid: &str) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: text/disconnect-notice\nControlled-Session-UUID: {uuid}\n\
         Content-Disposition: disconnect\nContent-Length: {}\n\n",
        GOODBYE.len()
    )
    .into_bytes();
    out.extend_from_slice(GOODBYE.as_bytes());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::esl::{EslCodec, Message};
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    fn decode(bytes: &[u8]) -> Message {
        let mut buf = BytesMut::from(bytes);
        let msg = EslCodec::default().decode(&mut buf).unwrap().unwrap();
        assert!(buf.is_empty(), "one frame, nothing left over");
        msg
    }

    #[test]
    fn values_are_encoded_like_switch_url_encode() {
        assert_eq!(
            encode_value("tone_stream://%(200,0,440)"),
            "tone_stream%3A//%25(200,0,440)"
        );
        assert_eq!(encode_value("+OK\n"), "%2BOK%0A");
        assert_eq!(encode_value("Lab Caller é"), "Lab%20Caller%20%C3%A9");
        assert_eq!(encode_value("a!$'()*,-./_~"), "a!$'()*,-./_~");
        assert_eq!(encode_value(""), "_undef_");
    }

    #[test]
    fn pivot_reads_the_connect_reply_as_channel_data() {
        let channel = vec![
            ("Event-Name".to_string(), "CHANNEL_DATA".to_string()),
            ("Unique-ID".to_string(), "abc-1".to_string()),
            (
                "Caller-Caller-ID-Name".to_string(),
                "Lab Caller".to_string(),
            ),
        ];
        let wire = connect_reply(&channel);
        assert!(!String::from_utf8_lossy(&wire).contains("Content-Length"));
        let Message::ConnectReply(data) = decode(&wire) else {
            panic!("not a connect reply")
        };
        assert_eq!(data.unique_id(), Some("abc-1"));
        assert_eq!(data.caller_id_name(), Some("Lab Caller"));
        assert!(data.is_ok());
    }

    #[test]
    fn events_replies_and_notices_decode() {
        let ev = event(&[
            ("Event-Name".into(), "DTMF".into()),
            ("DTMF-Digit".into(), "#".into()),
        ]);
        let Message::Event(ev) = decode(&ev) else {
            panic!("not an event")
        };
        assert_eq!(ev.dtmf_digit(), Some("#"));
        assert!(matches!(decode(&reply("+OK bye")), Message::Reply(r) if r.text == "+OK bye"));
        assert!(
            matches!(decode(&api_response("+OK 201")), Message::ApiResponse(b) if b == "+OK 201")
        );
        assert!(matches!(
            decode(&linger_notice("u", "sim/3004")),
            Message::Disconnect { .. }
        ));
        assert!(matches!(
            decode(&disconnect_notice("u")),
            Message::Disconnect { .. }
        ));
    }
}
