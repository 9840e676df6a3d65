//! A snapshot of the `serendb_data_api.*` settings taken for one request.
//!
//! Pure data: the `guc` module fills it from Postgres, tests build it by hand.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEnd {
    Commit,
    CommitAllowOverride,
    Rollback,
    RollbackAllowOverride,
}

impl TxEnd {
    pub fn parse(s: &str) -> TxEnd {
        match s.trim() {
            "commit-allow-override" => TxEnd::CommitAllowOverride,
            "rollback" => TxEnd::Rollback,
            "rollback-allow-override" => TxEnd::RollbackAllowOverride,
            _ => TxEnd::Commit,
        }
    }
    pub fn allows_override(&self) -> bool {
        matches!(
            self,
            TxEnd::CommitAllowOverride | TxEnd::RollbackAllowOverride
        )
    }
    pub fn default_rollback(&self) -> bool {
        matches!(self, TxEnd::Rollback | TxEnd::RollbackAllowOverride)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub jwt_secret: Option<String>,
    pub jwt_aud: Option<String>,
    /// PostgREST's role claim path, e.g. `.role` or `.app_metadata.role`.
    pub jwt_role_claim_key: String,
    /// Role for a valid JWT without a role claim.
    pub default_role: String,
    /// Role for requests without a JWT; `None` means such requests get 401.
    pub anon_role: Option<String>,
    pub authenticator_role: String,
    /// Exposed schemas; the first is the default.
    pub schemas: Vec<String>,
    pub max_rows: Option<i64>,
    pub tx_end: TxEnd,
    pub aggregates_enabled: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            jwt_secret: None,
            jwt_aud: None,
            jwt_role_claim_key: ".role".into(),
            default_role: "authenticated".into(),
            anon_role: None,
            authenticator_role: "authenticator".into(),
            schemas: vec!["public".into()],
            max_rows: None,
            tx_end: TxEnd::Commit,
            aggregates_enabled: false,
        }
    }
}

impl Settings {
    /// Splits a `db_schemas` value such as `public, v2`.
    pub fn parse_schemas(s: &str) -> Vec<String> {
        let v: Vec<String> = s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if v.is_empty() {
            vec!["public".into()]
        } else {
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_split_and_trimmed() {
        assert_eq!(Settings::parse_schemas("public, v2"), vec!["public", "v2"]);
        assert_eq!(Settings::parse_schemas(" "), vec!["public"]);
    }

    #[test]
    fn tx_end_values() {
        assert!(TxEnd::parse("commit-allow-override").allows_override());
        assert!(!TxEnd::parse("commit").allows_override());
        assert!(TxEnd::parse("rollback").default_rollback());
        assert_eq!(TxEnd::parse("junk"), TxEnd::Commit);
    }
}
