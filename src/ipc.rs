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

fn framed(payload: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

pub fn encode_request(r: &RawRequest) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(r.body.len() + 256));
    w.bytes(r.method.as_bytes());
    w.bytes(r.target.as_bytes());
    w.headers(&r.headers);
    w.bytes(&r.body);
    framed(w.0)
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
    let mut w = Writer(Vec::with_capacity(resp.body.len() + 128));
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
    framed(w.0)
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
pub fn read_frame<R: Read>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "ipc frame too large",
        ));
    }
    let mut buf = vec![0u8; n];
    r.read_exact(&mut buf)?;
    Ok(Some(buf))
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
    }
}
