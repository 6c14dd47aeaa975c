//! The JSON-RPC connection: an ethers provider over HTTP(S) or WebSocket, raw JSON in and out
//! (so every header field reaches us, including those ethers' types do not know), a timeout
//! on every call, and errors sorted by what they mean for the connection:
//! - the node answered with a JSON-RPC error: the connection is fine, the request was not;
//! - the answer was not JSON-RPC at all: whatever listens there is not an Ethereum node;
//! - the request never got an answer: the connection is down.
//!
//! RPC URLs often carry an API key in their path or user info, so they are only ever shown
//! redacted, and errors have the URL replaced before they go anywhere.

use std::time::Duration;

use ethers_providers::{Http, Provider, ProviderError, RpcError, Ws};
use serde_json::Value;

use super::json::clip;

/// How the node is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointKind {
    /// `http://` or `https://`: new heads by polling.
    Http,
    /// `ws://` or `wss://`: new heads by subscription.
    Ws,
}

/// An RPC URL, checked, with a form safe to show.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: String,
    kind: EndpointKind,
    shown: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.shown)
            .field("kind", &self.kind)
            .finish()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Why an RPC URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid RPC URL {shown}: {reason}")]
pub struct EndpointError {
    pub shown: String,
    pub reason: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let url = url.trim();
        let fail = |reason: &str| EndpointError {
            shown: redact(url),
            reason: reason.to_string(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| fail("expected http://, https://, ws:// or wss://"))?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" => EndpointKind::Http,
            "ws" | "wss" => EndpointKind::Ws,
            _ => return Err(fail("expected http://, https://, ws:// or wss://")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(fail("no host"));
        }
        if kind == EndpointKind::Http {
            // ethers parses it again; refusing here gives the error a name.
            Provider::<Http>::try_from(url).map_err(|e| fail(&e.to_string()))?;
        }
        Ok(Endpoint {
            url: url.to_string(),
            kind,
            shown: redact(url),
        })
    }

    pub fn kind(&self) -> EndpointKind {
        self.kind
    }

    /// The URL as it may be shown: scheme, host and port; a path or query becomes `/…`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Replaces the full URL in a message (reqwest errors quote it) with its shown form.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.replace(&self.url, &self.shown);
        if let Some(stripped) = self.url.strip_suffix('/') {
            out = out.replace(stripped, &self.shown);
        }
        clip(&out, 300)
    }
}

/// `scheme://host:port` and `/…` if anything followed; user info is dropped.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return clip(url.split(['/', '?']).next().unwrap_or(""), 40);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next().unwrap_or("");
    let tail = &rest[end..];
    let more = if tail.is_empty() || tail == "/" {
        ""
    } else {
        "/…"
    };
    format!("{scheme}://{host}{more}")
}

/// A failed call, sorted by what it says about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcFailure {
    /// The node answered with a JSON-RPC error.
    Node { code: i64, message: String },
    /// Something answered, but not with JSON-RPC.
    Garbage(String),
    /// No answer: refused, reset, closed.
    Transport(String),
    /// No answer in time.
    Timeout(Duration),
}

impl std::fmt::Display for RpcFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcFailure::Node { code, message } => {
                write!(f, "the node answered with error {code}: {message}")
            }
            RpcFailure::Garbage(e) => write!(f, "the answer is not JSON-RPC: {e}"),
            RpcFailure::Transport(e) => write!(f, "{e}"),
            RpcFailure::Timeout(d) => {
                write!(f, "no answer within {}", humantime::format_duration(*d))
            }
        }
    }
}

/// A connected provider.
pub enum RpcTransport {
    Http(Provider<Http>),
    Ws(Provider<Ws>),
}

impl RpcTransport {
    /// Opens a connection: for HTTP nothing goes over the wire yet; a WebSocket is
    /// handshaken within `timeout`. The provider never reconnects by itself (ethers would
    /// replay requests on a new socket behind our back): a lost socket ends its
    /// subscriptions, and the watch reconnects with backoff and fills the gap.
    pub async fn connect(
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<RpcTransport, RpcFailure> {
        match endpoint.kind {
            EndpointKind::Http => Provider::<Http>::try_from(endpoint.url.as_str())
                .map(RpcTransport::Http)
                .map_err(|e| RpcFailure::Transport(endpoint.scrub(&e.to_string()))),
            EndpointKind::Ws => {
                match tokio::time::timeout(
                    timeout,
                    Provider::<Ws>::connect_with_reconnects(endpoint.url.as_str(), 0),
                )
                .await
                {
                    Ok(Ok(p)) => Ok(RpcTransport::Ws(p)),
                    Ok(Err(e)) => Err(RpcFailure::Transport(
                        endpoint.scrub(&format!("cannot connect to {}: {e}", endpoint.shown)),
                    )),
                    Err(_) => Err(RpcFailure::Timeout(timeout)),
                }
            }
        }
    }

    /// One request, raw JSON result.
    pub async fn request(
        &self,
        endpoint: &Endpoint,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, RpcFailure> {
        let call = async {
            match self {
                RpcTransport::Http(p) => p.request::<_, Value>(method, params).await,
                RpcTransport::Ws(p) => p.request::<_, Value>(method, params).await,
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(endpoint, e)),
            Err(_) => Err(RpcFailure::Timeout(timeout)),
        }
    }

    pub fn ws(&self) -> Option<&Provider<Ws>> {
        match self {
            RpcTransport::Ws(p) => Some(p),
            RpcTransport::Http(_) => None,
        }
    }
}

fn classify(endpoint: &Endpoint, e: ProviderError) -> RpcFailure {
    if let Some(err) = RpcError::as_error_response(&e) {
        return RpcFailure::Node {
            code: err.code,
            message: clip(&err.message, 200),
        };
    }
    if RpcError::as_serde_error(&e).is_some() {
        // The whole message: over HTTP it quotes the body ("Response: Too Many Requests"),
        // which is all there is to tell a rate limit from a stranger (ethers drops the status).
        return RpcFailure::Garbage(endpoint.scrub(&e.to_string()));
    }
    if let ProviderError::HTTPError(http) = &e {
        // A status without a body we could read, e.g. 404 or 502 from a proxy.
        if let Some(status) = http.status() {
            return RpcFailure::Garbage(format!("HTTP status {status}"));
        }
        if http.is_decode() || http.is_body() {
            return RpcFailure::Garbage(endpoint.scrub(&http.to_string()));
        }
    }
    // ethers' HTTP client reports a non-JSON-RPC body as a client error carrying the text.
    let text = e.to_string();
    if text.starts_with("Deserialization Error") {
        return RpcFailure::Garbage(endpoint.scrub(&text));
    }
    RpcFailure::Transport(endpoint.scrub(&describe_transport(&e)))
}

/// reqwest's top-level message ("error sending request for url (…)") hides the cause; the
/// chain of sources says what happened (connection refused, reset, …).
fn describe_transport(e: &ProviderError) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        let e = Endpoint::parse("https://mainnet.infura.io/v3/SECRETKEY").unwrap();
        assert_eq!(e.kind(), EndpointKind::Http);
        assert_eq!(e.shown(), "https://mainnet.infura.io/…");
        assert!(!format!("{e:?}").contains("SECRETKEY"));
        assert_eq!(
            e.scrub("error sending request for url (https://mainnet.infura.io/v3/SECRETKEY)"),
            "error sending request for url (https://mainnet.infura.io/…)"
        );
        let w = Endpoint::parse("wss://user:pass@node.example:8546").unwrap();
        assert_eq!(w.kind(), EndpointKind::Ws);
        assert_eq!(w.shown(), "wss://node.example:8546");
        assert_eq!(
            Endpoint::parse("ws://127.0.0.1:8545/").unwrap().shown(),
            "ws://127.0.0.1:8545"
        );
        for bad in ["127.0.0.1:8545", "ftp://x", "http://", "ws://:80"] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid RPC URL"), "{err}");
        }
        let err = Endpoint::parse("ipc:///secret/path")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
