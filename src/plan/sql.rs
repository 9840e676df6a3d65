//! Small SQL-text helpers shared by the read, mutation and RPC planners: identifier quoting, the
//! bind-parameter collector and casts. Values never go into SQL text: only `$n` placeholders.

use crate::error::ApiError;

/// `"name"` with embedded double quotes doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// Collects bind parameters; `$n` numbering follows the push order. Equal values share one
/// placeholder so that the same expression (e.g. a JSON key in SELECT and GROUP BY) is textually
/// identical, which Postgres needs to match grouped expressions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    pub values: Vec<Option<String>>,
    /// value -> its index in `values`: finding a shared placeholder must not cost a scan per
    /// value (a long `or=(...)` would be quadratic)
    index: std::collections::HashMap<String, usize>,
}

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    /// Adds a value and returns its placeholder (`$n`), uncast (text).
    pub fn push(&mut self, value: &str) -> String {
        if let Some(&i) = self.index.get(value) {
            return format!("${}", i + 1);
        }
        self.values.push(Some(value.to_string()));
        self.index.insert(value.to_string(), self.values.len() - 1);
        format!("${}", self.values.len())
    }

    /// `$n::<ty>`; `ty` must come from the schema cache (or be a fixed type name). Goes
    /// through [`cast_type`], so a `character(2)` column's value is not cut to one character.
    pub fn cast(&mut self, value: &str, ty: &str) -> String {
        format!("{}::{}", self.push(value), cast_type(ty))
    }
}

/// The schema cache's type name (`format_type` without a typmod) as a cast target that keeps
/// the value whole. Two SQL-standard names imply a length when written bare: `character` is
/// `character(1)` and `bit` is `bit(1)`, so `'DZ'::character` is `'D'`. Their typmod-free
/// spellings, `bpchar` and `"bit"`, take any length (as PostgREST's untyped literals, resolved
/// by Postgres against the column's type, do). Every other `format_type` name (`numeric`,
/// `character varying`, `timestamp without time zone`, `time with time zone`, `bit varying`,
/// `interval`) already means "no typmod".
pub fn cast_type(ty: &str) -> std::borrow::Cow<'_, str> {
    let base = ty.trim_end_matches("[]");
    let dims = &ty[base.len()..];
    match base {
        "character" => format!("bpchar{dims}").into(),
        "bit" => format!("\"bit\"{dims}").into(),
        _ => ty.into(),
    }
}

/// An array literal (`{"a","b"}`) of the given elements, each quoted, for `$n::type[]`.
pub fn array_literal(values: &[String]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|v| format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Checks a user-written cast type (`select=col::type`): only names, spaces, digits, brackets,
/// dots, parentheses and commas (`numeric(10,2)`, `character varying`, `text[]`). Postgres itself
/// then reports an unknown type (42704).
pub fn checked_cast_type(ty: &str) -> Result<&str, ApiError> {
    let mut in_parens = false;
    let mut ok = !ty.trim().is_empty();
    for c in ty.chars() {
        ok &= match c {
            '(' if !in_parens => {
                in_parens = true;
                true
            }
            ')' if in_parens => {
                in_parens = false;
                true
            }
            ',' => in_parens,
            c if in_parens => c.is_ascii_digit() || c == ' ',
            c => c.is_alphanumeric() || matches!(c, '_' | ' ' | '.' | '[' | ']'),
        };
    }
    if ok && !in_parens {
        Ok(ty)
    } else {
        Err(ApiError::parse_error(
            "\"failed to parse select parameter\"",
            format!("invalid cast type {ty}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(qualified("public", "t"), "\"public\".\"t\"");
    }

    #[test]
    fn params_number_and_dedupe() {
        let mut p = Params::new();
        assert_eq!(p.push("a"), "$1");
        assert_eq!(p.cast("b", "integer"), "$2::integer");
        assert_eq!(p.push("a"), "$1");
        assert_eq!(p.values.len(), 2);
    }

    #[test]
    fn casts_keep_the_whole_value_of_length_types() {
        assert_eq!(cast_type("character"), "bpchar");
        assert_eq!(cast_type("character[]"), "bpchar[]");
        assert_eq!(cast_type("bit"), "\"bit\"");
        assert_eq!(cast_type("bit[][]"), "\"bit\"[][]");
        for same in [
            "character varying",
            "bit varying",
            "numeric",
            "timestamp without time zone",
            "public.character",
            "text[]",
        ] {
            assert_eq!(cast_type(same), same);
        }
        let mut p = Params::new();
        assert_eq!(p.cast("DZ", "character"), "$1::bpchar");
        assert_eq!(p.cast("{DZ}", "character[]"), "$2::bpchar[]");
    }

    #[test]
    fn arrays_are_quoted() {
        assert_eq!(
            array_literal(&["a,b".into(), "c\"d".into(), "e\\f".into()]),
            r#"{"a,b","c\"d","e\\f"}"#
        );
    }

    #[test]
    fn cast_types() {
        assert!(checked_cast_type("numeric(10,2)").is_ok());
        assert!(checked_cast_type("text[]").is_ok());
        assert!(checked_cast_type("int); drop table x").is_err());
        assert!(checked_cast_type("integer), (select 1").is_err());
    }
}
