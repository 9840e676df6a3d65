//! The PostgREST query grammar: query string -> [`ast::QueryParams`].
//!
//! Pure Rust (nom), no Postgres: a malformed query never reaches the database.
//!
//! Submodules, one grammar each: `query_string` (splitting, decoding), `select`, `filter`
//! (operators and values), `logic` (and/or trees), `order`, `field` (names, JSON paths, filter
//! keys); `lex` holds the error type and primitives that make PGRST100 details read like
//! PostgREST's (`unexpected "x" expecting ...`, with the column).
//!
//! Like PostgREST's parser, a parameter may end before its value does: what follows a complete
//! `select`, filter, logic tree, `columns` or key is ignored (`select=id,b(c))`, `is.nullx`).
//! `order`, `limit` and `offset` must be complete.

// `ApiError` is the project-wide error; a parse error is the cold path.
#![allow(clippy::result_large_err)]

pub mod ast;
mod field;
mod filter;
mod lex;
mod logic;
mod order;
mod query_string;
mod select;

use crate::error::ApiError;
use ast::{EmbedPath, Filter, QueryParams};
use lex::{eoi, Res};

/// Parses a raw (still percent-encoded) query string.
///
/// `is_rpc` is for RPC calls whose arguments come in the query string (GET/HEAD): then every
/// non-reserved parameter goes, unparsed, to `rpc_args`, and the planner decides which ones are
/// arguments and which are filters ([`parse_filter`]). A POST to a function passes `false`: its
/// query string holds filters only (PostgREST answers PGRST100 to `POST /rpc/f?a=1`).
pub fn parse_query(query: &str, is_rpc: bool) -> Result<QueryParams, ApiError> {
    let mut select: Option<Option<String>> = None;
    let mut columns: Option<Option<String>> = None;
    let mut on_conflict: Option<Option<String>> = None;
    let mut orders = vec![];
    let mut logic = vec![];
    let mut limits = vec![];
    let mut offsets = vec![];
    let mut filters = vec![];

    for (key, value) in query_string::decode_pairs(query) {
        // The first occurrence of these counts, even without a value (PostgREST's lookup).
        let slot = match key.as_str() {
            "select" => Some(&mut select),
            "columns" => Some(&mut columns),
            "on_conflict" => Some(&mut on_conflict),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.is_none() {
                *slot = Some(value);
            }
            continue;
        }
        // Everything else needs `=`: a bare `?flag` is ignored.
        let Some(value) = value else { continue };
        match key.rsplit('.').next().unwrap_or_default() {
            "order" => orders.push((key, value)),
            "limit" => limits.push((key, value)),
            "offset" => offsets.push((key, value)),
            "and" | "or" => logic.push((key, value)),
            _ => filters.push((key, value)),
        }
    }

    let mut q = QueryParams::default();
    // Same order of checks as PostgREST, so the first error reported is the same.
    for (key, value) in orders {
        let path = reserved_key_path(&key)?;
        let terms = run_all(&value, "order", &value, order::order_param)?;
        q.order.push((path, terms));
    }
    for (key, value) in logic {
        q.logic.push(parse_logic(&key, &value)?);
    }
    if let Some(Some(cols)) = columns {
        q.columns = Some(run(&cols, "columns parameter", &cols, column_list)?);
    }
    if let Some(Some(sel)) = select {
        q.has_select = true;
        q.select = run(&sel, "select parameter", &sel, select::select_param)?;
    }
    for (key, value) in filters {
        if is_rpc {
            q.rpc_args.push((key, value));
        } else {
            q.filters.push(parse_filter(&key, &value)?);
        }
    }
    if let Some(Some(oc)) = on_conflict {
        q.on_conflict = Some(run(&oc, "on_conflict parameter", &oc, column_list)?);
    }
    for (key, value) in limits {
        let path = reserved_key_path(&key)?;
        let n = parse_limit(&value)?;
        set_last(&mut q.limit, path, n);
    }
    for (key, value) in offsets {
        let path = reserved_key_path(&key)?;
        let n = parse_offset(&value)?;
        set_last(&mut q.offset, path, n);
    }
    q.canonical = query_string::canonical(query);
    Ok(q)
}

/// Parses one filter parameter, already percent-decoded: `books.rating` = `gte.5`.
pub fn parse_filter(key: &str, value: &str) -> Result<(EmbedPath, Filter), ApiError> {
    let (path, field) = run(key, "tree path", key, field::tree_path)?;
    let (negated, operation) = run(value, "filter", value, |i| {
        filter::op_expr(i, filter::ValueMode::Rest)
    })?;
    Ok((
        path,
        Filter {
            field,
            negated,
            operation,
        },
    ))
}

/// Runs a parser; like PostgREST's, it may stop before the end of the input, and the rest is
/// ignored (`select=id,b(c))`, `is.nullx`, `or=(a.eq.1))` pass in PostgREST, and its own test
/// suite has such queries).
fn run<'a, T>(
    whole: &'a str,
    what: &str,
    shown: &str,
    p: impl FnOnce(&'a str) -> Res<'a, T>,
) -> Result<T, ApiError> {
    match p(whole) {
        Ok((_rest, v)) => Ok(v),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => Err(e.to_api_error(whole, what, shown)),
        Err(nom::Err::Incomplete(_)) => Err(ApiError::parse_error(
            format!("\"failed to parse {what} ({shown})\" (line 1, column 1)"),
            "unexpected end of input",
        )),
    }
}

/// [`run`] for a parser that must consume the whole input.
fn run_all<'a, T>(
    whole: &'a str,
    what: &str,
    shown: &str,
    p: impl FnOnce(&'a str) -> Res<'a, T>,
) -> Result<T, ApiError> {
    run(whole, what, shown, |i| {
        let (i, v) = p(i)?;
        let (i, _) = eoi(i)?;
        Ok((i, v))
    })
}

/// The embed path of `books.reviews.order` / `books.limit`: all but the last name.
fn reserved_key_path(key: &str) -> Result<EmbedPath, ApiError> {
    let (path, _field) = run(key, "tree path", key, field::tree_path)?;
    Ok(path)
}

fn parse_logic(key: &str, value: &str) -> Result<(EmbedPath, ast::LogicTree), ApiError> {
    let names = run(key, "logic path", key, |i| {
        let (i, (names, _)) = lex::sep_by1(field::field_name, lex::ch('.'))(i)?;
        Ok((i, names))
    })?;
    let negated = names.iter().any(|n| n == "not");
    let mut names: Vec<String> = names.into_iter().filter(|n| n != "not").collect();
    let op = names.pop().unwrap_or_default();
    // Parsed as `[not.]op(...)` so that `or=(...)` and a nested `or(...)` share one grammar;
    // columns in errors count from that text, as PostgREST's do.
    let text = format!("{}{op}{value}", if negated { "not." } else { "" });
    let tree = run(&text, "logic tree", value, logic::logic_expr)?;
    Ok((names, tree))
}

/// `a, b,"c d"`
fn column_list(i: &str) -> Res<'_, Vec<String>> {
    let comma = |i| {
        let (i, _) = lex::ws(i)?;
        let (i, c) = lex::ch(',')(i)?;
        let (i, _) = lex::ws(i)?;
        Ok((i, c))
    };
    let (i, (names, _)) = lex::sep_by1(field::field_name, comma)(i)?;
    Ok((i, names))
}

fn parse_limit(value: &str) -> Result<i64, ApiError> {
    let n = parse_integer(value, "limit parameter", true)?;
    if n < 0 {
        return Err(ApiError::negative_limit());
    }
    Ok(n)
}

/// A negative offset is a no-op, as in PostgREST.
fn parse_offset(value: &str) -> Result<i64, ApiError> {
    Ok(parse_integer(value, "offset parameter", true)?.max(0))
}

fn parse_integer(value: &str, what: &str, allow_minus: bool) -> Result<i64, ApiError> {
    let text = run_all(value, what, value, |i| {
        let (i, _) = lex::ws(i)?;
        let start = i;
        let i = match i.strip_prefix('-') {
            Some(r) if allow_minus => r,
            _ => i,
        };
        let end = i.find(|c: char| !c.is_ascii_digit()).unwrap_or(i.len());
        if end == 0 {
            return lex::fail(i, &["digit"]);
        }
        let digits = &start[..start.len() - i.len() + end];
        let (i, _) = lex::ws(&i[end..])?;
        Ok((i, digits))
    })?;
    text.parse::<i64>().map_err(|_| {
        ApiError::parse_error(
            format!("\"failed to parse {what} ({value})\" (line 1, column 1)"),
            "number out of range",
        )
    })
}

/// limit/offset: a later parameter for the same embed path replaces an earlier one.
fn set_last(list: &mut Vec<(EmbedPath, i64)>, path: EmbedPath, n: i64) {
    list.retain(|(p, _)| *p != path);
    list.push((path, n));
}

#[cfg(test)]
mod tests;
