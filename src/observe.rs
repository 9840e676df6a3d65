//! Per-request observability: PostgREST's `Server-Timing` stages, `log_level` and the request
//! log line.
//!
//! Stage times are kept per thread (an executor runs one request at a time on one thread), so
//! the request pipeline only wraps its steps in [`stage`] and never passes timers around.

use std::cell::{Cell, RefCell};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Jwt,
    Parse,
    Plan,
    Transaction,
    Response,
}

/// Milliseconds spent in each of PostgREST's stages for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerTiming {
    pub jwt: f64,
    pub parse: f64,
    pub plan: f64,
    /// The whole transaction, including the plan and response stages run inside it.
    pub transaction: f64,
    pub response: f64,
}

impl ServerTiming {
    fn add(&mut self, stage: Stage, ms: f64) {
        match stage {
            Stage::Jwt => self.jwt += ms,
            Stage::Parse => self.parse += ms,
            Stage::Plan => self.plan += ms,
            Stage::Transaction => self.transaction += ms,
            Stage::Response => self.response += ms,
        }
    }

    /// The `Server-Timing` value, PostgREST's names and order; `transaction` excludes the plan
    /// and response stages that ran inside it.
    pub fn header_value(&self) -> String {
        let tx = (self.transaction - self.plan - self.response).max(0.0);
        format!(
            "jwt;dur={:.3}, parse;dur={:.3}, plan;dur={:.3}, transaction;dur={:.3}, response;dur={:.3}",
            self.jwt, self.parse, self.plan, tx, self.response
        )
    }
}

thread_local! {
    static TIMING: Cell<ServerTiming> = Cell::new(ServerTiming::default());
    static ROLE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Forgets the previous request's stage times and role.
pub fn start_request() {
    TIMING.with(|t| t.set(ServerTiming::default()));
    ROLE.with(|r| r.borrow_mut().clear());
}

/// Runs `f`, adding its wall time to `stage`.
pub fn stage<T>(stage: Stage, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    TIMING.with(|t| {
        let mut v = t.get();
        v.add(stage, ms);
        t.set(v);
    });
    out
}

pub fn timing() -> ServerTiming {
    TIMING.with(|t| t.get())
}

/// The role the request ran as, for the request log.
pub fn set_role(role: &str) {
    ROLE.with(|r| {
        let mut r = r.borrow_mut();
        r.clear();
        r.push_str(role);
    });
}

pub fn role() -> String {
    ROLE.with(|r| r.borrow().clone())
}

/// Carries the request's role from the executor to the listener inside the response; the
/// leading space makes it an invalid header name, so no client or SQL-set header can be it,
/// and the listener removes it before answering.
pub const ROLE_HEADER: &str = " serendb-role";

/// PostgREST's `log-level`: which requests get a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Crit,
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    /// PostgREST's default is `error`; unknown values are taken as it.
    pub fn parse(s: &str) -> LogLevel {
        match s.trim().to_ascii_lowercase().as_str() {
            "crit" => LogLevel::Crit,
            "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            _ => LogLevel::Error,
        }
    }

    /// As PostgREST: `error` logs 5xx responses, `warn` also 4xx, `info` and `debug` all;
    /// `crit` logs no requests.
    pub fn logs_request(self, status: u16) -> bool {
        match self {
            LogLevel::Crit => false,
            LogLevel::Error => status >= 500,
            LogLevel::Warn => status >= 400,
            LogLevel::Info | LogLevel::Debug => true,
        }
    }
}

/// What one request log line says.
pub struct RequestLog<'a> {
    pub method: &'a str,
    pub target: &'a str,
    pub status: u16,
    pub bytes_out: usize,
    pub seconds: f64,
    pub role: &'a str,
    /// (header name, value) of `server_trace_header`, when the request had one
    pub trace: Option<(&'a str, &'a str)>,
}

impl RequestLog<'_> {
    /// `role "METHOD /target" status bytes duration`, PostgREST's access-log order, with
    /// control characters of client-controlled parts escaped so one request is one line.
    pub fn line(&self) -> String {
        let role = if self.role.is_empty() { "-" } else { self.role };
        let mut s = format!(
            "{} \"{} {}\" {} {} {:.3}ms",
            escape(role),
            escape(self.method),
            escape(self.target),
            self.status,
            self.bytes_out,
            self.seconds * 1e3
        );
        if let Some((name, value)) = self.trace {
            s.push_str(&format!(" {}={}", escape(name), escape(value)));
        }
        s
    }
}

fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() || c == '"' || c == '\\' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_uses_postgrest_names_and_excludes_inner_stages_from_transaction() {
        let t = ServerTiming {
            jwt: 0.5,
            parse: 0.25,
            plan: 1.0,
            transaction: 5.0,
            response: 0.5,
        };
        assert_eq!(
            t.header_value(),
            "jwt;dur=0.500, parse;dur=0.250, plan;dur=1.000, transaction;dur=3.500, response;dur=0.500"
        );
    }

    #[test]
    fn stages_accumulate_per_request() {
        start_request();
        let v = stage(Stage::Plan, || {
            std::thread::sleep(std::time::Duration::from_millis(2));
            7
        });
        assert_eq!(v, 7);
        assert!(timing().plan >= 2.0);
        start_request();
        assert_eq!(timing(), ServerTiming::default());
    }

    #[test]
    fn log_levels_as_postgrest() {
        assert_eq!(LogLevel::parse("INFO"), LogLevel::Info);
        assert_eq!(LogLevel::parse("nonsense"), LogLevel::Error);
        assert!(!LogLevel::Crit.logs_request(500));
        assert!(LogLevel::Error.logs_request(503) && !LogLevel::Error.logs_request(404));
        assert!(LogLevel::Warn.logs_request(404) && !LogLevel::Warn.logs_request(200));
        assert!(LogLevel::Info.logs_request(200) && LogLevel::Debug.logs_request(201));
    }

    #[test]
    fn log_line_is_one_line() {
        let l = RequestLog {
            method: "GET",
            target: "/posts?x=\"a\nb\"",
            status: 200,
            bytes_out: 12,
            seconds: 0.0015,
            role: "anonymous",
            trace: Some(("x-request-id", "abc")),
        };
        assert_eq!(
            l.line(),
            "anonymous \"GET /posts?x=\\\"a\\nb\\\"\" 200 12 1.500ms x-request-id=abc"
        );
    }
}
