//! A small HTTP/1.1 server on `httparse` (the parser inside hyper) and tokio.
//!
//! Not hyper itself: hyper validates the request target with the `http` crate, which refuses
//! bytes PostgREST clients send unencoded in query strings (`->`, `"`, `|`, `\`, `<`, `^`...),
//! answering 400 before we see the request. httparse accepts every visible byte, as PostgREST's
//! server does. Keep-alive, pipelining, `Content-Length` and chunked bodies and
//! `Expect: 100-continue` are handled; nothing else of HTTP/1.1 is needed here.
//!
//! The server faces the internet (or a proxy that forwards what it gets), so framing is strict:
//! anything a proxy could read differently (duplicate or signed `Content-Length`, both
//! `Content-Length` and `Transfer-Encoding`, a transfer coding other than `chunked`) is 400,
//! and every phase of a request has a size or time limit ([`ServerLimits`]).

use crate::api_request::RawRequest;
use crate::error::ApiError;
use crate::respond::{error_response, HttpResponse};
use crate::settings::ServerLimits;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, timeout_at, Instant};

const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;
/// The largest body `server_max_body_size` may allow (an ipc frame carries it to an executor).
pub const MAX_BODY: usize = 128 * 1024 * 1024;
/// A connection's read buffer starts this large and shrinks back after a large request.
const BUF_SIZE: usize = 8192;
/// After refusing a request we read (and drop) what the client still sends for this long:
/// closing a socket with unread input resets the connection, and the client could lose our
/// answer before reading it.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 16 * 1024 * 1024;

/// Why a connection stops being read.
#[derive(Debug, PartialEq)]
enum Stop {
    /// the peer closed (or a read failed, or it sent nothing in time): nothing to answer
    Closed,
    /// answer with this error, then close
    Reject(ApiError),
}

fn reject(status: u16, message: &str) -> Stop {
    Stop::Reject(ApiError::http_edge(status, message))
}

fn too_large(limit: usize) -> Stop {
    Stop::Reject(
        ApiError::http_edge(413, "Request body too large").with_details(format!(
            "The limit is {limit} bytes (serendb_data_api.server_max_body_size)"
        )),
    )
}

/// Serves requests on one connection until it closes.
pub async fn serve_connection<S, F, Fut>(mut stream: S, limits: ServerLimits, handler: F)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn(RawRequest) -> Fut,
    Fut: Future<Output = HttpResponse>,
{
    let mut buf: Vec<u8> = Vec::with_capacity(BUF_SIZE);
    let mut first = true;
    loop {
        // Between requests the connection may idle up to the keep-alive timeout; a new
        // connection's first request is under the header timeout from the start.
        if !first && buf.is_empty() {
            match timeout(limits.keepalive_timeout, fill(&mut stream, &mut buf)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
        first = false;
        match read_request(&mut stream, &mut buf, &limits).await {
            Ok((req, keep_alive)) => {
                let is_head = req.method == "HEAD";
                let resp = handler(req).await;
                let bytes = encode_response(&resp, is_head, keep_alive);
                drop(resp);
                if write_all(&mut stream, &bytes, limits.body_timeout)
                    .await
                    .is_err()
                    || !keep_alive
                {
                    return;
                }
                if buf.capacity() > 4 * BUF_SIZE {
                    buf.shrink_to(BUF_SIZE.max(buf.len()));
                }
            }
            Err(Stop::Closed) => return,
            Err(Stop::Reject(err)) => {
                let bytes = encode_response(&error_response(&err), false, false);
                if write_all(&mut stream, &bytes, limits.body_timeout)
                    .await
                    .is_ok()
                {
                    linger(&mut stream, LINGER.min(limits.header_timeout)).await;
                }
                return;
            }
        }
    }
}

/// Writes everything, giving up when the client takes nothing for `stall`.
async fn write_all<S: AsyncWrite + Unpin>(
    stream: &mut S,
    mut bytes: &[u8],
    stall: Duration,
) -> Result<(), ()> {
    while !bytes.is_empty() {
        match timeout(stall, stream.write(bytes)).await {
            Ok(Ok(n)) if n > 0 => bytes = &bytes[n..],
            _ => return Err(()),
        }
    }
    match timeout(stall, stream.flush()).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Ends our side, then drains the client's for a moment (see [`LINGER`]).
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, limit: Duration) {
    let _ = timeout(limit, stream.shutdown()).await;
    let deadline = Instant::now() + limit;
    // on the heap, only while lingering (see `fill`)
    let mut chunk = vec![0u8; 16384];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Reads what is there straight into `buf`'s spare room: no chunk array in the connection's
/// future, which every idle keep-alive connection would carry (issue 9: 1,000 of them).
async fn fill<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(), Stop> {
    // only when full: a body's exact reservation must not double the buffer at its end
    if buf.capacity() == buf.len() {
        buf.reserve(BUF_SIZE);
    }
    match stream.read_buf(buf).await {
        Ok(0) | Err(_) => Err(Stop::Closed),
        Ok(_) => Ok(()),
    }
}

struct Head {
    req: RawRequest,
    http10: bool,
    body_kind: BodyKind,
    expect_continue: bool,
}

/// Reads one request; `buf` keeps bytes of the next (pipelined) request.
async fn read_request<S>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    limits: &ServerLimits,
) -> Result<(RawRequest, bool), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head = match timeout(limits.header_timeout, read_head(stream, buf)).await {
        Ok(head) => head?,
        // a connection that never sent a byte is closed without a word, as an idle one
        Err(_) if buf.is_empty() => return Err(Stop::Closed),
        Err(_) => return Err(reject(408, "Timed out reading the request headers")),
    };
    let Head {
        mut req,
        http10,
        body_kind,
        expect_continue,
    } = head;
    if let BodyKind::Length(n) = body_kind {
        if n > limits.max_body {
            return Err(too_large(limits.max_body));
        }
    }
    if expect_continue && body_kind != BodyKind::Length(0) {
        write_all(
            stream,
            b"HTTP/1.1 100 Continue\r\n\r\n",
            limits.body_timeout,
        )
        .await
        .map_err(|_| Stop::Closed)?;
    }
    let body = async {
        match body_kind {
            BodyKind::Length(n) => {
                if buf.len() < n {
                    buf.reserve(n - buf.len());
                }
                while buf.len() < n {
                    fill(stream, buf).await?;
                }
                Ok(buf.drain(..n).collect())
            }
            BodyKind::Chunked => read_chunked(stream, buf, limits.max_body).await,
        }
    };
    req.body = match timeout(limits.body_timeout, body).await {
        Ok(body) => body?,
        Err(_) => return Err(reject(408, "Timed out reading the request body")),
    };
    let connection = req.header("connection").map(|v| v.to_ascii_lowercase());
    let keep_alive = match connection.as_deref() {
        Some(v) if v.contains("close") => false,
        Some(v) if v.contains("keep-alive") => true,
        _ => !http10,
    };
    Ok((req, keep_alive))
}

async fn read_head<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>) -> Result<Head, Stop> {
    loop {
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
                let body_kind = body_kind(&req, http10)?;
                let expect_continue = req
                    .header("expect")
                    .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
                buf.drain(..n);
                return Ok(Head {
                    req,
                    http10,
                    body_kind,
                    expect_continue,
                });
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err(reject(431, "Request header fields too large"));
                }
                fill(stream, buf).await?;
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(reject(431, "Too many request headers"))
            }
            Err(_) => return Err(reject(400, "Malformed HTTP request")),
        }
    }
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum BodyKind {
    Length(usize),
    Chunked,
}

/// How the body is framed, refusing anything two HTTP parsers (ours and a proxy's) could
/// read differently (RFC 9112 6.1-6.3).
fn body_kind(req: &RawRequest, http10: bool) -> Result<BodyKind, Stop> {
    let only = |name: &str| -> Result<Option<&str>, Stop> {
        let mut values = req.headers.iter().filter(|(k, _)| k == name);
        let first = values.next().map(|(_, v)| v.as_str());
        match values.next() {
            Some(_) => Err(Stop::Reject(ApiError::http_edge(
                400,
                format!("More than one {name} header"),
            ))),
            None => Ok(first),
        }
    };
    match (only("content-length")?, only("transfer-encoding")?) {
        (Some(_), Some(_)) => Err(reject(400, "Content-Length and Transfer-Encoding together")),
        (None, Some(_)) if http10 => Err(reject(400, "Transfer-Encoding in an HTTP/1.0 request")),
        (None, Some(coding)) if coding.trim().eq_ignore_ascii_case("chunked") => {
            Ok(BodyKind::Chunked)
        }
        (None, Some(_)) => Err(reject(400, "Unsupported transfer coding (only chunked is)")),
        (Some(length), None) => {
            let digits = length.trim_matches([' ', '\t']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(reject(400, "Invalid Content-Length"));
            }
            // too many digits for usize: larger than any limit
            Ok(BodyKind::Length(digits.parse().unwrap_or(usize::MAX)))
        }
        (None, None) => Ok(BodyKind::Length(0)),
    }
}

async fn read_line<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
) -> Result<Vec<u8>, Stop> {
    let mut searched = 0;
    loop {
        if let Some(pos) = buf[searched..].windows(2).position(|w| w == b"\r\n") {
            let pos = searched + pos;
            let line: Vec<u8> = buf.drain(..pos + 2).take(pos).collect();
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(reject(400, "Malformed chunked body"));
        }
        searched = buf.len().saturating_sub(1);
        fill(stream, buf).await?;
    }
}

/// A chunk-size line: hex digits, optionally followed by `;extensions` (ignored).
fn chunk_size(line: &[u8]) -> Result<usize, Stop> {
    let digits = match line.iter().position(|&b| b == b';') {
        Some(p) => &line[..p],
        None => line,
    };
    let digits = match digits.iter().rposition(|&b| b != b' ' && b != b'\t') {
        Some(end) => &digits[..=end],
        None => &[][..],
    };
    // 15 hex digits already exceed any body limit; more could overflow
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(reject(400, "Malformed chunked body"));
    }
    let text = std::str::from_utf8(digits).map_err(|_| reject(400, "Malformed chunked body"))?;
    usize::from_str_radix(text, 16).map_err(|_| reject(400, "Malformed chunked body"))
}

async fn read_chunked<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    max_body: usize,
) -> Result<Vec<u8>, Stop> {
    let mut body = Vec::new();
    loop {
        let size = chunk_size(&read_line(stream, buf).await?)?;
        if size == 0 {
            // trailers, up to the empty line
            let mut trailers = 0;
            loop {
                let line = read_line(stream, buf).await?;
                if line.is_empty() {
                    return Ok(body);
                }
                trailers += line.len();
                if trailers > MAX_HEAD {
                    return Err(reject(431, "Request header fields too large"));
                }
            }
        }
        if size > max_body - body.len() {
            return Err(too_large(max_body));
        }
        while buf.len() < size + 2 {
            fill(stream, buf).await?;
        }
        body.extend(buf.drain(..size));
        if buf.drain(..2).as_slice() != b"\r\n" {
            return Err(reject(400, "Malformed chunked body"));
        }
    }
}

/// The response's own reason phrase when it is a valid one (tab, space, visible and non-ASCII
/// characters only), else the status code's usual one.
fn reason(resp: &HttpResponse, status: u16) -> &str {
    if let Some(r) = resp.reason.as_deref().filter(|_| status == resp.status) {
        if !r.chars().any(|c| c != '\t' && c.is_ascii_control()) {
            return r;
        }
    }
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
}

/// Headers that decide how the bytes after them are read (framing and connection management):
/// only this server writes them, whatever the response's own headers say.
pub fn is_framing_header(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "upgrade",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name.trim()))
}

pub fn encode_response(resp: &HttpResponse, is_head: bool, keep_alive: bool) -> Vec<u8> {
    // An interim (1xx) status would leave the client waiting for the final answer.
    let status = if (200..=999).contains(&resp.status) {
        resp.status
    } else {
        500
    };
    let mut out = Vec::with_capacity(resp.body.len() + 256);
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", status, reason(resp, status)).as_bytes());
    for (k, v) in &resp.headers {
        if is_framing_header(k) || k.contains(['\r', '\n']) || v.contains(['\r', '\n']) {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodyless_status = status == 204 || status == 304;
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
    use std::time::Duration;
    use tokio::io::duplex;

    async fn roundtrip(input: &[u8]) -> (Vec<RawRequest>, Vec<u8>) {
        roundtrip_with(input, ServerLimits::default()).await
    }

    async fn roundtrip_with(input: &[u8], limits: ServerLimits) -> (Vec<RawRequest>, Vec<u8>) {
        let (mut client, server) = duplex(1 << 20);
        client.write_all(input).await.unwrap();
        client.shutdown().await.unwrap();
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen2 = seen.clone();
        serve_connection(server, limits, move |req: RawRequest| {
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
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nfffffffffffffff\r\nxx\r\n",
            )
            .await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 413"));
            let (_, out) = roundtrip(
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\nxx\r\n",
            )
            .await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
            let (_, out) = roundtrip(b"\x00\x01garbage\r\n\r\n").await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 400"));
            let mut big = b"GET /a HTTP/1.1\r\nX: ".to_vec();
            big.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
            let (_, out) = roundtrip(&big).await;
            assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431"));
        });
    }

    /// What the server answers while the client stays connected but sends nothing more.
    async fn silent_client(input: &[u8], limits: ServerLimits) -> String {
        let (mut client, server) = duplex(1 << 20);
        client.write_all(input).await.unwrap();
        serve_connection(server, limits, |_req: RawRequest| async {
            HttpResponse {
                status: 200,
                ..HttpResponse::default()
            }
        })
        .await;
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    fn assert_edge_error(out: &str, status: u16) {
        assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
        assert!(out.contains(&format!("\"code\":\"SDA{status}\"")), "{out}");
        assert!(out.contains("Connection: close\r\n"), "{out}");
    }

    #[test]
    fn ambiguous_framing_is_400() {
        rt().block_on(async {
            for input in [
                &b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"[..],
                b"POST /a HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
                b"POST /a HTTP/1.1\r\nContent-Length: -3\r\n\r\nabc",
                b"POST /a HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
                b"POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
                b"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
                b"GET HTTP/1.1\r\n\r\n",
                b"GET\r\n\r\n",
            ] {
                let (reqs, out) = roundtrip(input).await;
                assert!(reqs.is_empty(), "{input:?}");
                assert_edge_error(&String::from_utf8_lossy(&out), 400);
            }
            // what stays allowed: a chunk extension after optional whitespace, any case
            let (reqs, _) = roundtrip(
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n3 ;x=y\r\nabc\r\n0\r\n\r\n",
            )
            .await;
            assert_eq!(reqs[0].body, b"abc");
        });
    }

    #[test]
    fn bodies_over_the_limit_are_413_before_they_are_read() {
        let limits = ServerLimits {
            max_body: 10,
            ..ServerLimits::default()
        };
        rt().block_on(async {
            // known length: refused without a 100 Continue and before any body byte
            let (reqs, out) = roundtrip_with(
                b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
                limits,
            )
            .await;
            let out = String::from_utf8_lossy(&out);
            assert!(reqs.is_empty());
            assert!(!out.contains("100 Continue"), "{out}");
            assert_edge_error(&out, 413);
            let (_, out) = roundtrip_with(
                b"POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                limits,
            )
            .await;
            assert_edge_error(&String::from_utf8_lossy(&out), 413);
            // chunked: as soon as the chunks pass the limit, before the rest arrives
            let (reqs, out) = roundtrip_with(
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n",
                limits,
            )
            .await;
            assert!(reqs.is_empty());
            assert_edge_error(&String::from_utf8_lossy(&out), 413);
            // exactly the limit is fine
            let (reqs, _) = roundtrip_with(
                b"POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789",
                limits,
            )
            .await;
            assert_eq!(reqs[0].body, b"0123456789");
        });
    }

    #[test]
    fn slow_and_idle_clients_time_out() {
        let ms = Duration::from_millis(50);
        let limits = ServerLimits {
            header_timeout: ms,
            body_timeout: ms,
            keepalive_timeout: ms,
            ..ServerLimits::default()
        };
        rt().block_on(async {
            let out = silent_client(b"GET /a HTTP/1.1\r\nHost: x\r\n", limits).await;
            assert_edge_error(&out, 408);
            assert!(out.contains("headers"), "{out}");
            let out =
                silent_client(b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", limits).await;
            assert_edge_error(&out, 408);
            assert!(out.contains("body"), "{out}");
            // silent from the start, or idle after an answer: closed without a word
            assert_eq!(silent_client(b"", limits).await, "");
            let out = silent_client(b"GET /a HTTP/1.1\r\n\r\n", limits).await;
            assert_eq!(out.matches("HTTP/1.1").count(), 1, "{out}");
            assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        });
    }

    #[test]
    fn responses_cannot_change_framing() {
        let resp = HttpResponse {
            status: 101,
            headers: vec![
                ("Content-Length".into(), "0".into()),
                ("transfer-encoding".into(), "chunked".into()),
                ("Connection".into(), "upgrade".into()),
                ("Upgrade".into(), "websocket".into()),
                ("X-Ok".into(), "1".into()),
            ],
            body: b"abc".to_vec(),
            reason: Some("Switching Protocols".into()),
        };
        let out = String::from_utf8(encode_response(&resp, false, true)).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{out}"
        );
        assert_eq!(
            out.to_ascii_lowercase().matches("content-length").count(),
            1
        );
        assert!(out.contains("Content-Length: 3\r\n"), "{out}");
        for gone in ["chunked", "upgrade", "websocket"] {
            assert!(!out.to_ascii_lowercase().contains(gone), "{out}");
        }
        assert!(
            out.contains("X-Ok: 1\r\n") && out.ends_with("\r\n\r\nabc"),
            "{out}"
        );
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
