//! A small HTTP/1.1 server on `httparse` (the parser inside hyper) and tokio.
//!
//! Not hyper itself: hyper validates the request target with the `http` crate, which refuses
//! bytes PostgREST clients send unencoded in query strings (`->`, `"`, `|`, `\`, `<`, `^`...),
//! answering 400 before we see the request. httparse accepts every visible byte, as PostgREST's
//! server does. Keep-alive, pipelining, `Content-Length` and chunked bodies and
//! `Expect: 100-continue` are handled; nothing else of HTTP/1.1 is needed here.

use crate::api_request::RawRequest;
use crate::respond::HttpResponse;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
pub const MAX_BODY: usize = 128 * 1024 * 1024;

/// Why a connection stops being read.
#[derive(Debug, PartialEq)]
enum Stop {
    /// the peer closed (or a read failed): nothing to answer
    Closed,
    /// malformed request: answer with this status, then close
    Reject(u16, &'static str),
}

/// Serves requests on one connection until it closes.
pub async fn serve_connection<S, F, Fut>(mut stream: S, handler: F)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn(RawRequest) -> Fut,
    Fut: Future<Output = HttpResponse>,
{
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        match read_request(&mut stream, &mut buf).await {
            Ok((req, keep_alive)) => {
                let is_head = req.method == "HEAD";
                let resp = handler(req).await;
                let bytes = encode_response(&resp, is_head, keep_alive);
                if stream.write_all(&bytes).await.is_err() || !keep_alive {
                    return;
                }
            }
            Err(Stop::Closed) => return,
            Err(Stop::Reject(status, message)) => {
                let resp = HttpResponse {
                    status,
                    headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
                    body: message.as_bytes().to_vec(),
                    reason: None,
                };
                let _ = stream
                    .write_all(&encode_response(&resp, false, false))
                    .await;
                return;
            }
        }
    }
}

async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(), Stop> {
    let mut chunk = [0u8; 16384];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => Err(Stop::Closed),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}

/// Reads one request; `buf` keeps bytes of the next (pipelined) request.
async fn read_request<S>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(RawRequest, bool), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut req, head_len, http10, body_kind, expect_continue) = loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                let req = RawRequest {
                    method: parsed.method.unwrap_or("").to_string(),
                    target: parsed.path.unwrap_or("/").to_string(),
                    headers: parsed
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    body: vec![],
                };
                let http10 = parsed.version == Some(0);
                let body_kind = body_kind(&req)?;
                let expect = req
                    .header("expect")
                    .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
                break (req, n, http10, body_kind, expect);
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err(Stop::Reject(431, "Request header fields too large"));
                }
                fill(stream, buf).await?;
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Stop::Reject(431, "Too many request headers"))
            }
            Err(_) => return Err(Stop::Reject(400, "Malformed HTTP request")),
        }
    };
    buf.drain(..head_len);
    if expect_continue && body_kind != BodyKind::Length(0) {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| Stop::Closed)?;
    }
    req.body = match body_kind {
        BodyKind::Length(n) => {
            while buf.len() < n {
                fill(stream, buf).await?;
            }
            buf.drain(..n).collect()
        }
        BodyKind::Chunked => read_chunked(stream, buf).await?,
    };
    let connection = req.header("connection").map(|v| v.to_ascii_lowercase());
    let keep_alive = match connection.as_deref() {
        Some(v) if v.contains("close") => false,
        Some(v) if v.contains("keep-alive") => true,
        _ => !http10,
    };
    Ok((req, keep_alive))
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum BodyKind {
    Length(usize),
    Chunked,
}

fn body_kind(req: &RawRequest) -> Result<BodyKind, Stop> {
    if let Some(te) = req.header("transfer-encoding") {
        if te.to_ascii_lowercase().trim().ends_with("chunked") {
            return Ok(BodyKind::Chunked);
        }
        return Err(Stop::Reject(501, "Unsupported transfer encoding"));
    }
    match req.header("content-length") {
        None => Ok(BodyKind::Length(0)),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > MAX_BODY => Err(Stop::Reject(413, "Request body too large")),
            Ok(n) => Ok(BodyKind::Length(n)),
            Err(_) => Err(Stop::Reject(400, "Invalid Content-Length")),
        },
    }
}

async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Vec<u8>, Stop> {
    loop {
        if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..pos + 2).take(pos).collect();
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(Stop::Reject(400, "Malformed chunked body"));
        }
        fill(stream, buf).await?;
    }
}

async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Vec<u8>, Stop> {
    let mut body = Vec::new();
    loop {
        let line = read_line(stream, buf).await?;
        let text = String::from_utf8_lossy(&line);
        let size_text = text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Stop::Reject(400, "Malformed chunked body"))?;
        if size == 0 {
            // trailers, up to the empty line
            while !read_line(stream, buf).await?.is_empty() {}
            return Ok(body);
        }
        // a size near usize::MAX must not wrap past the limit (found by fuzz/http_server)
        if size > MAX_BODY - body.len() {
            return Err(Stop::Reject(413, "Request body too large"));
        }
        while buf.len() < size + 2 {
            fill(stream, buf).await?;
        }
        body.extend(buf.drain(..size));
        if buf.drain(..2).as_slice() != b"\r\n" {
            return Err(Stop::Reject(400, "Malformed chunked body"));
        }
    }
}

/// The response's own reason phrase when it is a valid one (tab, space, visible and non-ASCII
/// characters only), else the status code's usual one.
fn reason(resp: &HttpResponse) -> &str {
    if let Some(r) = resp.reason.as_deref() {
        if !r.chars().any(|c| c != '\t' && c.is_ascii_control()) {
            return r;
        }
    }
    http::StatusCode::from_u16(resp.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
}

pub fn encode_response(resp: &HttpResponse, is_head: bool, keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(resp.body.len() + 256);
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp)).as_bytes());
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("content-length")
            || k.contains(['\r', '\n'])
            || v.contains(['\r', '\n'])
        {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodyless_status = resp.status == 204 || resp.status == 304 || resp.status < 200;
    if !bodyless_status {
        out.extend_from_slice(format!("Content-Length: {}\r\n", resp.body.len()).as_bytes());
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !is_head && !bodyless_status {
        out.extend_from_slice(&resp.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    async fn roundtrip(input: &[u8]) -> (Vec<RawRequest>, Vec<u8>) {
        let (mut client, server) = duplex(1 << 20);
        client.write_all(input).await.unwrap();
        client.shutdown().await.unwrap();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen2 = seen.clone();
        serve_connection(server, move |req: RawRequest| {
            let seen = seen2.clone();
            async move {
                let body = format!("{} {}", req.method, req.target).into_bytes();
                seen.borrow_mut().push(req);
                HttpResponse {
                    status: 200,
                    headers: vec![],
                    body,
                    reason: None,
                }
            }
        })
        .await;
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        let reqs = seen.borrow().clone();
        (reqs, out)
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn accepts_postgrest_query_characters() {
        rt().block_on(async {
            let (reqs, out) = roundtrip(
                b"GET /t?select=j->>a&x=eq.\"a|b\"&y=eq.\\^`<> HTTP/1.1\r\nHost: x\r\n\r\n",
            )
            .await;
            assert_eq!(reqs[0].target, "/t?select=j->>a&x=eq.\"a|b\"&y=eq.\\^`<>");
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK\r\n"));
        });
    }

    #[test]
    fn keep_alive_pipelining_and_bodies() {
        rt().block_on(async {
            let input = b"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n1;ext=1\r\nz\r\n0\r\n\r\nGET /c HTTP/1.1\r\n\r\n";
            let (reqs, out) = roundtrip(input).await;
            assert_eq!(reqs.len(), 3);
            assert_eq!(reqs[0].body, b"abc");
            assert_eq!(reqs[1].body, b"xyz");
            assert_eq!(reqs[2].target, "/c");
            assert_eq!(String::from_utf8_lossy(&out).matches("HTTP/1.1 200 OK").count(), 3);
        });
    }

    #[test]
    fn malformed_requests_get_4xx_and_close() {
        rt().block_on(async {
            let (_, out) = roundtrip(b"GET /a HTTP/1.1\r\nContent-Length: nope\r\n\r\n").await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
            let (_, out) = roundtrip(
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\nxx\r\n",
            )
            .await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 413"));
            let (_, out) = roundtrip(b"\x00\x01garbage\r\n\r\n").await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
            let mut big = b"GET /a HTTP/1.1\r\nX: ".to_vec();
            big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
            let (_, out) = roundtrip(&big).await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431"));
        });
    }

    #[test]
    fn head_and_no_content_have_no_body() {
        let resp = HttpResponse {
            status: 200,
            headers: vec![],
            body: b"[1]".to_vec(),
            reason: None,
        };
        let out = String::from_utf8(encode_response(&resp, true, true)).unwrap();
        assert!(out.ends_with("Content-Length: 3\r\n\r\n"));
        let resp = HttpResponse {
            status: 204,
            headers: vec![],
            body: vec![],
            reason: None,
        };
        let out = String::from_utf8(encode_response(&resp, false, false)).unwrap();
        assert!(!out.contains("Content-Length"));
    }

    #[test]
    fn custom_reason_phrases_unless_malformed() {
        let status_line = |reason: &str| {
            let resp = HttpResponse {
                status: 409,
                reason: Some(reason.into()),
                ..HttpResponse::default()
            };
            let out = String::from_utf8(encode_response(&resp, false, true)).unwrap();
            out.lines().next().unwrap_or_default().to_string()
        };
        assert_eq!(status_line("Locked Shelf"), "HTTP/1.1 409 Locked Shelf");
        assert_eq!(status_line("bad\r\nX-Injected: 1"), "HTTP/1.1 409 Conflict");
    }
}
