//! The bearer token: checked from the request headers alone, before the body is read, and
//! re-read from its file whenever the file's content changes.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use axum::http::{HeaderMap, header};

use super::Error;

/// The token file, re-read on every request; the token is re-derived only when the file's
/// content hash changes. Neither mtime nor length is trusted: a Secret rotated to a token of
/// the same length within one mtime tick must still take effect at once.
pub struct Token {
    path: PathBuf,
    cached: Mutex<Option<([u8; 32], String)>>,
}

impl Token {
    /// Reads the token once; a missing or empty file refuses to start the webhook.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let token = Self {
            path: path.to_owned(),
            cached: Mutex::new(None),
        };
        token.current()?;
        Ok(token)
    }

    /// The token the file holds now.
    pub fn current(&self) -> Result<String, Error> {
        let err = |why: String| Error::Token {
            path: self.path.display().to_string(),
            why,
        };
        // A token file is a few bytes: reading it is cheaper than anything that could tell
        // whether it changed without reading it.
        let raw = std::fs::read(&self.path).map_err(|e| err(e.to_string()))?;
        let hash: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &raw)
            .as_ref()
            .try_into()
            .map_err(|_| err("unexpected digest length".into()))?;
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| err("lock poisoned".into()))?;
        if let Some((seen, token)) = cached.as_ref()
            && *seen == hash
        {
            return Ok(token.clone());
        }
        let token = String::from_utf8(raw)
            .map_err(|_| err("the file is not UTF-8".into()))?
            .trim()
            .to_owned();
        if token.is_empty() {
            return Err(err("the file is empty".into()));
        }
        *cached = Some((hash, token.clone()));
        Ok(token)
    }
}

/// Equal strings, compared in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether the headers carry `Authorization: Bearer <token>`.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| constant_time_eq(given.trim().as_bytes(), token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_compare_exactly() {
        let mut h = HeaderMap::new();
        assert!(!authorized(&h, "s3cret"));
        h.insert(
            header::AUTHORIZATION,
            "Bearer s3cret".parse().expect("header"),
        );
        assert!(authorized(&h, "s3cret"));
        assert!(!authorized(&h, "s3cret2"));
        assert!(!authorized(&h, "s3cre"));
        h.insert(
            header::AUTHORIZATION,
            "Basic s3cret".parse().expect("header"),
        );
        assert!(!authorized(&h, "s3cret"));
    }

    fn temp_token(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bg-token-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir.join("token")
    }

    #[test]
    fn the_token_file_is_reread_when_it_changes() {
        let path = temp_token("change");
        std::fs::write(&path, "").expect("write");
        assert!(
            Token::load(&path).is_err(),
            "an empty token refuses to start"
        );
        std::fs::write(&path, "first\n").expect("write");
        let token = Token::load(&path).expect("token");
        assert_eq!(token.current().expect("current"), "first");
        std::fs::write(&path, "second-token\n").expect("write");
        assert_eq!(token.current().expect("current"), "second-token");
    }

    #[test]
    fn a_same_length_rotation_with_the_same_mtime_is_seen() {
        let path = temp_token("mtime");
        std::fs::write(&path, "aaaa-1111").expect("write");
        let token = Token::load(&path).expect("token");
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .expect("mtime");
        std::fs::write(&path, "bbbb-2222").expect("write");
        // Put the old mtime back: only the content tells the two tokens apart.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(mtime))
            .expect("set mtime");
        assert_eq!(token.current().expect("current"), "bbbb-2222");
    }
}
