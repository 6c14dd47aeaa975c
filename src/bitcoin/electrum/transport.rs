//! The four wire forms of an Electrum session, reduced to a sink and a stream of whole JSON
//! messages: newline-delimited over TCP or TLS, one text frame each over WebSocket (plain or
//! TLS). Every read is bounded: a line or message longer than the limit is an error, never an
//! allocation without bound.

use std::pin::Pin;
use std::sync::Arc;

use futures_util::{Sink, SinkExt, Stream, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, OwnedTrustAnchor, RootCertStore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::codec::{Framed, LinesCodec, LinesCodecError};

use super::{ElectrumConfig, ElectrumError, ServerUrl};

pub(crate) type MessageSink = Pin<Box<dyn Sink<String, Error = ElectrumError> + Send>>;
pub(crate) type MessageStream = Pin<Box<dyn Stream<Item = Result<String, ElectrumError>> + Send>>;

/// Opens the transport of `url` (no Electrum handshake yet), within the connect timeout.
pub(crate) async fn open(
    url: &ServerUrl,
    config: &ElectrumConfig,
) -> Result<(MessageSink, MessageStream), ElectrumError> {
    let short = url.display_short();
    tokio::time::timeout(config.connect_timeout, open_inner(url, config))
        .await
        .map_err(|_| ElectrumError::Timeout {
            url: short,
            what: "connecting".to_string(),
            after: config.connect_timeout,
        })?
}

async fn open_inner(
    url: &ServerUrl,
    config: &ElectrumConfig,
) -> Result<(MessageSink, MessageStream), ElectrumError> {
    let short = url.display_short();
    let connect_error = |detail: String| ElectrumError::Connect {
        url: short.clone(),
        detail,
    };
    let tcp = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let max = config.max_message_bytes;
    if url.transport.is_tls() {
        let tls = tls_connector(config).map_err(&connect_error)?;
        let name = rustls::ServerName::try_from(url.host.as_str())
            .map_err(|e| connect_error(format!("TLS server name {:?}: {e}", url.host)))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| connect_error(format!("TLS handshake: {e}")))?;
        if url.transport.is_websocket() {
            websocket(url, stream, max).await
        } else {
            Ok(lines(short, stream, max))
        }
    } else if url.transport.is_websocket() {
        websocket(url, tcp, max).await
    } else {
        Ok(lines(short, tcp, max))
    }
}

fn tls_connector(config: &ElectrumConfig) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    roots.add_trust_anchors(webpki_roots::TLS_SERVER_ROOTS.iter().map(|ta| {
        OwnedTrustAnchor::from_subject_spki_name_constraints(
            ta.subject,
            ta.spki,
            ta.name_constraints,
        )
    }));
    for der in &config.extra_root_certificates {
        roots
            .add(&rustls::Certificate(der.clone()))
            .map_err(|e| format!("a configured root certificate: {e}"))?;
    }
    let tls = rustls::ClientConfig::builder()
        .with_safe_defaults()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}

fn lines<S>(url: String, stream: S, max: usize) -> (MessageSink, MessageStream)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (sink, stream) = Framed::new(stream, LinesCodec::new_with_max_length(max)).split();
    let write_url = url.clone();
    let sink = sink.sink_map_err(move |e: LinesCodecError| ElectrumError::Closed {
        url: write_url.clone(),
        detail: format!("writing: {e}"),
    });
    let stream = stream.map_err(move |e| match e {
        LinesCodecError::MaxLineLengthExceeded => ElectrumError::TooLarge {
            url: url.clone(),
            limit: max,
        },
        LinesCodecError::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            ElectrumError::Protocol {
                url: url.clone(),
                detail: format!("a line that is not UTF-8: {e}"),
            }
        }
        LinesCodecError::Io(e) => ElectrumError::Closed {
            url: url.clone(),
            detail: format!("reading: {e}"),
        },
    });
    (Box::pin(sink), Box::pin(stream))
}

async fn websocket<S>(
    url: &ServerUrl,
    stream: S,
    max: usize,
) -> Result<(MessageSink, MessageStream), ElectrumError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let short = url.display_short();
    let ws_config = WebSocketConfig {
        max_message_size: Some(max),
        max_frame_size: Some(max),
        ..WebSocketConfig::default()
    };
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(url.to_string(), stream, Some(ws_config))
            .await
            .map_err(|e| ElectrumError::Connect {
                url: short.clone(),
                detail: format!("WebSocket handshake: {e}"),
            })?;
    let (sink, stream) = ws.split();
    let write_url = short.clone();
    let sink = sink
        .sink_map_err(move |e| ElectrumError::Closed {
            url: write_url.clone(),
            detail: format!("writing: {e}"),
        })
        .with(|text: String| async move { Ok::<_, ElectrumError>(Message::Text(text)) });
    let stream = stream.filter_map(move |item| {
        let url = short.clone();
        async move {
            match item {
                Ok(Message::Text(text)) => Some(Ok(text)),
                Ok(Message::Binary(bytes)) => {
                    Some(
                        String::from_utf8(bytes).map_err(|_| ElectrumError::Protocol {
                            url,
                            detail: "a binary message that is not UTF-8".to_string(),
                        }),
                    )
                }
                Ok(Message::Close(frame)) => Some(Err(ElectrumError::Closed {
                    url,
                    detail: match frame {
                        Some(f) => format!("WebSocket closed: {} {}", f.code, f.reason),
                        None => "WebSocket closed".to_string(),
                    },
                })),
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => None,
                Err(tungstenite::Error::Capacity(_)) => {
                    Some(Err(ElectrumError::TooLarge { url, limit: max }))
                }
                Err(e) => Some(Err(ElectrumError::Closed {
                    url,
                    detail: format!("reading: {e}"),
                })),
            }
        }
    });
    Ok((Box::pin(sink), Box::pin(stream)))
}
