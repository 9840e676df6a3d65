//! Media types: the Accept header negotiated into a response [`MediaType`], the Content-Type
//! header read into a request [`BodyType`].

use crate::error::ApiError;

/// Response media types PostgREST negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaType {
    /// `application/json` (also `*/*` and no Accept)
    #[default]
    Json,
    /// `application/vnd.pgrst.object+json` (singular)
    SingleObject,
    /// `application/vnd.pgrst.array+json;nulls=stripped`
    ArrayStripped,
    /// `application/vnd.pgrst.object+json;nulls=stripped`
    SingleObjectStripped,
    Csv,
    TextPlain,
    OctetStream,
    /// `application/geo+json`: a FeatureCollection built by PostGIS's `ST_AsGeoJSON(record)`
    GeoJson,
}

/// `Accept: application/vnd.pgrst.plan[+text|+json]; for="<media type>"; options=a|b`: the
/// EXPLAIN output of the statement that would answer `for` (PostgREST's `MTVndPlan`), when
/// `db_plan_enabled` allows it. The request's `accept` is then the `for` media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Explain {
    /// `+json`; else text (also plain `application/vnd.pgrst.plan`)
    pub json: bool,
    pub analyze: bool,
    pub verbose: bool,
    pub settings: bool,
    pub buffers: bool,
    pub wal: bool,
}

impl Explain {
    /// The options that are on, in PostgREST's order, as named in the media type.
    fn options(&self) -> Vec<&'static str> {
        [
            (self.analyze, "analyze"),
            (self.verbose, "verbose"),
            (self.settings, "settings"),
            (self.buffers, "buffers"),
            (self.wal, "wal"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// The media type as PostgREST names it (`toMime`), for the response and for errors.
    pub fn mime(&self, for_: MediaType) -> String {
        self.mime_for(for_.mime())
    }

    fn mime_for(&self, for_: &str) -> String {
        let format = if self.json { "json" } else { "text" };
        let mut m = format!("application/vnd.pgrst.plan+{format}; for=\"{for_}\"");
        let opts = self.options();
        if !opts.is_empty() {
            m.push_str(&format!("; options={}", opts.join("|")));
        }
        m
    }

    pub fn content_type(&self, for_: MediaType) -> String {
        format!("{}; charset=utf-8", self.mime(for_))
    }

    /// `EXPLAIN (<this>) <statement>`: the format, then the options.
    pub fn sql_options(&self) -> String {
        let format = if self.json {
            "FORMAT JSON"
        } else {
            "FORMAT TEXT"
        };
        std::iter::once(format.to_string())
            .chain(self.options().iter().map(|o| o.to_ascii_uppercase()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyType {
    #[default]
    Json,
    Csv,
    FormUrlEncoded,
    TextPlain,
    OctetStream,
    Other,
}

pub(super) const ALL_MEDIA_TYPES: &[MediaType] = &[
    MediaType::Json,
    MediaType::SingleObject,
    MediaType::SingleObjectStripped,
    MediaType::ArrayStripped,
    MediaType::Csv,
    MediaType::TextPlain,
    MediaType::OctetStream,
    MediaType::GeoJson,
];

impl MediaType {
    /// The media type as PostgREST names it (`toMime`).
    pub(crate) fn mime(&self) -> &'static str {
        match self {
            MediaType::Json => "application/json",
            MediaType::SingleObject => "application/vnd.pgrst.object+json",
            MediaType::ArrayStripped => "application/vnd.pgrst.array+json;nulls=stripped",
            MediaType::SingleObjectStripped => "application/vnd.pgrst.object+json;nulls=stripped",
            MediaType::Csv => "text/csv",
            MediaType::TextPlain => "text/plain",
            MediaType::OctetStream => "application/octet-stream",
            MediaType::GeoJson => "application/geo+json",
        }
    }

    /// The response `Content-Type` value.
    pub fn content_type(&self) -> String {
        match self {
            MediaType::OctetStream => self.mime().to_string(),
            _ => format!("{}; charset=utf-8", self.mime()),
        }
    }

    /// `application/vnd.pgrst.object+json` with or without `nulls=stripped`.
    pub(crate) fn is_singular(&self) -> bool {
        matches!(
            self,
            MediaType::SingleObject | MediaType::SingleObjectStripped
        )
    }

    /// Strip null-valued keys from the JSON objects of the body (`nulls=stripped`).
    pub(crate) fn strips_nulls(&self) -> bool {
        matches!(
            self,
            MediaType::SingleObjectStripped | MediaType::ArrayStripped
        )
    }
}

/// One media type of an Accept or Content-Type header, decoded as PostgREST decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decoded {
    Known(MediaType),
    /// `*/*`
    Any,
    /// `application/vnd.pgrst.plan...`: the plan of the statement for the inner media type
    Plan(Box<Decoded>, Explain),
    /// a type we do not produce, with the name PostgREST reports it under
    Other(String),
}

/// `type/subtype; k=v; k="v"` -> (lower-case essence, parameters with lower-case names and
/// unquoted values). A quoted value may hold `;` (`for="a/b;x=y"`).
fn split_media_type(s: &str) -> (String, Vec<(String, String)>) {
    let mut parts: Vec<String> = vec![];
    let mut part = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            ';' if !quoted => parts.push(std::mem::take(&mut part)),
            c => {
                quoted ^= c == '"';
                part.push(c);
            }
        }
    }
    parts.push(part);
    let params = parts[1..]
        .iter()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.trim().to_ascii_lowercase(), v.to_string())
        })
        .collect();
    (essence(&parts[0]), params)
}

fn decode_media_type(s: &str) -> Decoded {
    let (essence, params) = split_media_type(s);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let nulls_stripped = param("nulls") == Some("stripped");
    let plan = |json: bool| {
        let opts: Vec<&str> = param("options").unwrap_or("").split('|').collect();
        let on = |o: &str| opts.contains(&o);
        let explain = Explain {
            json,
            analyze: on("analyze"),
            verbose: on("verbose"),
            settings: on("settings"),
            buffers: on("buffers"),
            wal: on("wal"),
        };
        let for_ = decode_media_type(param("for").unwrap_or("application/json"));
        Decoded::Plan(Box::new(for_), explain)
    };
    let (main, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match (main, sub) {
        ("application", "vnd.pgrst.plan" | "vnd.pgrst.plan+text") => plan(false),
        ("application", "vnd.pgrst.plan+json") => plan(true),
        ("application", "json") => Decoded::Known(MediaType::Json),
        ("text", "csv") => Decoded::Known(MediaType::Csv),
        ("text", "plain") => Decoded::Known(MediaType::TextPlain),
        ("application", "octet-stream") => Decoded::Known(MediaType::OctetStream),
        ("application", "vnd.pgrst.object+json" | "vnd.pgrst.object") => {
            Decoded::Known(if nulls_stripped {
                MediaType::SingleObjectStripped
            } else {
                MediaType::SingleObject
            })
        }
        ("application", "vnd.pgrst.array+json" | "vnd.pgrst.array") => {
            Decoded::Known(if nulls_stripped {
                MediaType::ArrayStripped
            } else {
                MediaType::Json
            })
        }
        ("*", "*") => Decoded::Any,
        ("application", "geo+json") => Decoded::Known(MediaType::GeoJson),
        ("text", "xml") => Decoded::Other("text/xml".into()),
        ("application", "openapi+json") => Decoded::Other("application/openapi+json".into()),
        ("application", "x-www-form-urlencoded") => {
            Decoded::Other("application/x-www-form-urlencoded".into())
        }
        _ => Decoded::Other(s.to_string()),
    }
}

/// The Accept header's media types, most preferred first: by q-value, then the more specific
/// (more parameters, fewer `*`), then in the order given (as WAI's `parseHttpAccept`).
pub fn accept_list(accept: &str) -> Vec<String> {
    let mut items: Vec<(String, f64, i64, usize)> = accept
        .split(',')
        .enumerate()
        .map(|(i, item)| {
            let item: String = item.chars().filter(|c| *c != ' ').collect();
            let (mt, q) = match item.find(";q=") {
                Some(at) => {
                    let rest = &item[at + 3..];
                    let q = rest.split(';').next().unwrap_or("");
                    (item[..at].to_string(), q.parse::<f64>().unwrap_or(1.0))
                }
                None => (item.clone(), 1.0),
            };
            let specificity = mt.matches(';').count() as i64 - mt.matches('*').count() as i64;
            (mt, q, specificity, i)
        })
        .collect();
    items.sort_by(|a, b| {
        b.1.partial_cmp(&a.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(b.2.cmp(&a.2))
            .then(a.3.cmp(&b.3))
    });
    items.into_iter().map(|(mt, ..)| mt).collect()
}

/// Picks the first media type of the Accept header that is in `supported` (`*/*` and a
/// missing or blank header mean JSON); none -> 406 PGRST107. The plan media types count when
/// `plan_enabled` (`db_plan_enabled`): then the answer is the plan of the statement for the
/// `for` media type (which must itself be in `supported`). Disabled, they are media types like
/// any unknown one.
pub fn negotiate_explain(
    accept: Option<&str>,
    supported: &[MediaType],
    plan_enabled: bool,
) -> Result<(MediaType, Option<Explain>), ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok((MediaType::Json, None));
    };
    let list = accept_list(accept);
    let decoded: Vec<Decoded> = list.iter().map(|m| decode_media_type(m)).collect();
    let pick = |d: &Decoded| match d {
        Decoded::Any if supported.contains(&MediaType::Json) => Some(MediaType::Json),
        Decoded::Known(m) if supported.contains(m) => Some(*m),
        _ => None,
    };
    for d in &decoded {
        match d {
            Decoded::Plan(for_, explain) if plan_enabled => {
                if let Some(m) = pick(for_) {
                    return Ok((m, Some(*explain)));
                }
            }
            d => {
                if let Some(m) = pick(d) {
                    return Ok((m, None));
                }
            }
        }
    }
    let names: Vec<String> = decoded.iter().map(Decoded::name).collect();
    Err(ApiError::media_type_error(&names))
}

impl Decoded {
    /// The name PostgREST gives it in PGRST107's message.
    fn name(&self) -> String {
        match self {
            Decoded::Known(m) => m.mime().to_string(),
            Decoded::Any => "*/*".to_string(),
            Decoded::Other(s) => s.clone(),
            Decoded::Plan(for_, explain) => explain.mime_for(&for_.name()),
        }
    }
}

/// Which OpenAPI document `GET /` serves: PostgREST's Swagger 2.0, or OpenAPI 3.1 (our
/// addition, asked for with `application/openapi+json;version=3.1` or the `openapi_version`
/// setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenApiVersion {
    #[default]
    Swagger2,
    V31,
}

impl OpenApiVersion {
    /// `2.0`/`2` or `3.1`/`3.1.0`/`3` (the setting's values and the media type parameter's).
    pub fn parse(s: &str) -> Option<OpenApiVersion> {
        match s.trim().trim_matches('"') {
            "2" | "2.0" => Some(OpenApiVersion::Swagger2),
            "3" | "3.1" | "3.1.0" => Some(OpenApiVersion::V31),
            _ => None,
        }
    }
}

/// `GET /` (PostgREST's `inspectPlan`): the description is produced for
/// `application/openapi+json`, `application/json` and `*/*`; anything else is 406 PGRST107.
/// `Some(version)` when the caller asked for one with `application/openapi+json;version=...`,
/// `None` when the setting decides.
pub fn negotiate_openapi(accept: Option<&str>) -> Result<Option<OpenApiVersion>, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(None);
    };
    let list = accept_list(accept);
    for m in &list {
        let version = m.split(';').skip(1).find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("version")
                .then(|| v.to_string())
        });
        match (essence(m).as_str(), version) {
            ("application/openapi+json", Some(v)) => match OpenApiVersion::parse(&v) {
                Some(v) => return Ok(Some(v)),
                None => continue,
            },
            ("application/openapi+json" | "application/json" | "*/*", _) => return Ok(None),
            _ => {}
        }
    }
    let names: Vec<String> = list.iter().map(|m| decode_media_type(m).name()).collect();
    Err(ApiError::media_type_error(&names))
}

/// A media type without its parameters, lower case: `Text/CSV; charset=x` -> `text/csv`.
pub fn essence(media_type: &str) -> String {
    media_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(super) fn body_type(content_type: &str) -> BodyType {
    match essence(content_type).as_str() {
        "application/json" => BodyType::Json,
        "text/csv" => BodyType::Csv,
        "application/x-www-form-urlencoded" => BodyType::FormUrlEncoded,
        "text/plain" => BodyType::TextPlain,
        "application/octet-stream" => BodyType::OctetStream,
        _ => BodyType::Other,
    }
}
