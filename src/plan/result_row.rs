//! The one row every statement returns: [`ResultRow::select`] writes its SQL (the planner),
//! [`QueryResult::from_row`] reads it back (the executor), `respond` turns it into the response.
//! PostgREST keeps the same agreement in `Query/Statements.hs`.
//!
//! Columns, in this order: `total_result_set bigint` (NULL unless a count was asked for),
//! `page_total bigint` (rows in the response; for writes the rows affected), `body text` (the
//! response body, built by Postgres), `response_headers text` and `response_status text` (the
//! `response.*` settings, read at the end of the statement), `location text` (for
//! `Prefer: return=headers-only` inserts), `inserted bigint` (for upserts: how many rows were
//! really inserted rather than updated).

/// The `response.headers` / `response.status` settings SQL may have set, read after the
/// statement's rows (an unset or reset setting is NULL).
const RESPONSE_HEADERS: &str = "nullif(pg_catalog.current_setting('response.headers', true), '')";
const RESPONSE_STATUS: &str = "nullif(pg_catalog.current_setting('response.status', true), '')";

/// SQL expressions for the columns of the result row; `None` is NULL. The types are those of
/// the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ResultRow<'a> {
    pub total: Option<&'a str>,
    pub page_total: &'a str,
    pub body: Option<&'a str>,
    pub location: Option<&'a str>,
    pub inserted: Option<&'a str>,
}

impl ResultRow<'_> {
    /// `SELECT <the seven columns>`; the caller appends its `FROM ...`.
    pub fn select(&self) -> String {
        format!(
            "SELECT {} AS total_result_set, {} AS page_total, {} AS body, \
             {RESPONSE_HEADERS} AS response_headers, {RESPONSE_STATUS} AS response_status, \
             {} AS location, {} AS inserted",
            self.total.unwrap_or("NULL::bigint"),
            self.page_total,
            self.body.unwrap_or("NULL::text"),
            self.location.unwrap_or("NULL::text"),
            self.inserted.unwrap_or("NULL::bigint"),
        )
    }
}

/// The result row, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    /// `total_result_set`: the counted (or planned/estimated) total, when a count was asked.
    pub(crate) total: Option<i64>,
    /// Rows in the response; for writes the rows affected, also under `return=minimal`
    /// (PostgREST checks singular/max-affected/PUT against it).
    pub(crate) page_total: i64,
    /// The body built by Postgres. `None` for an RPC call means a void function (204).
    pub(crate) body: Option<String>,
    pub(crate) response_headers: Option<String>,
    pub(crate) response_status: Option<String>,
    /// `Location` for `return=headers-only` inserts: a path (`/t?id=eq.1`) or just its
    /// query string (`id=eq.1`).
    pub(crate) location: Option<String>,
    /// Upserts (PUT, POST with `resolution=merge-duplicates`): the rows inserted rather than
    /// updated. A PUT answers 201 only when it inserted, a merging POST that only updated 200.
    pub(crate) inserted: Option<i64>,
    /// Not a column: the planner found nothing for `Prefer: resolution=` to resolve on (see
    /// `Statement::resolution_ignored`), so Preference-Applied leaves it out.
    pub(crate) resolution_ignored: bool,
}

impl QueryResult {
    /// The row as text values, in the column order of [`ResultRow::select`].
    pub fn from_row(row: &[Option<String>]) -> QueryResult {
        let col = |i: usize| row.get(i).cloned().flatten();
        let int = |i: usize| col(i).and_then(|s| s.parse::<i64>().ok());
        QueryResult {
            total: int(0),
            page_total: int(1).unwrap_or(0),
            body: col(2),
            response_headers: col(3),
            response_status: col(4),
            location: col(5),
            inserted: int(6),
            resolution_ignored: false,
        }
    }

    /// The row of a statement whose `Prefer: resolution=` had nothing to resolve on
    /// (`Statement::resolution_ignored`).
    pub fn with_resolution_ignored(self, resolution_ignored: bool) -> QueryResult {
        QueryResult {
            resolution_ignored,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_select_writes() {
        let sql = ResultRow {
            page_total: "0::bigint",
            ..ResultRow::default()
        }
        .select();
        let names: Vec<&str> = sql
            .split(" AS ")
            .skip(1)
            .map(|s| s.split(',').next().unwrap_or(""))
            .collect();
        assert_eq!(
            names,
            [
                "total_result_set",
                "page_total",
                "body",
                "response_headers",
                "response_status",
                "location",
                "inserted"
            ]
        );
        let row = [
            Some("7".to_string()),
            Some("2".to_string()),
            Some("[]".to_string()),
            None,
            Some("418".to_string()),
            Some("id=eq.1".to_string()),
            Some("0".to_string()),
        ];
        let r = QueryResult::from_row(&row);
        assert_eq!(
            r,
            QueryResult {
                total: Some(7),
                page_total: 2,
                body: Some("[]".into()),
                response_headers: None,
                response_status: Some("418".into()),
                location: Some("id=eq.1".into()),
                inserted: Some(0),
                resolution_ignored: false,
            }
        );
        assert_eq!(QueryResult::from_row(&[]), QueryResult::default());
    }
}
