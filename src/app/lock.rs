//! One node per history. Two nodes on one data directory would interleave their facts in one
//! history, so a node holds an OS file lock (`flock`, released by the kernel however the
//! process ends) on `<history stem>.lock` beside the database for as long as it runs, with
//! its pid written inside for the error the next one gets. Read-only commands take no lock.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs4::FileExt;

use crate::files::FileError;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another node (pid {pid}) is running on the data directory {}: one node per history \
         (lock file {})",
        dir.display(),
        lock.display()
    )]
    Held {
        dir: PathBuf,
        lock: PathBuf,
        pid: String,
    },
    #[error("the lock file {} is {kind}: refused (move it away)", lock.display())]
    NotRegular { lock: PathBuf, kind: &'static str },
    #[error("cannot lock the history with {}: {source}", lock.display())]
    Io {
        lock: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for the node's lifetime; dropping it (or the process ending) releases the lock.
#[derive(Debug)]
pub struct HistoryLock {
    _file: File,
    path: PathBuf,
}

impl HistoryLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of a history database: `devnet-3.sqlite3` → `devnet-3.lock`.
pub fn lock_path(store_path: &Path) -> PathBuf {
    store_path.with_extension("lock")
}

/// Takes the lock of the history at `store_path`, or says who holds it.
pub fn lock_history(store_path: &Path) -> Result<HistoryLock, LockError> {
    let lock = lock_path(store_path);
    let io = |source| LockError::Io {
        lock: lock.clone(),
        source,
    };
    if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir).map_err(io)?;
    }
    // Not truncated on open: until the lock is ours, the pid inside is the holder's.
    let mut file = crate::files::open_own_file(&lock).map_err(|e| match e {
        FileError::Symlink => LockError::NotRegular {
            lock: lock.clone(),
            kind: "a symbolic link",
        },
        FileError::NotRegular { .. } => LockError::NotRegular {
            lock: lock.clone(),
            kind: "not a regular file",
        },
        FileError::Open(e) => io(e),
        other => io(std::io::Error::other(other)),
    })?;
    // Called through the trait: std's inherent `File::try_lock` is newer than our MSRV.
    match FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            return Err(LockError::Held {
                dir: lock.parent().map(Path::to_path_buf).unwrap_or_default(),
                lock: lock.clone(),
                pid: if pid.is_empty() {
                    "unknown".to_string()
                } else {
                    pid.to_string()
                },
            });
        }
        Err(fs4::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id())
        .and_then(|_| file.flush())
        .map_err(io)?;
    Ok(HistoryLock {
        _file: file,
        path: lock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("devnet-1.sqlite3");
        let first = lock_history(&store).unwrap();
        assert_eq!(first.path(), dir.path().join("devnet-1.lock"));
        let err = lock_history(&store).unwrap_err().to_string();
        assert!(
            err.contains(&std::process::id().to_string())
                && err.contains(&dir.path().display().to_string()),
            "{err}"
        );
        drop(first);
        assert!(lock_history(&store).is_ok());
    }

    #[test]
    fn the_lock_file_is_private_and_never_reached_through_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = data.join("devnet-1.sqlite3");
        let held = lock_history(&store).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(held.path()), 0o600);
        assert_eq!(mode(&data), 0o700);
        drop(held);
        std::fs::remove_file(data.join("devnet-1.lock")).unwrap();

        // A symlink to a file of someone else's: refused, and the file is untouched.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, data.join("devnet-1.lock")).unwrap();
        let err = lock_history(&store).unwrap_err().to_string();
        assert!(err.contains("is a symbolic link: refused"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");

        // A dangling one: its target is not created.
        std::fs::remove_file(data.join("devnet-1.lock")).unwrap();
        let nowhere = dir.path().join("created-by-the-node");
        std::os::unix::fs::symlink(&nowhere, data.join("devnet-1.lock")).unwrap();
        assert!(lock_history(&store).is_err());
        assert!(!nowhere.exists());

        // A FIFO in its place neither blocks the open nor passes for a lock.
        std::fs::remove_file(data.join("devnet-1.lock")).unwrap();
        let fifo =
            std::ffi::CString::new(data.join("devnet-1.lock").as_os_str().as_encoded_bytes())
                .unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = lock_history(&store).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
