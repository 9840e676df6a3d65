//! Verified tokens, per executor, so the signature of a token a client sends again and again is
//! checked once (PostgREST's JWT cache). Bounded; an entry lives until the token's `exp` (plus
//! the leeway) or `jwt_cache_max_lifetime` seconds, whichever comes first. The owner clears
//! the cache whenever the keys or the claim checks change.

use serde_json::{Map, Value};
use std::collections::HashMap;

/// Beyond this many entries the expired ones are dropped, and if that is not enough, all.
pub const MAX_ENTRIES: usize = 1024;

struct Entry {
    claims: Map<String, Value>,
    until: i64,
}

#[derive(Default)]
pub struct TokenCache {
    entries: HashMap<String, Entry>,
}

impl TokenCache {
    pub fn get(&self, token: &str, now: i64) -> Option<&Map<String, Value>> {
        self.entries
            .get(token)
            .filter(|e| now <= e.until)
            .map(|e| &e.claims)
    }

    /// `valid_until`: the token's `exp` plus leeway, if it has one.
    pub fn insert(
        &mut self,
        token: &str,
        claims: Map<String, Value>,
        valid_until: Option<i64>,
        max_lifetime: i64,
        now: i64,
    ) {
        if max_lifetime <= 0 {
            return;
        }
        let until = valid_until.map_or(now + max_lifetime, |v| v.min(now + max_lifetime));
        if until < now {
            return;
        }
        if self.entries.len() >= MAX_ENTRIES {
            self.entries.retain(|_, e| now <= e.until);
            if self.entries.len() >= MAX_ENTRIES {
                self.entries.clear();
            }
        }
        self.entries
            .insert(token.to_string(), Entry { claims, until });
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims() -> Map<String, Value> {
        json!({"sub": "u"}).as_object().unwrap().clone()
    }

    #[test]
    fn entries_expire_with_the_token_or_the_max_lifetime() {
        let mut c = TokenCache::default();
        c.insert("a", claims(), Some(110), 3600, 100);
        assert!(c.get("a", 110).is_some());
        assert!(c.get("a", 111).is_none());
        c.insert("b", claims(), None, 60, 100);
        assert!(c.get("b", 160).is_some());
        assert!(c.get("b", 161).is_none());
        c.insert("c", claims(), Some(10_000), 60, 100);
        assert!(c.get("c", 161).is_none());
    }

    #[test]
    fn zero_lifetime_disables_the_cache() {
        let mut c = TokenCache::default();
        c.insert("a", claims(), None, 0, 100);
        assert!(c.is_empty());
    }

    #[test]
    fn bounded() {
        let mut c = TokenCache::default();
        for i in 0..MAX_ENTRIES {
            c.insert(
                &i.to_string(),
                claims(),
                Some(if i % 2 == 0 { 50 } else { 500 }),
                3600,
                10,
            );
        }
        assert_eq!(c.len(), MAX_ENTRIES);
        // at t=100 the even half has expired and makes room
        c.insert("new", claims(), None, 3600, 100);
        assert_eq!(c.len(), MAX_ENTRIES / 2 + 1);
        for i in 0..MAX_ENTRIES {
            c.insert(&format!("x{i}"), claims(), None, 3600, 100);
        }
        assert!(c.len() <= MAX_ENTRIES);
    }
}
