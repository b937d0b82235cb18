//! `ApiError`: every failure a handler can return, as an HTTP status and a JSON body
//! `{"error": "...", "code": "..."}`. `code` is stable and machine-readable (see [`CODES`]).
//! Engine faults (I/O, corruption, poisoning) are 500s whose code says which; their details
//! (files, offsets, OS errors) go to the log only.

use hyper::StatusCode;

/// Every `code` the server puts in an error body, with its status (the README's table).
pub const CODES: &[(&str, u16)] = &[
    ("bad_request", 400),
    ("not_replicated", 400),
    ("range_required", 400),
    ("unauthorized", 401),
    ("keyspace_reserved", 403),
    ("not_found", 404),
    ("keyspace_not_found", 404),
    ("index_not_found", 404),
    ("method_not_allowed", 405),
    ("timeout", 408),
    ("conflict", 409),
    ("keyspace_exists", 409),
    ("keyspace_indexed", 409),
    ("index_exists", 409),
    ("precondition_failed", 412),
    ("payload_too_large", 413),
    ("uri_too_long", 414),
    ("headers_too_large", 431),
    ("internal", 500),
    ("io", 500),
    ("corruption", 500),
    ("read_only", 500),
    ("unavailable", 503),
    ("write_stalled", 503),
    ("index_building", 503),
    ("too_many_watchers", 503),
    ("no_quorum", 503),
    ("not_leader", 503),
];

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Machine-readable kind, one of [`CODES`].
    pub code: &'static str,
    pub message: String,
    /// Extra fields merged into the JSON body (e.g. `current_version` on a 409 or 412).
    pub extra: Option<serde_json::Value>,
}

/// The code of an error of `status` when nothing more specific is known.
fn default_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 => "conflict",
        412 => "precondition_failed",
        413 => "payload_too_large",
        414 => "uri_too_long",
        431 => "headers_too_large",
        503 => "unavailable",
        _ => "internal",
    }
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: default_code(status),
            message: message.into(),
            extra: None,
        }
    }
    /// The same error with another code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    }
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
    /// 404 `keyspace_not_found`.
    pub fn keyspace_not_found(name: &str) -> Self {
        Self::not_found(format!("keyspace {name:?} does not exist")).with_code("keyspace_not_found")
    }
    /// 403 `keyspace_reserved`: a keyspace the server keeps for itself, or `default` dropped.
    pub fn keyspace_reserved(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message).with_code("keyspace_reserved")
    }

    /// 503 `write_stalled`: the engine is holding writes back until a flush or compaction
    /// catches up. `retry_after_seconds` (the engine's estimate rounded up, at least 1) goes in
    /// the body and the `Retry-After` header.
    pub fn write_stalled(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "writes are held back until background work catches up; retry later",
        )
        .with_code("write_stalled");
        e.extra = Some(serde_json::json!({ "retry_after_seconds": secs.max(1) }));
        e
    }

    /// 404 `index_not_found`.
    pub fn index_not_found(name: &str) -> Self {
        Self::not_found(format!("index {name:?} does not exist")).with_code("index_not_found")
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "error": self.message, "code": self.code });
        if let (Some(serde_json::Value::Object(extra)), Some(obj)) =
            (&self.extra, v.as_object_mut())
        {
            for (k, x) in extra {
                obj.insert(k.clone(), x.clone());
            }
        }
        v
    }
}

impl From<lsmkv::Error> for ApiError {
    fn from(e: lsmkv::Error) -> Self {
        use lsmkv::Error as E;
        let fault = |code: &'static str, message: &str| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message).with_code(code)
        };
        let out = match &e {
            E::KeyTooLarge { len, max } => {
                return ApiError::bad_request(format!(
                    "key of {len} bytes exceeds the maximum of {} bytes",
                    max.saturating_sub(1)
                ));
            }
            E::ValueTooLarge { len, max } => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("value of {len} bytes exceeds the maximum of {max} bytes"),
                );
            }
            E::InvalidArgument(m) => return ApiError::bad_request(m.clone()),
            // A keyspace dropped while the request ran.
            E::KeyspaceNotFound { name } => return ApiError::keyspace_not_found(name),
            E::Corruption { .. } => fault(
                "corruption",
                "the database found corrupted data (details in the server log)",
            ),
            E::Io { .. } => fault(
                "io",
                "the database hit an I/O error (details in the server log)",
            ),
            E::Poisoned { .. } => fault(
                "read_only",
                "the database refuses writes after an earlier failure until the server is \
                 restarted (details in the server log)",
            ),
            E::ReadOnly => fault("read_only", "the database is open read-only"),
            E::Closed => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is closed"),
            // Not a fault: the client retries after `Retry-After` (see `error_response`).
            E::WouldStall { retry_after } => return ApiError::write_stalled(*retry_after),
            _ => ApiError::internal(),
        };
        // Details (paths, offsets, OS errors) stay in the log.
        tracing::error!(error = %e, code = out.code, "engine error");
        out
    }
}

/// A blocking task that panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "engine task failed");
        ApiError::internal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    #[test]
    fn engine_faults_have_codes_and_name_no_path() {
        let file = PathBuf::from("/srv/secret/db/000042.sst");
        let cases = [
            (
                lsmkv::Error::Corruption {
                    file: file.clone(),
                    offset: 4096,
                    reason: "bad checksum".into(),
                },
                "corruption",
            ),
            (
                lsmkv::Error::Io {
                    op: "reading SSTable",
                    path: file.clone(),
                    source: Arc::new(std::io::Error::other("EIO")),
                },
                "io",
            ),
            (
                lsmkv::Error::Poisoned {
                    cause: format!("fsync of {} failed", file.display()),
                },
                "read_only",
            ),
            (lsmkv::Error::ReadOnly, "read_only"),
        ];
        for (e, code) in cases {
            let a = ApiError::from(e);
            assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(a.code, code);
            let body = a.body().to_string();
            assert!(!body.contains("/srv/secret"), "{body}");
            assert!(!body.contains("4096"), "{body}");
            assert_eq!(a.body()["code"], code);
        }
        let a = ApiError::from(lsmkv::Error::Closed);
        assert_eq!((a.status.as_u16(), a.code), (503, "unavailable"));
    }

    #[test]
    fn stalls_round_retry_after_up_to_whole_seconds() {
        for (ms, secs) in [(1u64, 1u64), (999, 1), (1000, 1), (1001, 2), (10_000, 10)] {
            let a = ApiError::from(lsmkv::Error::WouldStall {
                retry_after: std::time::Duration::from_millis(ms),
            });
            assert_eq!((a.status.as_u16(), a.code), (503, "write_stalled"));
            assert_eq!(a.body()["retry_after_seconds"], secs, "{ms} ms");
        }
    }

    #[test]
    fn every_status_code_pair_is_listed() {
        for s in [400u16, 401, 404, 405, 408, 409, 413, 414, 431, 500, 503] {
            let st = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = ApiError::new(st, "x").code;
            assert!(CODES.contains(&(code, s)), "{s} {code}");
        }
    }
}
