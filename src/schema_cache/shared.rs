//! One introspection per catalog change, not one per executor: the executor that loads the
//! schema cache publishes the introspection document in a file; the others read it instead of
//! running the introspection again.
//!
//! The file lives in a subdirectory of the data directory (`serendb_data_api/`, mode 0700),
//! which only the server's OS user can write; its path comes from nothing a database user sets.
//! It is replaced atomically (write to a private temporary file, then rename), so a reader sees
//! a whole document or the previous one. There is one file per (database, exposed schemas,
//! introspection SQL); its header names the catalog fingerprint the document was read at, and
//! a reader takes it only for exactly the fingerprint it computed itself, with the document's
//! length and SHA-256 matching (anything else, a file of an older build, a truncated or
//! damaged one, is ignored and replaced by the next load).
//!
//! Why the fingerprint is enough: the document and its fingerprint come from ONE statement, so
//! from one snapshot of the catalog, and the fingerprint covers every catalog row the
//! introspection reads (see `fingerprint.sql`). A reader with the same fingerprint would read
//! the same document. That also holds on a hot standby (its own data directory; a file copied
//! there by `pg_basebackup` names the fingerprint of the catalog it was read from). What the
//! fingerprint cannot see (what `NOTIFY pgrst` is for) is handled by `not_before`: after a
//! forced reload an executor only takes a document whose introspection started after it was
//! told to reload.
//!
//! A lock file beside it lets the executors that need the same document at the same moment
//! wait for the first one's introspection instead of each running their own.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The subdirectory of the data directory.
pub const DIR: &str = "serendb_data_api";
/// Changes when the file's layout does.
const FORMAT: u32 = 2;

/// Which document a file holds: the same key names the same introspection of the same schemas.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub database: u32,
    pub schemas: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Header {
    format: u32,
    /// SHA-256 of the introspection and fingerprint SQL: another build reads its own files.
    build: String,
    database: u32,
    schemas: Vec<String>,
    fingerprint: String,
    /// when the introspection started (UNIX microseconds)
    started_at_us: u64,
    /// the document, then the relation hashes (`relation_hashes.sql`) read with it
    body_len: usize,
    hashes_len: usize,
    /// of the document and the hashes together
    body_sha256: String,
}

/// What one introspection read: the schema cache document, and the catalog hashes per
/// relation it was read at (what lets a request be served by this cache after a change that
/// does not concern it, see `caches`).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub json: String,
    pub hashes: String,
}

fn body_sha256(doc: &Document) -> String {
    let mut h = Sha256::new();
    h.update(doc.json.as_bytes());
    h.update(doc.hashes.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn build_id() -> String {
    let mut h = Sha256::new();
    h.update(super::INTROSPECTION_SQL.as_bytes());
    h.update([0]);
    h.update(super::FINGERPRINT_SQL.as_bytes());
    h.update([0]);
    h.update(super::RELATION_HASHES_SQL.as_bytes());
    hex(&h.finalize())
}

fn micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Key {
    fn stem(&self) -> String {
        let mut h = Sha256::new();
        h.update(build_id().as_bytes());
        h.update(self.database.to_le_bytes());
        for s in &self.schemas {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
        format!("schema_cache.{}", &hex(&h.finalize())[..16])
    }

    pub fn path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.json", self.stem()))
    }

    fn lock_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.lock", self.stem()))
    }
}

/// The private directory under `data_dir`, created (0700) when missing.
pub fn dir(data_dir: &Path) -> std::io::Result<PathBuf> {
    let dir = data_dir.join(DIR);
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(dir),
        Err(e) => Err(e),
    }
}

/// Publishes `doc`, read at `fingerprint` by an introspection that started at `started_at`.
pub fn write(
    dir: &Path,
    key: &Key,
    fingerprint: &str,
    started_at: SystemTime,
    doc: &Document,
) -> std::io::Result<()> {
    let header = Header {
        format: FORMAT,
        build: build_id(),
        database: key.database,
        schemas: key.schemas.clone(),
        fingerprint: fingerprint.to_string(),
        started_at_us: micros(started_at),
        body_len: doc.json.len(),
        hashes_len: doc.hashes.len(),
        body_sha256: body_sha256(doc),
    };
    let path = key.path(dir);
    // Private to this process: two executors writing at once each rename a whole file.
    let tmp = dir.join(format!("{}.{}.tmp", key.stem(), std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        serde_json::to_writer(&mut f, &header).map_err(std::io::Error::other)?;
        f.write_all(b"\n")?;
        f.write_all(doc.json.as_bytes())?;
        f.write_all(doc.hashes.as_bytes())?;
        drop(f);
        std::fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Why a published document was not taken.
#[derive(Debug, PartialEq)]
pub enum Skip {
    /// no file yet
    Missing,
    /// a document of another catalog state, or older than a forced reload
    Other,
    /// unreadable, of another build or key, truncated, or its body does not match its checksum
    Damaged(String),
}

/// The published document for `key` when it was read at `fingerprint` by an introspection that
/// started at or after `not_before`.
pub fn read(
    dir: &Path,
    key: &Key,
    fingerprint: &str,
    not_before: SystemTime,
) -> Result<Document, Skip> {
    let f = match File::open(key.path(dir)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Skip::Missing),
        Err(e) => return Err(Skip::Damaged(e.to_string())),
    };
    let mut r = BufReader::new(f);
    let mut line = String::new();
    // A header is a few hundred bytes: anything longer is not one.
    (&mut r)
        .take(64 * 1024)
        .read_line(&mut line)
        .map_err(|e| Skip::Damaged(e.to_string()))?;
    let header: Header =
        serde_json::from_str(line.trim_end()).map_err(|e| Skip::Damaged(format!("header: {e}")))?;
    if header.format != FORMAT
        || header.build != build_id()
        || header.database != key.database
        || header.schemas != key.schemas
    {
        return Err(Skip::Damaged("a file of another build or key".into()));
    }
    if header.fingerprint != fingerprint || header.started_at_us < micros(not_before) {
        return Err(Skip::Other);
    }
    let len = header.body_len.saturating_add(header.hashes_len);
    let mut body = Vec::with_capacity(len.min(1 << 30));
    (&mut r)
        .take((len as u64).saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| Skip::Damaged(e.to_string()))?;
    if body.len() != len {
        return Err(Skip::Damaged(format!(
            "{} bytes instead of {len}",
            body.len()
        )));
    }
    let hashes = body.split_off(header.body_len);
    let utf8 = |b: Vec<u8>| String::from_utf8(b).map_err(|e| Skip::Damaged(e.to_string()));
    let doc = Document {
        json: utf8(body)?,
        hashes: utf8(hashes)?,
    };
    if body_sha256(&doc) != header.body_sha256 {
        return Err(Skip::Damaged("checksum mismatch".into()));
    }
    Ok(doc)
}

/// Held while this executor runs the introspection for a key; released when dropped (also by
/// the kernel when the process dies).
#[derive(Debug)]
pub struct LoadLock(#[allow(dead_code)] File);

/// Takes the key's load lock, waiting while another process holds it: `poll` runs between
/// attempts (the executor checks for interrupts there). `None` after `patience`, or when the
/// lock file cannot be used: the caller then loads without it.
pub fn lock(dir: &Path, key: &Key, patience: Duration, mut poll: impl FnMut()) -> Option<LoadLock> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(key.lock_path(dir))
        .ok()?;
    let until = std::time::Instant::now() + patience;
    loop {
        match file.try_lock() {
            Ok(()) => return Some(LoadLock(file)),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(2));
                poll();
            }
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sc-shared-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        dir(&d).unwrap()
    }

    fn key() -> Key {
        Key {
            database: 5,
            schemas: vec!["public".into(), "api".into()],
        }
    }

    fn doc() -> Document {
        Document {
            json: r#"{"tables":[{"schema":"public","name":"t"}]}"#.into(),
            hashes: r#"{"global":"1/2","relations":[]}"#.into(),
        }
    }

    #[test]
    fn the_private_directory_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmpdir("mode");
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // idempotent
        assert_eq!(dir(d.parent().unwrap()).unwrap(), d);
    }

    #[test]
    fn a_document_is_read_back_only_for_its_fingerprint() {
        let d = tmpdir("roundtrip");
        let k = key();
        let t0 = SystemTime::now();
        assert_eq!(read(&d, &k, "1/2", UNIX_EPOCH), Err(Skip::Missing));
        write(&d, &k, "1/2", t0, &doc()).unwrap();
        assert_eq!(read(&d, &k, "1/2", UNIX_EPOCH).unwrap(), doc());
        assert_eq!(read(&d, &k, "1/2", t0).unwrap(), doc());
        assert_eq!(read(&d, &k, "1/3", UNIX_EPOCH), Err(Skip::Other));
        // older than a forced reload
        assert_eq!(
            read(&d, &k, "1/2", t0 + Duration::from_millis(1)),
            Err(Skip::Other)
        );
        // another key has its own file
        let other = Key {
            database: 6,
            ..k.clone()
        };
        assert_ne!(other.path(&d), k.path(&d));
        assert_eq!(read(&d, &other, "1/2", UNIX_EPOCH), Err(Skip::Missing));
        // no temporary file is left behind
        let names: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        let d = tmpdir("damaged");
        let k = key();
        write(&d, &k, "1/2", SystemTime::now(), &doc()).unwrap();
        let good = std::fs::read(k.path(&d)).unwrap();
        let damaged = |bytes: Vec<u8>| {
            std::fs::write(k.path(&d), bytes).unwrap();
            matches!(read(&d, &k, "1/2", UNIX_EPOCH), Err(Skip::Damaged(_)))
        };
        // document or hashes changed, same length
        let mut b = good.clone();
        let n = b.len();
        b[n - 5] = b'u';
        assert!(damaged(b));
        let text = String::from_utf8(good.clone()).unwrap();
        assert!(damaged(
            text.replace("\"public\"", "\"pubLic\"").into_bytes()
        ));
        // truncated
        assert!(damaged(good[..good.len() - 3].to_vec()));
        // longer
        let mut b = good.clone();
        b.extend_from_slice(b" ");
        assert!(damaged(b));
        // not a header at all
        assert!(damaged(doc().json.into_bytes()));
        assert!(damaged(vec![b'x'; 100_000]));
        assert!(damaged(vec![]));
        // a header for another key
        let text = String::from_utf8(good.clone()).unwrap();
        assert!(damaged(
            text.replace("\"database\":5", "\"database\":7")
                .into_bytes()
        ));
        assert!(damaged(
            text.replace(&build_id(), &"0".repeat(64)).into_bytes()
        ));
        std::fs::write(k.path(&d), &good).unwrap();
        assert_eq!(read(&d, &k, "1/2", UNIX_EPOCH).unwrap(), doc());
    }

    #[test]
    fn the_load_lock_is_exclusive_and_released_on_drop() {
        let d = tmpdir("lock");
        let k = key();
        let held = lock(&d, &k, Duration::ZERO, || {}).unwrap();
        let mut polls = 0;
        assert!(lock(&d, &k, Duration::from_millis(20), || polls += 1).is_none());
        assert!(polls > 0);
        drop(held);
        assert!(lock(&d, &k, Duration::ZERO, || {}).is_some());
    }
}
