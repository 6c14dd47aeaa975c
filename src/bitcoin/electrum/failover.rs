//! The return to the first server: while the client is on a fallback, the first server of the
//! list is connected to (with the same checks as any session) and pinged every primary ping
//! interval; after two good pings in a row its session becomes the current one. A failed ping
//! starts the count again.

use std::sync::Arc;

use serde_json::json;

use super::client::Inner;
use super::connection::Connection;

/// Good pings in a row that bring the client back to the first server (SPEC §13).
pub const GOOD_PINGS_TO_RETURN: u32 = 2;

pub(super) async fn return_to_primary(inner: Arc<Inner>) {
    let mut probe: Option<Connection> = None;
    let mut good = 0;
    loop {
        tokio::select! {
            _ = inner.cancel.cancelled() => break,
            _ = tokio::time::sleep(inner.config.primary_ping_interval) => {}
        }
        if inner.on_primary().await {
            if let Some(p) = probe.take() {
                p.close();
            }
            good = 0;
            continue;
        }
        let connection = match probe.as_ref().filter(|p| !p.is_closed()) {
            Some(p) => p.clone(),
            None => {
                good = 0;
                let opened = tokio::select! {
                    _ = inner.cancel.cancelled() => break,
                    opened = inner.open(&inner.servers[0]) => opened,
                };
                match opened {
                    Ok(p) => {
                        probe = Some(p.clone());
                        p
                    }
                    Err(e) => {
                        tracing::debug!("first Electrum server still unavailable: {e}");
                        continue;
                    }
                }
            }
        };
        let ping = tokio::time::timeout(
            inner.config.request_timeout,
            connection.request("server.ping", json!([])),
        );
        let answered = tokio::select! {
            _ = inner.cancel.cancelled() => break,
            answer = ping => matches!(answer, Ok(Ok(_))),
        };
        if !answered {
            connection.close();
            probe = None;
            good = 0;
            continue;
        }
        good += 1;
        if good >= GOOD_PINGS_TO_RETURN {
            if let Some(p) = probe.take() {
                inner.switch_to_primary(p).await;
            }
            good = 0;
        }
    }
    if let Some(p) = probe {
        p.close();
    }
}
