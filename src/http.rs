//! HTTP request -> [`ApiRequest`]: method, resource path, query string, and the headers that
//! steer PostgREST (Accept, Content-Type, Prefer, Range, Accept-Profile/Content-Profile).

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Patch,
    Put,
    Delete,
    Options,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `/name`
    Relation(String),
    /// `/rpc/name`
    Rpc(String),
    /// `/`
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
}

/// Response media types PostgREST negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json` (also `*/*` and no Accept)
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Json,
    Csv,
    FormUrlEncoded,
    TextPlain,
    OctetStream,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    pub method: Method,
    pub resource: Resource,
    /// the schema this request targets (default schema, or the profile header's)
    pub schema: String,
    /// was a profile header given (so the response echoes Content-Profile)?
    pub profile_given: bool,
    pub query: QueryParams,
    pub prefer: Preferences,
    pub accept: MediaType,
    pub content_type: BodyType,
    /// `Range: items=a-b` as (offset, inclusive end)
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
}

/// Parses everything but the JWT (that is `auth`'s job).
pub fn parse_request(raw: &RawRequest, settings: &Settings) -> Result<ApiRequest, ApiError> {
    let method = match raw.method.as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PATCH" => Method::Patch,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        other => {
            return Err(ApiError::new(
                405,
                "PGRST117",
                format!("Unsupported HTTP method: {other}"),
            ))
        }
    };
    let (path, query) = match raw.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (raw.target.as_str(), ""),
    };
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let resource = match segments.as_slice() {
        [] => Resource::Root,
        [name] => Resource::Relation(name.clone()),
        [rpc, name] if rpc == "rpc" => Resource::Rpc(name.clone()),
        _ => return Err(ApiError::new(404, "PGRST125", "Invalid path specified in request URL")),
    };
    let is_rpc = matches!(resource, Resource::Rpc(_));
    let query = crate::parse::parse_query(query, is_rpc)?;
    Ok(ApiRequest {
        method,
        resource,
        schema: settings.schemas[0].clone(),
        profile_given: false,
        query,
        prefer: Preferences::default(),
        accept: MediaType::Json,
        content_type: BodyType::Json,
        range: None,
        headers: raw.headers.clone(),
        body: raw.body.clone(),
    })
}
