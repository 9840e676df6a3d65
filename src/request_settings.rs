//! The values of the `request.*` settings a request's SQL reads (`request.headers`,
//! `request.path`), built as text directly: they are set on every request.

use crate::api_request::{ApiRequest, Resource};

/// `request.headers`: a JSON object of the request's headers (lower-case names), in arrival
/// order; a repeated header keeps its first position and its last value.
pub fn headers_json(headers: &[(String, String)]) -> String {
    let size: usize = headers.iter().map(|(k, v)| k.len() + v.len() + 6).sum();
    let mut out = String::with_capacity(size + 2);
    out.push('{');
    let mut first = true;
    for (i, (name, _)) in headers.iter().enumerate() {
        if headers[..i].iter().any(|(k, _)| k == name) {
            continue;
        }
        let value = headers[i..]
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str());
        if !first {
            out.push(',');
        }
        first = false;
        push_json_string(&mut out, name);
        out.push(':');
        push_json_string(&mut out, value);
    }
    out.push('}');
    out
}

/// `request.path`: the resource's path.
pub fn path(req: &ApiRequest) -> String {
    match &req.resource {
        Resource::Relation(n) => format!("/{n}"),
        Resource::Rpc(n) => format!("/rpc/{n}"),
        Resource::Root => "/".to_string(),
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `request.headers` was built with before: a serde_json map.
    fn with_serde(headers: &[(String, String)]) -> String {
        let map: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::Value::Object(map).to_string()
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn headers_json_is_what_serde_json_writes() {
        let controls: String = (0u8..0x20).map(char::from).collect();
        for headers in [
            h(&[]),
            h(&[("accept", "*/*")]),
            h(&[
                ("host", "localhost:3000"),
                ("x-a", "1"),
                ("x-b", "q\"u\\o/te"),
                ("x-a", "2"),
                ("x-c", "é ü 漢 \u{7f}"),
                ("x-b", "last"),
            ]),
            h(&[("x-ctl", &controls), ("x-empty", "")]),
        ] {
            let ours = headers_json(&headers);
            assert_eq!(ours, with_serde(&headers));
            let back: serde_json::Value = serde_json::from_str(&ours).unwrap();
            assert!(back.is_object());
        }
    }
}
