//! The request body -> a [`Payload`] (PostgREST's `Payload`): JSON, CSV or a form, checked
//! (valid, objects with the same keys) and ready to be passed to the statement as one JSON bind
//! parameter. Decoded while the [`ApiRequest`](super::ApiRequest) is built, before the target
//! is looked up, so a malformed body is reported before an unknown table or function (as
//! PostgREST). What needs the target's columns (`columns=` against the table, argument types)
//! is the planner's.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{BodyType, Method, Resource};
use crate::error::ApiError;

/// A request body, decoded for the endpoint it goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// JSON or CSV (any write), or a form (a table write): objects with the same keys
    Json(JsonPayload),
    /// a form body of a call (or a GET call's query string): name/value pairs, repeated names
    /// allowed (variadic)
    Pairs(Vec<(String, String)>),
    /// a `text/plain` or `application/octet-stream` body of a call
    Raw(Vec<u8>),
}

/// A checked JSON body, ready to be passed as one JSON parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPayload {
    /// JSON text: an object or an array of objects
    pub json: String,
    /// the keys to read from each object (payload keys or `?columns=`), in order, no duplicates
    pub keys: Vec<String>,
    /// the parsed rows, when the body was parsed (not for raw JSON with `?columns=`)
    pub rows: Option<Vec<Map<String, Value>>>,
    /// a call's JSON body as sent (`{}` when empty), for a single unnamed json parameter;
    /// `None`: `json` is the body
    pub raw: Option<String>,
}

impl JsonPayload {
    /// Does the JSON text look like an object (vs an array)?
    pub fn is_object(&self) -> bool {
        self.json.trim_start().starts_with('{')
    }

    /// The text a single unnamed json/jsonb parameter of a call takes.
    pub fn raw(&self) -> &str {
        self.raw.as_deref().unwrap_or(&self.json)
    }
}

/// The body of a request, decoded as its endpoint reads it: table writes (POST, PUT, PATCH)
/// and calls (POST) have one; every other request's body is ignored (`None`), as PostgREST's.
/// `content_mime` is the Content-Type as errors name it.
pub(crate) fn decode(
    method: Method,
    resource: &Resource,
    content_type: BodyType,
    content_mime: impl FnOnce() -> String,
    body: &[u8],
    columns: Option<&[String]>,
) -> Result<Option<Payload>, ApiError> {
    match (resource, method) {
        (Resource::Relation(_), Method::Post | Method::Put | Method::Patch) => {
            table_payload(content_type, content_mime, body, columns).map(Some)
        }
        (Resource::Rpc(_), Method::Post) => {
            call_payload(content_type, content_mime, body, columns).map(Some)
        }
        _ => Ok(None),
    }
}

/// The body of a table write (JSON, CSV or a form).
fn table_payload(
    content_type: BodyType,
    content_mime: impl FnOnce() -> String,
    body: &[u8],
    columns: Option<&[String]>,
) -> Result<Payload, ApiError> {
    let payload = match content_type {
        BodyType::Json => json_payload(body, columns, false)?,
        BodyType::Csv => with_columns(csv_payload(body)?, columns),
        BodyType::FormUrlEncoded => {
            let mut obj = Map::new();
            for (k, v) in form_pairs(body) {
                obj.insert(k, Value::String(v));
            }
            with_columns(payload_from_value(Value::Object(obj))?, columns)
        }
        _ => return Err(ApiError::content_type_not_acceptable(&content_mime())),
    };
    Ok(Payload::Json(payload))
}

/// The body of a call: JSON (empty: no arguments), CSV, a form (name/value pairs), or raw
/// text/bytes for a single unnamed parameter.
fn call_payload(
    content_type: BodyType,
    content_mime: impl FnOnce() -> String,
    body: &[u8],
    columns: Option<&[String]>,
) -> Result<Payload, ApiError> {
    Ok(match content_type {
        BodyType::Json => {
            let mut payload = json_payload(body, columns, true)?;
            let raw = String::from_utf8_lossy(body);
            payload.raw = Some(if raw.trim().is_empty() {
                "{}".to_string()
            } else {
                raw.into_owned()
            });
            Payload::Json(payload)
        }
        BodyType::FormUrlEncoded => Payload::Pairs(form_pairs(body)),
        BodyType::Csv => Payload::Json(csv_payload(body)?),
        BodyType::TextPlain | BodyType::OctetStream => Payload::Raw(body.to_vec()),
        BodyType::Other => return Err(ApiError::content_type_not_acceptable(&content_mime())),
    })
}

fn csv_payload(body: &[u8]) -> Result<JsonPayload, ApiError> {
    let rows = csv_rows(body)?;
    payload_from_value(Value::Array(rows.into_iter().map(Value::Object).collect()))
}

fn with_columns(mut p: JsonPayload, columns: Option<&[String]>) -> JsonPayload {
    if let Some(cols) = columns {
        p.keys = dedup(cols);
    }
    p
}

fn dedup(cols: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    cols.iter()
        .filter(|c| seen.insert(c.as_str()))
        .cloned()
        .collect()
}

/// A JSON body. With `?columns=` the body is passed as is (PostgREST does not inspect it then,
/// but it must still be JSON); otherwise its objects must all have the same keys.
/// `empty_is_object`: an empty body counts as `{}` (RPC).
fn json_payload(
    body: &[u8],
    columns: Option<&[String]>,
    empty_is_object: bool,
) -> Result<JsonPayload, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::invalid_json_body())?;
    let value: Value = if text.trim().is_empty() && empty_is_object {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(text).map_err(|_| ApiError::invalid_json_body())?
    };
    if let Some(cols) = columns {
        let json = match value {
            Value::Object(_) | Value::Array(_) => text.to_string(),
            _ => "[]".to_string(),
        };
        return Ok(JsonPayload {
            json,
            keys: dedup(cols),
            rows: None,
            raw: None,
        });
    }
    payload_from_value(value)
}

/// Checks an already-parsed body: an object, or an array of objects with the same keys
/// (anything else counts as an empty array, like PostgREST).
fn payload_from_value(value: Value) -> Result<JsonPayload, ApiError> {
    let rows: Vec<Map<String, Value>> = match value {
        Value::Object(o) => vec![o],
        Value::Array(items) => {
            let mut rows = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Object(o) => rows.push(o),
                    _ => return Err(ApiError::keys_do_not_match()),
                }
            }
            if let Some(first) = rows.first() {
                let keys: BTreeSet<&String> = first.keys().collect();
                if rows
                    .iter()
                    .any(|r| r.len() != keys.len() || !r.keys().all(|k| keys.contains(k)))
                {
                    return Err(ApiError::keys_do_not_match());
                }
            }
            let json = Value::Array(rows.iter().cloned().map(Value::Object).collect()).to_string();
            let keys = rows
                .first()
                .map(|r| r.keys().cloned().collect())
                .unwrap_or_default();
            return Ok(JsonPayload {
                json,
                keys,
                rows: Some(rows),
                raw: None,
            });
        }
        _ => vec![],
    };
    let json = match rows.first() {
        Some(o) if rows.len() == 1 => Value::Object(o.clone()).to_string(),
        _ => "[]".to_string(),
    };
    let keys = rows
        .first()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default();
    Ok(JsonPayload {
        json,
        keys,
        rows: Some(rows),
        raw: None,
    })
}

/// CSV with a header row -> objects of strings; the unquoted field `NULL` is SQL null.
fn csv_rows(body: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(body);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| ApiError::invalid_body(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = vec![];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| ApiError::invalid_body(e.to_string()))?;
        if rec.len() != headers.len() {
            return Err(ApiError::csv_fields_do_not_match());
        }
        let mut obj = Map::new();
        for (h, v) in headers.iter().zip(rec.iter()) {
            let v = if v == "NULL" {
                Value::Null
            } else {
                Value::String(v.to_string())
            };
            obj.insert(h.clone(), v);
        }
        rows.push(obj);
    }
    Ok(rows)
}

/// `a=1&b=x+y` -> `[("a","1"), ("b","x y")]`, percent-decoded.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        percent_encoding::percent_decode_str(&s)
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}
