//! The one place where registry failures become HTTP responses, in the
//! Distribution Spec's error format: `{"errors": [{"code", "message", "detail"}]}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode};
use serde_json::json;

use crate::storage::StorageError;

/// The error codes of the OCI Distribution Spec v1.1 (section "Error Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`: blob unknown to registry.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: blob upload invalid.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: blob upload unknown to registry.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: provided digest did not match uploaded content.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: manifest references a manifest or blob unknown to registry.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: manifest invalid.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: manifest unknown to registry.
    ManifestUnknown,
    /// `NAME_INVALID`: invalid repository name.
    NameInvalid,
    /// `NAME_UNKNOWN`: repository name not known to registry.
    NameUnknown,
    /// `SIZE_INVALID`: provided length did not match content length.
    SizeInvalid,
    /// `UNAUTHORIZED`: authentication required.
    Unauthorized,
    /// `DENIED`: requested access to the resource is denied.
    Denied,
    /// `UNSUPPORTED`: the operation is unsupported.
    Unsupported,
    /// `TOOMANYREQUESTS`: too many requests.
    TooManyRequests,
}

impl ErrorCode {
    /// The code as the spec spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TooManyRequests => "TOOMANYREQUESTS",
        }
    }
}

/// A failed registry request: the status, the spec's error code, a message
/// that says what failed and what to do, and any headers the spec asks for
/// (`WWW-Authenticate`, `Range`).
#[derive(Debug)]
pub struct RegistryError {
    status: StatusCode,
    code: Option<ErrorCode>,
    message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl RegistryError {
    /// An error with the given status and spec code.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Some(code),
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// A 404 with the given code.
    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// A 400 with the given code.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A server-side failure; the details go to the log, not to the client.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(%error, "registry request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: None,
            message: "internal error in the registry; see the server log".into(),
            headers: Vec::new(),
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The spec code, if the error has one.
    pub fn code(&self) -> Option<ErrorCode> {
        self.code
    }
}

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} {}: {}", self.status, code.as_str(), self.message),
            None => write!(f, "{}: {}", self.status, self.message),
        }
    }
}

impl std::error::Error for RegistryError {}

impl From<StorageError> for RegistryError {
    fn from(error: StorageError) -> Self {
        match &error {
            StorageError::UploadUnknown(_) => {
                Self::not_found(ErrorCode::BlobUploadUnknown, error.to_string())
            }
            StorageError::DigestMismatch { .. } => {
                Self::bad_request(ErrorCode::DigestInvalid, error.to_string())
            }
            StorageError::TooLarge { .. } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::SizeInvalid,
                error.to_string(),
            ),
            StorageError::Io { .. } | StorageError::Corrupt { .. } => Self::internal(&error),
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let code = self.code.map_or("UNKNOWN", ErrorCode::as_str);
        let body = json!({"errors": [{"code": code, "message": self.message, "detail": null}]});
        let mut response = (self.status, Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}
