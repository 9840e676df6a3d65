//! CORS as PostgREST does it (its `Cors` middleware on wai-cors), applied by the listener to
//! every response, so errors that never reach an executor (503, 504) carry the headers too.
//!
//! - No `Origin`: nothing is added.
//! - An `Origin` not in `server_cors_allowed_origins` (when set): nothing is added and the
//!   request is served as if it had none (wai-cors with `corsIgnoreFailures`).
//! - `OPTIONS` with `Origin` and a supported `Access-Control-Request-Method`: a preflight,
//!   answered here without running anything (200, no body).
//! - Anything else with an allowed `Origin`: the response gets `Access-Control-Allow-Origin`
//!   (and `-Allow-Credentials` when origins are configured) and `-Expose-Headers`.

use crate::api_request::RawRequest;
use crate::respond::HttpResponse;
use std::future::Future;

/// wai-cors: the policy's methods, then the simple methods it adds (HEAD).
const ALLOW_METHODS: &[&str] = &["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD"];
/// wai-cors's simple headers, less Content-Type (which a preflight must ask for).
const SIMPLE_HEADERS: &[&str] = &["Accept", "Accept-Language", "Content-Language"];
const EXPOSE_HEADERS: &str = "Content-Encoding, Content-Location, Content-Range, Content-Type, \
                              Date, Location, Server, Transfer-Encoding, Range-Unit";
const MAX_AGE: &str = "86400";

/// `server_cors_allowed_origins`: comma separated, blanks dropped.
pub fn parse_origins(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect()
}

/// What CORS makes of a request.
#[derive(Debug, PartialEq)]
pub enum Cors {
    /// serve it as it is
    Pass,
    /// answer with this preflight response instead
    Preflight(HttpResponse),
    /// serve it, then add these headers
    Decorate(Vec<(String, String)>),
}

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// `allowed` empty: any origin (`Access-Control-Allow-Origin: *`).
pub fn decide(raw: &RawRequest, allowed: &[String]) -> Cors {
    let Some(origin) = raw.header("origin") else {
        return Cors::Pass;
    };
    let mut common = if allowed.is_empty() {
        vec![h("Access-Control-Allow-Origin", "*")]
    } else if allowed.iter().any(|a| a == origin) {
        vec![
            h("Access-Control-Allow-Origin", origin),
            h("Access-Control-Allow-Credentials", "true"),
        ]
    } else {
        return Cors::Pass;
    };
    if raw.method != "OPTIONS" {
        common.push(h("Access-Control-Expose-Headers", EXPOSE_HEADERS));
        return Cors::Decorate(common);
    }
    match preflight_headers(raw) {
        Some(headers) => {
            common.extend(headers);
            Cors::Preflight(HttpResponse {
                status: 200,
                headers: common,
                body: vec![],
                reason: None,
            })
        }
        // not a valid preflight: the OPTIONS request is served normally, undecorated
        None => Cors::Pass,
    }
}

/// Allow-Methods, Allow-Headers (when headers were asked for) and Max-Age; `None` when the
/// request is no valid preflight (no or an unsupported method, a malformed header list).
fn preflight_headers(raw: &RawRequest) -> Option<Vec<(String, String)>> {
    let method = raw.header("access-control-request-method")?;
    if !ALLOW_METHODS.contains(&method) {
        return None;
    }
    let mut out = vec![h("Access-Control-Allow-Methods", ALLOW_METHODS.join(", "))];
    if let Some(requested) = raw.header("access-control-request-headers") {
        let names: Vec<&str> = requested.split(',').map(str::trim).collect();
        if names.iter().any(|n| !is_token(n)) {
            return None;
        }
        // PostgREST allows whatever is asked for, after Authorization; then the simple headers
        // not already named (a list union: names asked twice stay twice, as in wai-cors)
        let mut allow: Vec<&str> = vec!["Authorization"];
        allow.extend(names.iter().copied());
        let extra: Vec<&str> = SIMPLE_HEADERS
            .iter()
            .copied()
            .filter(|s| !allow.iter().any(|a| a.eq_ignore_ascii_case(s)))
            .collect();
        allow.extend(extra);
        out.push(h("Access-Control-Allow-Headers", allow.join(", ")));
    }
    out.push(h("Access-Control-Max-Age", MAX_AGE));
    Some(out)
}

/// An HTTP header name (RFC 9110 token).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Serves `raw` through `next` with CORS applied.
pub async fn serve<F, Fut>(raw: RawRequest, allowed: &[String], next: F) -> HttpResponse
where
    F: FnOnce(RawRequest) -> Fut,
    Fut: Future<Output = HttpResponse>,
{
    match decide(&raw, allowed) {
        Cors::Pass => next(raw).await,
        Cors::Preflight(resp) => resp,
        Cors::Decorate(headers) => {
            let mut resp = next(raw).await;
            for (k, v) in headers {
                if resp.header(&k).is_none() {
                    resp.headers.push((k, v));
                }
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(method: &str, headers: &[(&str, &str)]) -> RawRequest {
        RawRequest {
            method: method.into(),
            target: "/items".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: vec![],
        }
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn no_origin_no_cors() {
        assert_eq!(decide(&raw("GET", &[]), &[]), Cors::Pass);
        assert_eq!(
            decide(
                &raw("OPTIONS", &[("access-control-request-method", "GET")]),
                &[]
            ),
            Cors::Pass
        );
    }

    #[test]
    fn preflight_is_answered_permissively() {
        let r = raw(
            "OPTIONS",
            &[
                ("origin", "http://example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "Foo,Bar"),
            ],
        );
        let Cors::Preflight(resp) = decide(&r, &[]) else {
            panic!("not a preflight")
        };
        assert_eq!(resp.status, 200);
        assert!(resp.body.is_empty());
        let hs = &resp.headers;
        assert_eq!(header(hs, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(
            header(hs, "Access-Control-Allow-Methods"),
            Some("GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD")
        );
        assert_eq!(
            header(hs, "Access-Control-Allow-Headers"),
            Some("Authorization, Foo, Bar, Accept, Accept-Language, Content-Language")
        );
        assert_eq!(header(hs, "Access-Control-Max-Age"), Some("86400"));
        assert_eq!(header(hs, "Access-Control-Allow-Credentials"), None);
    }

    #[test]
    fn preflight_header_list_as_wai_cors() {
        let allow = |asked: &str| {
            let r = raw(
                "OPTIONS",
                &[
                    ("origin", "http://a"),
                    ("access-control-request-method", "PATCH"),
                    ("access-control-request-headers", asked),
                ],
            );
            match decide(&r, &[]) {
                Cors::Preflight(resp) => {
                    header(&resp.headers, "Access-Control-Allow-Headers").map(str::to_string)
                }
                _ => None,
            }
        };
        assert_eq!(
            allow("Content-Type").as_deref(),
            Some("Authorization, Content-Type, Accept, Accept-Language, Content-Language")
        );
        assert_eq!(
            allow("authorization, accept").as_deref(),
            Some("Authorization, authorization, accept, Accept-Language, Content-Language")
        );
        assert_eq!(allow("a b"), None);
        // no header list asked: no Allow-Headers
        let r = raw(
            "OPTIONS",
            &[
                ("origin", "http://a"),
                ("access-control-request-method", "GET"),
            ],
        );
        let Cors::Preflight(resp) = decide(&r, &[]) else {
            panic!()
        };
        assert_eq!(header(&resp.headers, "Access-Control-Allow-Headers"), None);
    }

    #[test]
    fn options_without_a_valid_preflight_is_served() {
        let r = raw("OPTIONS", &[("origin", "http://a")]);
        assert_eq!(decide(&r, &[]), Cors::Pass);
        let r = raw(
            "OPTIONS",
            &[
                ("origin", "http://a"),
                ("access-control-request-method", "TRACE"),
            ],
        );
        assert_eq!(decide(&r, &[]), Cors::Pass);
    }

    #[test]
    fn actual_requests_expose_headers() {
        let Cors::Decorate(hs) = decide(&raw("GET", &[("origin", "http://a")]), &[]) else {
            panic!()
        };
        assert_eq!(header(&hs, "Access-Control-Allow-Origin"), Some("*"));
        assert_eq!(
            header(&hs, "Access-Control-Expose-Headers"),
            Some(
                "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, \
                 Location, Server, Transfer-Encoding, Range-Unit"
            )
        );
    }

    #[test]
    fn allowed_origins() {
        let allowed = parse_origins("http://example.com, http://example2.com,");
        assert_eq!(allowed, vec!["http://example.com", "http://example2.com"]);
        let Cors::Decorate(hs) = decide(&raw("GET", &[("origin", "http://example.com")]), &allowed)
        else {
            panic!()
        };
        assert_eq!(
            header(&hs, "Access-Control-Allow-Origin"),
            Some("http://example.com")
        );
        assert_eq!(
            header(&hs, "Access-Control-Allow-Credentials"),
            Some("true")
        );
        assert_eq!(
            decide(&raw("GET", &[("origin", "http://invalid.com")]), &allowed),
            Cors::Pass
        );
        let r = raw(
            "OPTIONS",
            &[
                ("origin", "http://example2.com"),
                ("access-control-request-method", "POST"),
            ],
        );
        let Cors::Preflight(resp) = decide(&r, &allowed) else {
            panic!()
        };
        assert_eq!(
            header(&resp.headers, "Access-Control-Allow-Origin"),
            Some("http://example2.com")
        );
    }
}
