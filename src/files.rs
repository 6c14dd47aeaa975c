//! Files from outside, opened safely: every file the operator names (config, keystore,
//! password, wallets, evidence) must be a regular file, and is read only up to a limit that
//! fits its kind. A device (`/dev/zero`), a FIFO or a directory is refused before a byte is
//! read, and a FIFO never blocks the open. Files the node writes are private (0600), and the
//! directories it creates 0700.

use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open it: {0}")]
    Open(#[source] std::io::Error),
    #[error("not a regular file (it is {kind})")]
    NotRegular { kind: &'static str },
    #[error("larger than the limit of {limit} bytes ({})", human(*limit))]
    TooLarge { limit: u64 },
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    #[error("not UTF-8 text")]
    NotUtf8,
    #[error("a symbolic link: refused")]
    Symlink,
}

impl FileError {
    /// The same error with the file it is about, for a message that names it.
    pub fn at(self, path: &Path) -> FileErrorAt {
        FileErrorAt {
            path: path.to_path_buf(),
            error: self,
        }
    }
}

/// A [`FileError`] with its file's path.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct FileErrorAt {
    pub path: PathBuf,
    pub error: FileError,
}

fn human(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b >= KIB * KIB * KIB && b % (KIB * KIB * KIB) == 0 => format!("{} GiB", b >> 30),
        b if b >= KIB * KIB && b % (KIB * KIB) == 0 => format!("{} MiB", b >> 20),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// What a file that is not regular is, for the error.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading if it is a regular file (symlinks the operator made are
/// followed: the file they name is what is checked). `O_NONBLOCK` keeps the open of a FIFO
/// from waiting for a writer; it changes nothing for a regular file.
pub fn open_regular(path: &Path) -> Result<File, FileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(FileError::Open)?;
    let meta = file.metadata().map_err(FileError::Open)?;
    if !meta.file_type().is_file() {
        return Err(FileError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// The whole of a regular file of at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    // One byte more than allowed tells a file at the limit from one past it (the file may
    // have grown since it was opened).
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(FileError::Read)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, FileError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| FileError::NotUtf8)
}

/// A buffered reader of a regular file that fails past `limit` bytes (an `InvalidData` I/O
/// error wrapping [`FileError::TooLarge`]): for files read as a stream.
pub fn stream_bounded(
    path: &Path,
    limit: u64,
) -> Result<BoundedReader<BufReader<File>>, FileError> {
    Ok(BoundedReader::new(
        BufReader::new(open_regular(path)?),
        limit,
    ))
}

/// Reads at most `limit` bytes of `inner`; one byte more is an error, not a silent end.
#[derive(Debug)]
pub struct BoundedReader<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> BoundedReader<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        BoundedReader {
            inner,
            left: limit,
            limit,
        }
    }

    /// Whether the error came from passing the limit.
    pub fn is_too_large(e: &std::io::Error) -> bool {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<FileError>())
            .is_some_and(|f| matches!(f, FileError::TooLarge { .. }))
    }
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the limit: the stream must end here.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    FileError::TooLarge { limit: self.limit },
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Opens a state file of the node's own (the history, its lock) for reading and writing,
/// creating it 0600 and keeping what it holds. Never through a symlink (it would make the
/// node write into, or create, whatever the link names), and never a FIFO or device, whose
/// open or writes could block or destroy.
pub fn open_own_file(path: &Path) -> Result<File, FileError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => FileError::Symlink,
            _ => FileError::Open(e),
        })?;
    let meta = file.metadata().map_err(FileError::Open)?;
    if !meta.file_type().is_file() {
        return Err(FileError::NotRegular {
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// Creates `dir` and its missing parents, each one this creates with mode 0700 (the
/// history, the lock and the socket live there). An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates a new file at `path` with mode 0600, never replacing what is there (a file or a
/// symlink, dangling or not): for secrets such as a new keystore.
pub fn create_new_private(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        let err = read_bounded(&path, 4).unwrap_err();
        assert!(matches!(err, FileError::TooLarge { limit: 4 }), "{err}");
        assert_eq!(err.to_string(), "larger than the limit of 4 bytes (4 B)");
    }

    #[test]
    fn devices_directories_and_fifos_are_refused_without_reading_or_blocking() {
        let err = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a regular file (it is a character device)"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = read_bounded(dir.path(), 1 << 20).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        // A FIFO with no writer would block a plain open for ever.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_bounded(&fifo, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("a FIFO"), "{err}");
    }

    #[test]
    fn a_symlink_the_operator_made_is_followed_to_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        assert_eq!(read_bounded(&dir.path().join("link"), 1).unwrap(), b"x");
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        assert!(read_bounded(&dir.path().join("zero"), 1).is_err());
    }

    #[test]
    fn a_stream_past_its_limit_fails_instead_of_ending_quietly() {
        let mut ok = String::new();
        BoundedReader::new(&b"abc"[..], 3)
            .read_to_string(&mut ok)
            .unwrap();
        assert_eq!(ok, "abc");
        let mut out = Vec::new();
        let err = BoundedReader::new(&b"abcd"[..], 3)
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(BoundedReader::<&[u8]>::is_too_large(&err), "{err}");
    }

    #[test]
    fn own_files_keep_their_contents_and_are_never_reached_through_a_link_or_a_fifo() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        open_own_file(&path).unwrap().write_all(b"kept").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
        drop(open_own_file(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"kept");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(matches!(open_own_file(&link), Err(FileError::Symlink)));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = open_own_file(&fifo).unwrap_err();
        assert!(
            matches!(err, FileError::NotRegular { kind: "a FIFO" }),
            "{err}"
        );
    }

    #[test]
    fn private_files_are_0600_and_never_replace_anything() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        create_new_private(&path).unwrap().write_all(b"k").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            create_new_private(&path).unwrap_err().kind(),
            std::io::ErrorKind::AlreadyExists
        );
        // A dangling symlink is not followed to create its target.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path().join("target"), &link).unwrap();
        assert!(create_new_private(&link).is_err());
        assert!(!dir.path().join("target").exists());

        let nested = dir.path().join("a/b");
        create_private_dir(&nested).unwrap();
        for d in [dir.path().join("a"), nested] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
    }
}
