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
];

impl MediaType {
    /// The media type as PostgREST names it (`toMime`).
    pub fn mime(&self) -> &'static str {
        match self {
            MediaType::Json => "application/json",
            MediaType::SingleObject => "application/vnd.pgrst.object+json",
            MediaType::ArrayStripped => "application/vnd.pgrst.array+json;nulls=stripped",
            MediaType::SingleObjectStripped => "application/vnd.pgrst.object+json;nulls=stripped",
            MediaType::Csv => "text/csv",
            MediaType::TextPlain => "text/plain",
            MediaType::OctetStream => "application/octet-stream",
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
    pub fn is_singular(&self) -> bool {
        matches!(
            self,
            MediaType::SingleObject | MediaType::SingleObjectStripped
        )
    }

    /// Strip null-valued keys from the JSON objects of the body (`nulls=stripped`).
    pub fn strips_nulls(&self) -> bool {
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
    /// a type we do not produce, with the name PostgREST reports it under
    Other(String),
}

fn decode_media_type(s: &str) -> Decoded {
    let essence = essence(s);
    let mut nulls_stripped = false;
    for p in s.split(';').skip(1) {
        if let Some((k, v)) = p.split_once('=') {
            if k.trim().eq_ignore_ascii_case("nulls") && v.trim().trim_matches('"') == "stripped" {
                nulls_stripped = true;
            }
        }
    }
    let (main, sub) = essence.split_once('/').unwrap_or((essence.as_str(), ""));
    match (main, sub) {
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
        ("application", "geo+json") => Decoded::Other("application/geo+json".into()),
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
/// missing or blank header mean JSON); none -> 406 PGRST107.
pub fn negotiate(accept: Option<&str>, supported: &[MediaType]) -> Result<MediaType, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(MediaType::Json);
    };
    let list = accept_list(accept);
    let decoded: Vec<Decoded> = list.iter().map(|m| decode_media_type(m)).collect();
    for d in &decoded {
        match d {
            Decoded::Any if supported.contains(&MediaType::Json) => return Ok(MediaType::Json),
            Decoded::Known(m) if supported.contains(m) => return Ok(*m),
            _ => {}
        }
    }
    let names: Vec<String> = decoded
        .iter()
        .map(|d| match d {
            Decoded::Known(m) => m.mime().to_string(),
            Decoded::Any => "*/*".to_string(),
            Decoded::Other(s) => s.clone(),
        })
        .collect();
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
