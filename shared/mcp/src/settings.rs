//! The MCP endpoint's deployment configuration, read once per cold start.
//!
//! | variable | meaning |
//! |---|---|
//! | `SWITCHYARD_MCP_RESOURCE` | this resource's URL, the MCP endpoint (`https://gw.example.com/mcp`); tokens must name it in `aud` (RFC 8707) |
//! | `SWITCHYARD_MCP_ISSUER` | the OIDC issuer whose access tokens are accepted; empty: agent tokens only |
//! | `SWITCHYARD_MCP_JWKS_URL` | the issuer's key set (`https://`, or `http://` on loopback for a local stack) |
//! | `SWITCHYARD_MCP_CLIENTS` | which OAuth client acts as which agent: `client_id=agent_id@workspace`, comma-separated |
//! | `SWITCHYARD_MCP_SCOPES` | scopes named in the protected resource metadata, space-separated (default `mcp:tools`) |
//!
//! The client map is configuration until the agents table carries OAuth client ids; a token of a
//! client not in it is refused.

use std::collections::BTreeMap;

/// Why the configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{var} must be an https URL, or http on loopback: {value:?}")]
    NotHttps { var: &'static str, value: String },
    #[error("SWITCHYARD_MCP_CLIENTS entry {0:?} is not client_id=agent_id@workspace")]
    BadClient(String),
    #[error("SWITCHYARD_MCP_JWKS_URL is required with SWITCHYARD_MCP_ISSUER")]
    IssuerWithoutKeys,
}

/// The agent an OAuth client acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAgent {
    pub agent_id: String,
    pub workspace: String,
}

/// The OIDC issuer whose access tokens are accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub issuer: String,
    pub jwks_url: String,
}

/// The MCP endpoint's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// This resource's URL (the MCP endpoint), without a trailing slash.
    pub resource: String,
    pub issuer: Option<Issuer>,
    pub clients: BTreeMap<String, ClientAgent>,
    pub scopes: Vec<String>,
}

/// The scopes advertised when none are configured.
pub const DEFAULT_SCOPES: &[&str] = &["mcp:tools"];

impl Settings {
    /// From the `SWITCHYARD_MCP_*` variables.
    pub fn from_env() -> Result<Self, SettingsError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Self::from_values(
            var("SWITCHYARD_MCP_RESOURCE").as_deref(),
            var("SWITCHYARD_MCP_ISSUER").as_deref(),
            var("SWITCHYARD_MCP_JWKS_URL").as_deref(),
            var("SWITCHYARD_MCP_CLIENTS").as_deref(),
            var("SWITCHYARD_MCP_SCOPES").as_deref(),
        )
    }

    /// From the variables' values.
    pub fn from_values(
        resource: Option<&str>,
        issuer: Option<&str>,
        jwks_url: Option<&str>,
        clients: Option<&str>,
        scopes: Option<&str>,
    ) -> Result<Self, SettingsError> {
        let resource = resource.ok_or(SettingsError::Missing("SWITCHYARD_MCP_RESOURCE"))?;
        let resource = https_or_loopback("SWITCHYARD_MCP_RESOURCE", resource)?;
        let issuer = match (issuer, jwks_url) {
            (None, _) => None,
            (Some(_), None) => return Err(SettingsError::IssuerWithoutKeys),
            (Some(issuer), Some(jwks)) => Some(Issuer {
                issuer: https_or_loopback("SWITCHYARD_MCP_ISSUER", issuer)?,
                jwks_url: https_or_loopback("SWITCHYARD_MCP_JWKS_URL", jwks)?,
            }),
        };
        let clients = parse_clients(clients.unwrap_or_default())?;
        let scopes = match scopes {
            Some(s) => s.split_whitespace().map(str::to_owned).collect(),
            None => DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        };
        Ok(Self {
            resource,
            issuer,
            clients,
            scopes,
        })
    }

    /// The origin of the resource URL (`https://host[:port]`).
    pub fn origin(&self) -> &str {
        let after_scheme = self.resource.find("://").map_or(0, |i| i + 3);
        let end = self.resource[after_scheme..]
            .find('/')
            .map_or(self.resource.len(), |i| after_scheme + i);
        &self.resource[..end]
    }

    /// The resource URL's path (`/mcp`).
    pub fn resource_path(&self) -> &str {
        &self.resource[self.origin().len()..]
    }

    /// Where the protected resource metadata is served (RFC 9728 §3, without the path suffix:
    /// both are served, and this one is what the 401 names).
    pub fn metadata_url(&self) -> String {
        format!("{}{}", self.origin(), crate::metadata::WELL_KNOWN)
    }
}

/// `value` without a trailing slash when it is an `https://` URL or `http://` on loopback (a
/// local stack): keys fetched from, or tokens bound to, anything else could be forged on the way.
fn https_or_loopback(var: &'static str, value: &str) -> Result<String, SettingsError> {
    let value = value.trim_end_matches('/');
    let loopback = value
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .map(|authority| match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority,
        })
        .is_some_and(|host| matches!(host, "127.0.0.1" | "[::1]" | "localhost"));
    let https = value
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if https || loopback {
        Ok(value.to_owned())
    } else {
        Err(SettingsError::NotHttps {
            var,
            value: value.to_owned(),
        })
    }
}

fn parse_clients(value: &str) -> Result<BTreeMap<String, ClientAgent>, SettingsError> {
    let mut clients = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || SettingsError::BadClient(entry.to_owned());
        let (client, agent) = entry.split_once('=').ok_or_else(bad)?;
        let (agent, workspace) = agent.split_once('@').ok_or_else(bad)?;
        let (client, agent, workspace) = (client.trim(), agent.trim(), workspace.trim());
        if client.is_empty() || agent.is_empty() || workspace.is_empty() {
            return Err(bad());
        }
        clients.insert(
            client.to_owned(),
            ClientAgent {
                agent_id: agent.to_owned(),
                workspace: workspace.to_owned(),
            },
        );
    }
    Ok(clients)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resource_issuer_and_client_map() {
        let s = Settings::from_values(
            Some("https://gw.example.com/mcp/"),
            Some("https://issuer.example.com"),
            Some("https://issuer.example.com/jwks"),
            Some("desktop=agent-1@ws-1, cli = agent-2@ws-2"),
            None,
        )
        .expect("settings");
        assert_eq!(s.resource, "https://gw.example.com/mcp");
        assert_eq!(s.origin(), "https://gw.example.com");
        assert_eq!(s.resource_path(), "/mcp");
        assert_eq!(
            s.metadata_url(),
            "https://gw.example.com/.well-known/oauth-protected-resource"
        );
        assert_eq!(s.clients["cli"].agent_id, "agent-2");
        assert_eq!(s.clients["desktop"].workspace, "ws-1");
        assert_eq!(s.scopes, vec!["mcp:tools".to_owned()]);
    }

    #[test]
    fn refuses_plain_http_off_loopback_and_malformed_clients() {
        assert!(matches!(
            Settings::from_values(Some("http://gw.example.com/mcp"), None, None, None, None),
            Err(SettingsError::NotHttps { .. })
        ));
        assert!(matches!(
            Settings::from_values(
                Some("http://127.0.0.1:8080/mcp"),
                Some("http://127.0.0.1:9000"),
                Some("http://evil.example.com/jwks"),
                None,
                None
            ),
            Err(SettingsError::NotHttps {
                var: "SWITCHYARD_MCP_JWKS_URL",
                ..
            })
        ));
        assert!(matches!(
            Settings::from_values(
                Some("https://gw.example.com/mcp"),
                Some("https://issuer.example.com"),
                None,
                None,
                None
            ),
            Err(SettingsError::IssuerWithoutKeys)
        ));
        assert!(matches!(
            Settings::from_values(
                Some("https://gw.example.com/mcp"),
                None,
                None,
                Some("desktop=agent-1"),
                None
            ),
            Err(SettingsError::BadClient(_))
        ));
        assert!(matches!(
            Settings::from_values(None, None, None, None, None),
            Err(SettingsError::Missing(_))
        ));
    }
}
