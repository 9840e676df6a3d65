//! Parsec-flavoured building blocks on top of nom.
//!
//! PostgREST reports a PGRST100 as `"failed to parse X (input)" (line 1, column N)` plus
//! `unexpected .. expecting ..`. nom's stock errors carry neither the expectations nor a way to
//! prefer the error that got furthest, so [`PErr`] keeps both and the primitives here fill them.

use crate::error::ApiError;
use nom::error::{ErrorKind, ParseError};
use nom::{Err, IResult};
use std::cell::Cell;

/// Where parsing stopped (the unparsed rest) and what would have been accepted there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PErr<'a> {
    pub rest: &'a str,
    pub expected: Vec<String>,
    /// Set by end-of-input checks: Parsec shows the offending char as `'c'` for those.
    pub quote_char: bool,
}

pub type Res<'a, T> = IResult<&'a str, T, PErr<'a>>;

impl<'a> PErr<'a> {
    pub fn at(rest: &'a str, expected: &[&str]) -> PErr<'a> {
        PErr {
            rest,
            expected: expected.iter().map(|s| s.to_string()).collect(),
            quote_char: false,
        }
    }

    /// Keeps the error that got furthest; at the same place, both expectation lists.
    pub fn merge(self, other: PErr<'a>) -> PErr<'a> {
        use std::cmp::Ordering;
        match self.rest.len().cmp(&other.rest.len()) {
            Ordering::Less => self,
            Ordering::Greater => other,
            Ordering::Equal => {
                let mut m = self;
                for e in other.expected {
                    if !m.expected.contains(&e) {
                        m.expected.push(e);
                    }
                }
                m.quote_char |= other.quote_char;
                m
            }
        }
    }

    /// The PGRST100 error: `what` names the parameter (`filter`, `order`, ...), `whole` is the
    /// text that was parsed (for the column), `shown` the text quoted in the message.
    pub fn to_api_error(&self, whole: &str, what: &str, shown: &str) -> ApiError {
        let consumed = whole.len().saturating_sub(self.rest.len());
        let column = whole
            .get(..consumed)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        let message = format!("\"failed to parse {what} ({shown})\" (line 1, column {column})");
        let unexpected = match self.rest.chars().next() {
            None => "end of input".to_string(),
            Some(c) if self.quote_char => format!("{c:?}"),
            Some(c) => format!("{:?}", c.to_string()),
        };
        let mut details = format!("unexpected {unexpected}");
        if !self.expected.is_empty() {
            details.push_str(" expecting ");
            details.push_str(&join_or(&self.expected));
        }
        ApiError::parse_error(message, details)
    }
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

impl<'a> ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _kind: ErrorKind) -> Self {
        PErr::at(input, &[])
    }

    fn append(_input: &'a str, _kind: ErrorKind, other: Self) -> Self {
        other
    }

    fn or(self, other: Self) -> Self {
        self.merge(other)
    }
}

pub fn fail<'a, T>(rest: &'a str, expected: &[&str]) -> Res<'a, T> {
    Err(Err::Error(PErr::at(rest, expected)))
}

/// Adds `extra` (an alternative that was tried and given up on) to a failure.
pub fn with_alt<'a, T>(res: Res<'a, T>, extra: Option<PErr<'a>>) -> Res<'a, T> {
    match (res, extra) {
        (Err(Err::Error(e)), Some(x)) => Err(Err::Error(x.merge(e))),
        (res, _) => res,
    }
}

/// Unwraps a recoverable failure into its error (anything else is passed back as `Err`).
pub fn recoverable<'a, T>(
    res: Res<'a, T>,
) -> Result<Result<(&'a str, T), PErr<'a>>, Err<PErr<'a>>> {
    match res {
        Ok(ok) => Ok(Ok(ok)),
        Err(Err::Error(e)) => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// An exact string.
pub fn lit<'a>(s: &'static str) -> impl Fn(&'a str) -> Res<'a, &'a str> {
    move |i: &'a str| match i.strip_prefix(s) {
        Some(rest) => Ok((rest, &i[..s.len()])),
        None => fail(i, &[&format!("{s:?}")]),
    }
}

/// One exact char.
pub fn ch<'a>(c: char) -> impl Fn(&'a str) -> Res<'a, char> {
    move |i: &'a str| match i.strip_prefix(c) {
        Some(rest) => Ok((rest, c)),
        None => fail(i, &[&format!("{:?}", c.to_string())]),
    }
}

/// The `.` between the parts of a filter, named like PostgREST does.
pub fn delimiter(i: &str) -> Res<'_, char> {
    match i.strip_prefix('.') {
        Some(rest) => Ok((rest, '.')),
        None => fail(i, &["delimiter (.)"]),
    }
}

pub fn eoi(i: &str) -> Res<'_, ()> {
    if i.is_empty() {
        Ok((i, ()))
    } else {
        let mut e = PErr::at(i, &["end of input"]);
        e.quote_char = true;
        Err(Err::Error(e))
    }
}

/// Spaces and tabs, possibly none.
pub fn ws(i: &str) -> Res<'_, ()> {
    Ok((i.trim_start_matches([' ', '\t']), ()))
}

/// Replaces what a parser says it expected by `name` when it failed without consuming input.
pub fn label<'a, T>(
    name: &'static str,
    mut p: impl FnMut(&'a str) -> Res<'a, T>,
) -> impl FnMut(&'a str) -> Res<'a, T> {
    move |i: &'a str| match p(i) {
        Err(Err::Error(mut e)) if e.rest.len() == i.len() => {
            e.expected = vec![name.to_string()];
            e.quote_char = false;
            Err(Err::Error(e))
        }
        other => other,
    }
}

/// `p (sep p)*`, committed after a separator (unlike nom's `separated_list1`, which gives the
/// separator back when the next item fails). Also returns the separator's final failure so the
/// caller can list it among the expectations of whatever must follow.
pub fn sep_by1<'a, T, S>(
    mut p: impl FnMut(&'a str) -> Res<'a, T>,
    mut sep: impl FnMut(&'a str) -> Res<'a, S>,
) -> impl FnMut(&'a str) -> Res<'a, (Vec<T>, PErr<'a>)> {
    move |i: &'a str| {
        let (mut i, first) = p(i)?;
        let mut items = vec![first];
        loop {
            match recoverable(sep(i))? {
                Ok((rest, _)) => {
                    let (rest, item) = p(rest)?;
                    items.push(item);
                    i = rest;
                }
                Err(e) => return Ok((i, (items, e))),
            }
        }
    }
}

/// Deepest nesting of embeds in `select` and of groups in logic trees. Those parsers recurse
/// (some 10 KiB of stack a level in debug builds) and a stack overflow aborts the whole
/// process. PostgREST has no limit, but real queries stay far below this one.
pub const MAX_NESTING: usize = 32;

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// One level of nesting, released on drop.
pub struct Nested(());

impl Drop for Nested {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Enters a nested level at `i`, or fails for good (no alternative is tried) when too deep.
pub fn nest(i: &str) -> Result<Nested, Err<PErr<'_>>> {
    DEPTH.with(|d| {
        if d.get() >= MAX_NESTING {
            Err(Err::Failure(PErr::at(i, &[NESTING_LIMIT])))
        } else {
            d.set(d.get() + 1);
            Ok(Nested(()))
        }
    })
}

const NESTING_LIMIT: &str = "at most 32 levels of nesting";

/// A double-quoted value with backslash escapes: `"a,\"b"` -> `a,"b`.
pub fn quoted_value(i: &str) -> Res<'_, String> {
    let (mut rest, _) = ch('"')(i)?;
    let mut out = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            None => return fail(rest, &["\"\\\"\""]),
            Some('"') => return Ok((chars.as_str(), out)),
            Some('\\') => match chars.next() {
                Some(c) => out.push(c),
                None => return fail(chars.as_str(), &["any character"]),
            },
            Some(c) => out.push(c),
        }
        rest = chars.as_str();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_limit_text_matches_constant() {
        assert!(NESTING_LIMIT.contains(&MAX_NESTING.to_string()));
        let guards: Vec<_> = (0..MAX_NESTING).map(|_| nest("x").ok().unwrap()).collect();
        assert!(nest("x").is_err());
        drop(guards);
        assert!(nest("x").is_ok());
    }

    #[test]
    fn merge_prefers_furthest_then_joins() {
        let s = "abcdef";
        let a = PErr::at(&s[2..], &["x"]);
        let b = PErr::at(&s[4..], &["y"]);
        assert_eq!(a.clone().merge(b.clone()).expected, vec!["y"]);
        assert_eq!(b.clone().merge(a.clone()).expected, vec!["y"]);
        let c = PErr::at(&s[4..], &["z", "y"]);
        assert_eq!(b.merge(c).expected, vec!["y", "z"]);
    }

    #[test]
    fn renders_parsec_style() {
        let whole = "id.asc.nullslasttt";
        let (_, _) = lit("id.asc.nullslast")(whole).unwrap();
        let e = PErr {
            rest: &whole[16..],
            expected: vec!["\",\"".into(), "end of input".into()],
            quote_char: true,
        };
        let api = e.to_api_error(whole, "order", whole);
        assert_eq!(
            api.message,
            "\"failed to parse order (id.asc.nullslasttt)\" (line 1, column 17)"
        );
        assert_eq!(
            api.details.as_deref(),
            Some("unexpected 't' expecting \",\" or end of input")
        );
        assert_eq!(api.code, "PGRST100");
        assert_eq!(api.status, 400);
    }

    #[test]
    fn quoted_values_unescape() {
        assert_eq!(
            quoted_value(r#""a,\"b\\"x"#),
            Ok(("x", "a,\"b\\".to_string()))
        );
        assert!(quoted_value("\"abc").is_err());
        assert!(quoted_value("\"abc\\").is_err());
        assert!(quoted_value("abc").is_err());
    }

    #[test]
    fn sep_by1_is_committed_after_separator() {
        let mut p = sep_by1(lit("a"), ch(','));
        assert_eq!(p("a,a;").map(|(r, (v, _))| (r, v.len())), Ok((";", 2)));
        assert!(p("a,b").is_err());
    }
}
