//! The one error type of the tracker, with the HTTP status each variant maps to.

/// Why a tracker operation was refused.
///
/// Every variant maps to one HTTP status ([`TrackerError::status`]); the message is meant to be
/// shown to the client as is, e.g. in `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The input is malformed or out of bounds → 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A missing or wrong token, a wrong channel key, or an attempt to take over a peer id → 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The peer, channel or file does not exist (or has expired) → 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request clashes with existing state, e.g. a file name repeated within one peer's files → 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The registry holds its maximum number of peers → 503.
    #[error("tracker is full")]
    Full,
    /// The client is over a rate limit → 429, to be answered with `Retry-After`.
    #[error("too many requests: {detail}")]
    TooManyRequests {
        /// What is limited and when to come back.
        detail: String,
        /// Whole seconds until a retry can succeed.
        retry_after_s: u64,
    },
    /// The shared store cannot be reached; nothing was changed → 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl TrackerError {
    /// The HTTP status code this error should be answered with.
    pub fn status(&self) -> u16 {
        match self {
            TrackerError::BadRequest(_) => 400,
            TrackerError::Forbidden(_) => 403,
            TrackerError::NotFound(_) => 404,
            TrackerError::Conflict(_) => 409,
            TrackerError::Full | TrackerError::Unavailable(_) => 503,
            TrackerError::TooManyRequests { .. } => 429,
        }
    }

    /// Seconds the client should wait before trying again (`Retry-After`), for a 429.
    pub fn retry_after_s(&self) -> Option<u64> {
        match self {
            TrackerError::TooManyRequests { retry_after_s, .. } => Some(*retry_after_s),
            _ => None,
        }
    }
}

/// Shorthand for results of tracker operations.
pub type Result<T, E = TrackerError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        let cases = [
            (TrackerError::BadRequest("x".into()), 400, "bad request: x"),
            (TrackerError::Forbidden("x".into()), 403, "forbidden: x"),
            (TrackerError::NotFound("x".into()), 404, "not found: x"),
            (TrackerError::Conflict("x".into()), 409, "conflict: x"),
            (TrackerError::Full, 503, "tracker is full"),
            (
                TrackerError::TooManyRequests {
                    detail: "x".into(),
                    retry_after_s: 2,
                },
                429,
                "too many requests: x",
            ),
            (
                TrackerError::Unavailable("x".into()),
                503,
                "store unavailable: x",
            ),
        ];
        for (err, status, msg) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.to_string(), msg);
        }
    }
}
