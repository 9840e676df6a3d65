//! HTTP request -> [`ApiRequest`]: method, resource path, query string, and the headers that
//! steer PostgREST (Accept, Content-Type, Prefer, Range, Accept-Profile/Content-Profile).
#![allow(clippy::result_large_err)]

use crate::error::ApiError;
use crate::parse::ast::QueryParams;
use crate::settings::Settings;

/// A request as it came off the wire (what the listener forwards to an executor).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawRequest {
    pub method: String,
    /// path and query string, still percent-encoded: `/posts?id=eq.1`
    pub target: String,
    /// header names in lower case, in arrival order
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Get,
    Head,
    Post,
    Patch,
    Put,
    Delete,
    Options,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Resource {
    /// `/name`
    Relation(String),
    /// `/rpc/name`
    Rpc(String),
    /// `/`
    #[default]
    Root,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPref {
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPref {
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxPref {
    Commit,
    Rollback,
}

/// The `Prefer` header, as PostgREST understands it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub return_: Option<ReturnPref>,
    pub count: Option<CountPref>,
    pub resolution: Option<Resolution>,
    /// `missing=default`
    pub missing_default: bool,
    pub tx: Option<TxPref>,
    pub max_affected: Option<i64>,
    /// `handling=strict` (else lenient)
    pub strict: bool,
    pub timezone: Option<String>,
    /// preferences we did not understand (an error under `handling=strict`)
    pub invalid: Vec<String>,
    /// `missing=null` was given explicitly (echoed in Preference-Applied)
    pub missing_null: bool,
    /// `handling=lenient` was given explicitly (echoed in Preference-Applied)
    pub lenient: bool,
}

/// Response media types PostgREST negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaType {
    /// `application/json` (also `*/*` and no Accept)
    #[default]
    Json,
    /// `application/vnd.pgrst.object+json` (singular)
    SingleObject,
    /// `application/vnd.pgrst.array+json;nulls=stripped`
    ArrayStripped,
    /// `application/vnd.pgrst.object+json;nulls=stripped`
    SingleObjectStripped,
    Csv,
    TextPlain,
    OctetStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    #[default]
    Json,
    Csv,
    FormUrlEncoded,
    TextPlain,
    OctetStream,
    Other,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiRequest {
    pub method: Method,
    pub resource: Resource,
    /// the schema this request targets (default schema, or the profile header's)
    pub schema: String,
    /// Was the schema negotiated by profile, so the response names it in Content-Profile?
    /// As PostgREST: true when a valid profile header was given, and also whenever more than
    /// one schema is exposed (then the default schema counts as negotiated).
    pub profile_given: bool,
    pub query: QueryParams,
    pub prefer: Preferences,
    pub accept: MediaType,
    pub content_type: BodyType,
    /// `Range: items=a-b` as (offset, inclusive end). Only read for GET (PostgREST ignores
    /// it for every other method); `None` when absent or not of the form `a-b` / `a-`.
    /// Use [`ApiRequest::top_level_range`] for the window the root query returns.
    pub range: Option<(i64, Option<i64>)>,
    /// lower-case names
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The rows the root query returns, as `(offset, limit)`: the Range header (GET only)
    /// intersected with the root `limit`/`offset`. `limit = Some(0)` for `limit=0`.
    /// `parse_request` has already refused empty windows (416) and PUT with a window (400).
    pub fn top_level_range(&self) -> (i64, Option<i64>) {
        let r = top_range(self.method, self.range, &self.query);
        let limit = r
            .upper
            .map(|u| u.saturating_sub(r.lower).saturating_add(1).max(0));
        (r.lower, limit)
    }

    pub fn is_rpc(&self) -> bool {
        matches!(self.resource, Resource::Rpc(_))
    }
}

/// Parses everything but the JWT (that is `auth`'s job).
///
/// The checks run in PostgREST's order: path, profile, method, query string, range, Prefer.
pub fn parse_request(raw: &RawRequest, settings: &Settings) -> Result<ApiRequest, ApiError> {
    let (path, query) = match raw.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (raw.target.as_str(), ""),
    };
    let resource = parse_resource(path)?;
    let (schema, profile_given) = select_schema(raw, settings)?;
    let method = parse_method(&raw.method, &resource)?;
    let query = crate::parse::parse_query(query, matches!(resource, Resource::Rpc(_)))?;

    let range = if method == Method::Get {
        raw.header("range").and_then(parse_range_header)
    } else {
        None
    };
    check_range(method, range, &query)?;

    let accept = negotiate(raw.header("accept"), ALL_MEDIA_TYPES)?;
    let content_type = raw
        .header("content-type")
        .map(body_type)
        .unwrap_or(BodyType::Json);
    let prefer = parse_preferences(
        raw.headers
            .iter()
            .filter(|(k, _)| k == "prefer")
            .map(|(_, v)| v.as_str()),
        settings.tx_end.allows_override(),
    );
    if prefer.strict && !prefer.invalid.is_empty() {
        return Err(ApiError::invalid_preferences(&prefer.invalid));
    }

    Ok(ApiRequest {
        method,
        resource,
        schema,
        profile_given,
        query,
        prefer,
        accept,
        content_type,
        range,
        headers: raw.headers.clone(),
        body: raw.body.clone(),
    })
}

fn parse_resource(path: &str) -> Result<Resource, ApiError> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    match segments.as_slice() {
        [] => Ok(Resource::Root),
        [name] => Ok(Resource::Relation(name.clone())),
        [rpc, name] if rpc == "rpc" => Ok(Resource::Rpc(name.clone())),
        _ => Err(ApiError::invalid_resource_path()),
    }
}

/// Which methods each resource accepts (PostgREST's `getAction`).
fn parse_method(raw: &str, resource: &Resource) -> Result<Method, ApiError> {
    let method = match raw {
        "GET" => Some(Method::Get),
        "HEAD" => Some(Method::Head),
        "POST" => Some(Method::Post),
        "PATCH" => Some(Method::Patch),
        "PUT" => Some(Method::Put),
        "DELETE" => Some(Method::Delete),
        "OPTIONS" => Some(Method::Options),
        _ => None,
    };
    match (resource, method) {
        (Resource::Relation(_), Some(m)) => Ok(m),
        (
            Resource::Rpc(_),
            Some(m @ (Method::Get | Method::Head | Method::Post | Method::Options)),
        ) => Ok(m),
        (Resource::Rpc(_), _) => Err(ApiError::invalid_rpc_method(raw)),
        (Resource::Root, Some(m @ (Method::Get | Method::Head | Method::Options))) => Ok(m),
        _ => Err(ApiError::unsupported_method(raw)),
    }
}

/// Content-Profile for the writes, Accept-Profile for everything else.
fn select_schema(raw: &RawRequest, settings: &Settings) -> Result<(String, bool), ApiError> {
    let header = match raw.method.as_str() {
        "POST" | "PATCH" | "PUT" | "DELETE" => "content-profile",
        _ => "accept-profile",
    };
    let default = settings
        .schemas
        .first()
        .cloned()
        .unwrap_or_else(|| "public".to_string());
    match raw.header(header) {
        Some(p) if settings.schemas.iter().any(|s| s == p) => Ok((p.to_string(), true)),
        Some(p) => Err(ApiError::unacceptable_schema(p, &settings.schemas)),
        None => Ok((default, settings.schemas.len() > 1)),
    }
}

// ---- ranges -------------------------------------------------------------------------------

/// An inclusive window of rows; empty when `upper < lower`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    lower: i64,
    upper: Option<i64>,
}

impl Window {
    const ALL: Window = Window {
        lower: 0,
        upper: None,
    };
    fn is_empty(&self) -> bool {
        self.upper.is_some_and(|u| u < self.lower)
    }
    fn intersect(self, other: Window) -> Window {
        let upper = match (self.upper, other.upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Window {
            lower: self.lower.max(other.lower),
            upper,
        }
    }
}

/// `Range: 0-9`, `Range: 10-` (also with the `items=` unit prefix). Anything else is
/// ignored, as PostgREST ignores it.
fn parse_range_header(v: &str) -> Option<(i64, Option<i64>)> {
    let v = v.trim();
    let v = v.strip_prefix("items=").unwrap_or(v);
    let (l, u) = v.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(l) || !(u.is_empty() || digits(u)) {
        return None;
    }
    // more digits than fit: an empty range, as PostgREST turns an unreadable bound into one
    let lower = l.parse::<i64>().unwrap_or(i64::MAX);
    let upper = if u.is_empty() {
        None
    } else {
        Some(u.parse::<i64>().unwrap_or(i64::MAX))
    };
    Some((lower, upper))
}

fn root_param(params: &[(Vec<String>, i64)]) -> Option<i64> {
    params.iter().find(|(p, _)| p.is_empty()).map(|(_, v)| *v)
}

/// `limit`/`offset` at the root as a window.
fn limit_window(query: &QueryParams) -> Window {
    let offset = root_param(&query.offset).unwrap_or(0);
    Window {
        lower: offset,
        upper: root_param(&query.limit).map(|l| offset.saturating_add(l).saturating_sub(1)),
    }
}

fn header_window(method: Method, range: Option<(i64, Option<i64>)>) -> Window {
    match (method, range) {
        (Method::Get, Some((lower, upper))) => Window { lower, upper },
        _ => Window::ALL,
    }
}

/// `limit=0` is the one empty window allowed (PostgREST's "limit zero range").
fn is_limit_zero(w: Window) -> bool {
    w.upper == Some(-1)
}

fn top_range(method: Method, range: Option<(i64, Option<i64>)>, query: &QueryParams) -> Window {
    let limit = limit_window(query);
    if is_limit_zero(limit) {
        return Window {
            lower: 0,
            upper: Some(-1),
        };
    }
    header_window(method, range).intersect(limit)
}

fn check_range(
    method: Method,
    range: Option<(i64, Option<i64>)>,
    query: &QueryParams,
) -> Result<(), ApiError> {
    let top = top_range(method, range, query);
    if top.is_empty() && !is_limit_zero(limit_window(query)) {
        return Err(if header_window(method, range).is_empty() {
            ApiError::lower_gt_upper()
        } else {
            ApiError::negative_limit()
        });
    }
    if method == Method::Put && top != Window::ALL {
        return Err(ApiError::put_limit_not_allowed());
    }
    Ok(())
}

// ---- media types --------------------------------------------------------------------------

const ALL_MEDIA_TYPES: &[MediaType] = &[
    MediaType::Json,
    MediaType::SingleObject,
    MediaType::SingleObjectStripped,
    MediaType::ArrayStripped,
    MediaType::Csv,
    MediaType::TextPlain,
    MediaType::OctetStream,
];

impl MediaType {
    /// The media type as PostgREST names it (`toMime`).
    pub fn mime(&self) -> &'static str {
        match self {
            MediaType::Json => "application/json",
            MediaType::SingleObject => "application/vnd.pgrst.object+json",
            MediaType::ArrayStripped => "application/vnd.pgrst.array+json;nulls=stripped",
            MediaType::SingleObjectStripped => "application/vnd.pgrst.object+json;nulls=stripped",
            MediaType::Csv => "text/csv",
            MediaType::TextPlain => "text/plain",
            MediaType::OctetStream => "application/octet-stream",
        }
    }

    /// The response `Content-Type` value.
    pub fn content_type(&self) -> String {
        match self {
            MediaType::OctetStream => self.mime().to_string(),
            _ => format!("{}; charset=utf-8", self.mime()),
        }
    }

    /// `application/vnd.pgrst.object+json` with or without `nulls=stripped`.
    pub fn is_singular(&self) -> bool {
        matches!(
            self,
            MediaType::SingleObject | MediaType::SingleObjectStripped
        )
    }

    /// Strip null-valued keys from the JSON objects of the body (`nulls=stripped`).
    pub fn strips_nulls(&self) -> bool {
        matches!(
            self,
            MediaType::SingleObjectStripped | MediaType::ArrayStripped
        )
    }
}

/// One media type of an Accept or Content-Type header, decoded as PostgREST decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decoded {
    Known(MediaType),
    /// `*/*`
    Any,
    /// a type we do not produce, with the name PostgREST reports it under
    Other(String),
}

fn decode_media_type(s: &str) -> Decoded {
    let mut parts = s.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let mut nulls_stripped = false;
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("nulls") && v.trim().trim_matches('"') == "stripped" {
                nulls_stripped = true;
            }
        }
    }
    let (main, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match (main, sub) {
        ("application", "json") => Decoded::Known(MediaType::Json),
        ("text", "csv") => Decoded::Known(MediaType::Csv),
        ("text", "plain") => Decoded::Known(MediaType::TextPlain),
        ("application", "octet-stream") => Decoded::Known(MediaType::OctetStream),
        ("application", "vnd.pgrst.object+json" | "vnd.pgrst.object") => {
            Decoded::Known(if nulls_stripped {
                MediaType::SingleObjectStripped
            } else {
                MediaType::SingleObject
            })
        }
        ("application", "vnd.pgrst.array+json" | "vnd.pgrst.array") => {
            Decoded::Known(if nulls_stripped {
                MediaType::ArrayStripped
            } else {
                MediaType::Json
            })
        }
        ("*", "*") => Decoded::Any,
        ("application", "geo+json") => Decoded::Other("application/geo+json".into()),
        ("text", "xml") => Decoded::Other("text/xml".into()),
        ("application", "openapi+json") => Decoded::Other("application/openapi+json".into()),
        ("application", "x-www-form-urlencoded") => {
            Decoded::Other("application/x-www-form-urlencoded".into())
        }
        _ => Decoded::Other(s.to_string()),
    }
}

/// The Accept header's media types, most preferred first: by q-value, then the more specific
/// (more parameters, fewer `*`), then in the order given (as WAI's `parseHttpAccept`).
pub fn accept_list(accept: &str) -> Vec<String> {
    let mut items: Vec<(String, f64, i64, usize)> = accept
        .split(',')
        .enumerate()
        .map(|(i, item)| {
            let item: String = item.chars().filter(|c| *c != ' ').collect();
            let (mt, q) = match item.find(";q=") {
                Some(at) => {
                    let rest = &item[at + 3..];
                    let q = rest.split(';').next().unwrap_or("");
                    (item[..at].to_string(), q.parse::<f64>().unwrap_or(1.0))
                }
                None => (item.clone(), 1.0),
            };
            let specificity = mt.matches(';').count() as i64 - mt.matches('*').count() as i64;
            (mt, q, specificity, i)
        })
        .collect();
    items.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.2.cmp(&a.2))
            .then(a.3.cmp(&b.3))
    });
    items.into_iter().map(|(mt, ..)| mt).collect()
}

/// Picks the first media type of the Accept header that is in `supported` (`*/*` and a
/// missing or blank header mean JSON); none -> 406 PGRST107.
pub fn negotiate(accept: Option<&str>, supported: &[MediaType]) -> Result<MediaType, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(MediaType::Json);
    };
    let list = accept_list(accept);
    let decoded: Vec<Decoded> = list.iter().map(|m| decode_media_type(m)).collect();
    for d in &decoded {
        match d {
            Decoded::Any if supported.contains(&MediaType::Json) => return Ok(MediaType::Json),
            Decoded::Known(m) if supported.contains(m) => return Ok(*m),
            _ => {}
        }
    }
    let names: Vec<String> = decoded
        .iter()
        .map(|d| match d {
            Decoded::Known(m) => m.mime().to_string(),
            Decoded::Any => "*/*".to_string(),
            Decoded::Other(s) => s.clone(),
        })
        .collect();
    Err(ApiError::media_type_error(&names))
}

fn body_type(content_type: &str) -> BodyType {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => BodyType::Json,
        "text/csv" => BodyType::Csv,
        "application/x-www-form-urlencoded" => BodyType::FormUrlEncoded,
        "text/plain" => BodyType::TextPlain,
        "application/octet-stream" => BodyType::OctetStream,
        _ => BodyType::Other,
    }
}

// ---- Prefer -------------------------------------------------------------------------------

/// Every `Prefer` header value, comma separated, first occurrence of each preference wins
/// (RFC 7240 as PostgREST reads it). `tx` counts only when the server allows the override.
pub fn parse_preferences<'a>(
    values: impl Iterator<Item = &'a str>,
    tx_allowed: bool,
) -> Preferences {
    let prefs: Vec<&str> = values.flat_map(|v| v.split(',')).map(str::trim).collect();
    let first = |table: &[&str]| prefs.iter().find(|p| table.contains(p)).copied();
    let mut out = Preferences {
        return_: first(&[
            "return=representation",
            "return=minimal",
            "return=headers-only",
        ])
        .map(|p| match p {
            "return=representation" => ReturnPref::Representation,
            "return=minimal" => ReturnPref::Minimal,
            _ => ReturnPref::HeadersOnly,
        }),
        count: first(&["count=exact", "count=planned", "count=estimated"]).map(|p| match p {
            "count=exact" => CountPref::Exact,
            "count=planned" => CountPref::Planned,
            _ => CountPref::Estimated,
        }),
        resolution: first(&[
            "resolution=merge-duplicates",
            "resolution=ignore-duplicates",
        ])
        .map(|p| match p {
            "resolution=merge-duplicates" => Resolution::MergeDuplicates,
            _ => Resolution::IgnoreDuplicates,
        }),
        ..Preferences::default()
    };
    match first(&["missing=default", "missing=null"]) {
        Some("missing=default") => out.missing_default = true,
        Some(_) => out.missing_null = true,
        None => {}
    }
    if tx_allowed {
        out.tx = first(&["tx=commit", "tx=rollback"]).map(|p| match p {
            "tx=commit" => TxPref::Commit,
            _ => TxPref::Rollback,
        });
    }
    match first(&["handling=strict", "handling=lenient"]) {
        Some("handling=strict") => out.strict = true,
        Some(_) => out.lenient = true,
        None => {}
    }
    out.timezone = prefs
        .iter()
        .find_map(|p| p.strip_prefix("timezone="))
        .map(str::to_string);
    out.max_affected = prefs
        .iter()
        .find_map(|p| p.strip_prefix("max-affected="))
        .and_then(|n| n.trim().parse::<i64>().ok());
    const KNOWN: &[&str] = &[
        "resolution=merge-duplicates",
        "resolution=ignore-duplicates",
        "return=representation",
        "return=minimal",
        "return=headers-only",
        "count=exact",
        "count=planned",
        "count=estimated",
        "tx=commit",
        "tx=rollback",
        "missing=default",
        "missing=null",
        "handling=strict",
        "handling=lenient",
    ];
    out.invalid = prefs
        .iter()
        .filter(|p| {
            !KNOWN.contains(p) && !p.starts_with("timezone=") && !p.starts_with("max-affected=")
        })
        .map(|p| p.to_string())
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            schemas: vec!["public".into(), "v2".into()],
            tx_end: crate::settings::TxEnd::CommitAllowOverride,
            ..Settings::default()
        }
    }

    fn raw(method: &str, target: &str, headers: &[(&str, &str)]) -> RawRequest {
        RawRequest {
            method: method.into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: vec![],
        }
    }

    fn parse(method: &str, target: &str, headers: &[(&str, &str)]) -> Result<ApiRequest, ApiError> {
        parse_request(&raw(method, target, headers), &settings())
    }

    fn code(r: Result<ApiRequest, ApiError>) -> (u16, String) {
        let e = r.unwrap_err();
        (e.status, e.code)
    }

    #[test]
    fn resources() {
        assert_eq!(parse("GET", "/", &[]).unwrap().resource, Resource::Root);
        assert_eq!(
            parse("GET", "/items?id=eq.1", &[]).unwrap().resource,
            Resource::Relation("items".into())
        );
        assert_eq!(
            parse("GET", "/rpc/f%20g", &[]).unwrap().resource,
            Resource::Rpc("f g".into())
        );
        assert_eq!(
            code(parse("GET", "/projects/1/tasks", &[])),
            (404, "PGRST125".into())
        );
    }

    #[test]
    fn methods() {
        assert_eq!(code(parse("POST", "/", &[])), (405, "PGRST117".into()));
        assert_eq!(
            code(parse("TRACE", "/items", &[])),
            (405, "PGRST117".into())
        );
        let e = parse("PATCH", "/rpc/f", &[]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (405, "PGRST101"));
        assert_eq!(e.message, "Cannot use the PATCH method on RPC");
        assert_eq!(parse("HEAD", "/rpc/f", &[]).unwrap().method, Method::Head);
        assert_eq!(parse("PUT", "/items", &[]).unwrap().method, Method::Put);
    }

    #[test]
    fn profiles() {
        let r = parse("GET", "/items", &[]).unwrap();
        assert_eq!((r.schema.as_str(), r.profile_given), ("public", true));
        let r = parse("GET", "/items", &[("accept-profile", "v2")]).unwrap();
        assert_eq!((r.schema.as_str(), r.profile_given), ("v2", true));
        // GET reads Accept-Profile only, the writes Content-Profile only
        let r = parse("GET", "/items", &[("content-profile", "v2")]).unwrap();
        assert_eq!(r.schema, "public");
        let r = parse("POST", "/items", &[("accept-profile", "v2")]).unwrap();
        assert_eq!(r.schema, "public");
        let r = parse("DELETE", "/items", &[("content-profile", "v2")]).unwrap();
        assert_eq!(r.schema, "v2");
        let e = parse("GET", "/items", &[("accept-profile", "nope")]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST106"));
        assert_eq!(e.message, "Invalid schema: nope");
        assert_eq!(
            code(parse("POST", "/items", &[("content-profile", "auth")])).1,
            "PGRST106"
        );
        // one exposed schema: nothing to negotiate
        let one = Settings::default();
        let r = parse_request(&raw("GET", "/items", &[]), &one).unwrap();
        assert!(!r.profile_given);
    }

    #[test]
    fn accept_negotiation() {
        let acc = |a: &str| parse("GET", "/items", &[("accept", a)]).map(|r| r.accept);
        assert_eq!(parse("GET", "/items", &[]).unwrap().accept, MediaType::Json);
        assert_eq!(acc("*/*").unwrap(), MediaType::Json);
        assert_eq!(acc("application/json").unwrap(), MediaType::Json);
        assert_eq!(
            acc("application/vnd.pgrst.object+json").unwrap(),
            MediaType::SingleObject
        );
        assert_eq!(
            acc("application/vnd.pgrst.object").unwrap(),
            MediaType::SingleObject
        );
        assert_eq!(
            acc("ApplicatIon/vnd.PgRsT.object+json").unwrap(),
            MediaType::SingleObject
        );
        assert_eq!(
            acc("application/vnd.pgrst.object+json;nulls=stripped").unwrap(),
            MediaType::SingleObjectStripped
        );
        assert_eq!(
            acc("application/vnd.pgrst.array+json;nulls=stripped").unwrap(),
            MediaType::ArrayStripped
        );
        assert_eq!(
            acc("application/vnd.pgrst.array+json").unwrap(),
            MediaType::Json
        );
        assert_eq!(acc("text/csv").unwrap(), MediaType::Csv);
        assert_eq!(acc("text/csv; version=1").unwrap(), MediaType::Csv);
        assert_eq!(acc("text/csv, application/json").unwrap(), MediaType::Csv);
        assert_eq!(acc("text/csv, */*").unwrap(), MediaType::Csv);
        assert_eq!(acc("*/*, text/csv").unwrap(), MediaType::Csv);
        assert_eq!(acc("text/unknowntype, text/csv").unwrap(), MediaType::Csv);
        assert_eq!(acc("text/unknowntype, */*").unwrap(), MediaType::Json);
        assert_eq!(
            acc("text/csv;q=0.5, application/json").unwrap(),
            MediaType::Json
        );
        assert_eq!(acc("text/plain").unwrap(), MediaType::TextPlain);
        assert_eq!(
            acc("application/octet-stream").unwrap(),
            MediaType::OctetStream
        );
        let e = acc("text/unknowntype").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST107"));
        assert_eq!(
            e.message,
            "None of these media types are available: text/unknowntype"
        );
        let e = acc("text/xml, application/geo+json").unwrap_err();
        assert_eq!(
            e.message,
            "None of these media types are available: text/xml, application/geo+json"
        );
        assert_eq!(
            negotiate(Some("text/plain, application/json"), &[MediaType::Json]).unwrap(),
            MediaType::Json
        );
    }

    #[test]
    fn content_types() {
        let ct = |c: &str| {
            parse("POST", "/items", &[("content-type", c)])
                .unwrap()
                .content_type
        };
        assert_eq!(
            parse("POST", "/items", &[]).unwrap().content_type,
            BodyType::Json
        );
        assert_eq!(ct("application/json; charset=utf-8"), BodyType::Json);
        assert_eq!(ct("text/csv"), BodyType::Csv);
        assert_eq!(
            ct("application/x-www-form-urlencoded"),
            BodyType::FormUrlEncoded
        );
        assert_eq!(ct("text/plain"), BodyType::TextPlain);
        assert_eq!(ct("application/octet-stream"), BodyType::OctetStream);
        assert_eq!(ct("text/xml"), BodyType::Other);
    }

    #[test]
    fn preferences() {
        let p = parse_preferences(
            [
                "return=representation, count=exact",
                "resolution=merge-duplicates,missing=default",
                "tx=rollback, handling=lenient, timezone=America/Los_Angeles, max-affected=5",
                "return=minimal, bogus",
            ]
            .into_iter(),
            true,
        );
        assert_eq!(p.return_, Some(ReturnPref::Representation));
        assert_eq!(p.count, Some(CountPref::Exact));
        assert_eq!(p.resolution, Some(Resolution::MergeDuplicates));
        assert!(p.missing_default && !p.missing_null);
        assert_eq!(p.tx, Some(TxPref::Rollback));
        assert!(p.lenient && !p.strict);
        assert_eq!(p.timezone.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(p.max_affected, Some(5));
        assert_eq!(p.invalid, vec!["bogus".to_string()]);

        let p = parse_preferences(["tx=commit, tx=rollback"].into_iter(), false);
        assert_eq!(p.tx, None);
        assert!(p.invalid.is_empty());
        let p = parse_preferences(["return=headers-only, count=planned"].into_iter(), true);
        assert_eq!(p.return_, Some(ReturnPref::HeadersOnly));
        assert_eq!(p.count, Some(CountPref::Planned));
    }

    #[test]
    fn strict_handling_refuses_unknown_preferences() {
        let e = parse("GET", "/items", &[("prefer", "handling=strict, foo, bar")]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST122"));
        assert_eq!(e.details.as_deref(), Some("Invalid preferences: foo, bar"));
        assert!(parse("GET", "/items", &[("prefer", "handling=lenient, foo")]).is_ok());
        assert!(parse(
            "GET",
            "/items",
            &[("prefer", "handling=strict"), ("prefer", "count=exact")]
        )
        .is_ok());
    }

    #[test]
    fn range_header() {
        assert_eq!(parse_range_header("0-9"), Some((0, Some(9))));
        assert_eq!(parse_range_header("items=0-9"), Some((0, Some(9))));
        assert_eq!(parse_range_header("10-"), Some((10, None)));
        assert_eq!(parse_range_header("-5"), None);
        assert_eq!(parse_range_header("a-b"), None);
        let r = parse(
            "GET",
            "/items",
            &[("range", "2-3"), ("range-unit", "items")],
        )
        .unwrap();
        assert_eq!(r.range, Some((2, Some(3))));
        assert_eq!(r.top_level_range(), (2, Some(2)));
        // only GET reads it
        let r = parse("PATCH", "/items", &[("range", "0-0")]).unwrap();
        assert_eq!(r.range, None);
        assert_eq!(r.top_level_range(), (0, None));
        let e = parse("GET", "/items", &[("range", "1-0")]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (416, "PGRST103"));
        assert_eq!(
            e.details.as_deref(),
            Some("The lower boundary must be lower than or equal to the upper boundary in the Range header.")
        );
    }

    fn q(limit: Option<i64>, offset: Option<i64>) -> QueryParams {
        QueryParams {
            limit: limit.map(|l| vec![(vec![], l)]).unwrap_or_default(),
            offset: offset.map(|o| vec![(vec![], o)]).unwrap_or_default(),
            ..QueryParams::default()
        }
    }

    fn window(
        method: Method,
        range: Option<(i64, Option<i64>)>,
        query: QueryParams,
    ) -> (i64, Option<i64>) {
        ApiRequest {
            method,
            range,
            query,
            ..ApiRequest::default()
        }
        .top_level_range()
    }

    #[test]
    fn limit_offset_and_range_intersect() {
        assert_eq!(window(Method::Get, None, q(None, None)), (0, None));
        assert_eq!(
            window(Method::Get, None, q(Some(5), Some(10))),
            (10, Some(5))
        );
        assert_eq!(
            window(Method::Get, Some((0, Some(1))), q(Some(3), None)),
            (0, Some(2))
        );
        assert_eq!(
            window(Method::Get, Some((10, None)), q(None, None)),
            (10, None)
        );
        assert_eq!(window(Method::Get, None, q(Some(0), None)), (0, Some(0)));
        // an embedded limit does not touch the root window
        let mut query = q(None, None);
        query.limit.push((vec!["books".into()], 1));
        assert_eq!(window(Method::Get, None, query), (0, None));
    }

    #[test]
    fn invalid_windows() {
        let e = check_range(Method::Get, None, &q(Some(-1), None)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (416, "PGRST103"));
        assert_eq!(
            e.details.as_deref(),
            Some("Limit should be greater than or equal to zero.")
        );
        assert!(check_range(Method::Get, None, &q(Some(0), None)).is_ok());
        let e = check_range(Method::Put, None, &q(Some(1), None)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST114"));
        assert!(check_range(Method::Put, None, &q(None, None)).is_ok());
    }
}
