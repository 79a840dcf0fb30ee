//! Access tokens this warm process has already decrypted, by connection and version.
//!
//! Every stored change of a connection (refresh, reconnect, status) bumps its `version`, and the
//! vault reads the connection before every use, so a token cached for the version just read is
//! exactly what decrypting the stored envelope would give: one KMS call per token version per
//! process instead of one per tool call (and one per caller of a burst at expiry).

use std::collections::HashMap;
use std::sync::Mutex;

use super::vault::AccessToken;

/// More connections than this in one process: start over rather than grow without bound.
const MOST: usize = 1024;

#[derive(Debug, Default)]
pub struct OpenedTokens {
    tokens: Mutex<HashMap<String, (u64, AccessToken)>>,
}

impl OpenedTokens {
    /// The token of `connection_id` at `version`, if this process opened it.
    pub fn get(&self, connection_id: &str, version: u64) -> Option<AccessToken> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(connection_id)
            .filter(|(at, _)| *at == version)
            .map(|(_, token)| token.clone())
    }

    pub fn put(&self, version: u64, token: &AccessToken) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MOST && !tokens.contains_key(&token.connection_id) {
            tokens.clear();
        }
        tokens.insert(token.connection_id.clone(), (version, token.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, value: &str) -> AccessToken {
        AccessToken {
            connection_id: id.into(),
            token: value.into(),
            expires_at: None,
            scopes: Vec::new(),
        }
    }

    #[test]
    fn only_the_version_it_was_opened_at_is_served() {
        let opened = OpenedTokens::default();
        opened.put(3, &token("c1", "t3"));
        assert_eq!(
            opened.get("c1", 3).map(|t| t.token.expose().to_owned()),
            Some("t3".into())
        );
        assert!(
            opened.get("c1", 4).is_none(),
            "a newer version is opened again"
        );
        assert!(opened.get("c2", 3).is_none());
        opened.put(4, &token("c1", "t4"));
        assert!(opened.get("c1", 3).is_none(), "the old version is gone");
    }

    #[test]
    fn it_never_holds_more_than_its_bound() {
        let opened = OpenedTokens::default();
        for n in 0..(MOST + 10) {
            opened.put(1, &token(&format!("c{n}"), "t"));
        }
        assert!(opened.tokens.lock().expect("lock").len() <= MOST);
    }
}
