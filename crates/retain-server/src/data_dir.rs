//! The folder batch jobs may read from (`retain serve --data-dir`). A request names a file in it
//! by a relative path (or an absolute one inside it); the path is resolved with its links
//! followed and must still lie inside the folder, and it must be a regular file no larger than
//! the server takes. Anything that points elsewhere gets one answer, whatever is there, so a
//! caller learns nothing of the server's disk outside the folder.

use std::path::{Component, Path, PathBuf};

/// Why a named file is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataDirError {
    #[error("batch jobs by file are off: the server was started without --data-dir; send the customers in the request instead")]
    Off,
    #[error(
        "{0:?} is not a file inside the server's data folder; name one by its path relative to it"
    )]
    Outside(String),
    #[error("no file {0:?} in the server's data folder")]
    Missing(String),
    #[error("{0:?} in the server's data folder is not a regular file")]
    NotAFile(String),
    #[error("{name:?} has {bytes} bytes; the server reads files of at most {limit} bytes (retain serve --max-job-mib)")]
    TooLarge {
        name: String,
        bytes: u64,
        limit: u64,
    },
}

/// A data folder, resolved once at start.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
    max_file_bytes: u64,
}

impl DataDir {
    /// The folder `root` (which must exist) with files of at most `max_file_bytes`.
    pub fn new(root: &Path, max_file_bytes: u64) -> std::io::Result<DataDir> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                format!("{} is not a folder", root.display()),
            ));
        }
        Ok(DataDir {
            root,
            max_file_bytes,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file `name` names, checked: inside the folder once its links are followed, a
    /// regular file, not too large.
    pub fn resolve(&self, name: &str) -> Result<PathBuf, DataDirError> {
        let outside = || DataDirError::Outside(name.to_string());
        let requested = Path::new(name);
        // Judged by the words first, before the disk is asked anything.
        let relative = if requested.is_absolute() {
            requested.strip_prefix(&self.root).map_err(|_| outside())?
        } else {
            requested
        };
        if name.is_empty()
            || relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(outside());
        }
        let resolved = match self.root.join(relative).canonicalize() {
            Ok(path) => path,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataDirError::Missing(name.to_string()))
            }
            Err(_) => return Err(outside()),
        };
        // A link that leads out of the folder is refused like a path that names the outside.
        if !resolved.starts_with(&self.root) {
            return Err(outside());
        }
        let metadata = std::fs::metadata(&resolved).map_err(|_| outside())?;
        if !metadata.is_file() {
            return Err(DataDirError::NotAFile(name.to_string()));
        }
        if metadata.len() > self.max_file_bytes {
            return Err(DataDirError::TooLarge {
                name: name.to_string(),
                bytes: metadata.len(),
                limit: self.max_file_bytes,
            });
        }
        Ok(resolved)
    }

    /// `message` with the folder's own path taken out, so that errors name files as the
    /// caller did.
    pub fn relative_message(&self, message: &str) -> String {
        let mut root = self.root.display().to_string();
        root.push(std::path::MAIN_SEPARATOR);
        message.replace(&root, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_folder_are_read() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("data");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.csv"), "customer_id\n1\n").unwrap();
        std::fs::write(root.join("sub/b.csv"), "customer_id\n1\n").unwrap();
        std::fs::write(root.join("big.csv"), vec![b'x'; 2_000]).unwrap();
        std::fs::write(outer.path().join("secret.csv"), "root:x\n").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outer.path().join("secret.csv"), root.join("link.csv"))
                .unwrap();
            std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
            std::os::unix::fs::symlink("a.csv", root.join("inner-link.csv")).unwrap();
        }
        let dir = DataDir::new(&root, 1_000).unwrap();
        let canonical = root.canonicalize().unwrap();
        assert_eq!(dir.resolve("a.csv").unwrap(), canonical.join("a.csv"));
        assert_eq!(
            dir.resolve("./sub/b.csv").unwrap(),
            canonical.join("sub/b.csv")
        );
        let absolute = canonical.join("a.csv").display().to_string();
        assert_eq!(dir.resolve(&absolute).unwrap(), canonical.join("a.csv"));
        for outside in [
            "/etc/passwd",
            "/etc/shadow",
            "/proc/self/environ",
            "../secret.csv",
            "sub/../../secret.csv",
            "sub/../a.csv",
            "",
            "/",
        ] {
            assert_eq!(
                dir.resolve(outside),
                Err(DataDirError::Outside(outside.into())),
                "{outside}"
            );
        }
        assert_eq!(
            dir.resolve("none.csv"),
            Err(DataDirError::Missing("none.csv".into()))
        );
        assert_eq!(
            dir.resolve("sub"),
            Err(DataDirError::NotAFile("sub".into()))
        );
        assert!(matches!(
            dir.resolve("big.csv"),
            Err(DataDirError::TooLarge { bytes: 2_000, .. })
        ));
        #[cfg(unix)]
        {
            assert_eq!(
                dir.resolve("link.csv"),
                Err(DataDirError::Outside("link.csv".into()))
            );
            assert_eq!(
                dir.resolve("zero"),
                Err(DataDirError::Outside("zero".into()))
            );
            assert_eq!(
                dir.resolve("inner-link.csv").unwrap(),
                canonical.join("a.csv")
            );
        }
        assert_eq!(
            dir.relative_message(&format!(
                "{}: expected a number",
                canonical.join("a.csv").display()
            )),
            "a.csv: expected a number"
        );
    }
}
