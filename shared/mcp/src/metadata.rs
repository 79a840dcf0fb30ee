//! OAuth 2.0 Protected Resource Metadata (RFC 9728): how an MCP client finds the authorization
//! server to get a token for this resource from.

use serde_json::{json, Value};

use crate::settings::Settings;

/// The well-known path of the metadata (RFC 9728 §3); it is also served with the resource's
/// path appended (`/.well-known/oauth-protected-resource/mcp`).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Whether `path` is one of the metadata's two paths.
pub fn is_metadata_path(path: &str, settings: &Settings) -> bool {
    path == WELL_KNOWN
        || path
            .strip_prefix(WELL_KNOWN)
            .is_some_and(|suffix| suffix == settings.resource_path())
}

/// The metadata document.
pub fn document(settings: &Settings) -> Value {
    json!({
        "resource": settings.resource,
        "authorization_servers": settings.issuer.iter().map(|i| i.issuer.clone()).collect::<Vec<_>>(),
        "scopes_supported": settings.scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": "Switchyard tools",
    })
}

/// The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3, RFC 9728 §5.1).
pub fn challenge(settings: &Settings, error: Option<&str>) -> String {
    let mut value = format!("Bearer resource_metadata=\"{}\"", settings.metadata_url());
    if let Some(error) = error {
        value.push_str(&format!(", error=\"{error}\""));
    }
    if !settings.scopes.is_empty() {
        value.push_str(&format!(", scope=\"{}\"", settings.scopes.join(" ")));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_values(
            Some("https://gw.example.com/mcp"),
            Some("https://issuer.example.com"),
            Some("https://issuer.example.com/jwks"),
            None,
            None,
        )
        .expect("settings")
    }

    #[test]
    fn names_the_resource_and_its_authorization_server() {
        let s = settings();
        let doc = document(&s);
        assert_eq!(doc["resource"], "https://gw.example.com/mcp");
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://issuer.example.com"])
        );
        assert_eq!(doc["scopes_supported"], json!(["mcp:tools"]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
        assert!(is_metadata_path(
            "/.well-known/oauth-protected-resource",
            &s
        ));
        assert!(is_metadata_path(
            "/.well-known/oauth-protected-resource/mcp",
            &s
        ));
        assert!(!is_metadata_path(
            "/.well-known/oauth-protected-resource/other",
            &s
        ));
    }

    #[test]
    fn the_challenge_points_at_the_metadata() {
        let s = settings();
        assert_eq!(
            challenge(&s, None),
            "Bearer resource_metadata=\"https://gw.example.com/.well-known/oauth-protected-resource\", scope=\"mcp:tools\""
        );
        assert!(challenge(&s, Some("invalid_token")).contains(", error=\"invalid_token\""));
    }
}
