//! A socket's outbound bytes: each frame is encoded once, straight into one buffer, and the
//! HTTP dispatcher drains everything buffered with a single write.
//!
//! This replaces actix-ws's `Session`, which sends every message through a channel (a 32-slot
//! block allocated per socket up front) to a body that re-encodes it into a fresh buffer: per
//! delivered event that was a `String` with the `seq` spliced in, a channel hop, a frame buffer
//! and their frees. Here the `seq` is written while encoding, and the buffer's allocation is
//! reused once the dispatcher has copied the bytes out. Inbound frames still come from actix-ws's
//! `MessageStream`.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::{BufMut, Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// The socket is gone (or closing): nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// Frame opcodes (RFC 6455 §5.2) this server sends.
#[derive(Debug, Clone, Copy)]
enum OpCode {
    Text = 0x1,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

#[derive(Debug, Default)]
struct State {
    buf: BytesMut,
    /// A close frame was queued: the body ends once it is written.
    closing: bool,
    /// The dispatcher dropped the body (the connection is gone).
    gone: bool,
}

/// What a socket's task (and nothing else) writes to, and the dispatcher reads from.
#[derive(Debug, Default)]
pub struct Outbound {
    state: Mutex<State>,
    waker: AtomicWaker,
}

/// Bytes of `{"seq":N,` for `seq`, beyond the event's own opening brace.
fn seq_prefix_len(seq: u64) -> usize {
    let digits = if seq == 0 { 1 } else { seq.ilog10() as usize + 1 };
    "{\"seq\":".len() + digits + usize::from(true)
}

fn put_header(buf: &mut BytesMut, op: OpCode, len: usize) {
    buf.put_u8(0x80 | op as u8);
    if len < 126 {
        buf.put_u8(len as u8);
    } else if len <= usize::from(u16::MAX) {
        buf.put_u8(126);
        buf.put_u16(len as u16);
    } else {
        buf.put_u8(127);
        buf.put_u64(len as u64);
    }
}

impl Outbound {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the buffer unless the socket is closing or gone, then wake the dispatcher.
    fn put(&self, f: impl FnOnce(&mut BytesMut)) -> Result<(), Closed> {
        {
            let mut st = self.lock();
            if st.closing || st.gone {
                return Err(Closed);
            }
            f(&mut st.buf);
        }
        self.waker.wake();
        Ok(())
    }

    /// Queue a text frame.
    pub fn text(&self, text: &str) -> Result<(), Closed> {
        self.put(|buf| {
            buf.reserve(text.len() + 10);
            put_header(buf, OpCode::Text, text.len());
            buf.put_slice(text.as_bytes());
        })
    }

    /// Queue `event` (a JSON object) as a text frame with `"seq":seq` as its first member.
    pub fn event(&self, seq: u64, event: &str) -> Result<(), Closed> {
        let Some(rest) = event.strip_prefix('{') else { return self.text(event) };
        let empty = rest.trim_start().starts_with('}');
        let len = seq_prefix_len(seq) - usize::from(empty) + rest.len();
        self.put(|buf| {
            buf.reserve(len + 10);
            put_header(buf, OpCode::Text, len);
            let mut w = Utf8Writer(buf);
            let _ = write!(w, "{{\"seq\":{seq}");
            if !empty {
                buf.put_u8(b',');
            }
            buf.put_slice(rest.as_bytes());
        })
    }

    /// Queue a ping.
    pub fn ping(&self, payload: &[u8]) -> Result<(), Closed> {
        let payload = &payload[..payload.len().min(125)];
        self.put(|buf| {
            put_header(buf, OpCode::Ping, payload.len());
            buf.put_slice(payload);
        })
    }

    /// Queue a pong answering a ping with `payload`.
    pub fn pong(&self, payload: &[u8]) -> Result<(), Closed> {
        let payload = &payload[..payload.len().min(125)];
        self.put(|buf| {
            put_header(buf, OpCode::Pong, payload.len());
            buf.put_slice(payload);
        })
    }

    /// Queue a close frame; nothing is sent after it and the body ends once it is written.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Closed> {
        // A control frame's payload is at most 125 bytes: the code and up to 123 of reason.
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let reason = &reason[..end];
        self.put(|buf| {
            put_header(buf, OpCode::Close, 2 + reason.len());
            buf.put_u16(code);
            buf.put_slice(reason.as_bytes());
        })?;
        self.finish();
        Ok(())
    }

    /// End the response after what is queued, without a close frame (the socket's task ended).
    pub fn finish(&self) {
        self.lock().closing = true;
        self.waker.wake();
    }

    /// Bytes queued and not yet taken by the dispatcher.
    pub fn buffered(&self) -> usize {
        self.lock().buf.len()
    }

    /// Everything queued, as one chunk (what the dispatcher writes next). It copies the chunk
    /// into its write buffer and drops it; the next frames then reuse this allocation.
    pub fn take(&self) -> Option<Bytes> {
        let mut st = self.lock();
        (!st.buf.is_empty()).then(|| st.buf.split().freeze())
    }

    /// Whether the connection is gone.
    pub fn is_gone(&self) -> bool {
        self.lock().gone
    }

    /// The response body that sends what is queued here, keeping `upgrade`'s own body (never
    /// polled) alive until the connection ends: actix-ws ends the inbound stream when it drops.
    pub fn body(self: &Arc<Self>, upgrade: BoxBody) -> OutboundBody {
        OutboundBody { out: self.clone(), _upgrade: upgrade }
    }
}

/// `fmt::Write` into a `BytesMut` (for numbers).
struct Utf8Writer<'a>(&'a mut BytesMut);

impl std::fmt::Write for Utf8Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// The WebSocket response body: whatever the socket's task queued, one chunk per poll.
pub struct OutboundBody {
    out: Arc<Outbound>,
    _upgrade: BoxBody,
}

impl MessageBody for OutboundBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let out = &self.out;
        out.waker.register(cx.waker());
        if let Some(chunk) = out.take() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        if out.lock().closing {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

impl Drop for OutboundBody {
    fn drop(&mut self) {
        let mut st = self.out.lock();
        st.gone = true;
        st.buf = BytesMut::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(out: &Outbound) -> Vec<(u8, Vec<u8>)> {
        let mut buf = out.lock().buf.split();
        let mut v = Vec::new();
        while !buf.is_empty() {
            let b0 = buf[0];
            let (len, at) = match buf[1] {
                126 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
                n => (n as usize, 2),
            };
            let frame = buf.split_to(at + len);
            v.push((b0, frame[at..].to_vec()));
        }
        v
    }

    #[test]
    fn events_get_their_seq_spliced_in_while_encoding() {
        let out = Outbound::default();
        out.event(7, r#"{"type":"x"}"#).unwrap();
        out.event(10, "{}").unwrap();
        out.event(123_456, r#"{ "type":"y","n":1}"#).unwrap();
        out.text("{\"type\":\"ack\"}").unwrap();
        let f = frames(&out);
        let texts: Vec<String> = f.iter().map(|(_, p)| String::from_utf8(p.clone()).unwrap()).collect();
        assert!(f.iter().all(|(b0, _)| *b0 == 0x81), "final text frames");
        assert_eq!(
            texts,
            [r#"{"seq":7,"type":"x"}"#, r#"{"seq":10}"#, r#"{"seq":123456, "type":"y","n":1}"#, r#"{"type":"ack"}"#]
        );
        for (seq, event) in [(0u64, "{\"a\":1}"), (9, "{\"a\":1}"), (99, "{}"), (u64::MAX, "{\"b\":2}")] {
            out.event(seq, event).unwrap();
            let (_, p) = frames(&out).remove(0);
            assert_eq!(String::from_utf8(p).unwrap(), crate::protocol::with_seq(seq, event));
        }
    }

    #[test]
    fn long_frames_use_the_extended_lengths() {
        let out = Outbound::default();
        let mid = format!("{{\"t\":\"{}\"}}", "a".repeat(300));
        let big = format!("{{\"t\":\"{}\"}}", "b".repeat(70_000));
        out.event(1, &mid).unwrap();
        out.event(2, &big).unwrap();
        let f = frames(&out);
        assert_eq!(f[0].1, crate::protocol::with_seq(1, &mid).into_bytes());
        assert_eq!(f[1].1, crate::protocol::with_seq(2, &big).into_bytes());
    }

    #[test]
    fn nothing_is_queued_after_a_close_or_once_the_connection_is_gone() {
        let out = Arc::new(Outbound::default());
        out.close(4401, &"é".repeat(100)).unwrap();
        let (b0, p) = frames(&out).remove(0);
        assert_eq!(b0, 0x88);
        assert_eq!(u16::from_be_bytes([p[0], p[1]]), 4401);
        assert!(p.len() <= 125 && std::str::from_utf8(&p[2..]).is_ok(), "reason cut at a character boundary");
        assert_eq!(out.text("{}"), Err(Closed));
        let again = Arc::new(Outbound::default());
        drop(again.body(BoxBody::new(())));
        assert!(again.is_gone());
        assert_eq!(again.event(1, "{}"), Err(Closed));
    }
}
