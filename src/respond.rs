//! The statement's result row + the request -> the HTTP response: status, Content-Range,
//! Preference-Applied, Location, Content-Type, and the `response.headers`/`response.status`
//! settings a function may have set.
//!
//! Follows PostgREST's `Response.hs` action by action. Every "this result cannot be answered"
//! check (singular with n != 1 rows, max-affected, PUT that did not match, bad
//! `response.*` settings) is an `Err` here, so the executor rolls the transaction back.
#![allow(clippy::result_large_err)]

use crate::api_request::{
    ApiRequest, CountPref, Explain, Method, Preferences, Resolution, Resource, ReturnPref, TxPref,
};
use crate::error::ApiError;
pub use crate::plan::result_row::QueryResult;
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// a reason phrase other than the status code's usual one (see [`ApiError::reason`])
    pub reason: Option<String>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// An error as PostgREST sends it.
pub fn error_response(err: &ApiError) -> HttpResponse {
    let mut headers = vec![("Content-Type".to_string(), JSON_CONTENT_TYPE.to_string())];
    // a RAISE 'PGRST' error may bring its own Content-Type
    headers.retain(|(k, _)| !err.headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(k)));
    headers.extend(err.headers.iter().cloned());
    headers.push((
        "Proxy-Status".to_string(),
        format!("PostgREST; error={}", err.code),
    ));
    HttpResponse {
        status: err.status,
        headers,
        body: err.body().into_bytes(),
        reason: err.reason.clone(),
    }
}

/// `OPTIONS`: 200, no body, the allowed methods.
pub fn options_response(allow: &str) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("Access-Control-Allow-Origin".to_string(), "*".to_string()),
            ("Allow".to_string(), allow.to_string()),
        ],
        body: vec![],
        reason: None,
    }
}

/// Builds the success response.
pub fn respond(req: &ApiRequest, result: QueryResult) -> Result<HttpResponse, ApiError> {
    let (status, headers, body) = match (&req.resource, req.method) {
        (_, Method::Options) => {
            let default = match req.resource {
                Resource::Rpc(_) => "OPTIONS,GET,HEAD,POST",
                Resource::Root => "OPTIONS,GET,HEAD",
                Resource::Relation(_) => "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE",
            };
            return Ok(options_response(result.body.as_deref().unwrap_or(default)));
        }
        (Resource::Rpc(_), _) => call(req, &result)?,
        (Resource::Root, _) => root(req, &result),
        (Resource::Relation(name), Method::Get | Method::Head) => read(req, &result, name)?,
        (Resource::Relation(name), Method::Post) => create(req, &result, name)?,
        (Resource::Relation(_), Method::Patch) => update(req, &result)?,
        (Resource::Relation(_), Method::Put) => upsert(req, &result)?,
        (Resource::Relation(_), Method::Delete) => delete(req, &result)?,
    };
    let (status, headers) = override_status_headers(&result, status, headers)?;
    Ok(HttpResponse {
        status,
        headers,
        body: if req.method == Method::Head {
            vec![]
        } else {
            body
        },
        reason: None,
    })
}

type Parts = (u16, Vec<(String, String)>, Vec<u8>);

fn header(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// Content-Type, and Content-Profile when the schema was negotiated.
fn content_type_headers(req: &ApiRequest) -> Vec<(String, String)> {
    let mut h = vec![header("Content-Type", req.accept.content_type())];
    if req.profile_given {
        h.push(header("Content-Profile", req.schema.clone()));
    }
    h
}

/// `Accept: application/vnd.pgrst.plan...`: 200 with the EXPLAIN output (its rows, one line
/// each, as PostgREST joins them) in the plan media type naming the `for` type and options.
pub fn explain_response(
    req: &ApiRequest,
    explain: Explain,
    rows: &[Option<String>],
) -> HttpResponse {
    let body: String = rows
        .iter()
        .map(|r| format!("{}\n", r.as_deref().unwrap_or("")))
        .collect();
    let mut headers = vec![header("Content-Type", explain.content_type(req.accept))];
    if req.profile_given {
        headers.push(header("Content-Profile", req.schema.clone()));
    }
    HttpResponse {
        status: 200,
        headers,
        body: if req.method == Method::Head {
            vec![]
        } else {
            body.into_bytes()
        },
        reason: None,
    }
}

fn body_bytes(result: &QueryResult) -> Vec<u8> {
    result.body.clone().unwrap_or_default().into_bytes()
}

fn fail_not_singular(req: &ApiRequest, result: &QueryResult) -> Result<(), ApiError> {
    if req.accept.is_singular() && result.page_total != 1 {
        return Err(ApiError::singular(result.page_total));
    }
    Ok(())
}

fn fail_max_affected(req: &ApiRequest, result: &QueryResult) -> Result<(), ApiError> {
    match req.prefer.max_affected {
        Some(n) if req.prefer.strict && result.page_total > n => {
            Err(ApiError::max_affected_violation(result.page_total))
        }
        _ => Ok(()),
    }
}

/// `count=exact`/`count=estimated` put the affected rows in a write's Content-Range.
fn should_count(prefer: &Preferences) -> bool {
    matches!(prefer.count, Some(CountPref::Exact | CountPref::Estimated))
}

/// `Content-Range` as PostgREST writes it: `lower-upper/total`, `*` for an empty range or a
/// zero total, `*` for an unknown total.
pub fn content_range(lower: i64, upper: i64, total: Option<i64>) -> String {
    let range = if total != Some(0) && lower <= upper {
        format!("{lower}-{upper}")
    } else {
        "*".to_string()
    };
    let total = total.map_or("*".to_string(), |t| t.to_string());
    format!("{range}/{total}")
}

/// Status and Content-Range of a read or a call: 206 when the total exceeds the page,
/// 416 when the window starts past the total.
fn range_status(req: &ApiRequest, result: &QueryResult) -> (u16, String) {
    let lower = req.top_level_range().0;
    let upper = lower.saturating_add(result.page_total).saturating_sub(1);
    let status = match result.total {
        None => 200,
        Some(total) if lower > total => 416,
        Some(total) if result.page_total < total => 206,
        Some(_) => 200,
    };
    (status, content_range(lower, upper, result.total))
}

fn out_of_bounds_body(req: &ApiRequest, result: &QueryResult) -> Vec<u8> {
    ApiError::range_out_of_bounds(req.top_level_range().0, result.total.unwrap_or(0))
        .body()
        .into_bytes()
}

/// Which preferences an action reports in Preference-Applied (PostgREST's per-action lists).
#[derive(Clone, Copy)]
struct Applied {
    resolution: bool,
    missing: bool,
    return_: bool,
    max_affected: bool,
}

fn preference_applied(prefer: &Preferences, which: Applied) -> Option<(String, String)> {
    let mut v: Vec<String> = vec![];
    if which.resolution {
        match prefer.resolution {
            Some(Resolution::MergeDuplicates) => v.push("resolution=merge-duplicates".into()),
            Some(Resolution::IgnoreDuplicates) => v.push("resolution=ignore-duplicates".into()),
            None => {}
        }
    }
    if which.missing {
        if prefer.missing_default {
            v.push("missing=default".into());
        } else if prefer.missing_null {
            v.push("missing=null".into());
        }
    }
    if which.return_ {
        match prefer.return_ {
            Some(ReturnPref::Representation) => v.push("return=representation".into()),
            Some(ReturnPref::Minimal) => v.push("return=minimal".into()),
            Some(ReturnPref::HeadersOnly) => v.push("return=headers-only".into()),
            None => {}
        }
    }
    match prefer.count {
        Some(CountPref::Exact) => v.push("count=exact".into()),
        Some(CountPref::Planned) => v.push("count=planned".into()),
        Some(CountPref::Estimated) => v.push("count=estimated".into()),
        None => {}
    }
    match prefer.tx {
        Some(TxPref::Commit) => v.push("tx=commit".into()),
        Some(TxPref::Rollback) => v.push("tx=rollback".into()),
        None => {}
    }
    if prefer.strict {
        v.push("handling=strict".into());
    } else if prefer.lenient {
        v.push("handling=lenient".into());
    }
    if let Some(tz) = &prefer.timezone {
        v.push(format!("timezone={tz}"));
    }
    if which.max_affected && prefer.strict {
        if let Some(n) = prefer.max_affected {
            v.push(format!("max-affected={n}"));
        }
    }
    (!v.is_empty()).then(|| header("Preference-Applied", v.join(", ")))
}

const READ_PREFS: Applied = Applied {
    resolution: false,
    missing: false,
    return_: false,
    max_affected: false,
};

fn read(req: &ApiRequest, result: &QueryResult, relation: &str) -> Result<Parts, ApiError> {
    fail_not_singular(req, result)?;
    let (status, range) = range_status(req, result);
    // as PostgREST: the relation's name as is, then the canonical query string
    let location = match req.query.canonical.as_str() {
        "" => format!("/{relation}"),
        q => format!("/{relation}?{q}"),
    };
    let mut headers = vec![
        header("Content-Range", range),
        header("Content-Location", location),
    ];
    let body = if status == 416 {
        headers.push(header("Content-Type", JSON_CONTENT_TYPE));
        out_of_bounds_body(req, result)
    } else {
        headers.extend(content_type_headers(req));
        body_bytes(result)
    };
    headers.extend(preference_applied(&req.prefer, READ_PREFS));
    Ok((status, headers, body))
}

/// `/`: the schema description (OpenAPI) the statement produced.
fn root(req: &ApiRequest, result: &QueryResult) -> Parts {
    let mut headers = vec![header(
        "Content-Type",
        "application/openapi+json; charset=utf-8",
    )];
    if req.profile_given {
        headers.push(header("Content-Profile", req.schema.clone()));
    }
    (200, headers, body_bytes(result))
}

fn location(result: &QueryResult, relation: &str) -> Option<String> {
    let loc = result.location.as_deref().filter(|l| !l.is_empty())?;
    if loc.starts_with('/') {
        return Some(loc.to_string());
    }
    let query = loc.trim_start_matches('?');
    let path = utf8_percent_encode_path(relation);
    Some(format!("/{path}?{query}"))
}

fn utf8_percent_encode_path(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'/')
        .add(b'%');
    utf8_percent_encode(s, SEGMENT).to_string()
}

fn is_representation(req: &ApiRequest) -> bool {
    req.prefer.return_ == Some(ReturnPref::Representation)
}

fn create(req: &ApiRequest, result: &QueryResult, relation: &str) -> Result<Parts, ApiError> {
    fail_not_singular(req, result)?;
    let mut headers = vec![];
    headers.extend(location(result, relation).map(|l| header("Location", l)));
    let total = should_count(&req.prefer).then_some(result.page_total);
    headers.push(header("Content-Range", content_range(1, 0, total)));
    headers.extend(preference_applied(
        &req.prefer,
        Applied {
            resolution: !result.resolution_ignored,
            missing: true,
            return_: true,
            max_affected: false,
        },
    ));
    // an upsert that only updated; without `inserted` the rows count as inserted
    let merged_only = result.inserted.is_some_and(|n| n <= 0)
        && req.prefer.resolution == Some(Resolution::MergeDuplicates);
    let status = if merged_only { 200 } else { 201 };
    if is_representation(req) {
        headers.extend(content_type_headers(req));
        Ok((status, headers, body_bytes(result)))
    } else {
        Ok((status, headers, vec![]))
    }
}

const WRITE_PREFS: Applied = Applied {
    resolution: false,
    missing: true,
    return_: true,
    max_affected: true,
};

fn update(req: &ApiRequest, result: &QueryResult) -> Result<Parts, ApiError> {
    fail_not_singular(req, result)?;
    fail_max_affected(req, result)?;
    let total = should_count(&req.prefer).then_some(result.page_total);
    let mut headers = vec![header(
        "Content-Range",
        content_range(0, result.page_total - 1, total),
    )];
    headers.extend(preference_applied(&req.prefer, WRITE_PREFS));
    if is_representation(req) {
        headers.extend(content_type_headers(req));
        Ok((200, headers, body_bytes(result)))
    } else {
        Ok((204, headers, vec![]))
    }
}

fn upsert(req: &ApiRequest, result: &QueryResult) -> Result<Parts, ApiError> {
    if result.page_total != 1 {
        return Err(ApiError::put_matching_pk());
    }
    let mut headers: Vec<(String, String)> = vec![];
    let prefs = preference_applied(
        &req.prefer,
        Applied {
            resolution: false,
            missing: false,
            return_: true,
            max_affected: false,
        },
    );
    if is_representation(req) {
        headers.extend(content_type_headers(req));
        headers.extend(prefs);
        let status = if result.inserted.is_none_or(|n| n > 0) {
            201
        } else {
            200
        };
        Ok((status, headers, body_bytes(result)))
    } else {
        headers.extend(prefs);
        Ok((204, headers, vec![]))
    }
}

fn delete(req: &ApiRequest, result: &QueryResult) -> Result<Parts, ApiError> {
    fail_not_singular(req, result)?;
    fail_max_affected(req, result)?;
    let total = should_count(&req.prefer).then_some(result.page_total);
    let mut headers = vec![header("Content-Range", content_range(1, 0, total))];
    headers.extend(preference_applied(
        &req.prefer,
        Applied {
            missing: false,
            ..WRITE_PREFS
        },
    ));
    if is_representation(req) {
        headers.extend(content_type_headers(req));
        Ok((200, headers, body_bytes(result)))
    } else {
        Ok((204, headers, vec![]))
    }
}

fn call(req: &ApiRequest, result: &QueryResult) -> Result<Parts, ApiError> {
    let void = result.body.is_none();
    if !void {
        fail_not_singular(req, result)?;
    }
    fail_max_affected(req, result)?;
    let (status, range) = range_status(req, result);
    let mut headers = vec![header("Content-Range", range)];
    headers.extend(preference_applied(
        &req.prefer,
        Applied {
            max_affected: true,
            ..READ_PREFS
        },
    ));
    if void {
        return Ok((204, headers, vec![]));
    }
    let body = if status == 416 {
        headers.push(header("Content-Type", JSON_CONTENT_TYPE));
        out_of_bounds_body(req, result)
    } else {
        headers.extend(content_type_headers(req));
        body_bytes(result)
    };
    Ok((status, headers, body))
}

// ---- response.status / response.headers ----------------------------------------------------

/// `response.status` wins over the computed status; `response.headers` are added, replacing
/// ours of the same name (so a function can override Content-Type, Location, ...).
fn override_status_headers(
    result: &QueryResult,
    status: u16,
    headers: Vec<(String, String)>,
) -> Result<(u16, Vec<(String, String)>), ApiError> {
    let status = match result.response_status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_guc_status(s)?,
        None => status,
    };
    let guc = match result
        .response_headers
        .as_deref()
        .filter(|s| !s.trim().is_empty())
    {
        Some(s) => parse_guc_headers(s)?,
        None => vec![],
    };
    // Framing is the HTTP server's alone (a function's Content-Length or Transfer-Encoding
    // would desynchronize the client, or a proxy in front): such headers are dropped.
    let mut guc = guc;
    guc.retain(|(k, _)| !crate::http_server::is_framing_header(k));
    let mut out: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(k, _)| !guc.iter().any(|(g, _)| g.eq_ignore_ascii_case(k)))
        .collect();
    let mut merged = guc;
    merged.append(&mut out);
    Ok((status, merged))
}

/// A status code, read like Haskell's `decimal`: leading digits, the rest ignored. Interim
/// (1xx) codes are refused: the client would wait for a final answer that never comes.
fn parse_guc_status(s: &str) -> Result<u16, ApiError> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse::<u16>()
        .ok()
        .filter(|c| (200..=999).contains(c))
        .ok_or_else(ApiError::guc_status_error)
}

/// `[{"Name": "value"}, ...]`: objects of exactly one string-valued key.
fn parse_guc_headers(s: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(s) else {
        return Err(ApiError::guc_headers_error());
    };
    items
        .iter()
        .map(|item| match item.as_object() {
            Some(o) if o.len() == 1 => match o.iter().next() {
                Some((k, Value::String(v))) => Ok((k.clone(), v.clone())),
                _ => Err(ApiError::guc_headers_error()),
            },
            _ => Err(ApiError::guc_headers_error()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_request::{parse_preferences, MediaType};
    use crate::parse::ast::QueryParams;

    fn req(method: Method, resource: Resource, prefer: &str) -> ApiRequest {
        ApiRequest {
            method,
            resource,
            schema: "public".into(),
            prefer: parse_preferences([prefer].into_iter(), true),
            ..ApiRequest::default()
        }
    }

    /// A HEAD answer to a JSON read: 200 and the GET's headers, without the body.
    #[track_caller]
    fn assert_head_answer(r: &HttpResponse, content_range: &str) {
        assert_eq!(r.status, 200);
        assert!(r.body.is_empty());
        assert_eq!(r.header("Content-Range"), Some(content_range));
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
    }

    fn get(prefer: &str) -> ApiRequest {
        req(Method::Get, Resource::Relation("items".into()), prefer)
    }

    fn rows(page_total: i64, total: Option<i64>) -> QueryResult {
        QueryResult {
            total,
            page_total,
            body: Some("[]".into()),
            ..QueryResult::default()
        }
    }

    fn with_limit(mut r: ApiRequest, limit: Option<i64>, offset: Option<i64>) -> ApiRequest {
        r.query = QueryParams {
            limit: limit.map(|l| vec![(vec![], l)]).unwrap_or_default(),
            offset: offset.map(|o| vec![(vec![], o)]).unwrap_or_default(),
            ..QueryParams::default()
        };
        r
    }

    #[test]
    fn content_range_format() {
        assert_eq!(content_range(0, 14, None), "0-14/*");
        assert_eq!(content_range(0, 9, Some(15)), "0-9/15");
        assert_eq!(content_range(0, -1, None), "*/*");
        assert_eq!(content_range(0, -1, Some(0)), "*/0");
        assert_eq!(content_range(1, 0, Some(15)), "*/15");
        assert_eq!(content_range(1, 0, None), "*/*");
    }

    #[test]
    fn reads_have_a_canonical_content_location() {
        let r = respond(&get(""), rows(15, None)).unwrap();
        assert_eq!(r.header("Content-Location"), Some("/items"));
        let mut g = get("");
        g.query.canonical = "id=eq.1&select=id".into();
        let r = respond(&g, rows(1, None)).unwrap();
        assert_eq!(
            r.header("Content-Location"),
            Some("/items?id=eq.1&select=id")
        );
    }

    #[test]
    fn read_statuses_and_ranges() {
        let r = respond(&get(""), rows(15, None)).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Range"), Some("0-14/*"));
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(r.header("Preference-Applied"), None);
        assert_eq!(r.body, b"[]");

        let r = respond(&get("count=exact"), rows(15, Some(15))).unwrap();
        assert_eq!(
            (r.status, r.header("Content-Range")),
            (200, Some("0-14/15"))
        );
        assert_eq!(r.header("Preference-Applied"), Some("count=exact"));

        let q = with_limit(get("count=exact"), Some(5), Some(10));
        let r = respond(&q, rows(5, Some(15))).unwrap();
        assert_eq!(
            (r.status, r.header("Content-Range")),
            (206, Some("10-14/15"))
        );

        let r = respond(&get("count=exact"), rows(0, Some(0))).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (200, Some("*/0")));

        let r = respond(&get(""), rows(0, None)).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (200, Some("*/*")));

        let mut g = get("count=planned");
        g.range = Some((0, Some(2)));
        let r = respond(&g, rows(3, Some(15))).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (206, Some("0-2/15")));
        assert_eq!(r.header("Preference-Applied"), Some("count=planned"));
    }

    #[test]
    fn read_past_the_total_is_416() {
        let q = with_limit(get("count=exact"), None, Some(100));
        let r = respond(&q, rows(0, Some(15))).unwrap();
        assert_eq!(r.status, 416);
        assert_eq!(r.header("Content-Range"), Some("*/15"));
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["code"], "PGRST103");
        assert_eq!(v["message"], "Requested range not satisfiable");
        assert_eq!(
            v["details"],
            "An offset of 100 was requested, but there are only 15 rows."
        );

        let q = with_limit(get("count=exact"), None, Some(1));
        let r = respond(&q, rows(0, Some(0))).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (416, Some("*/0")));

        // without a count the offset cannot be checked
        let q = with_limit(get(""), None, Some(20));
        let r = respond(&q, rows(0, None)).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (200, Some("*/*")));
    }

    #[test]
    fn huge_offsets_do_not_overflow() {
        let mut g = get("count=exact");
        g.range = Some((i64::MAX, None));
        let r = respond(&g, rows(1, Some(3))).unwrap();
        assert_eq!(r.status, 416);
    }

    #[test]
    fn head_has_no_body() {
        let h = req(
            Method::Head,
            Resource::Relation("items".into()),
            "count=exact",
        );
        let r = respond(&h, rows(15, Some(15))).unwrap();
        assert_head_answer(&r, "0-14/15");
    }

    #[test]
    fn media_types_and_profiles() {
        let mut g = get("");
        g.accept = MediaType::Csv;
        g.profile_given = true;
        g.schema = "v2".into();
        let r = respond(&g, rows(2, None)).unwrap();
        assert_eq!(r.header("Content-Type"), Some("text/csv; charset=utf-8"));
        assert_eq!(r.header("Content-Profile"), Some("v2"));
        g.accept = MediaType::SingleObject;
        let r = respond(&g, rows(1, None)).unwrap();
        assert_eq!(
            r.header("Content-Type"),
            Some("application/vnd.pgrst.object+json; charset=utf-8")
        );
        g.accept = MediaType::SingleObjectStripped;
        let r = respond(&g, rows(1, None)).unwrap();
        assert_eq!(
            r.header("Content-Type"),
            Some("application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8")
        );
        g.accept = MediaType::OctetStream;
        let r = respond(&g, rows(1, None)).unwrap();
        assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
        let r = respond(&get(""), rows(1, None)).unwrap();
        assert_eq!(r.header("Content-Profile"), None);
    }

    #[test]
    fn singular_needs_exactly_one_row() {
        let mut g = get("");
        g.accept = MediaType::SingleObject;
        for n in [0, 2, 15] {
            let e = respond(&g, rows(n, None)).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (406, "PGRST116"));
            assert_eq!(e.details, Some(format!("The result contains {n} rows")));
        }
        // writes too, whatever `return` says
        let mut p = req(Method::Post, Resource::Relation("items".into()), "");
        p.accept = MediaType::SingleObject;
        assert_eq!(respond(&p, rows(2, None)).unwrap_err().code, "PGRST116");
        let mut d = req(Method::Delete, Resource::Relation("items".into()), "");
        d.accept = MediaType::SingleObjectStripped;
        assert_eq!(respond(&d, rows(0, None)).unwrap_err().code, "PGRST116");
        let mut c = req(Method::Get, Resource::Rpc("f".into()), "");
        c.accept = MediaType::SingleObject;
        assert_eq!(respond(&c, rows(3, None)).unwrap_err().code, "PGRST116");
    }

    #[test]
    fn insert_responses() {
        let post = |prefer: &str| req(Method::Post, Resource::Relation("projects".into()), prefer);
        let r = respond(&post(""), rows(1, None)).unwrap();
        assert_eq!(r.status, 201);
        assert!(r.body.is_empty());
        assert_eq!(r.header("Content-Type"), None);
        assert_eq!(r.header("Location"), None);
        assert_eq!(r.header("Content-Range"), Some("*/*"));

        let r = respond(&post("return=representation"), rows(1, None)).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"[]");
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            r.header("Preference-Applied"),
            Some("return=representation")
        );

        let r = respond(&post("return=minimal"), rows(1, None)).unwrap();
        assert_eq!(r.header("Preference-Applied"), Some("return=minimal"));
        assert_eq!(r.header("Content-Type"), None);

        let mut res = rows(1, None);
        res.location = Some("/projects?id=eq.16".into());
        let r = respond(&post("return=headers-only"), res.clone()).unwrap();
        assert_eq!(r.header("Location"), Some("/projects?id=eq.16"));
        assert_eq!(r.header("Preference-Applied"), Some("return=headers-only"));
        res.location = Some("id=eq.16".into());
        let r = respond(&post("return=headers-only"), res).unwrap();
        assert_eq!(r.header("Location"), Some("/projects?id=eq.16"));

        let r = respond(&post("return=representation, count=exact"), rows(2, None)).unwrap();
        assert_eq!(r.header("Content-Range"), Some("*/2"));
        assert_eq!(
            r.header("Preference-Applied"),
            Some("return=representation, count=exact")
        );
        let r = respond(
            &post("return=representation,missing=default"),
            rows(1, None),
        )
        .unwrap();
        assert_eq!(
            r.header("Preference-Applied"),
            Some("missing=default, return=representation")
        );
        let r = respond(&post("return=representation, tx=rollback"), rows(1, None)).unwrap();
        assert_eq!(
            r.header("Preference-Applied"),
            Some("return=representation, tx=rollback")
        );

        // an upsert that only updated
        let res = rows(1, None);
        let merged = QueryResult {
            inserted: Some(0),
            ..res.clone()
        };
        let merge = post("resolution=merge-duplicates");
        let r = respond(&merge, merged.clone()).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("Preference-Applied"),
            Some("resolution=merge-duplicates")
        );
        assert_eq!(respond(&merge, res.clone()).unwrap().status, 201);
        let ignore = post("resolution=ignore-duplicates");
        assert_eq!(respond(&ignore, merged).unwrap().status, 201);
        // nothing to resolve on (no primary key, no on_conflict): not applied, not echoed
        let ignored = QueryResult {
            resolution_ignored: true,
            ..rows(1, None)
        };
        let r = respond(
            &post("resolution=merge-duplicates, return=minimal"),
            ignored,
        )
        .unwrap();
        assert_eq!(r.header("Preference-Applied"), Some("return=minimal"));
    }

    #[test]
    fn update_responses() {
        let patch = |prefer: &str| req(Method::Patch, Resource::Relation("t".into()), prefer);
        let r = respond(&patch(""), rows(2, None)).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (204, Some("0-1/*")));
        assert_eq!(r.header("Content-Type"), None);
        let r = respond(&patch(""), rows(0, None)).unwrap();
        assert_eq!(r.header("Content-Range"), Some("*/*"));
        let r = respond(&patch("count=exact"), rows(2, None)).unwrap();
        assert_eq!(r.header("Content-Range"), Some("0-1/2"));
        assert_eq!(r.header("Preference-Applied"), Some("count=exact"));
        let r = respond(&patch("count=exact"), rows(0, None)).unwrap();
        assert_eq!(r.header("Content-Range"), Some("*/0"));
        let r = respond(&patch("return=representation"), rows(1, None)).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (200, Some("0-0/*")));
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        let r = respond(&patch("tx=commit"), rows(1, None)).unwrap();
        assert_eq!(r.header("Preference-Applied"), Some("tx=commit"));
    }

    #[test]
    fn max_affected() {
        let patch = |prefer: &str| req(Method::Patch, Resource::Relation("t".into()), prefer);
        let e = respond(&patch("handling=strict, max-affected=2"), rows(3, None)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST124"));
        assert_eq!(e.details.as_deref(), Some("The query affects 3 rows"));
        let r = respond(&patch("handling=strict, max-affected=2"), rows(2, None)).unwrap();
        assert_eq!(r.status, 204);
        assert_eq!(
            r.header("Preference-Applied"),
            Some("handling=strict, max-affected=2")
        );
        let r = respond(&patch("handling=lenient, max-affected=1"), rows(5, None)).unwrap();
        assert_eq!(r.header("Preference-Applied"), Some("handling=lenient"));
        let del = req(
            Method::Delete,
            Resource::Relation("t".into()),
            "handling=strict, max-affected=2",
        );
        assert_eq!(respond(&del, rows(3, None)).unwrap_err().code, "PGRST124");
        let call = req(
            Method::Post,
            Resource::Rpc("f".into()),
            "handling=strict, max-affected=1",
        );
        assert_eq!(respond(&call, rows(2, None)).unwrap_err().code, "PGRST124");
        // reads and inserts ignore it
        let g = get("handling=strict, max-affected=1");
        assert_eq!(respond(&g, rows(2, None)).unwrap().status, 200);
    }

    #[test]
    fn delete_responses() {
        let del = |prefer: &str| req(Method::Delete, Resource::Relation("t".into()), prefer);
        let r = respond(&del(""), rows(1, None)).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (204, Some("*/*")));
        let r = respond(&del("count=exact"), rows(2, None)).unwrap();
        assert_eq!(r.header("Content-Range"), Some("*/2"));
        assert_eq!(r.header("Preference-Applied"), Some("count=exact"));
        let r = respond(&del("return=representation"), rows(0, None)).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"[]");
        assert_eq!(
            r.header("Preference-Applied"),
            Some("return=representation")
        );
    }

    #[test]
    fn put_responses() {
        let put = |prefer: &str| req(Method::Put, Resource::Relation("t".into()), prefer);
        let r = respond(&put("return=representation"), rows(1, None)).unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(r.header("Content-Range"), None);
        let updated = QueryResult {
            inserted: Some(0),
            ..rows(1, None)
        };
        let r = respond(&put("return=representation"), updated.clone());
        assert_eq!(r.unwrap().status, 200);
        assert_eq!(respond(&put(""), updated).unwrap().status, 204);
        let r = respond(&put(""), rows(1, None)).unwrap();
        assert_eq!(r.status, 204);
        let e = respond(&put(""), rows(0, None)).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST115"));
    }

    #[test]
    fn rpc_responses() {
        let call = |m: Method, prefer: &str| req(m, Resource::Rpc("f".into()), prefer);
        let mut res = rows(1, Some(1));
        res.body = Some("7".into());
        let r = respond(&call(Method::Get, "count=exact"), res).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (200, Some("0-0/1")));
        assert_eq!(r.body, b"7");

        let q = with_limit(call(Method::Get, ""), Some(3), Some(1));
        let r = respond(&q, rows(3, None)).unwrap();
        assert_eq!(r.header("Content-Range"), Some("1-3/*"));

        let q = with_limit(call(Method::Get, "count=exact"), Some(2), None);
        let r = respond(&q, rows(2, Some(8))).unwrap();
        assert_eq!((r.status, r.header("Content-Range")), (206, Some("0-1/8")));

        let void = QueryResult {
            page_total: 1,
            ..QueryResult::default()
        };
        let r = respond(&call(Method::Post, ""), void).unwrap();
        assert_eq!(r.status, 204);
        assert!(r.body.is_empty());
        assert_eq!(r.header("Content-Type"), None);

        let q = with_limit(call(Method::Head, ""), Some(1), Some(1));
        let r = respond(&q, rows(1, None)).unwrap();
        assert_head_answer(&r, "1-1/*");
    }

    #[test]
    fn guc_overrides() {
        let call = req(Method::Post, Resource::Rpc("f".into()), "");
        let mut res = rows(1, None);
        res.response_status = Some("202".into());
        res.response_headers = Some(
            r#"[{"Set-Cookie": "a=1"}, {"Set-Cookie": "b=2"}, {"Content-Type": "text/html"}]"#
                .into(),
        );
        let r = respond(&call, res).unwrap();
        assert_eq!(r.status, 202);
        let cookies: Vec<&str> = r
            .headers
            .iter()
            .filter(|(k, _)| k == "Set-Cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, vec!["a=1", "b=2"]);
        let cts: Vec<&(String, String)> = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .collect();
        assert_eq!(cts.len(), 1);
        assert_eq!(r.header("Content-Type"), Some("text/html"));

        for bad in [
            r#"{"a":"b"}"#,
            r#"[{"a":"b","c":"d"}]"#,
            r#"[{"a":1}]"#,
            "nope",
            "[1]",
        ] {
            let mut res = rows(1, None);
            res.response_headers = Some(bad.into());
            let e = respond(&call, res).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (500, "PGRST111"), "{bad}");
        }
        for bad in ["abc", "99999", "42", "101", "199"] {
            let mut res = rows(1, None);
            res.response_status = Some(bad.into());
            let e = respond(&call, res).unwrap_err();
            assert_eq!((e.status, e.code.as_str()), (500, "PGRST112"), "{bad}");
        }
        let mut res = rows(1, None);
        res.response_status = Some("418 teapot".into());
        res.response_headers = Some(String::new());
        assert_eq!(respond(&call, res).unwrap().status, 418);

        // framing headers are the server's: dropped, the others kept
        let mut res = rows(1, None);
        res.response_headers = Some(
            r#"[{"Content-Length": "0"}, {"transfer-encoding": "chunked"}, {"Connection": "close"},
                {"Upgrade": "h2c"}, {"X-Kept": "1"}]"#
                .into(),
        );
        let r = respond(&call, res).unwrap();
        for gone in [
            "Content-Length",
            "Transfer-Encoding",
            "Connection",
            "Upgrade",
        ] {
            assert_eq!(r.header(gone), None, "{gone}");
        }
        assert_eq!(r.header("X-Kept"), Some("1"));
    }

    #[test]
    fn error_responses() {
        let e = ApiError::from_postgres(
            "42501",
            "permission denied for table posts",
            None,
            None,
            true,
        );
        let r = error_response(&e);
        assert_eq!(r.status, 401);
        assert_eq!(r.header("WWW-Authenticate"), Some("Bearer"));
        assert_eq!(
            r.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["message"], "permission denied for table posts");
        assert!(v["details"].is_null());

        let e = ApiError::from_postgres(
            "PGRST",
            r#"{"code":"x","message":"m"}"#,
            Some(r#"{"status":402,"headers":{"Content-Type":"application/problem+json"}}"#),
            None,
            false,
        );
        let r = error_response(&e);
        assert_eq!((r.status, r.reason.as_deref()), (402, None));
        assert_eq!(r.header("Content-Type"), Some("application/problem+json"));
        let e = ApiError::from_postgres(
            "PGRST",
            r#"{"code":"x","message":"m"}"#,
            Some(r#"{"status":409,"status_text":"Locked Shelf","headers":{}}"#),
            None,
            false,
        );
        assert_eq!(error_response(&e).reason.as_deref(), Some("Locked Shelf"));
        assert_eq!(
            r.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .count(),
            1
        );
    }

    #[test]
    fn options() {
        let o = req(Method::Options, Resource::Rpc("f".into()), "");
        let r = respond(&o, QueryResult::default()).unwrap();
        assert_eq!(
            (r.status, r.header("Allow")),
            (200, Some("OPTIONS,GET,HEAD,POST"))
        );
    }
}
