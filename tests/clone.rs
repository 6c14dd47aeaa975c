//! A clone of the repository alone must be able to prepare its tests: nothing may reach for a
//! folder beside it, as the interop peer once did (a fresh clone has no such folder). The first
//! test copies the tracked files, and nothing else, into a temporary directory with no siblings
//! and runs `scripts/install-test-deps` there; the second looks for references to that outside
//! folder in every tracked file.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The tracked files, relative to the repository's root: what a clone would hold.
fn tracked_files() -> Vec<PathBuf> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(ROOT)
        .output()
        .unwrap_or_else(|e| panic!("git is needed to list the tracked files: {e}"));
    assert!(
        out.status.success(),
        "git ls-files failed: {ROOT} must be a git work tree\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .split(|&b| b == 0)
        .filter(|path| !path.is_empty())
        .map(|path| PathBuf::from(std::ffi::OsStr::from_bytes(path)))
        .collect()
}

#[test]
fn install_test_deps_runs_in_a_clone_alone() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let clone = tmp.path().join("clone");
    for file in tracked_files() {
        let from = Path::new(ROOT).join(&file);
        // A tracked file deleted in the working tree is on its way out of the repository.
        if !from.is_file() {
            continue;
        }
        let to = clone.join(&file);
        fs::create_dir_all(to.parent().expect("a file has a parent")).expect("a directory");
        // fs::copy keeps the permission bits, so the scripts stay executable.
        fs::copy(&from, &to).unwrap_or_else(|e| panic!("copying {}: {e}", file.display()));
    }
    assert!(
        !clone.join("../shared").exists(),
        "the clone must have no sibling shared/"
    );

    // The inherited environment points the script at the usual cache, where everything is
    // already installed, so it needs no network.
    let out = Command::new("bash")
        .arg("scripts/install-test-deps")
        .current_dir(&clone)
        .output()
        .expect("bash is needed to run scripts/install-test-deps");
    assert!(
        out.status.success(),
        "scripts/install-test-deps failed in a clone ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The same cache directory as the script's `${XDG_CACHE_HOME:-$HOME/.cache}`.
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("neither XDG_CACHE_HOME nor HOME is set");
    let installed = cache.join("tbtc-coord/interop/interop/peer.mjs");
    let read = |path: &Path| fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        read(&installed) == read(&Path::new(ROOT).join("tests/interop/peer/peer.mjs")),
        "{} is not the peer of tests/interop/peer/",
        installed.display()
    );
}

#[test]
fn no_tracked_file_points_outside_the_clone() {
    let mut found = Vec::new();
    for file in tracked_files() {
        // The peer's own README describes the layout it came from, and is kept as it is.
        if file.starts_with("tests/interop/peer") || file == Path::new("tests/clone.rs") {
            continue;
        }
        let Ok(bytes) = fs::read(Path::new(ROOT).join(&file)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for needle in ["../shared", "TBTC_COORD_SHARED"] {
            if text.contains(needle) {
                found.push(format!("{}: {needle}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "tracked files refer to a folder outside the clone:\n{}",
        found.join("\n")
    );
}
