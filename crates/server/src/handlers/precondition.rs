//! HTTP preconditions on a key's version (RFC 9110 section 13): `If-Match` and `If-None-Match`
//! with entity tags `"N"`, N being the key's version (`Keyspace::get_versioned`), and `*`. A failed
//! precondition is 412 with code `precondition_failed` and `current_version` (null when absent).
//!
//! On `GET`, a present key answers 304 (Not Modified, no body) when `If-None-Match` matches its
//! version and 412 when `If-Match` does not; an absent key is a 404 whatever the headers.
//!
//! A conditional write reads the key's version, evaluates the headers against it, and writes
//! with `Keyspace::compare_and_write` expecting exactly that version: the engine checks it again under
//! its write lock, so nothing written in between is overwritten. When the version moved, the
//! headers are evaluated again against the new one.

use hyper::header::{ETAG, HeaderMap, HeaderValue, IF_MATCH, IF_NONE_MATCH};
use hyper::{Response, StatusCode};
use serde_json::json;

use lsmkv::{CasOutcome, Keyspace};

use crate::errors::ApiError;

/// The `ETag` of a version: a strong entity tag, `"N"`.
pub fn etag(version: u64) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Sets the `ETag` header of `r` to `version`.
pub fn set_etag<B>(r: &mut Response<B>, version: u64) {
    r.headers_mut().insert(ETAG, etag(version));
}

/// The value of an `If-Match` or `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tags {
    /// `*`: any current version (the key exists).
    Any,
    /// A list of strong tags that are versions. Tags that are not (weak ones, other strings)
    /// match no version and are left out.
    Versions(Vec<u64>),
}

impl Tags {
    fn parse(v: &HeaderValue) -> Result<Tags, ApiError> {
        let s = v
            .to_str()
            .map_err(|_| ApiError::bad_request("If-Match / If-None-Match must be ASCII"))?
            .trim();
        if s == "*" {
            return Ok(Tags::Any);
        }
        let mut out = Vec::new();
        for tag in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            // Strong comparison: a weak tag (`W/"..."`) never matches.
            if tag.starts_with("W/") {
                continue;
            }
            let inner = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(tag);
            if let Ok(n) = inner.parse::<u64>() {
                out.push(n);
            }
        }
        Ok(Tags::Versions(out))
    }

    fn matches(&self, current: Option<u64>) -> bool {
        match (self, current) {
            (_, None) => false,
            (Tags::Any, Some(_)) => true,
            (Tags::Versions(vs), Some(v)) => vs.contains(&v),
        }
    }
}

/// The preconditions of one request.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    if_match: Option<Tags>,
    if_none_match: Option<Tags>,
}

impl Preconditions {
    /// Reads `If-Match` and `If-None-Match` (400 when one is not ASCII).
    pub fn from_headers(h: &HeaderMap) -> Result<Preconditions, ApiError> {
        Ok(Preconditions {
            if_match: h.get(IF_MATCH).map(Tags::parse).transpose()?,
            if_none_match: h.get(IF_NONE_MATCH).map(Tags::parse).transpose()?,
        })
    }

    /// Whether the request has any precondition.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Whether a key whose version is `current` (`None`: absent) passes.
    fn pass(&self, current: Option<u64>) -> bool {
        self.if_match.as_ref().is_none_or(|t| t.matches(current))
            && self
                .if_none_match
                .as_ref()
                .is_none_or(|t| !t.matches(current))
    }

    /// For a read of a present key at version `current`: 412 when `If-Match` fails, 304 (Not
    /// Modified) when `If-None-Match` matches, else `None` (a 200).
    pub fn read(&self, current: u64) -> Option<Result<StatusCode, ApiError>> {
        if self
            .if_match
            .as_ref()
            .is_some_and(|t| !t.matches(Some(current)))
        {
            return Some(Err(failed(Some(current))));
        }
        if self
            .if_none_match
            .as_ref()
            .is_some_and(|t| t.matches(Some(current)))
        {
            return Some(Ok(StatusCode::NOT_MODIFIED));
        }
        None
    }

    /// Writes `value` (`None`: deletes) to `key` of `ks` if the preconditions hold, atomically.
    /// Returns the write's version and whether the key existed just before it; 412 when they do
    /// not hold. Runs on the blocking pool.
    pub fn write(
        &self,
        ks: &Keyspace,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(u64, bool), ApiError> {
        let mut current = ks.get_versioned(key)?.map(|(_, v)| v);
        loop {
            if !self.pass(current) {
                return Err(failed(current));
            }
            match ks.compare_and_write(key, current, value)? {
                CasOutcome::Written { version } => return Ok((version, current.is_some())),
                // Written in between: evaluate the headers against the new version.
                CasOutcome::Mismatch { current: now } => current = now,
            }
        }
    }
}

/// 412 `precondition_failed`, with the key's current version.
fn failed(current: Option<u64>) -> ApiError {
    let what = match current {
        Some(v) => format!("precondition failed: the key's version is {v}"),
        None => "precondition failed: the key is absent".to_string(),
    };
    let mut e = ApiError::new(StatusCode::PRECONDITION_FAILED, what);
    e.extra = Some(json!({ "current_version": current }));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(if_match: Option<&'static str>, if_none_match: Option<&'static str>) -> Preconditions {
        let mut h = HeaderMap::new();
        if let Some(v) = if_match {
            h.insert(IF_MATCH, HeaderValue::from_static(v));
        }
        if let Some(v) = if_none_match {
            h.insert(IF_NONE_MATCH, HeaderValue::from_static(v));
        }
        Preconditions::from_headers(&h).unwrap()
    }

    #[test]
    fn evaluation() {
        assert!(pre(None, None).pass(None) && pre(None, None).pass(Some(3)));
        assert!(pre(Some("\"3\""), None).pass(Some(3)));
        assert!(!pre(Some("\"3\""), None).pass(Some(4)));
        assert!(!pre(Some("\"3\""), None).pass(None));
        assert!(pre(Some("\"1\", \"3\""), None).pass(Some(3)));
        assert!(!pre(Some("W/\"3\""), None).pass(Some(3)));
        assert!(pre(Some("*"), None).pass(Some(7)) && !pre(Some("*"), None).pass(None));
        assert!(pre(None, Some("*")).pass(None) && !pre(None, Some("*")).pass(Some(1)));
        assert!(pre(None, Some("\"2\"")).pass(Some(3)) && !pre(None, Some("\"2\"")).pass(Some(2)));
        assert!(!pre(Some("\"x\""), None).pass(Some(3)));
    }

    #[test]
    fn reads() {
        assert!(pre(None, None).read(3).is_none());
        assert!(pre(Some("\"3\""), None).read(3).is_none());
        assert!(matches!(pre(Some("\"2\""), None).read(3), Some(Err(_))));
        assert!(matches!(
            pre(None, Some("\"3\"")).read(3),
            Some(Ok(StatusCode::NOT_MODIFIED))
        ));
        assert!(matches!(
            pre(None, Some("*")).read(3),
            Some(Ok(StatusCode::NOT_MODIFIED))
        ));
        assert!(pre(None, Some("\"2\"")).read(3).is_none());
    }
}
