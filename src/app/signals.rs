//! SIGINT and SIGTERM. The first asks the node to stop (its root token is cancelled, and the
//! front end drains what the node announces until `node_stopped`); a second one, for an
//! operator who will not wait, exits at once with 128 + the signal's number.

use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Starts listening. The handlers are installed before this returns, so from then on a
/// signal never takes the default action (death with status 130 or 143).
/// `before_forced_exit` runs before a forced exit (the console restores the terminal).
pub fn spawn_listener(
    cancel: CancellationToken,
    before_forced_exit: fn(),
) -> std::io::Result<JoinHandle<()>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let (name, number) = next(&mut interrupt, &mut terminate).await;
        FIRST.store(number, Ordering::SeqCst);
        tracing::info!(signal = name, "stopping: waiting for the node to finish");
        cancel.cancel();
        let (name, number) = next(&mut interrupt, &mut terminate).await;
        before_forced_exit();
        eprintln!("{name} again: exiting without waiting for the node");
        std::process::exit(128 + number);
    }))
}

/// The next signal's name and number.
async fn next(interrupt: &mut Signal, terminate: &mut Signal) -> (&'static str, i32) {
    // Signal numbers for the exit status, without a libc dependency for two constants.
    tokio::select! {
        _ = interrupt.recv() => ("SIGINT", 2),
        _ = terminate.recv() => ("SIGTERM", 15),
    }
}

/// The number of the first signal received, 0 before one.
static FIRST: AtomicI32 = AtomicI32::new(0);

/// The exit status of a process stopped by the first signal before it had started anything
/// (128 + its number, as if it had taken the default action), if one was received.
pub fn interrupted_status() -> Option<u8> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        n => u8::try_from(128 + n).ok(),
    }
}
