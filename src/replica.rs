//! Serving from a hot standby (read replica): which requests it refuses and how.
//!
//! A standby runs every request in a read-only transaction (Postgres's own rule during
//! recovery); this module turns "this is a replica" into PostgREST's answer for a read-only
//! transaction (SQLSTATE 25006 -> 405), or a `307` to the primary when one is configured.

use crate::error::ApiError;
use crate::respond::HttpResponse;

/// Methods that write when they target a table or view (an RPC call may still be read-only:
/// it is tried, and refused by Postgres only if it writes).
pub fn is_table_write(method: &str) -> bool {
    matches!(method, "POST" | "PATCH" | "PUT" | "DELETE")
}

/// PostgREST's answer to a write in a read-only transaction, saying why.
pub fn refused(message: Option<&str>) -> ApiError {
    ApiError::read_replica_write(message)
}

/// `307 Temporary Redirect` to the same path and query on the primary: clients resend the
/// same method and body there.
pub fn redirect(primary_url: &str, target: &str) -> HttpResponse {
    let location = format!("{}{}", primary_url.trim_end_matches('/'), target);
    HttpResponse {
        status: 307,
        headers: vec![
            ("Location".into(), location),
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
        ],
        body: refused(None).body().into_bytes(),
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_keeps_path_and_query() {
        let r = redirect("http://primary:3000/", "/posts?id=eq.1");
        assert_eq!(r.status, 307);
        assert!(r.headers.contains(&(
            "Location".into(),
            "http://primary:3000/posts?id=eq.1".into()
        )));
    }

    #[test]
    fn refusal_is_postgrest_25006() {
        let e = refused(Some("cannot execute INSERT in a read-only transaction"));
        assert_eq!((e.status, e.code.as_str()), (405, "25006"));
        assert!(e.details.unwrap().contains("read replica"));
        assert!(is_table_write("PATCH") && !is_table_write("GET") && !is_table_write("HEAD"));
    }
}
