//! How the JWKS fetcher (in the listener) shares keys with the executors: one small JSON file in
//! the data directory, replaced atomically (write + rename) after every fetch attempt, and
//! re-read by an executor only when its identity (inode, mtime, size) changes, so the per
//! request cost is one `stat`. A file rather than shared memory: the document's size is not
//! known when shared memory is sized at postmaster start, a rename can never be seen half
//! written, no lock is shared with the postmaster's children, and it survives a listener
//! restart (the last good keys keep working until the next successful fetch).
//!
//! An executor that meets an unknown `kid` asks for an early refetch by creating a second file;
//! the fetcher honours such requests at most once per `jwks_refetch_min_interval`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "serendb_data_api.jwks.json";
pub const REFETCH_FILE: &str = "serendb_data_api.jwks.refetch";

/// The fetcher's last word on one JWKS URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JwksState {
    pub url: String,
    /// UNIX time of the last fetch attempt
    pub attempted_at: i64,
    /// UNIX time of the last successful fetch
    pub fetched_at: Option<i64>,
    /// why the last attempt failed (the keys are then the last good ones)
    pub error: Option<String>,
    /// the last good JWK Set
    pub jwks: Option<Value>,
}

pub fn write(dir: &Path, state: &JwksState) -> std::io::Result<()> {
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(state).map_err(std::io::Error::other)?)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(STATE_FILE))
}

pub fn read(dir: &Path) -> Option<JwksState> {
    let bytes = std::fs::read(dir.join(STATE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Asks the fetcher for an early refetch (an unknown `kid`).
pub fn request_refetch(dir: &Path) {
    let _ = std::fs::write(dir.join(REFETCH_FILE), b"");
}

/// Takes a pending refetch request, if there is one.
pub fn take_refetch_request(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(REFETCH_FILE)).is_ok()
}

type Stamp = (u64, i64, i64, u64);

/// The state file as last read, re-read when it changes.
#[derive(Debug, Default)]
pub struct Watcher {
    stamp: Option<Stamp>,
    state: Option<JwksState>,
}

impl Watcher {
    fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Re-reads the file if it changed; true when it did.
    pub fn refresh(&mut self, dir: &Path) -> bool {
        let stamp = std::fs::metadata(Self::path(dir))
            .ok()
            .map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.size()));
        if stamp == self.stamp {
            return false;
        }
        self.stamp = stamp;
        self.state = stamp.and_then(|_| read(dir));
        true
    }

    pub fn state(&self) -> Option<&JwksState> {
        self.state.as_ref()
    }

    /// Identifies the file version (changes whenever the fetcher wrote it).
    pub fn version(&self) -> Option<(u64, i64, i64, u64)> {
        self.stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("jwks-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn watcher_sees_each_write() {
        let dir = tmpdir("watch");
        let mut w = Watcher::default();
        assert!(!w.refresh(&dir));
        assert!(w.state().is_none());
        let mut s = JwksState {
            url: "https://x".into(),
            attempted_at: 5,
            fetched_at: Some(5),
            error: None,
            jwks: Some(json!({"keys": []})),
        };
        write(&dir, &s).unwrap();
        assert!(w.refresh(&dir));
        assert_eq!(w.state(), Some(&s));
        assert!(!w.refresh(&dir));
        s.error = Some("down".into());
        write(&dir, &s).unwrap();
        assert!(w.refresh(&dir));
        assert_eq!(w.state().unwrap().error.as_deref(), Some("down"));
        std::fs::remove_file(dir.join(STATE_FILE)).unwrap();
        assert!(w.refresh(&dir));
        assert!(w.state().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refetch_requests_are_taken_once() {
        let dir = tmpdir("refetch");
        assert!(!take_refetch_request(&dir));
        request_refetch(&dir);
        request_refetch(&dir);
        assert!(take_refetch_request(&dir));
        assert!(!take_refetch_request(&dir));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
