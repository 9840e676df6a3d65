//! `jwt_role_claim_key`: where the role is in the claims. Two spellings are accepted:
//! PostgREST's JSPath (`.role`, `.app_metadata.role`, `."https://x".role`, `.roles[0]`,
//! `.roles[?(@ == "admin")]`) and the RFC 9535 JSONPath subset PostgREST 16 uses (`$.role`,
//! `$.app_metadata.role`, `$["https://x"].role`, `$['a b'][0]`).

use serde_json::Value;

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// `.key`, `."key with chars"`, `['key']`
    Key(String),
    /// `[0]`
    Index(usize),
    /// `[?(@ == "x")]` and friends: the first string element of an array that matches
    Filter(FilterOp, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Equals,
    NotEquals,
    StartsWith,
    EndsWith,
    Contains,
}

pub fn parse(s: &str) -> Result<Vec<PathStep>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty path".into());
    }
    match s.strip_prefix('$') {
        Some(rest) => parse_steps(rest, true),
        None => parse_steps(s, false),
    }
}

fn parse_steps(mut rest: &str, rfc9535: bool) -> Result<Vec<PathStep>, String> {
    let mut steps = vec![];
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if let Some(r) = r.strip_prefix('"').filter(|_| !rfc9535) {
                let end = r.find('"').ok_or("unterminated quoted key")?;
                steps.push(PathStep::Key(r[..end].to_string()));
                rest = &r[end + 1..];
            } else {
                let end = r
                    .find(|c: char| !(c.is_alphanumeric() || "_$@-".contains(c)))
                    .unwrap_or(r.len());
                if end == 0 {
                    return Err("expected a key after '.'".into());
                }
                steps.push(PathStep::Key(r[..end].to_string()));
                rest = &r[end..];
            }
        } else if let Some(r) = rest.strip_prefix("[?(") {
            let (step, r) = parse_filter(r)?;
            steps.push(step);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")) {
            let quote = rest.as_bytes()[1] as char;
            let end = r.find(quote).ok_or("unterminated quoted key")?;
            let key = r[..end].to_string();
            let r = r[end + 1..].strip_prefix(']').ok_or("expected ']'")?;
            steps.push(PathStep::Key(key));
            rest = r;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unterminated index")?;
            let idx = r[..end]
                .trim()
                .parse::<usize>()
                .map_err(|_| "index must be a number")?;
            steps.push(PathStep::Index(idx));
            rest = &r[end + 1..];
        } else {
            return Err(format!("unexpected '{rest}'"));
        }
    }
    Ok(steps)
}

fn parse_filter(r: &str) -> Result<(PathStep, &str), String> {
    let r = r
        .strip_prefix('@')
        .ok_or("expected '@' in filter")?
        .trim_start();
    let (op, r) = [
        ("==^", FilterOp::EndsWith),
        ("==", FilterOp::Equals),
        ("!=", FilterOp::NotEquals),
        ("^==", FilterOp::StartsWith),
        ("*==", FilterOp::Contains),
    ]
    .iter()
    .find_map(|(t, op)| r.strip_prefix(t).map(|r| (*op, r)))
    .ok_or("unknown filter operator")?;
    let r = r
        .trim_start()
        .strip_prefix('"')
        .ok_or("expected a quoted value")?;
    let end = r.find('"').ok_or("unterminated quoted value")?;
    let value = r[..end].to_string();
    let r = r[end + 1..].strip_prefix(")]").ok_or("expected ')]'")?;
    if !r.is_empty() {
        return Err("a filter must be the last step".into());
    }
    Ok((PathStep::Filter(op, value), r))
}

pub fn walk<'a>(v: &'a Value, path: &[PathStep]) -> Option<&'a Value> {
    let Some((step, rest)) = path.split_first() else {
        return Some(v);
    };
    match (step, v) {
        (PathStep::Key(k), Value::Object(o)) => walk(o.get(k)?, rest),
        (PathStep::Index(i), Value::Array(a)) => walk(a.get(*i)?, rest),
        (PathStep::Filter(op, pattern), Value::Array(a)) => a.iter().find(|item| {
            item.as_str().is_some_and(|s| match op {
                FilterOp::Equals => s == pattern,
                FilterOp::NotEquals => s != pattern,
                FilterOp::StartsWith => s.starts_with(pattern.as_str()),
                FilterOp::EndsWith => s.ends_with(pattern.as_str()),
                FilterOp::Contains => s.contains(pattern.as_str()),
            })
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn get(path: &str, v: &Value) -> Option<Value> {
        walk(v, &parse(path).unwrap()).cloned()
    }

    #[test]
    fn both_spellings_reach_the_same_claims() {
        let v = json!({"role": "r", "app_metadata": {"role": "n", "roles": ["a", "b"]},
                       "https://x.io/c": {"role": "q"}});
        for (a, b) in [
            (".role", "$.role"),
            (".app_metadata.role", "$.app_metadata.role"),
            (".\"https://x.io/c\".role", "$[\"https://x.io/c\"].role"),
            (".\"https://x.io/c\".role", "$['https://x.io/c']['role']"),
            (".app_metadata.roles[1]", "$.app_metadata.roles[1]"),
        ] {
            assert_eq!(get(a, &v), get(b, &v), "{a} vs {b}");
            assert!(get(a, &v).is_some(), "{a}");
        }
        assert_eq!(get("$", &v), Some(v.clone()));
    }

    #[test]
    fn bad_paths() {
        for p in [
            "",
            "role",
            "$role",
            ".",
            "$.",
            "$[",
            "$['x'",
            ".a[x]",
            ".a[?(@ ~ \"x\")]",
        ] {
            assert!(parse(p).is_err(), "{p}");
        }
    }
}
