//! The `Prefer` header, as PostgREST understands it (RFC 7240, first occurrence wins).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPref {
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPref {
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxPref {
    Commit,
    Rollback,
}

/// The `Prefer` header, as PostgREST understands it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub return_: Option<ReturnPref>,
    pub count: Option<CountPref>,
    pub resolution: Option<Resolution>,
    /// `missing=default`
    pub missing_default: bool,
    pub tx: Option<TxPref>,
    pub max_affected: Option<i64>,
    /// `handling=strict` (else lenient)
    pub strict: bool,
    pub timezone: Option<String>,
    /// preferences we did not understand (an error under `handling=strict`)
    pub invalid: Vec<String>,
    /// `missing=null` was given explicitly (echoed in Preference-Applied)
    pub missing_null: bool,
    /// `handling=lenient` was given explicitly (echoed in Preference-Applied)
    pub lenient: bool,
}

/// Every `Prefer` header value, comma separated, first occurrence of each preference wins
/// (RFC 7240 as PostgREST reads it). `tx` counts only when the server allows the override.
pub fn parse_preferences<'a>(
    values: impl Iterator<Item = &'a str>,
    tx_allowed: bool,
) -> Preferences {
    let prefs: Vec<&str> = values.flat_map(|v| v.split(',')).map(str::trim).collect();
    let first = |table: &[&str]| prefs.iter().find(|p| table.contains(p)).copied();
    let mut out = Preferences {
        return_: first(&[
            "return=representation",
            "return=minimal",
            "return=headers-only",
        ])
        .map(|p| match p {
            "return=representation" => ReturnPref::Representation,
            "return=minimal" => ReturnPref::Minimal,
            _ => ReturnPref::HeadersOnly,
        }),
        count: first(&["count=exact", "count=planned", "count=estimated"]).map(|p| match p {
            "count=exact" => CountPref::Exact,
            "count=planned" => CountPref::Planned,
            _ => CountPref::Estimated,
        }),
        resolution: first(&[
            "resolution=merge-duplicates",
            "resolution=ignore-duplicates",
        ])
        .map(|p| match p {
            "resolution=merge-duplicates" => Resolution::MergeDuplicates,
            _ => Resolution::IgnoreDuplicates,
        }),
        ..Preferences::default()
    };
    match first(&["missing=default", "missing=null"]) {
        Some("missing=default") => out.missing_default = true,
        Some(_) => out.missing_null = true,
        None => {}
    }
    if tx_allowed {
        out.tx = first(&["tx=commit", "tx=rollback"]).map(|p| match p {
            "tx=commit" => TxPref::Commit,
            _ => TxPref::Rollback,
        });
    }
    match first(&["handling=strict", "handling=lenient"]) {
        Some("handling=strict") => out.strict = true,
        Some(_) => out.lenient = true,
        None => {}
    }
    out.timezone = prefs
        .iter()
        .find_map(|p| p.strip_prefix("timezone="))
        .map(str::to_string);
    out.max_affected = prefs
        .iter()
        .find_map(|p| p.strip_prefix("max-affected="))
        .and_then(|n| n.trim().parse::<i64>().ok());
    const KNOWN: &[&str] = &[
        "resolution=merge-duplicates",
        "resolution=ignore-duplicates",
        "return=representation",
        "return=minimal",
        "return=headers-only",
        "count=exact",
        "count=planned",
        "count=estimated",
        "tx=commit",
        "tx=rollback",
        "missing=default",
        "missing=null",
        "handling=strict",
        "handling=lenient",
    ];
    out.invalid = prefs
        .iter()
        .filter(|p| {
            !KNOWN.contains(p) && !p.starts_with("timezone=") && !p.starts_with("max-affected=")
        })
        .map(|p| p.to_string())
        .collect();
    out
}
