//! A wallet's inbox: the channel from the router to the wallet's follower. The router holds the
//! [`InboxSender`], the executor the [`Inbox`]; a follower listens through an [`Ear`]. On the
//! devnet, the inbox decides whether a queued message holds the chain back: only while a
//! follower listens, since only then will one be classified soon.

use std::sync::{Arc, Mutex as StdMutex, MutexGuard as StdMutexGuard, PoisonError};

use tokio::sync::{mpsc, Mutex};

use super::pacing::Work;
use crate::protocol::message::CoordinationMessage;
use crate::protocol::Address;

/// A follower buffers at most this many pending messages per wallet.
pub const INBOX_CAPACITY: usize = 512;

/// A message that passed decoding and signature recovery, on its way to a follower.
#[derive(Debug)]
pub struct Inbound {
    pub message: CoordinationMessage,
    pub signer: Address,
    /// keccak256 of the message body: identical for re-sent copies.
    pub id: [u8; 32],
    /// The signed pubsub message it came in, kept as evidence if it turns out a fault (only
    /// then is it encoded: strictly decoded, so its encoding is the bytes received).
    pub received: Arc<crate::net::Received>,
    /// Counted (where the node is paced) until a follower has classified the message.
    pub work: Work,
}

/// The router's end of a wallet's inbox.
#[derive(Debug, Clone)]
pub struct InboxSender {
    tx: mpsc::Sender<Inbound>,
    listening: Arc<StdMutex<bool>>,
}

impl InboxSender {
    /// Queues a message for the wallet's follower, or hands it back if the inbox is full.
    // The error hands the message back, as `mpsc::Sender::try_send` does.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, mut inbound: Inbound) -> Result<(), mpsc::error::TrySendError<Inbound>> {
        if !inbound.work.is_counted() {
            return self.tx.try_send(inbound);
        }
        // Checked and sent under the lock the follower takes to start and stop listening, so
        // a counted message is always one a follower will classify soon.
        let listening = lock(&self.listening);
        if !*listening {
            // Nobody is listening (this node leads, or the window is over): the message
            // waits for the next procedure without holding the chain back.
            inbound.work = Work::none();
        }
        self.tx.try_send(inbound)
    }
}

/// The executor's end of a wallet's inbox.
pub(super) struct Inbox {
    rx: Mutex<mpsc::Receiver<Inbound>>,
    /// Whether a follower is listening (see [`InboxSender::try_send`]).
    listening: Arc<StdMutex<bool>>,
}

/// A new inbox and the sender that feeds it.
pub(super) fn channel() -> (Inbox, InboxSender) {
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let listening = Arc::new(StdMutex::new(false));
    (
        Inbox {
            rx: Mutex::new(rx),
            listening: listening.clone(),
        },
        InboxSender { tx, listening },
    )
}

impl Inbox {
    /// Messages waiting (tests of the router).
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.rx.try_lock().map(|rx| rx.len()).unwrap_or(0)
    }

    /// Takes the inbox and starts listening, until the [`Ear`] is dropped.
    pub(super) async fn listen(&self) -> Ear<'_> {
        Ear::open(self.rx.lock().await, &self.listening)
    }
}

/// A follower's hold on its inbox while it listens. Dropped however the routine ends: then
/// nobody listens, and what is still queued (late copies of this window's messages) is let go.
pub(super) struct Ear<'a> {
    inbox: tokio::sync::MutexGuard<'a, mpsc::Receiver<Inbound>>,
    listening: &'a StdMutex<bool>,
}

impl<'a> Ear<'a> {
    fn open(
        inbox: tokio::sync::MutexGuard<'a, mpsc::Receiver<Inbound>>,
        listening: &'a StdMutex<bool>,
    ) -> Self {
        *lock(listening) = true;
        Ear { inbox, listening }
    }

    /// The next message if one is queued already.
    pub(super) fn try_recv(&mut self) -> Result<Inbound, mpsc::error::TryRecvError> {
        self.inbox.try_recv()
    }

    /// Waits for the next message; `None` once the inbox is closed.
    pub(super) async fn recv(&mut self) -> Option<Inbound> {
        self.inbox.recv().await
    }
}

impl Drop for Ear<'_> {
    fn drop(&mut self) {
        *lock(self.listening) = false;
        while self.inbox.try_recv().is_ok() {}
    }
}

fn lock<T>(m: &StdMutex<T>) -> StdMutexGuard<'_, T> {
    // Every critical section is a short step that leaves the data whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
