//! The frames the listener and the executors exchange over their Unix socket.
//!
//! A frame is a little-endian `u32` payload length followed by the payload. Requests go
//! listener -> executor as [`RawRequest`], answers come back as [`HttpResponse`] (status,
//! headers, body, then a presence byte and the custom reason phrase).

use crate::api_request::RawRequest;
use crate::error::ApiError;
use crate::respond::HttpResponse;
use std::io::{self, Read, Write};

/// Frames larger than this are refused (a request body limit, in effect).
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The largest response body that fits a frame with room to spare for the status and headers.
pub const MAX_RESPONSE_BODY: usize = MAX_FRAME - 1024 * 1024;

/// The payload size [`encode_response`] gives.
fn response_payload_len(resp: &HttpResponse) -> usize {
    let headers: usize = resp
        .headers
        .iter()
        .map(|(k, v)| 8 + k.len() + v.len())
        .sum();
    let reason = resp.reason.as_ref().map_or(0, |r| 4 + r.len());
    2 + 4 + headers + 4 + resp.body.len() + 1 + reason
}

/// Whether a response may go back to the listener: its body within `max_body` (the
/// `server_max_response_size` setting) and its frame within [`MAX_FRAME`], which the listener
/// would refuse (dropping the link to the executor).
pub fn check_response_size(resp: &HttpResponse, max_body: usize) -> Result<(), ApiError> {
    let limit = max_body.min(MAX_RESPONSE_BODY);
    if resp.body.len() > limit || response_payload_len(resp) > MAX_FRAME {
        return Err(ApiError::response_too_large(resp.body.len(), limit));
    }
    Ok(())
}

struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u32).to_le_bytes());
        self.0.extend_from_slice(b);
    }
    fn headers(&mut self, h: &[(String, String)]) {
        self.0.extend_from_slice(&(h.len() as u32).to_le_bytes());
        for (k, v) in h {
            self.bytes(k.as_bytes());
            self.bytes(v.as_bytes());
        }
    }
}

struct Reader<'a>(&'a [u8]);

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "truncated ipc frame")
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> io::Result<u32> {
        if self.0.len() < 4 {
            return Err(truncated());
        }
        let (h, t) = self.0.split_at(4);
        self.0 = t;
        Ok(u32::from_le_bytes(h.try_into().unwrap()))
    }
    fn u8(&mut self) -> io::Result<u8> {
        let (&b, t) = self.0.split_first().ok_or_else(truncated)?;
        self.0 = t;
        Ok(b)
    }
    fn u16(&mut self) -> io::Result<u16> {
        if self.0.len() < 2 {
            return Err(truncated());
        }
        let (h, t) = self.0.split_at(2);
        self.0 = t;
        Ok(u16::from_le_bytes(h.try_into().unwrap()))
    }
    fn bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return Err(truncated());
        }
        let (h, t) = self.0.split_at(n);
        self.0 = t;
        Ok(h)
    }
    fn string(&mut self) -> io::Result<String> {
        Ok(String::from_utf8_lossy(self.bytes()?).into_owned())
    }
    fn headers(&mut self) -> io::Result<Vec<(String, String)>> {
        let n = self.u32()? as usize;
        let mut v = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            v.push((self.string()?, self.string()?));
        }
        Ok(v)
    }
}

impl Writer {
    /// A frame under construction: its length is written by [`Writer::framed`].
    fn frame(capacity: usize) -> Writer {
        let mut out = Vec::with_capacity(capacity + 4);
        out.extend_from_slice(&[0; 4]);
        Writer(out)
    }
    fn framed(mut self) -> Vec<u8> {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_le_bytes());
        self.0
    }
}

pub fn encode_request(r: &RawRequest) -> Vec<u8> {
    let headers: usize = r.headers.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut w = Writer::frame(16 + r.method.len() + r.target.len() + headers + r.body.len());
    w.bytes(r.method.as_bytes());
    w.bytes(r.target.as_bytes());
    w.headers(&r.headers);
    w.bytes(&r.body);
    w.framed()
}

pub fn decode_request(payload: &[u8]) -> io::Result<RawRequest> {
    let mut r = Reader(payload);
    Ok(RawRequest {
        method: r.string()?,
        target: r.string()?,
        headers: r.headers()?,
        body: r.bytes()?.to_vec(),
    })
}

pub fn encode_response(resp: &HttpResponse) -> Vec<u8> {
    let mut w = Writer::frame(response_payload_len(resp));
    w.0.extend_from_slice(&resp.status.to_le_bytes());
    w.headers(&resp.headers);
    w.bytes(&resp.body);
    match &resp.reason {
        Some(reason) => {
            w.0.push(1);
            w.bytes(reason.as_bytes());
        }
        None => w.0.push(0),
    }
    w.framed()
}

pub fn decode_response(payload: &[u8]) -> io::Result<HttpResponse> {
    let mut r = Reader(payload);
    Ok(HttpResponse {
        status: r.u16()?,
        headers: r.headers()?,
        body: r.bytes()?.to_vec(),
        reason: match r.u8()? {
            0 => None,
            _ => Some(r.string()?),
        },
    })
}

/// Reads one frame's payload from a blocking stream; `Ok(None)` on a clean EOF.
#[cfg(test)]
fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut reader = FrameReader::default();
    Ok(reader.read_from(r)?.map(<[u8]>::to_vec))
}

/// The smallest read: a whole request or response of a typical API call fits.
const READ_CHUNK: usize = 16 * 1024;
/// A buffer grown beyond this for a large frame is given back before the next frame.
const KEEP_BUFFER: usize = 1024 * 1024;

/// Cuts frames out of a stream with as few reads as possible: one `read` brings a small frame
/// whole (length and payload), where reading the length and then the payload took two system
/// calls (three on a non-blocking socket: the first read finds nothing yet). Bytes read past
/// a frame stay for the next one.
#[derive(Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// the unread bytes are `buf[start..end]`
    start: usize,
    end: usize,
}

/// What [`FrameReader::next_frame`] found.
pub enum Next {
    /// a whole frame's payload: `FrameReader::payload(range)`
    Frame(std::ops::Range<usize>),
    /// more bytes are needed: read into [`FrameReader::space`]
    More,
}

impl FrameReader {
    /// The next frame when its bytes are all buffered, else room is made for reading more.
    pub fn next_frame(&mut self) -> io::Result<Next> {
        let avail = self.end - self.start;
        let need = if avail >= 4 {
            let head = &self.buf[self.start..self.start + 4];
            let n = u32::from_le_bytes(head.try_into().unwrap()) as usize;
            if n > MAX_FRAME {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "ipc frame too large",
                ));
            }
            if avail >= 4 + n {
                let payload = self.start + 4..self.start + 4 + n;
                self.start += 4 + n;
                return Ok(Next::Frame(payload));
            }
            4 + n
        } else {
            4
        };
        if avail == 0 {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > KEEP_BUFFER {
                self.buf = Vec::new();
            }
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end = avail;
            self.start = 0;
        }
        let want = need.max(READ_CHUNK);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        Ok(Next::More)
    }

    /// Where to read into after [`Next::More`] (never empty then).
    pub fn space(&mut self) -> &mut [u8] {
        &mut self.buf[self.end..]
    }

    /// `n` bytes were read into [`FrameReader::space`].
    pub fn filled(&mut self, n: usize) {
        self.end += n;
    }

    /// Whether bytes of an unfinished frame are buffered (an EOF now cuts a frame).
    pub fn partial(&self) -> bool {
        self.end > self.start
    }

    pub fn payload(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Reads the next frame's payload from a blocking stream; `Ok(None)` on a clean EOF.
    pub fn read_from<R: Read>(&mut self, r: &mut R) -> io::Result<Option<&[u8]>> {
        loop {
            match self.next_frame()? {
                Next::Frame(range) => return Ok(Some(self.payload(range))),
                Next::More => match r.read(self.space()) {
                    Ok(0) if self.partial() => return Err(truncated()),
                    Ok(0) => return Ok(None),
                    Ok(n) => self.filled(n),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                },
            }
        }
    }
}

pub fn write_all<W: Write>(w: &mut W, frame: &[u8]) -> io::Result<()> {
    w.write_all(frame)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_roundtrip() {
        let req = RawRequest {
            method: "POST".into(),
            target: "/posts?select=id".into(),
            headers: vec![("prefer".into(), "return=minimal".into())],
            body: b"{\"a\":1}".to_vec(),
        };
        let frame = encode_request(&req);
        let payload = read_frame(&mut &frame[..]).unwrap().unwrap();
        assert_eq!(decode_request(&payload).unwrap(), req);
    }

    #[test]
    fn response_roundtrip() {
        let resp = HttpResponse {
            status: 201,
            headers: vec![("Location".into(), "/posts?id=eq.1".into())],
            body: vec![],
            reason: None,
        };
        let frame = encode_response(&resp);
        let payload = read_frame(&mut &frame[..]).unwrap().unwrap();
        assert_eq!(decode_response(&payload).unwrap(), resp);
        let resp = HttpResponse {
            status: 409,
            headers: vec![],
            body: b"{}".to_vec(),
            reason: Some("Locked Shelf".into()),
        };
        let frame = encode_response(&resp);
        let payload = read_frame(&mut &frame[..]).unwrap().unwrap();
        assert_eq!(decode_response(&payload).unwrap(), resp);
    }

    #[test]
    fn response_size_limits() {
        let resp = |body: usize, header: usize| HttpResponse {
            headers: vec![("X".into(), "v".repeat(header))],
            body: vec![b'a'; body],
            reason: Some("r".into()),
            ..HttpResponse::default()
        };
        let r = resp(100, 10);
        assert_eq!(encode_response(&r).len() - 4, response_payload_len(&r));
        assert!(check_response_size(&r, 100).is_ok());
        let e = check_response_size(&resp(101, 0), 100).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (500, "SDA500"));
        assert!(e.details.unwrap().contains("101 bytes, the limit is 100"));
        // the frame limit holds whatever the setting says
        assert!(check_response_size(&resp(0, MAX_FRAME), usize::MAX).is_err());
    }

    #[test]
    fn truncated_frames_are_errors_not_panics() {
        let frame = encode_request(&RawRequest::default());
        for cut in 0..frame.len() - 4 {
            assert!(decode_request(&frame[4..4 + cut]).is_err());
        }
        let frame = encode_response(&HttpResponse {
            reason: Some("x".into()),
            ..HttpResponse::default()
        });
        for cut in 0..frame.len() - 4 {
            assert!(decode_response(&frame[4..4 + cut]).is_err());
        }
        assert!(read_frame(&mut &frame[..0]).unwrap().is_none());
        assert!(read_frame(&mut &frame[..3]).is_err());
        assert!(read_frame(&mut &frame[..frame.len() - 1]).is_err());
    }

    /// A reader that hands out at most `step` bytes per read, as a socket may.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn frame_reader_cuts_frames_however_the_bytes_arrive() {
        let big = RawRequest {
            body: vec![b'x'; KEEP_BUFFER + 5],
            ..RawRequest::default()
        };
        let small = RawRequest {
            method: "GET".into(),
            target: "/posts?id=eq.1".into(),
            ..RawRequest::default()
        };
        let mut stream = vec![];
        for r in [&small, &big, &small, &small] {
            stream.extend(encode_request(r));
        }
        for step in [1, 3, 4, 7, 1000, READ_CHUNK, usize::MAX] {
            let mut src = Trickle {
                data: &stream,
                step,
            };
            let mut reader = FrameReader::default();
            for want in [&small, &big, &small, &small] {
                let got = reader.read_from(&mut src).unwrap().unwrap();
                assert_eq!(&decode_request(got).unwrap(), want, "step {step}");
            }
            assert!(reader.read_from(&mut src).unwrap().is_none());
        }
    }

    #[test]
    fn frame_reader_refuses_oversized_frames() {
        let len = (MAX_FRAME as u32 + 1).to_le_bytes();
        let mut reader = FrameReader::default();
        assert!(reader.read_from(&mut &len[..]).is_err());
    }
}
