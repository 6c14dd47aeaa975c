//! The node's side of the control socket: the socket file (bound mode 0600, replaced if a
//! stopped node left it, removed at shutdown), one listener, and who is let in: the socket's
//! owner and root, at most [`MAX_CLIENTS`] at once, each then served a session of its own
//! (`session`, bounded per client: [`MAX_REQUEST_LINE`], [`MAX_IN_FLIGHT`], [`SEND_QUEUE`]).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::{FramedWrite, LinesCodec};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::session::{reply_line, serve_client};
pub use super::session::{MAX_IN_FLIGHT, MAX_REQUEST_LINE, SEND_QUEUE};
use crate::engine::api::{ApiError, ErrorCode};
use crate::engine::NodeCommands;

/// Clients served at once; one more is told so and closed.
pub const MAX_CLIENTS: usize = 16;
/// How long, at shutdown, clients have to receive what was queued for them.
const GOODBYE_WITHIN: Duration = Duration::from_secs(2);
/// The longest a Unix socket path may be (`sun_path`, less its terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the control socket path {} is {len} bytes long: the limit is {MAX_SOCKET_PATH} (use a shorter --data-dir)", path.display())]
    PathTooLong { path: PathBuf, len: usize },
    #[error("{} exists and is not a socket: not replaced (move it away)", .0.display())]
    NotASocket(PathBuf),
    #[error("another process serves {}: is a node running on this data directory without its lock?", .0.display())]
    InUse(PathBuf),
    #[error("cannot serve the control socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A bound control socket, not yet serving.
pub struct Bound {
    listener: UnixListener,
    file: SocketFile,
    /// The uid the socket file belongs to: ours.
    owner: u32,
}

/// Removes the socket file when dropped, if it is still the one this node created.
struct SocketFile {
    path: PathBuf,
    inode: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Refuses a socket path the kernel cannot bind (checked before a node creates anything).
pub fn check_socket_path(path: &Path) -> Result<(), ControlError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ControlError::PathTooLong {
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// Binds the socket at `path`, mode 0600. A socket left there by a node that crashed is
/// replaced: the caller holds the history's lock, so no live node of this history serves
/// it (and one that still answers is refused rather than stolen from).
pub fn bind(path: &Path) -> Result<Bound, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    check_socket_path(path)?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ControlError::InUse(path.to_path_buf()));
            }
            tracing::info!(socket = %path.display(), "replacing the control socket a stopped node left behind");
            std::fs::remove_file(path).map_err(io)?;
        }
        Ok(_) => return Err(ControlError::NotASocket(path.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    // Until this, the umask decided; the peer check below covers that instant.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let meta = std::fs::metadata(path).map_err(io)?;
    Ok(Bound {
        listener,
        file: SocketFile {
            path: path.to_path_buf(),
            inode: meta.ino(),
        },
        owner: meta.uid(),
    })
}

/// A serving control socket. [`ControlServer::shutdown`] stops it and removes the file.
pub struct ControlServer {
    path: PathBuf,
    cancel: CancellationToken,
    closed: CancellationToken,
    clients: TaskTracker,
    attached: Arc<AtomicUsize>,
    accept: tokio::task::JoinHandle<SocketFile>,
}

/// What the listener and every session share.
pub(super) struct Shared {
    pub(super) commands: NodeCommands,
    owner: u32,
    clients: Arc<AtomicUsize>,
    /// Cancelled at shutdown: stop reading requests, finish the streams.
    pub(super) closing: CancellationToken,
    /// Cancelled when the goodbye time is up: close everything.
    pub(super) closed: CancellationToken,
}

impl Bound {
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Serves `commands` to clients until [`ControlServer::shutdown`].
    pub fn serve(self, commands: NodeCommands) -> ControlServer {
        let cancel = CancellationToken::new();
        let closed = CancellationToken::new();
        let clients = TaskTracker::new();
        let attached = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            commands,
            owner: self.owner,
            clients: attached.clone(),
            closing: cancel.clone(),
            closed: closed.clone(),
        });
        let path = self.file.path.clone();
        tracing::info!(socket = %path.display(), "control socket listening");
        let accept = tokio::spawn(accept_loop(self, shared, clients.clone()));
        ControlServer {
            path,
            cancel,
            closed,
            clients,
            attached,
            accept,
        }
    }
}

impl ControlServer {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many clients are attached now (read it; the server keeps it up to date): what a
    /// console owning the node says stopping it cuts off.
    pub fn attached(&self) -> Arc<AtomicUsize> {
        self.attached.clone()
    }

    /// Stops accepting, lets every client receive what it was sent (the node's last events
    /// included) for a moment, closes them, and removes the socket file.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let file = self.accept.await.ok();
        self.clients.close();
        // The streams end at `node_stopped`; a client that stopped reading is cut off.
        if tokio::time::timeout(GOODBYE_WITHIN, self.clients.wait())
            .await
            .is_err()
        {
            self.closed.cancel();
            self.clients.wait().await;
        }
        drop(file);
    }
}

async fn accept_loop(bound: Bound, shared: Arc<Shared>, clients: TaskTracker) -> SocketFile {
    let Bound { listener, file, .. } = bound;
    loop {
        let stream = tokio::select! {
            _ = shared.closing.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "control socket: accepting a client failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        clients.spawn(async move { admit(stream, shared).await });
    }
    file
}

/// Who may use the socket: its owner (the node's user) and root.
pub fn peer_allowed(peer_uid: u32, owner: u32) -> bool {
    peer_uid == owner || peer_uid == 0
}

/// Writes one line to a client that will not be served, and closes it.
async fn refuse(stream: UnixStream, error: ApiError) {
    let mut out = FramedWrite::new(stream, LinesCodec::new());
    let line = reply_line(None, Err(error));
    let _ = tokio::time::timeout(Duration::from_secs(1), out.send(line)).await;
}

async fn admit(stream: UnixStream, shared: Arc<Shared>) {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "control socket: cannot tell who connected; refused");
            return;
        }
    };
    if !peer_allowed(cred.uid(), shared.owner) {
        tracing::warn!(
            uid = cred.uid(),
            pid = cred.pid(),
            "control socket: refused a client of another user"
        );
        let message = format!(
            "uid {} may not use this socket: only its owner (uid {}) and root may",
            cred.uid(),
            shared.owner
        );
        refuse(stream, ApiError::new(ErrorCode::Forbidden, message)).await;
        return;
    }
    if shared.clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
        shared.clients.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(
            max = MAX_CLIENTS,
            "control socket: refused a client, too many attached"
        );
        let message =
            format!("{MAX_CLIENTS} clients are attached already: the most this node serves");
        refuse(stream, ApiError::new(ErrorCode::Busy, message)).await;
        return;
    }
    let pid = cred.pid();
    tracing::debug!(?pid, "control socket: client connected");
    let reason = serve_client(stream, &shared).await;
    shared.clients.fetch_sub(1, Ordering::SeqCst);
    match reason {
        Some(reason) => {
            tracing::warn!(?pid, %reason, "control socket: client dropped")
        }
        None => tracing::debug!(?pid, "control socket: client left"),
    }
}
