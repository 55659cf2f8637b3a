//! The state directory: one checkpoint file per source, written atomically (temp file, fsync,
//! rename, fsync of the directory), so a crash at any moment leaves either the old or the new
//! checkpoint — never half of one. A checkpoint that cannot be read is moved aside and reported;
//! the source then starts from its configured position instead of crash-looping.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Serialize, de::DeserializeOwned};

/// Version of the checkpoint format; a file with another version is moved aside.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Why a checkpoint could not be used.
#[derive(Debug)]
pub struct Unreadable {
    pub path: PathBuf,
    pub reason: String,
    /// Where the bad file was moved, if it could be.
    pub moved_to: Option<PathBuf>,
}

impl StateDir {
    /// Opens (creating it if needed) the state directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::create_dir_all(root.join("checkpoints"))?;
        Ok(Self { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, source_id: &str) -> PathBuf {
        self.root.join("checkpoints").join(format!("{source_id}.json"))
    }

    /// Reads the checkpoint of `source_id`: `Ok(None)` when there is none, `Err` when it exists
    /// but cannot be used (it has then been moved aside).
    pub fn read<T: DeserializeOwned>(&self, source_id: &str) -> Result<Option<T>, Unreadable> {
        let path = self.path(source_id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.set_aside(path, format!("cannot read: {e}"))),
        };
        #[derive(serde::Deserialize)]
        struct Envelope<T> {
            version: u32,
            state: T,
        }
        match serde_json::from_slice::<Envelope<T>>(&bytes) {
            Ok(env) if env.version == VERSION => Ok(Some(env.state)),
            Ok(env) => Err(self.set_aside(path, format!("unsupported checkpoint version {}", env.version))),
            Err(e) => Err(self.set_aside(path, format!("corrupt: {e}"))),
        }
    }

    fn set_aside(&self, path: PathBuf, reason: String) -> Unreadable {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = path.with_extension(format!("json.corrupt-{stamp}"));
        let moved_to = fs::rename(&path, &aside).ok().map(|_| aside);
        Unreadable { path, reason, moved_to }
    }

    /// Replaces the checkpoint of `source_id` with `state`, atomically and durably.
    pub fn write<T: Serialize>(&self, source_id: &str, state: &T) -> io::Result<()> {
        #[derive(Serialize)]
        struct Envelope<'a, T> {
            version: u32,
            state: &'a T,
        }
        let path = self.path(source_id);
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::to_vec(&Envelope { version: VERSION, state }).map_err(io::Error::other)?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        if let Some(dir) = path.parent() {
            // Make the rename itself durable.
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// A file-name-safe id for a source: its name with other characters replaced, plus a short
/// hash of the name so two names that sanitise alike do not collide.
pub fn source_id(kind: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(48)
        .collect();
    let hash = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    format!("{kind}-{clean}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sets_corrupt_files_aside() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.read::<Vec<u32>>("x").unwrap(), None);
        state.write("x", &vec![1u32, 2, 3]).unwrap();
        assert_eq!(state.read::<Vec<u32>>("x").unwrap(), Some(vec![1, 2, 3]));
        std::fs::write(dir.path().join("checkpoints/x.json"), b"\0\0\0garbage").unwrap();
        let err = state.read::<Vec<u32>>("x").unwrap_err();
        assert!(err.reason.starts_with("corrupt"), "{}", err.reason);
        assert!(err.moved_to.unwrap().exists());
        // The next read starts clean.
        assert_eq!(state.read::<Vec<u32>>("x").unwrap(), None);
    }

    #[test]
    fn source_ids_are_file_safe_and_distinct() {
        assert!(source_id("exec", "journalctl -f").starts_with("exec-journalctl_-f-"));
        assert_ne!(source_id("exec", "a b"), source_id("exec", "a_b"));
    }
}
