//! Blob endpoints: reads with ranges, deletion, and upload sessions
//! (monolithic, chunked, and cross-repository mounts).

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use http::{HeaderValue, Method, StatusCode, header};

use super::{Action, ErrorCode, RegistryError, RequestParts};
use crate::digest::Digest;
use crate::names::RepositoryName;
use crate::storage::{ByteStream, UploadId};

/// The query string as pairs, in order.
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn parse_digest(text: &str) -> Result<Digest, RegistryError> {
    text.parse().map_err(|e: crate::digest::DigestParseError| {
        RegistryError::bad_request(ErrorCode::DigestInvalid, e.to_string())
    })
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("registry header values are ASCII")
}

fn body_stream(body: Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

/// Parses `Range: bytes=START-END` (END optional) against a blob of `size` bytes.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    if start.is_empty() {
        // A suffix range: the last N bytes.
        let n: u64 = end.parse().ok()?;
        if n == 0 || size == 0 {
            return None;
        }
        return Some((size.saturating_sub(n), size - 1));
    }
    let start: u64 = start.parse().ok()?;
    let end: u64 = if end.is_empty() {
        size.checked_sub(1)?
    } else {
        end.parse::<u64>().ok()?.min(size.checked_sub(1)?)
    };
    (start <= end && start < size).then_some((start, end))
}

/// `GET`, `HEAD` and `DELETE` on `/v2/NAME/blobs/DIGEST`.
pub(crate) async fn blob(
    request: RequestParts<'_>,
    digest: &str,
) -> Result<Response, RegistryError> {
    let digest = parse_digest(digest)?;
    let repository = &request.repository;
    let unknown = || {
        RegistryError::not_found(
            ErrorCode::BlobUnknown,
            format!("blob {digest} is not in repository `{repository}`"),
        )
    };
    match request.method {
        Method::DELETE => {
            if request.storage().unlink_blob(repository, &digest).await? {
                Ok(StatusCode::ACCEPTED.into_response())
            } else {
                Err(unknown())
            }
        }
        Method::GET | Method::HEAD => {
            if !request.storage().blob_linked(repository, &digest).await? {
                return Err(unknown());
            }
            let Some(size) = request.storage().blob_size(&digest).await? else {
                return Err(unknown());
            };
            let range = match request.headers.get(header::RANGE) {
                None => None,
                Some(value) => {
                    let parsed = value.to_str().ok().and_then(|v| parse_range(v, size));
                    match parsed {
                        Some(range) => Some(range),
                        None => {
                            return Ok((
                                StatusCode::RANGE_NOT_SATISFIABLE,
                                [(
                                    header::CONTENT_RANGE,
                                    header_value(&format!("bytes */{size}")),
                                )],
                            )
                                .into_response());
                        }
                    }
                }
            };
            let (status, length) = match range {
                Some((start, end)) => (StatusCode::PARTIAL_CONTENT, end + 1 - start),
                None => (StatusCode::OK, size),
            };
            let body = if request.method == Method::HEAD {
                Body::empty()
            } else {
                let Some(read) = request.storage().read_blob(&digest, range).await? else {
                    return Err(unknown());
                };
                Body::from_stream(read.stream)
            };
            let mut response = Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, length)
                .header(header::ACCEPT_RANGES, "bytes")
                .header("docker-content-digest", digest.to_string());
            if let Some((start, end)) = range {
                response =
                    response.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
            }
            Ok(response.body(body).expect("valid response"))
        }
        _ => Err(request.method_not_allowed()),
    }
}

fn upload_location(repository: &RepositoryName, id: &UploadId) -> HeaderValue {
    header_value(&format!("/v2/{repository}/blobs/uploads/{}", id.as_str()))
}

fn blob_created(repository: &RepositoryName, digest: &Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                header_value(&format!("/v2/{repository}/blobs/{digest}")),
            ),
            (
                header::HeaderName::from_static("docker-content-digest"),
                header_value(&digest.to_string()),
            ),
        ],
    )
        .into_response()
}

fn upload_progress(
    status: StatusCode,
    repository: &RepositoryName,
    id: &UploadId,
    size: u64,
) -> Response {
    // `Range` is inclusive; an empty upload reports `0-0` as the spec's examples do.
    let range = format!("0-{}", size.saturating_sub(1));
    (
        status,
        [
            (header::LOCATION, upload_location(repository, id)),
            (header::RANGE, header_value(&range)),
            (
                header::HeaderName::from_static("docker-upload-uuid"),
                header_value(id.as_str()),
            ),
        ],
    )
        .into_response()
}

/// `POST /v2/NAME/blobs/uploads/`: a mount, a monolithic upload with
/// `?digest=`, or a new session.
pub(crate) async fn start_upload(
    request: RequestParts<'_>,
    body: Body,
) -> Result<Response, RegistryError> {
    if request.method != Method::POST {
        return Err(request.method_not_allowed());
    }
    let repository = &request.repository;
    let storage = request.storage();
    if let Some(mount) = request.query.get("mount") {
        let digest = parse_digest(mount)?;
        if let Some(from) = request.query.get("from")
            && let Ok(from) = RepositoryName::new(from)
            && request.access.allows(&from, Action::Pull).await?
            && storage.blob_linked(&from, &digest).await?
        {
            storage.link_blob(repository, &digest).await?;
            return Ok(blob_created(repository, &digest));
        }
        // The spec's fallback when a mount cannot be made: open a session.
    }
    let id = storage.start_upload(repository).await?;
    if let Some(digest) = request.query.get("digest") {
        let digest = match parse_digest(digest) {
            Ok(digest) => digest,
            Err(e) => {
                storage.cancel_upload(&id).await?;
                return Err(e);
            }
        };
        let limit = request.registry.config().max_blob_bytes;
        if let Err(e) = storage.append_upload(&id, body_stream(body), limit).await {
            storage.cancel_upload(&id).await?;
            return Err(e.into());
        }
        storage.finish_upload(&id, &digest).await?;
        return Ok(blob_created(repository, &digest));
    }
    Ok(upload_progress(StatusCode::ACCEPTED, repository, &id, 0))
}

/// `PATCH`, `PUT`, `GET` and `DELETE` on `/v2/NAME/blobs/uploads/ID`.
pub(crate) async fn upload(
    request: RequestParts<'_>,
    id: &str,
    body: Body,
) -> Result<Response, RegistryError> {
    let repository = &request.repository;
    let storage = request.storage();
    let unknown = || {
        RegistryError::not_found(
            ErrorCode::BlobUploadUnknown,
            format!(
                "upload session `{id}` is unknown in `{repository}`; start a new one with POST /v2/{repository}/blobs/uploads/"
            ),
        )
    };
    let Some(upload_id) = UploadId::parse(id) else {
        return Err(unknown());
    };
    let state = match storage.upload_state(&upload_id).await? {
        Some(state) if &state.repository == repository => state,
        _ => return Err(unknown()),
    };
    let id = upload_id;
    let limit = request.registry.config().max_blob_bytes;
    match request.method {
        Method::GET => Ok(upload_progress(
            StatusCode::NO_CONTENT,
            repository,
            &id,
            state.size,
        )),
        Method::DELETE => {
            storage.cancel_upload(&id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Method::PATCH => {
            if let Some(range) = request.headers.get(header::CONTENT_RANGE) {
                let start = range
                    .to_str()
                    .ok()
                    .map(|r| {
                        r.trim()
                            .trim_start_matches("bytes ")
                            .trim_start_matches("bytes=")
                    })
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(start, _)| start.parse::<u64>().ok());
                if start != Some(state.size) {
                    let mut response = upload_progress(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        repository,
                        &id,
                        state.size,
                    );
                    *response.body_mut() = RegistryError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        ErrorCode::BlobUploadInvalid,
                        format!(
                            "chunk out of order: the session has {} bytes, so the next chunk must start at {}",
                            state.size, state.size
                        ),
                    )
                    .into_response()
                    .into_body();
                    return Ok(response);
                }
            }
            let size = storage.append_upload(&id, body_stream(body), limit).await?;
            Ok(upload_progress(StatusCode::ACCEPTED, repository, &id, size))
        }
        Method::PUT => {
            let Some(digest) = request.query.get("digest") else {
                return Err(RegistryError::bad_request(
                    ErrorCode::DigestInvalid,
                    "closing an upload needs `?digest=sha256:…` with the digest of the whole blob",
                ));
            };
            let digest = parse_digest(digest)?;
            storage.append_upload(&id, body_stream(body), limit).await?;
            storage.finish_upload(&id, &digest).await?;
            Ok(blob_created(repository, &digest))
        }
        _ => Err(request.method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_clamped_and_invalid_ones_refused() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-4", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
