//! `ApiError`: every failure a handler can return, as an HTTP status and a JSON body
//! `{"error": "..."}`. Engine faults (I/O, corruption, poisoning) become a generic 500; their
//! details go to the log only.

use hyper::StatusCode;

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Extra fields merged into the JSON body (e.g. `current_version` on a 409).
    pub extra: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            extra: None,
        }
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

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "error": self.message });
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
        match e {
            E::KeyTooLarge { len, max } => ApiError::bad_request(format!(
                "key of {len} bytes exceeds the maximum of {} bytes",
                max.saturating_sub(1)
            )),
            E::ValueTooLarge { len, max } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("value of {len} bytes exceeds the maximum of {max} bytes"),
            ),
            E::InvalidArgument(m) => ApiError::bad_request(m),
            other => {
                // Details (paths, offsets, OS errors) stay in the log.
                tracing::error!(error = %other, "engine error");
                ApiError::internal()
            }
        }
    }
}

/// A blocking task that panicked or was cancelled.
impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(error = %e, "engine task failed");
        ApiError::internal()
    }
}
