//! The rows a request asks for: the `Range` header (GET only) and the root `limit`/`offset`,
//! and the checks PostgREST runs on them (416 for an empty window, 400 for PUT with one).

use super::Method;
use crate::error::ApiError;
use crate::parse::ast::QueryParams;

/// An inclusive window of rows; empty when `upper < lower`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    lower: i64,
    upper: Option<i64>,
}

impl Window {
    const ALL: Window = Window {
        lower: 0,
        upper: None,
    };
    fn is_empty(&self) -> bool {
        self.upper.is_some_and(|u| u < self.lower)
    }
    fn intersect(self, other: Window) -> Window {
        let upper = match (self.upper, other.upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Window {
            lower: self.lower.max(other.lower),
            upper,
        }
    }
}

/// `Range: 0-9`, `Range: 10-` (also with the `items=` unit prefix). Anything else is
/// ignored, as PostgREST ignores it.
pub(super) fn parse_range_header(v: &str) -> Option<(i64, Option<i64>)> {
    let v = v.trim();
    let v = v.strip_prefix("items=").unwrap_or(v);
    let (l, u) = v.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(l) || !(u.is_empty() || digits(u)) {
        return None;
    }
    // more digits than fit: an empty range, as PostgREST turns an unreadable bound into one
    let lower = l.parse::<i64>().unwrap_or(i64::MAX);
    let upper = if u.is_empty() {
        None
    } else {
        Some(u.parse::<i64>().unwrap_or(i64::MAX))
    };
    Some((lower, upper))
}

fn root_param(params: &[(Vec<String>, i64)]) -> Option<i64> {
    params.iter().find(|(p, _)| p.is_empty()).map(|(_, v)| *v)
}

/// `limit`/`offset` at the root as a window.
fn limit_window(query: &QueryParams) -> Window {
    let offset = root_param(&query.offset).unwrap_or(0);
    Window {
        lower: offset,
        upper: root_param(&query.limit).map(|l| offset.saturating_add(l).saturating_sub(1)),
    }
}

fn header_window(method: Method, range: Option<(i64, Option<i64>)>) -> Window {
    match (method, range) {
        (Method::Get, Some((lower, upper))) => Window { lower, upper },
        _ => Window::ALL,
    }
}

/// `limit=0` is the one empty window allowed (PostgREST's "limit zero range").
fn is_limit_zero(w: Window) -> bool {
    w.upper == Some(-1)
}

/// The rows the root query returns, as `(offset, limit)`: the Range header (GET only)
/// intersected with the root `limit`/`offset`. `limit = Some(0)` for `limit=0`.
pub(super) fn top_level_range(
    method: Method,
    range: Option<(i64, Option<i64>)>,
    query: &QueryParams,
) -> (i64, Option<i64>) {
    let r = top_range(method, range, query);
    let limit = r
        .upper
        .map(|u| u.saturating_sub(r.lower).saturating_add(1).max(0));
    (r.lower, limit)
}

fn top_range(method: Method, range: Option<(i64, Option<i64>)>, query: &QueryParams) -> Window {
    let limit = limit_window(query);
    if is_limit_zero(limit) {
        return Window {
            lower: 0,
            upper: Some(-1),
        };
    }
    header_window(method, range).intersect(limit)
}

pub(super) fn check_range(
    method: Method,
    range: Option<(i64, Option<i64>)>,
    query: &QueryParams,
) -> Result<(), ApiError> {
    let top = top_range(method, range, query);
    if top.is_empty() && !is_limit_zero(limit_window(query)) {
        return Err(if header_window(method, range).is_empty() {
            ApiError::lower_gt_upper()
        } else {
            ApiError::negative_limit()
        });
    }
    if method == Method::Put && top != Window::ALL {
        return Err(ApiError::put_limit_not_allowed());
    }
    Ok(())
}
