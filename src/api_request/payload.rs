//! The request body -> a [`Payload`]: JSON, CSV or a form, checked (valid, objects with the
//! same keys) and ready to be passed to the statement as one JSON bind parameter.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::media_types::essence;
use super::{ApiRequest, BodyType};
use crate::error::ApiError;

/// A checked request body, ready to be passed as one JSON parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// JSON text: an object or an array of objects
    pub json: String,
    /// the keys to read from each object (payload keys or `?columns=`), in order, no duplicates
    pub keys: Vec<String>,
    /// the parsed rows, when the body was parsed (not for raw JSON with `?columns=`)
    pub rows: Option<Vec<Map<String, Value>>>,
}

impl Payload {
    /// Does the JSON text look like an object (vs an array)?
    pub fn is_object(&self) -> bool {
        self.json.trim_start().starts_with('{')
    }
}

/// The request's Content-Type as PostgREST names it in errors (`text/plain`).
pub fn content_mime(req: &ApiRequest) -> String {
    req.header("content-type")
        .map(essence)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

/// Reads the body of a table write (JSON, CSV or a form) into a [`Payload`].
pub fn table_payload(req: &ApiRequest) -> Result<Payload, ApiError> {
    match req.content_type {
        BodyType::Json => json_payload(&req.body, req.query.columns.as_deref(), false),
        BodyType::Csv => {
            let rows = csv_rows(&req.body)?;
            payload_from_value(Value::Array(rows.into_iter().map(Value::Object).collect()))
                .map(|p| with_columns(p, req.query.columns.as_deref()))
        }
        BodyType::FormUrlEncoded => {
            let mut obj = Map::new();
            for (k, v) in form_pairs(&req.body) {
                obj.insert(k, Value::String(v));
            }
            payload_from_value(Value::Object(obj))
                .map(|p| with_columns(p, req.query.columns.as_deref()))
        }
        _ => Err(ApiError::content_type_not_acceptable(&content_mime(req))),
    }
}

fn with_columns(mut p: Payload, columns: Option<&[String]>) -> Payload {
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
pub fn json_payload(
    body: &[u8],
    columns: Option<&[String]>,
    empty_is_object: bool,
) -> Result<Payload, ApiError> {
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
        return Ok(Payload {
            json,
            keys: dedup(cols),
            rows: None,
        });
    }
    payload_from_value(value)
}

/// Checks an already-parsed body: an object, or an array of objects with the same keys
/// (anything else counts as an empty array, like PostgREST).
pub fn payload_from_value(value: Value) -> Result<Payload, ApiError> {
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
            return Ok(Payload {
                json,
                keys,
                rows: Some(rows),
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
    Ok(Payload {
        json,
        keys,
        rows: Some(rows),
    })
}

/// CSV with a header row -> objects of strings; the unquoted field `NULL` is SQL null.
pub fn csv_rows(body: &[u8]) -> Result<Vec<Map<String, Value>>, ApiError> {
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
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
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
