//! Every error the API answers with, in PostgREST's shape: an HTTP status plus the JSON body
//! `{"code","message","details","hint"}` and, for some, extra headers.
//!
//! One struct, with one constructor per error kind, so the mapping to HTTP lives here only.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
    pub headers: Vec<(String, String)>,
    /// A body that replaces the standard one (raised with SQLSTATE 'PGRST').
    pub raw_body: Option<String>,
    /// The HTTP reason phrase, when not the status code's usual one: the `status_text` of a
    /// `RAISE SQLSTATE 'PGRST'`, the message of a `RAISE SQLSTATE 'PTnnn'` (as PostgREST).
    pub reason: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl ApiError {
    pub(crate) fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            details: None,
            hint: None,
            headers: vec![],
            raw_body: None,
            reason: None,
        }
    }

    pub(crate) fn with_details(mut self, details: impl Into<String>) -> ApiError {
        self.details = Some(details.into());
        self
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> ApiError {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The JSON body PostgREST sends for this error.
    pub fn body(&self) -> String {
        if let Some(raw) = &self.raw_body {
            return raw.clone();
        }
        let v: Value = json!({
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        });
        v.to_string()
    }

    /// The body as a JSON value (what `body()` serializes), for the tests.
    #[cfg(test)]
    pub(crate) fn body_json(&self) -> Value {
        match &self.raw_body {
            Some(raw) => serde_json::from_str(raw).unwrap_or(Value::String(raw.clone())),
            None => json!({
                "code": self.code,
                "details": self.details,
                "hint": self.hint,
                "message": self.message,
            }),
        }
    }

    // ---- errors raised by PostgreSQL -----------------------------------------------------

    /// A PostgreSQL error as PostgREST answers it: the SQLSTATE picks the HTTP status
    /// (PostgREST's table, `references/errors.rst` and `Error.hs`), the body carries the
    /// error's message, detail and hint. `anonymous` is "the request runs as the anon role":
    /// then 42501 is a 401 instead of a 403.
    ///
    /// `RAISE SQLSTATE 'PGRST'` lets a function pick the whole response: MESSAGE is the JSON
    /// body `{code, message, details?, hint?}`, DETAIL is `{status, headers, status_text?}`.
    pub fn from_postgres(
        sqlstate: &str,
        message: &str,
        detail: Option<&str>,
        hint: Option<&str>,
        anonymous: bool,
    ) -> ApiError {
        if sqlstate == "PGRST" {
            return raise_pgrst(message, detail);
        }
        let mut e = ApiError::new(pg_status(sqlstate, message, anonymous), sqlstate, message);
        if sqlstate.starts_with("PT") && pt_status(sqlstate).is_some() {
            e.reason = Some(message.to_string());
        }
        e.details = detail.map(str::to_string);
        e.hint = hint.map(str::to_string);
        if e.status == 401 {
            e = e.with_header("WWW-Authenticate", "Bearer");
        }
        e
    }

    // ---- PGRST0xx: connection ------------------------------------------------------------

    /// PGRST003: no executor became free in time.
    /// PGRST001: the executor serving the request went away (it is restarted; the request is
    /// not retried).
    pub(crate) fn executor_lost() -> ApiError {
        ApiError::new(
            503,
            "PGRST001",
            "Database client error. Retrying the connection.",
        )
    }

    /// PGRST001: the queue of requests waiting for an executor is full.
    pub(crate) fn too_many_waiting() -> ApiError {
        ApiError::new(
            503,
            "PGRST001",
            "Too many requests waiting for the database",
        )
    }

    pub(crate) fn acquisition_timeout() -> ApiError {
        ApiError::new(
            504,
            "PGRST003",
            "Timed out acquiring connection from connection pool.",
        )
    }

    // ---- PGRST1xx: the request -----------------------------------------------------------

    /// PGRST100: the query string does not parse.
    pub(crate) fn parse_error(message: impl Into<String>, details: impl Into<String>) -> ApiError {
        ApiError::new(400, "PGRST100", message).with_details(details)
    }

    /// PGRST101: only GET, HEAD and POST (and OPTIONS) call functions.
    pub(crate) fn invalid_rpc_method(method: &str) -> ApiError {
        ApiError::new(
            405,
            "PGRST101",
            format!("Cannot use the {method} method on RPC"),
        )
    }

    /// PGRST102: the request body is not valid JSON (or not what the endpoint expects).
    pub(crate) fn invalid_body(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "PGRST102", message)
    }

    /// PGRST102 for a body that is not JSON at all.
    pub(crate) fn invalid_json_body() -> ApiError {
        ApiError::invalid_body("Empty or invalid json")
    }

    /// PGRST102 for a JSON array whose objects do not all have the same keys.
    pub(crate) fn keys_do_not_match() -> ApiError {
        ApiError::invalid_body("All object keys must match")
    }

    /// PGRST102 for a CSV body with ragged lines.
    pub(crate) fn csv_fields_do_not_match() -> ApiError {
        ApiError::invalid_body("All lines must have same number of fields")
    }

    /// PGRST102 for a request body media type the endpoint cannot read.
    pub(crate) fn content_type_not_acceptable(mime: &str) -> ApiError {
        ApiError::invalid_body(format!("Content-Type not acceptable: {mime}"))
    }

    /// PGRST103, the generic form (use the specific constructors below when they fit).
    pub(crate) fn invalid_range(details: impl Into<String>) -> ApiError {
        ApiError::new(416, "PGRST103", "Requested range not satisfiable").with_details(details)
    }

    /// PGRST103: `limit=-1`.
    pub(crate) fn negative_limit() -> ApiError {
        ApiError::invalid_range("Limit should be greater than or equal to zero.")
    }

    /// PGRST103: `Range: 5-1`.
    pub(crate) fn lower_gt_upper() -> ApiError {
        ApiError::invalid_range(
            "The lower boundary must be lower than or equal to the upper boundary in the Range header.",
        )
    }

    /// PGRST103: the requested offset is past the counted total.
    pub(crate) fn range_out_of_bounds(offset: i64, total: i64) -> ApiError {
        ApiError::invalid_range(format!(
            "An offset of {offset} was requested, but there are only {total} rows."
        ))
    }

    /// PGRST105: a PUT whose filters are not exactly the primary key with `eq`.
    pub(crate) fn invalid_filters() -> ApiError {
        ApiError::new(
            405,
            "PGRST105",
            "Filters must include all and only primary key columns with 'eq' operators",
        )
    }

    /// PGRST106: Accept-Profile/Content-Profile names a schema that is not exposed.
    pub(crate) fn unacceptable_schema(schema: &str, exposed: &[String]) -> ApiError {
        ApiError::new(406, "PGRST106", format!("Invalid schema: {schema}")).with_hint(format!(
            "Only the following schemas are exposed: {}",
            exposed.join(", ")
        ))
    }

    /// PGRST107: none of the Accept media types can be produced.
    pub(crate) fn media_type_error<S: AsRef<str>>(accepted: &[S]) -> ApiError {
        let list: Vec<&str> = accepted.iter().map(|s| s.as_ref()).collect();
        ApiError::new(
            406,
            "PGRST107",
            format!(
                "None of these media types are available: {}",
                list.join(", ")
            ),
        )
    }

    /// PGRST108: a filter/order/limit names an embed that is not in `select`.
    pub(crate) fn not_embedded(resource: &str) -> ApiError {
        ApiError::new(
            400,
            "PGRST108",
            format!("'{resource}' is not an embedded resource in this request"),
        )
        .with_hint(format!(
            "Verify that '{resource}' is included in the 'select' query parameter."
        ))
    }

    /// PGRST111: `response.headers` is not a JSON array of single-key string objects.
    pub(crate) fn guc_headers_error() -> ApiError {
        ApiError::new(
            500,
            "PGRST111",
            "response.headers guc must be a JSON array composed of objects with a single key and a string value",
        )
    }

    /// PGRST112: `response.status` is not a status code.
    pub(crate) fn guc_status_error() -> ApiError {
        ApiError::new(
            500,
            "PGRST112",
            "response.status guc must be a valid status code",
        )
    }

    /// PGRST114: PUT with limit/offset.
    pub(crate) fn put_limit_not_allowed() -> ApiError {
        ApiError::new(
            400,
            "PGRST114",
            "limit/offset querystring parameters are not allowed for PUT",
        )
    }

    /// PGRST115: PUT whose body primary key differs from the URL's.
    pub(crate) fn put_matching_pk() -> ApiError {
        ApiError::new(
            400,
            "PGRST115",
            "Payload values do not match URL in primary key column(s)",
        )
    }

    /// PGRST116: a singular (vnd.pgrst.object) response with `n != 1` rows.
    pub(crate) fn singular(n: i64) -> ApiError {
        ApiError::new(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
        )
        .with_details(format!("The result contains {n} rows"))
    }

    /// PGRST126: `/` while the OpenAPI output is disabled (`openapi_mode = disabled`).
    pub(crate) fn openapi_disabled() -> ApiError {
        ApiError::new(404, "PGRST126", "Root endpoint metadata is disabled")
    }

    /// PGRST117: an HTTP method the resource does not support.
    pub(crate) fn unsupported_method(method: &str) -> ApiError {
        ApiError::new(
            405,
            "PGRST117",
            format!("Unsupported HTTP method: {method}"),
        )
    }

    /// PGRST118: `order=rel(col)` on a relationship that is not to-one.
    pub(crate) fn related_order_not_to_one(origin: &str, target: &str) -> ApiError {
        ApiError::new(
            400,
            "PGRST118",
            format!("A related order on '{target}' is not possible"),
        )
        .with_details(format!(
            "'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship"
        ))
    }

    /// PGRST122: `handling=strict` with preferences we do not understand.
    pub(crate) fn invalid_preferences<S: AsRef<str>>(invalid: &[S]) -> ApiError {
        let list: Vec<&str> = invalid.iter().map(|s| s.as_ref()).collect();
        ApiError::new(
            400,
            "PGRST122",
            "Invalid preferences given with handling=strict",
        )
        .with_details(format!("Invalid preferences: {}", list.join(", ")))
    }

    /// PGRST123: aggregates in `select` while they are disabled.
    pub(crate) fn aggregates_not_allowed() -> ApiError {
        ApiError::new(400, "PGRST123", "Use of aggregate functions is not allowed")
    }

    /// PGRST124: `max-affected` + `handling=strict` and more rows were affected.
    pub(crate) fn max_affected_violation(n: i64) -> ApiError {
        ApiError::new(
            400,
            "PGRST124",
            "Query result exceeds max-affected preference constraint",
        )
        .with_details(format!("The query affects {n} rows"))
    }

    /// PGRST125: a path that is neither `/`, `/table` nor `/rpc/fn`.
    pub(crate) fn invalid_resource_path() -> ApiError {
        ApiError::new(404, "PGRST125", "Invalid path specified in request URL")
    }

    /// PGRST128: `max-affected` + `handling=strict` on a function that does not return a set.
    pub(crate) fn max_affected_rpc_violation() -> ApiError {
        ApiError::new(
            400,
            "PGRST128",
            "Function must return SETOF or TABLE when max-affected preference is used with handling=strict",
        )
    }

    // ---- PGRST2xx: schema cache ----------------------------------------------------------

    /// PGRST200: no relationship for an embed. `hint` is `!hint` of the request, if any.
    pub(crate) fn no_relationship(
        parent: &str,
        child: &str,
        embed_hint: Option<&str>,
        schema: &str,
    ) -> ApiError {
        let using = embed_hint
            .map(|h| format!("' using the hint '{h}"))
            .unwrap_or_default();
        ApiError::new(
            400,
            "PGRST200",
            format!(
                "Could not find a relationship between '{parent}' and '{child}' in the schema cache"
            ),
        )
        .with_details(format!(
            "Searched for a foreign key relationship between '{parent}' and '{child}{using}' in the schema '{schema}', but no matches were found."
        ))
    }

    /// PGRST201: several relationships fit an embed. `details` is PostgREST's array of
    /// `{cardinality, embedding, relationship}` objects; `hints` the `'child!fk'` choices.
    pub(crate) fn ambiguous_relationship(
        parent: &str,
        child: &str,
        details: Value,
        hints: &[String],
    ) -> ApiError {
        let message = format!(
            "Could not embed because more than one relationship was found for '{parent}' and '{child}'"
        );
        let hint = format!(
            "Try changing '{child}' to one of the following: {}. Find the desired relationship in the 'details' key.",
            hints.join(", ")
        );
        let body = json!({
            "code": "PGRST201",
            "details": details,
            "hint": hint,
            "message": message,
        });
        let mut e = ApiError::new(300, "PGRST201", message).with_hint(hint);
        e.raw_body = Some(body.to_string());
        e
    }

    /// PGRST202: no function `func` (`schema.name`) fits the call. `call` is how the message
    /// shows the call (`(a, b)`, ` without parameters`, or nothing), `searched` what the details
    /// say was looked for (` with parameters a, b`, ` with a single unnamed text parameter`).
    pub(crate) fn function_not_found(func: &str, call: &str, searched: &str) -> ApiError {
        ApiError::new(
            404,
            "PGRST202",
            format!("Could not find the function {func}{call} in the schema cache"),
        )
        .with_details(format!(
            "Searched for the function {func}{searched}, but no matches were found in the schema cache."
        ))
    }

    /// PGRST203: overloaded functions that cannot be told apart.
    pub(crate) fn ambiguous_function(candidates: &[String]) -> ApiError {
        ApiError::new(
            300,
            "PGRST203",
            format!(
                "Could not choose the best candidate function between: {}",
                candidates.join(", ")
            ),
        )
        .with_hint("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
    }

    /// PGRST204: a `columns=` or body key that is not a column.
    pub(crate) fn column_not_found(relation: &str, column: &str) -> ApiError {
        ApiError::new(
            400,
            "PGRST204",
            format!("Could not find the '{column}' column of '{relation}' in the schema cache"),
        )
    }

    /// PGRST205: no such table or view in the schema cache.
    pub(crate) fn table_not_found(schema: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "PGRST205",
            format!("Could not find the table '{schema}.{name}' in the schema cache"),
        )
    }

    /// 503 while the configured database or the extension is not there yet.
    pub(crate) fn not_ready(message: impl Into<String>) -> ApiError {
        ApiError::new(503, "PGRST002", message)
    }

    // ---- PGRST3xx: JWT -------------------------------------------------------------------

    /// PGRST300: the JWKS URL's keys have not been fetched (yet): 503, retry shortly.
    pub(crate) fn jwks_unavailable(url: &str, why: &str) -> ApiError {
        ApiError::new(503, "PGRST300", "JWT signing keys are not available yet")
            .with_details(format!("Fetching the JWKS from {url} failed: {why}"))
            .with_hint("Retry shortly; the keys are refetched in the background")
            .with_header("Retry-After", "5")
    }

    /// PGRST300: a JWT was sent but no (usable) secret is configured.
    pub(crate) fn jwt_secret_missing() -> ApiError {
        ApiError::new(500, "PGRST300", "Server lacks JWT secret")
    }

    /// PGRST301: the JWT cannot be decoded or its signature is wrong.
    pub(crate) fn jwt_decode(message: &str, details: Option<&str>) -> ApiError {
        let mut e = ApiError::new(401, "PGRST301", message)
            .with_header("WWW-Authenticate", invalid_token_header(message));
        e.details = details.map(str::to_string);
        e
    }

    /// PGRST302: no JWT and no anon role.
    pub(crate) fn jwt_token_required() -> ApiError {
        ApiError::new(401, "PGRST302", "Anonymous access is disabled")
            .with_header("WWW-Authenticate", "Bearer")
    }

    /// PGRST303: a claim (exp, nbf, iat, aud, ...) is invalid.
    pub(crate) fn jwt_claims(message: &str) -> ApiError {
        ApiError::new(401, "PGRST303", message)
            .with_header("WWW-Authenticate", invalid_token_header(message))
    }

    // ---- the HTTP edge (PostgREST leaves these to its web server) ---------------------------

    /// A request refused by the HTTP layer itself (malformed framing, too large, too slow, the
    /// server full): PostgREST's error body, with the code `SDA` + the status.
    pub(crate) fn http_edge(status: u16, message: impl Into<String>) -> ApiError {
        ApiError::new(status, &format!("SDA{status}"), message)
    }

    /// A NUL byte (`%00`) where the request's text goes into Postgres text, as Postgres says it.
    pub(crate) fn nul_byte() -> ApiError {
        ApiError::new(
            400,
            "22021",
            "invalid byte sequence for encoding \"UTF8\": 0x00",
        )
    }

    /// A response larger than `server_max_response_size` (or than the listener takes).
    pub(crate) fn response_too_large(size: usize, limit: usize) -> ApiError {
        ApiError::http_edge(500, "Response too large")
            .with_details(format!(
                "The response has {size} bytes, the limit is {limit} (serendb_data_api.server_max_response_size)"
            ))
            .with_hint("Ask for fewer rows or columns (limit, Range, select)")
    }

    // ---- internal ------------------------------------------------------------------------

    /// 22023: the request's role does not exist (401, as PostgREST).
    pub(crate) fn role_missing(role: &str) -> ApiError {
        ApiError::new(401, "22023", format!("role \"{role}\" does not exist"))
    }

    /// 42501: the request's role may not be assumed (not granted to the authenticator, or
    /// privileged).
    pub(crate) fn role_not_allowed(role: &str) -> ApiError {
        ApiError::new(
            403,
            "42501",
            format!("permission denied to set role \"{role}\""),
        )
    }

    /// 42501 as a 500: the authenticator itself could reach a privileged role, so every
    /// request is refused.
    pub(crate) fn authenticator_privileged() -> ApiError {
        ApiError::new(
            500,
            "42501",
            "the authenticator role may switch to a privileged role; requests are refused",
        )
    }

    /// 25006 as PostgREST answers a write in a read-only transaction, here a read replica's.
    pub(crate) fn read_replica_write(message: Option<&str>) -> ApiError {
        ApiError::new(
            405,
            "25006",
            message.unwrap_or("cannot execute a write on a read replica"),
        )
        .with_details(
            "this server is a read replica (a hot standby in recovery); it serves reads only",
        )
        .with_hint("send writes to the primary (set serendb_data_api.primary_url to redirect them)")
    }

    /// 500 for a failure of the API itself (never a Postgres error: those keep their SQLSTATE).
    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "PGRSTX00", message)
    }
}

/// `Bearer error="invalid_token", error_description="..."` with the description quoted the
/// way Haskell's `show` quotes a string (the format PostgREST sends).
fn invalid_token_header(message: &str) -> String {
    format!(
        "Bearer error=\"invalid_token\", error_description={}",
        haskell_show(message)
    )
}

fn haskell_show(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => out.push_str(&format!("\\{}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// PostgREST's SQLSTATE -> HTTP status table.
/// `PTnnn`: status nnn.
fn pt_status(code: &str) -> Option<u16> {
    code.get(2..)?
        .parse::<u16>()
        .ok()
        .filter(|s| (100..=999).contains(s))
}

fn pg_status(code: &str, message: &str, anonymous: bool) -> u16 {
    let class = code.get(..2).unwrap_or("");
    match code {
        "23503" | "23505" => return 409,
        "25006" => return 405,
        // pg-safeupdate's "DELETE requires a WHERE clause" is the client's fault; any other
        // "more than one row returned by a subquery" is the function's/view's.
        "21000" => {
            return if message.ends_with("requires a WHERE clause") {
                400
            } else {
                500
            }
        }
        // a JWT role that does not exist
        "22023" => {
            return if message.starts_with("role") && message.ends_with("does not exist") {
                401
            } else {
                400
            }
        }
        "53400" => return 500,
        "57P01" => return 503,
        "P0001" => return 400,
        "42883" => {
            return if message.starts_with("function xmlagg(") {
                406
            } else {
                404
            }
        }
        "42P01" => return 404,
        "42P17" => return 500,
        "42501" => return if anonymous { 401 } else { 403 },
        _ => {}
    }
    match class {
        "08" => 503,
        "09" => 500,
        "0L" | "0P" => 403,
        "25" => 500,
        "28" => 403,
        "2D" | "38" | "39" | "3B" | "40" => 500,
        "53" => 503,
        "54" | "55" | "57" | "58" | "F0" | "HV" | "P0" | "XX" => 500,
        "PT" => pt_status(code).unwrap_or(500),
        _ => 400,
    }
}

/// `RAISE SQLSTATE 'PGRST' USING MESSAGE = '{json}', DETAIL = '{json}'`.
fn raise_pgrst(message: &str, detail: Option<&str>) -> ApiError {
    const MSG_HINT: &str = "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.";
    const DET_HINT: &str = "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    let parse_error = |details: String, hint: &str| {
        ApiError::new(
            500,
            "PGRST121",
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        )
        .with_details(details)
        .with_hint(hint)
    };
    let Some(body) = parse_raise_message(message) else {
        return parse_error(
            format!("Invalid JSON value for MESSAGE: '{message}'"),
            MSG_HINT,
        );
    };
    let Some(detail) = detail else {
        return parse_error("DETAIL is missing in the RAISE statement".into(), DET_HINT);
    };
    let Some((status, status_text, headers)) = parse_raise_detail(detail) else {
        return parse_error(
            format!("Invalid JSON value for DETAIL: '{detail}'"),
            DET_HINT,
        );
    };
    let (code, msg, details, hint) = body;
    let mut e = ApiError::new(status, &code, msg);
    e.details = details;
    e.hint = hint;
    e.headers = headers;
    e.reason = status_text;
    e
}

type RaiseBody = (String, String, Option<String>, Option<String>);

fn parse_raise_message(message: &str) -> Option<RaiseBody> {
    let v: Value = serde_json::from_str(message).ok()?;
    let o = v.as_object()?;
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    // optional keys may be absent or null, but not of another type
    let optional = |k: &str| match o.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    };
    Some((
        text("code")?,
        text("message")?,
        optional("details")?,
        optional("hint")?,
    ))
}

type RaiseDetail = (u16, Option<String>, Vec<(String, String)>);

fn parse_raise_detail(detail: &str) -> Option<RaiseDetail> {
    let v: Value = serde_json::from_str(detail).ok()?;
    let o = v.as_object()?;
    let status = o.get("status")?.as_u64()?;
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..=999).contains(s))?;
    let status_text = match o.get("status_text") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return None,
    };
    let mut headers = vec![];
    for (k, v) in o.get("headers")?.as_object()? {
        headers.push((k.clone(), v.as_str()?.to_string()));
    }
    Some((status, status_text, headers))
}

/// The five-character SQLSTATE of Postgres's packed error code (MAKE_SQLSTATE).
pub fn unpack_sqlstate(code: i32) -> String {
    (0..5)
        .map(|i| (((code >> (6 * i)) & 0x3F) as u8 + b'0') as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_unpacks() {
        // MAKE_SQLSTATE('P','T','4','0','2')
        let pack = |s: &str| {
            s.bytes().enumerate().fold(0i32, |acc, (i, b)| {
                acc + (((b - b'0') as i32 & 0x3F) << (6 * i))
            })
        };
        assert_eq!(super::unpack_sqlstate(pack("PT402")), "PT402");
        assert_eq!(super::unpack_sqlstate(pack("23505")), "23505");
    }

    #[test]
    fn body_has_all_four_keys() {
        let e = ApiError::new(404, "PGRST205", "nope");
        let v: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["code"], "PGRST205");
        assert_eq!(v["message"], "nope");
        assert!(v["details"].is_null());
        assert!(v["hint"].is_null());
    }

    fn status(code: &str) -> u16 {
        ApiError::from_postgres(code, "raised", None, None, false).status
    }

    #[test]
    fn sqlstate_table() {
        let table = [
            ("08006", 503),
            ("08000", 503),
            ("09000", 500),
            ("0L000", 403),
            ("0LP01", 403),
            ("0P000", 403),
            ("23503", 409),
            ("23505", 409),
            ("23P01", 400),
            ("23502", 400),
            ("23514", 400),
            ("25006", 405),
            ("25001", 500),
            ("25P02", 500),
            ("28000", 403),
            ("28P01", 403),
            ("2D000", 500),
            ("38000", 500),
            ("38001", 500),
            ("39000", 500),
            ("3B000", 500),
            ("40001", 500),
            ("40P01", 500),
            ("53000", 503),
            ("53100", 503),
            ("53200", 503),
            ("53300", 503),
            ("53400", 500),
            ("54000", 500),
            ("54001", 500),
            ("55000", 500),
            ("55P03", 500),
            ("57000", 500),
            ("57014", 500),
            ("57P01", 503),
            ("58000", 500),
            ("F0000", 500),
            ("HV000", 500),
            ("P0001", 400),
            ("P0002", 500),
            ("P0004", 500),
            ("XX000", 500),
            ("42883", 404),
            ("42P01", 404),
            ("42P17", 500),
            ("42703", 400),
            ("42601", 400),
            ("22012", 400),
            ("22P02", 400),
            ("22023", 400),
            ("21000", 500),
            ("0A000", 400),
            ("PT402", 402),
            ("PT418", 418),
            ("PT204", 204),
            ("PTabc", 500),
            ("PT", 500),
            ("", 400),
        ];
        for (code, want) in table {
            assert_eq!(status(code), want, "{code}");
        }
    }

    #[test]
    fn insufficient_privilege_depends_on_the_role() {
        let authed = ApiError::from_postgres("42501", "permission denied", None, None, false);
        assert_eq!(authed.status, 403);
        assert!(authed.headers.is_empty());
        let anon = ApiError::from_postgres("42501", "permission denied", None, None, true);
        assert_eq!(anon.status, 401);
        assert_eq!(
            anon.headers,
            vec![("WWW-Authenticate".to_string(), "Bearer".to_string())]
        );
    }

    #[test]
    fn message_dependent_statuses() {
        let e =
            ApiError::from_postgres("21000", "DELETE requires a WHERE clause", None, None, false);
        assert_eq!(e.status, 400);
        let e = ApiError::from_postgres("22023", "role \"nope\" does not exist", None, None, false);
        assert_eq!(e.status, 401);
        assert_eq!(e.headers[0].1, "Bearer");
        let e = ApiError::from_postgres(
            "42883",
            "function xmlagg(integer) does not exist",
            None,
            None,
            false,
        );
        assert_eq!(e.status, 406);
    }

    #[test]
    fn postgres_error_keeps_message_detail_hint() {
        let e =
            ApiError::from_postgres("23502", "null value", Some("Failing row"), Some("h"), false);
        let v = e.body_json();
        assert_eq!(
            v,
            json!({"code": "23502", "message": "null value", "details": "Failing row", "hint": "h"})
        );
    }

    #[test]
    fn raise_pgrst_controls_the_response() {
        let e = ApiError::from_postgres(
            "PGRST",
            r#"{"code":"123","message":"Payment Required","details":"Quota exceeded","hint":"Upgrade your plan"}"#,
            Some(r#"{"status":402,"headers":{"X-Powered-By":"Nerd Rage"}}"#),
            None,
            false,
        );
        assert_eq!(e.status, 402);
        assert_eq!(
            e.headers,
            vec![("X-Powered-By".to_string(), "Nerd Rage".to_string())]
        );
        assert_eq!(
            e.body_json(),
            json!({"code": "123", "message": "Payment Required", "details": "Quota exceeded", "hint": "Upgrade your plan"})
        );
        let e = ApiError::from_postgres(
            "PGRST",
            r#"{"code":"x","message":"m"}"#,
            Some(r#"{"status":418,"status_text":"teapot","headers":{}}"#),
            None,
            false,
        );
        assert_eq!(e.status, 418);
        assert_eq!(e.details, None);
        assert_eq!(e.reason.as_deref(), Some("teapot"));
        let e = ApiError::from_postgres("PT402", "Pay Up", None, None, false);
        assert_eq!((e.status, e.reason.as_deref()), (402, Some("Pay Up")));
        let e = ApiError::from_postgres("PTabc", "x", None, None, false);
        assert_eq!((e.status, e.reason), (500, None));
        assert_eq!(
            ApiError::from_postgres("P0001", "x", None, None, false).reason,
            None
        );
    }

    #[test]
    fn malformed_raise_pgrst_is_pgrst121() {
        let e = ApiError::from_postgres("PGRST", "not json", Some("{}"), None, false);
        assert_eq!(e.status, 500);
        assert_eq!(e.code, "PGRST121");
        assert_eq!(
            e.message,
            "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("Invalid JSON value for MESSAGE: 'not json'")
        );
        assert!(e.hint.as_deref().unwrap().starts_with("MESSAGE must be"));

        let msg = r#"{"code":"x","message":"m"}"#;
        let e = ApiError::from_postgres("PGRST", msg, None, None, false);
        assert_eq!(
            e.details.as_deref(),
            Some("DETAIL is missing in the RAISE statement")
        );
        assert!(e.hint.as_deref().unwrap().starts_with("DETAIL must be"));

        let e = ApiError::from_postgres("PGRST", msg, Some(r#"{"status":400}"#), None, false);
        assert_eq!(e.code, "PGRST121");
        assert_eq!(
            e.details.as_deref(),
            Some(r#"Invalid JSON value for DETAIL: '{"status":400}'"#)
        );
        // code is obligatory
        let e = ApiError::from_postgres(
            "PGRST",
            r#"{"message":"m"}"#,
            Some(r#"{"status":400,"headers":{}}"#),
            None,
            false,
        );
        assert_eq!(e.code, "PGRST121");
        // header values must be strings
        let e = ApiError::from_postgres(
            "PGRST",
            msg,
            Some(r#"{"status":400,"headers":{"a":1}}"#),
            None,
            false,
        );
        assert_eq!(e.code, "PGRST121");
    }

    #[test]
    fn no_relationship_names_the_hint() {
        let e = ApiError::no_relationship("loans", "members", Some("fk_x"), "public");
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST200"));
        assert_eq!(
            e.message,
            "Could not find a relationship between 'loans' and 'members' in the schema cache"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for a foreign key relationship between 'loans' and 'members' using the hint 'fk_x' in the schema 'public', but no matches were found.")
        );
        let e = ApiError::no_relationship("loans", "members", None, "public");
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for a foreign key relationship between 'loans' and 'members' in the schema 'public', but no matches were found.")
        );
    }

    #[test]
    fn pgrst_constructors() {
        let e = ApiError::singular(0);
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST116"));
        assert_eq!(
            e.message,
            "Cannot coerce the result to a single JSON object"
        );
        assert_eq!(e.details.as_deref(), Some("The result contains 0 rows"));

        let e = ApiError::range_out_of_bounds(100, 15);
        assert_eq!((e.status, e.code.as_str()), (416, "PGRST103"));
        assert_eq!(e.message, "Requested range not satisfiable");
        assert_eq!(
            e.details.as_deref(),
            Some("An offset of 100 was requested, but there are only 15 rows.")
        );

        let e = ApiError::unacceptable_schema("nope", &["public".into(), "v2".into()]);
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST106"));
        assert_eq!(e.message, "Invalid schema: nope");
        assert_eq!(
            e.hint.as_deref(),
            Some("Only the following schemas are exposed: public, v2")
        );

        let e = ApiError::media_type_error(&["text/unknowntype"]);
        assert_eq!(
            e.message,
            "None of these media types are available: text/unknowntype"
        );
        let e = ApiError::invalid_preferences(&["foo", "bar"]);
        assert_eq!(e.details.as_deref(), Some("Invalid preferences: foo, bar"));
        let e = ApiError::max_affected_violation(3);
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST124"));
        assert_eq!(e.details.as_deref(), Some("The query affects 3 rows"));
        let e = ApiError::function_not_found("public.f", "(a, b)", " with parameters a, b");
        assert_eq!(
            e.message,
            "Could not find the function public.f(a, b) in the schema cache"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for the function public.f with parameters a, b, but no matches were found in the schema cache.")
        );
        let e = ApiError::function_not_found("public.f", " without parameters", "");
        assert_eq!(
            e.message,
            "Could not find the function public.f without parameters in the schema cache"
        );
        assert_eq!(
            e.details.as_deref(),
            Some("Searched for the function public.f, but no matches were found in the schema cache.")
        );
    }

    #[test]
    fn jwt_errors_carry_www_authenticate() {
        let e = ApiError::jwt_claims("JWT expired");
        assert_eq!((e.status, e.code.as_str()), (401, "PGRST303"));
        assert_eq!(
            e.headers[0],
            (
                "WWW-Authenticate".to_string(),
                "Bearer error=\"invalid_token\", error_description=\"JWT expired\"".to_string()
            )
        );
        let e = ApiError::jwt_token_required();
        assert_eq!(e.headers[0].1, "Bearer");
        let e = ApiError::jwt_secret_missing();
        assert_eq!(e.status, 500);
        assert!(e.headers.is_empty());
    }

    #[test]
    fn ambiguous_relationship_has_json_details() {
        let e = ApiError::ambiguous_relationship(
            "a",
            "b",
            json!([{"cardinality": "many-to-one"}]),
            &["'b!fk1'".into(), "'b!fk2'".into()],
        );
        assert_eq!(e.status, 300);
        let v = e.body_json();
        assert_eq!(v["details"][0]["cardinality"], "many-to-one");
        assert_eq!(v["code"], "PGRST201");
    }
}
