//! HTTP request -> [`ApiRequest`] (PostgREST's `ApiRequest`): method, resource path, query
//! string, and the headers that steer PostgREST (Accept, Content-Type, Prefer, Range,
//! Accept-Profile/Content-Profile). The parts: [`preferences`] (Prefer), [`media_types`]
//! (Accept, Content-Type), [`range`] (Range, limit/offset) and [`payload`] (the body).

pub mod media_types;
pub mod payload;
pub mod preferences;
pub mod range;

pub use media_types::{BodyType, Explain, MediaType};
pub use payload::{JsonPayload, Payload};
pub use preferences::{parse_preferences, CountPref, Preferences, Resolution, ReturnPref, TxPref};

use crate::error::ApiError;
use crate::parse::ast::QueryParams;
use crate::settings::Settings;
use media_types::{body_type, negotiate_explain, ALL_MEDIA_TYPES};
use range::{check_range, parse_range_header};

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

impl Method {
    const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Patch,
        Method::Put,
        Method::Delete,
        Method::Options,
    ];

    /// The method's name as on the wire (`request.method`, error messages).
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
        }
    }

    /// A method PostgREST knows (case-sensitive, as HTTP methods are).
    pub(crate) fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }
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

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) resource: Resource,
    /// the schema this request targets (default schema, or the profile header's)
    pub(crate) schema: String,
    /// Was the schema negotiated by profile, so the response names it in Content-Profile?
    /// As PostgREST: true when a valid profile header was given, and also whenever more than
    /// one schema is exposed (then the default schema counts as negotiated).
    pub(crate) profile_given: bool,
    pub(crate) query: QueryParams,
    pub(crate) prefer: Preferences,
    pub(crate) accept: MediaType,
    /// `Accept: application/vnd.pgrst.plan...` (with `db_plan_enabled`): answer the EXPLAIN of
    /// the statement that would answer `accept`
    pub(crate) explain: Option<Explain>,
    /// `GET /`: the OpenAPI version the Accept header asked for (`None`: the setting's)
    pub(crate) openapi_version: Option<media_types::OpenApiVersion>,
    pub(crate) content_type: BodyType,
    /// `Range: items=a-b` as (offset, inclusive end). Only read for GET (PostgREST ignores
    /// it for every other method); `None` when absent or not of the form `a-b` / `a-`.
    /// Use [`ApiRequest::top_level_range`] for the window the root query returns.
    pub(crate) range: Option<(i64, Option<i64>)>,
    /// lower-case names
    pub(crate) headers: Vec<(String, String)>,
    /// the body, decoded for the endpoint (table writes and POST calls; `None` for the rest)
    pub(crate) payload: Option<Payload>,
}

impl ApiRequest {
    /// The rows the root query returns, as `(offset, limit)`: the Range header (GET only)
    /// intersected with the root `limit`/`offset`. `limit = Some(0)` for `limit=0`.
    /// `parse_request` has already refused empty windows (416) and PUT with a window (400).
    pub fn top_level_range(&self) -> (i64, Option<i64>) {
        range::top_level_range(self.method, self.range, &self.query)
    }

    /// The root rows' `(offset, limit)` as the statement pages them: [`top_level_range`]
    /// capped by `db_max_rows`; `None` when nothing is skipped or capped.
    ///
    /// [`top_level_range`]: ApiRequest::top_level_range
    pub(crate) fn page(&self, max_rows: Option<i64>) -> Option<(i64, Option<i64>)> {
        let (offset, limit) = self.top_level_range();
        let limit = [limit, max_rows].into_iter().flatten().min();
        if offset == 0 && limit.is_none() {
            None
        } else {
            Some((offset, limit))
        }
    }
}

/// Parses everything but the JWT (that is `auth`'s job).
///
/// The checks run in PostgREST's order: path, profile, method, query string, range, Prefer,
/// body: all before the schema cache is consulted.
pub fn parse_request(raw: &RawRequest, settings: &Settings) -> Result<ApiRequest, ApiError> {
    let (path, query) = match raw.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (raw.target.as_str(), ""),
    };
    let resource = parse_resource(path)?;
    if resource == Resource::Root && settings.openapi_mode == crate::settings::OpenApiMode::Disabled
    {
        return Err(ApiError::openapi_disabled());
    }
    let (schema, profile_given) = select_schema(raw, settings)?;
    let method = parse_method(&raw.method, &resource)?;
    // a call's query string holds its arguments unless a body does (POST: filters only)
    let query = crate::parse::parse_query(
        query,
        matches!(resource, Resource::Rpc(_)) && method != Method::Post,
    )?;

    let range = if method == Method::Get {
        raw.header("range").and_then(parse_range_header)
    } else {
        None
    };
    check_range(method, range, &query)?;

    // OPTIONS answers no body (PostgREST negotiates nothing for it); `/` has its own types
    let (accept, explain, openapi_version) = match (&resource, method) {
        (_, Method::Options) => (MediaType::Json, None, None),
        (Resource::Root, _) => (
            MediaType::Json,
            None,
            media_types::negotiate_openapi(raw.header("accept"))?,
        ),
        _ => {
            let (accept, explain) =
                negotiate_explain(raw.header("accept"), ALL_MEDIA_TYPES, settings.plan_enabled)?;
            (accept, explain, None)
        }
    };
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
    let payload = payload::decode(
        method,
        &resource,
        content_type,
        || content_mime(raw),
        &raw.body,
        query.columns.as_deref(),
    )?;

    Ok(ApiRequest {
        method,
        resource,
        schema,
        profile_given,
        query,
        prefer,
        accept,
        explain,
        openapi_version,
        content_type,
        range,
        headers: raw.headers.clone(),
        payload,
    })
}

/// The request's Content-Type as PostgREST names it in errors (`text/plain`).
fn content_mime(raw: &RawRequest) -> String {
    raw.header("content-type")
        .map(media_types::essence)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_string())
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
    // Postgres text cannot hold NUL, as in a query string value
    if segments.iter().any(|s| s.contains('\0')) {
        return Err(ApiError::nul_byte());
    }
    // supabase-js always talks to `<url>/rest/v1/...` (the Supabase gateway's prefix): accept
    // that prefix, so `createClient(<our url>, key)` works unmodified.
    let segments = match segments.as_slice() {
        [rest, v1, tail @ ..] if rest == "rest" && v1 == "v1" => tail,
        all => all,
    };
    match segments {
        [] => Ok(Resource::Root),
        [name] => Ok(Resource::Relation(name.clone())),
        [rpc, name] if rpc == "rpc" => Ok(Resource::Rpc(name.clone())),
        _ => Err(ApiError::invalid_resource_path()),
    }
}

/// Which methods each resource accepts (PostgREST's `getAction`).
fn parse_method(raw: &str, resource: &Resource) -> Result<Method, ApiError> {
    match (resource, Method::parse(raw)) {
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
            // a body every write accepts; requests that take none ignore it
            body: b"{}".to_vec(),
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
        assert_eq!(code(parse("GET", "/po%00sts", &[])), (400, "22021".into()));
        assert_eq!(
            code(parse("GET", "/projects/1/tasks", &[])),
            (404, "PGRST125".into())
        );
    }

    #[test]
    fn supabase_js_rest_v1_prefix() {
        assert_eq!(
            parse("GET", "/rest/v1/", &[]).unwrap().resource,
            Resource::Root
        );
        assert_eq!(
            parse("GET", "/rest/v1/items?id=eq.1", &[])
                .unwrap()
                .resource,
            Resource::Relation("items".into())
        );
        assert_eq!(
            parse("POST", "/rest/v1/rpc/f", &[]).unwrap().resource,
            Resource::Rpc("f".into())
        );
        // A table named `rest` stays reachable.
        assert_eq!(
            parse("GET", "/rest", &[]).unwrap().resource,
            Resource::Relation("rest".into())
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
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("get"), None);
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
    fn root_and_options_negotiation() {
        use media_types::OpenApiVersion;
        let root = |a: &str| parse("GET", "/", &[("accept", a)]).map(|r| r.openapi_version);
        assert_eq!(root("application/openapi+json").unwrap(), None);
        assert_eq!(root("application/json").unwrap(), None);
        assert_eq!(root("*/*").unwrap(), None);
        assert_eq!(
            root("application/openapi+json;version=3.1").unwrap(),
            Some(OpenApiVersion::V31)
        );
        assert_eq!(
            root("text/csv, application/openapi+json; version=2.0").unwrap(),
            Some(OpenApiVersion::Swagger2)
        );
        let e = root("text/csv").unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST107"));
        assert!(root("application/openapi+json;version=4").is_err());
        // OPTIONS answers no body: no Accept is refused
        assert!(parse("OPTIONS", "/items", &[("accept", "application/geo+json")]).is_ok());
        // a disabled root is 404 whatever the method
        let off = Settings {
            openapi_mode: crate::settings::OpenApiMode::Disabled,
            ..Settings::default()
        };
        for m in ["GET", "HEAD", "POST"] {
            let e = parse_request(&raw(m, "/", &[]), &off).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (404, "PGRST126"));
        }
        assert!(parse_request(&raw("GET", "/items", &[]), &off).is_ok());
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
        let e = acc("text/xml, application/openapi+json").unwrap_err();
        assert_eq!(
            e.message,
            "None of these media types are available: text/xml, application/openapi+json"
        );
        assert_eq!(
            acc("text/xml, application/geo+json").unwrap(),
            MediaType::GeoJson
        );
        assert_eq!(
            negotiate_explain(
                Some("text/plain, application/json"),
                &[MediaType::Json],
                false
            )
            .unwrap()
            .0,
            MediaType::Json
        );
    }

    #[test]
    fn plan_media_types() {
        let on = Settings {
            plan_enabled: true,
            ..settings()
        };
        let plan = |accept: &str, s: &Settings| {
            parse_request(&raw("GET", "/items", &[("accept", accept)]), s)
                .map(|r| (r.accept, r.explain))
        };
        let (m, e) = plan("application/vnd.pgrst.plan", &on).unwrap();
        let e = e.unwrap();
        assert_eq!((m, e), (MediaType::Json, Explain::default()));
        assert_eq!(
            e.content_type(m),
            "application/vnd.pgrst.plan+text; for=\"application/json\"; charset=utf-8"
        );
        assert_eq!(e.sql_options(), "FORMAT TEXT");
        let (m, e) = plan(
            "application/vnd.pgrst.plan+json; for=\"application/vnd.pgrst.object\"; \
             options=wal|analyze|bogus;",
            &on,
        )
        .unwrap();
        let e = e.unwrap();
        assert_eq!(m, MediaType::SingleObject);
        assert_eq!(
            e.content_type(m),
            "application/vnd.pgrst.plan+json; for=\"application/vnd.pgrst.object+json\"; \
             options=analyze|wal; charset=utf-8"
        );
        assert_eq!(e.sql_options(), "FORMAT JSON, ANALYZE, WAL");
        let (m, e) = plan("application/vnd.pgrst.plan+text;for=\"text/csv\"", &on).unwrap();
        assert!(m == MediaType::Csv && e.is_some_and(|e| !e.json));
        let e = plan(
            "application/vnd.pgrst.plan+json; options=verbose|settings|buffers",
            &on,
        )
        .unwrap()
        .1
        .unwrap();
        assert!(e.verbose && e.settings && e.buffers && !e.analyze && !e.wal);
        // a `for` we cannot answer, or plans disabled (the default): 406 naming the plan type
        let e = plan("application/vnd.pgrst.plan; for=\"text/xml\"", &on).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST107"));
        assert_eq!(
            e.message,
            "None of these media types are available: application/vnd.pgrst.plan+text; \
             for=\"text/xml\""
        );
        let e = plan("application/vnd.pgrst.plan+json", &settings()).unwrap_err();
        assert_eq!(
            e.message,
            "None of these media types are available: application/vnd.pgrst.plan+json; \
             for=\"application/json\""
        );
        let (m, e) = plan("application/vnd.pgrst.plan, text/csv", &settings()).unwrap();
        assert_eq!((m, e), (MediaType::Csv, None));
    }

    #[test]
    fn content_types() {
        // DELETE reads no body, so every type is only named here
        let ct = |c: &str| {
            parse("DELETE", "/items", &[("content-type", c)])
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
    fn bodies_are_decoded_for_their_endpoint() {
        let with_body = |method: &str, target: &str, ct: &str, body: &str| {
            let mut r = raw(method, target, &[("content-type", ct)]);
            r.body = body.as_bytes().to_vec();
            parse_request(&r, &settings())
        };
        let json = "application/json";
        // a malformed body is refused here, before any table or function is looked up
        for (method, target) in [("POST", "/nope"), ("PATCH", "/nope"), ("POST", "/rpc/nope")] {
            let e = with_body(method, target, json, "}{").unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (400, "PGRST102"));
        }
        // only writes and POST calls read their body
        for (method, target) in [("GET", "/items"), ("DELETE", "/items"), ("GET", "/rpc/f")] {
            assert_eq!(with_body(method, target, json, "}{").unwrap().payload, None);
        }
        let e = with_body("POST", "/items", "text/plain; charset=utf-8", "x").unwrap_err();
        assert_eq!(e.message, "Content-Type not acceptable: text/plain");
        let r = with_body("POST", "/rpc/f", "text/plain", "x").unwrap();
        assert_eq!(r.payload, Some(Payload::Raw(b"x".to_vec())));
        let r = with_body(
            "POST",
            "/rpc/f",
            "application/x-www-form-urlencoded",
            "a=1&a=2",
        );
        assert_eq!(
            r.unwrap().payload,
            Some(Payload::Pairs(vec![
                ("a".into(), "1".into()),
                ("a".into(), "2".into())
            ]))
        );
        // an empty JSON body calls without arguments; a table write needs one
        let Some(Payload::Json(p)) = with_body("POST", "/rpc/f", json, "").unwrap().payload else {
            panic!("a JSON payload")
        };
        assert_eq!((p.keys.len(), p.raw()), (0, "{}"));
        assert!(with_body("POST", "/items", json, "").is_err());
        // `columns=` picks the keys; the body is passed as sent
        let Some(Payload::Json(p)) =
            with_body("POST", "/items?columns=b,a,b", json, r#"[{"a":1}]"#)
                .unwrap()
                .payload
        else {
            panic!("a JSON payload")
        };
        assert_eq!(
            (p.keys, p.json.as_str()),
            (vec!["b".into(), "a".into()], r#"[{"a":1}]"#)
        );
    }

    #[test]
    fn a_posted_calls_query_string_holds_filters_only() {
        let r = parse("POST", "/rpc/f?id=eq.1", &[]).unwrap();
        assert_eq!((r.query.filters.len(), r.query.rpc_args.len()), (1, 0));
        assert_eq!(code(parse("POST", "/rpc/f?a=1", &[])).1, "PGRST100");
        let r = parse("GET", "/rpc/f?a=1", &[]).unwrap();
        assert_eq!(r.query.rpc_args, vec![("a".into(), "1".into())]);
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
