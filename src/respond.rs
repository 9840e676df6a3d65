//! The statement's result row + the request -> the HTTP response: status, Content-Range,
//! Preference-Applied, Location, Content-Type, and the `response.headers`/`response.status`
//! settings a function may have set.

use crate::error::ApiError;
use crate::http::ApiRequest;

/// The one row every planned statement returns (see `plan`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub total: Option<i64>,
    pub page_total: i64,
    pub body: Option<String>,
    pub response_headers: Option<String>,
    pub response_status: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An error as PostgREST sends it.
pub fn error_response(err: &ApiError) -> HttpResponse {
    let mut headers = vec![(
        "Content-Type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    headers.extend(err.headers.iter().cloned());
    HttpResponse {
        status: err.status,
        headers,
        body: err.body().into_bytes(),
    }
}

/// Builds the success response.
pub fn respond(req: &ApiRequest, result: QueryResult) -> Result<HttpResponse, ApiError> {
    let _ = req;
    Ok(HttpResponse {
        status: 200,
        headers: vec![(
            "Content-Type".to_string(),
            "application/json; charset=utf-8".to_string(),
        )],
        body: result.body.unwrap_or_default().into_bytes(),
    })
}
