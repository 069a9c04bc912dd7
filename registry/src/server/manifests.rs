//! Manifest, tag-list and referrers endpoints.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::json;

use super::blobs::parse_digest;
use super::{ErrorCode, RegistryError, RequestParts};
use crate::digest::Digest;
use crate::media_types;
use crate::names::Tag;
use crate::storage::{ReferrerDescriptor, StoredManifest};

/// The parts of a manifest the registry checks: what it references and its subject.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestShape {
    schema_version: Option<u32>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

enum Reference {
    Tag(Tag),
    Digest(Digest),
}

fn parse_reference(reference: &str) -> Result<Reference, RegistryError> {
    if reference.contains(':') {
        return parse_digest(reference).map(Reference::Digest);
    }
    Tag::new(reference)
        .map(Reference::Tag)
        .map_err(|e| RegistryError::bad_request(ErrorCode::ManifestInvalid, e.to_string()))
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("registry header values are ASCII")
}

fn invalid(message: impl Into<String>) -> RegistryError {
    RegistryError::bad_request(ErrorCode::ManifestInvalid, message)
}

/// `GET`, `HEAD`, `PUT` and `DELETE` on `/v2/NAME/manifests/REFERENCE`.
pub(crate) async fn manifest(
    request: RequestParts<'_>,
    reference: &str,
    body: Body,
) -> Result<Response, RegistryError> {
    let reference = parse_reference(reference)?;
    match request.method {
        Method::GET | Method::HEAD => get_manifest(&request, &reference).await,
        Method::PUT => put_manifest(&request, &reference, body).await,
        Method::DELETE => delete_manifest(&request, &reference).await,
        _ => Err(request.method_not_allowed()),
    }
}

async fn get_manifest(
    request: &RequestParts<'_>,
    reference: &Reference,
) -> Result<Response, RegistryError> {
    let repository = &request.repository;
    let storage = request.storage();
    let digest = match reference {
        Reference::Digest(digest) => Some(digest.clone()),
        Reference::Tag(tag) => storage.resolve_tag(repository, tag).await?,
    };
    let manifest = match &digest {
        Some(digest) => storage.manifest(repository, digest).await?,
        None => None,
    };
    let (Some(digest), Some(manifest)) = (digest, manifest) else {
        let shown = match reference {
            Reference::Tag(tag) => tag.to_string(),
            Reference::Digest(digest) => digest.to_string(),
        };
        return Err(RegistryError::not_found(
            ErrorCode::ManifestUnknown,
            format!("manifest `{shown}` is not in repository `{repository}`"),
        ));
    };
    let length = manifest.bytes.len();
    let body = if request.method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(manifest.bytes)
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, manifest.media_type)
        .header(header::CONTENT_LENGTH, length)
        .header("docker-content-digest", digest.to_string())
        .body(body)
        .expect("valid response"))
}

async fn put_manifest(
    request: &RequestParts<'_>,
    reference: &Reference,
    body: Body,
) -> Result<Response, RegistryError> {
    let repository = &request.repository;
    let storage = request.storage();
    let limit = request.registry.config().max_manifest_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        RegistryError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::SizeInvalid,
            format!("manifest is larger than the limit of {limit} bytes"),
        )
    })?;
    let content_type = request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    if !media_types::MANIFEST_TYPES.contains(&content_type.as_str()) {
        return Err(invalid(format!(
            "Content-Type `{content_type}` is not a manifest type this registry stores; use one of {}",
            media_types::MANIFEST_TYPES.join(", ")
        )));
    }
    // Whole JSON first: reading the shape skips fields it does not know
    // without decoding them, and a manifest with bytes there that are not
    // UTF-8 would be stored for every other client to choke on (found by
    // the `oci_manifest` fuzz target).
    serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
        invalid(format!(
            "manifest is not valid JSON (UTF-8, every string decodable): {e}"
        ))
    })?;
    let shape: ManifestShape = serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("manifest is not valid manifest JSON: {e}")))?;
    if shape.schema_version != Some(2) {
        return Err(invalid("manifest must have `schemaVersion: 2`"));
    }
    if let Some(declared) = &shape.media_type
        && declared != &content_type
    {
        return Err(invalid(format!(
            "manifest says `mediaType: {declared}` but was sent as `{content_type}`; send the same type in Content-Type"
        )));
    }
    let digest = Digest::of(&bytes);
    if let Reference::Digest(expected) = reference
        && expected != &digest
    {
        return Err(RegistryError::bad_request(
            ErrorCode::DigestInvalid,
            format!("manifest has digest {digest}, not the {expected} in the URL"),
        ));
    }
    if media_types::is_index(&content_type) {
        for entry in &shape.manifests {
            let child = parse_digest(&entry.digest)?;
            if storage.manifest(repository, &child).await?.is_none() {
                return Err(RegistryError::bad_request(
                    ErrorCode::ManifestBlobUnknown,
                    format!(
                        "index refers to manifest {child}, which is not in `{repository}`; push it first"
                    ),
                ));
            }
        }
    } else {
        let Some(config) = &shape.config else {
            return Err(invalid("image manifest has no `config` descriptor"));
        };
        for descriptor in std::iter::once(config).chain(shape.layers.iter()) {
            let blob = parse_digest(&descriptor.digest)?;
            let size = if storage.blob_linked(repository, &blob).await? {
                storage.blob_size(&blob).await?
            } else {
                None
            };
            match size {
                None => {
                    return Err(RegistryError::bad_request(
                        ErrorCode::ManifestBlobUnknown,
                        format!(
                            "manifest refers to blob {blob}, which is not in `{repository}`; upload it first"
                        ),
                    ));
                }
                Some(size) if size != descriptor.size => {
                    return Err(invalid(format!(
                        "manifest gives blob {blob} a size of {} bytes but it has {size}",
                        descriptor.size
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let subject = match &shape.subject {
        Some(subject) => Some(parse_digest(&subject.digest)?),
        None => None,
    };
    storage
        .put_manifest(
            repository,
            &digest,
            &StoredManifest {
                media_type: content_type.clone(),
                bytes: bytes.clone(),
            },
        )
        .await?;
    if let Reference::Tag(tag) = reference {
        storage.set_tag(repository, tag, &digest).await?;
    }
    let mut response = Response::builder()
        .status(StatusCode::CREATED)
        .header(
            header::LOCATION,
            format!("/v2/{repository}/manifests/{digest}"),
        )
        .header("docker-content-digest", digest.to_string());
    if let Some(subject) = subject {
        let artifact_type = shape
            .artifact_type
            .clone()
            .or_else(|| shape.config.as_ref().map(|c| c.media_type.clone()));
        storage
            .add_referrer(
                repository,
                &subject,
                &ReferrerDescriptor {
                    media_type: content_type,
                    digest: digest.clone(),
                    size: bytes.len() as u64,
                    artifact_type,
                    annotations: shape.annotations.clone(),
                },
            )
            .await?;
        response = response.header("oci-subject", subject.to_string());
    }
    Ok(response.body(Body::empty()).expect("valid response"))
}

async fn delete_manifest(
    request: &RequestParts<'_>,
    reference: &Reference,
) -> Result<Response, RegistryError> {
    let repository = &request.repository;
    let storage = request.storage();
    match reference {
        Reference::Tag(tag) => {
            if storage.delete_tag(repository, tag).await? {
                Ok(StatusCode::ACCEPTED.into_response())
            } else {
                Err(RegistryError::not_found(
                    ErrorCode::ManifestUnknown,
                    format!("tag `{tag}` is not in repository `{repository}`"),
                ))
            }
        }
        Reference::Digest(digest) => {
            let Some(existing) = storage.manifest(repository, digest).await? else {
                return Err(RegistryError::not_found(
                    ErrorCode::ManifestUnknown,
                    format!("manifest {digest} is not in repository `{repository}`"),
                ));
            };
            let subject = serde_json::from_slice::<ManifestShape>(&existing.bytes)
                .ok()
                .and_then(|shape| shape.subject)
                .and_then(|s| s.digest.parse::<Digest>().ok());
            if let Some(subject) = subject {
                storage
                    .remove_referrer(repository, &subject, digest)
                    .await?;
            }
            storage.delete_manifest(repository, digest).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}

/// `GET /v2/NAME/tags/list?n=N&last=TAG`.
pub(crate) async fn tags_list(request: RequestParts<'_>) -> Result<Response, RegistryError> {
    if request.method != Method::GET {
        return Err(request.method_not_allowed());
    }
    let repository = &request.repository;
    let storage = request.storage();
    if !storage.repository_exists(repository).await? {
        return Err(RegistryError::not_found(
            ErrorCode::NameUnknown,
            format!("repository `{repository}` does not exist in this registry"),
        ));
    }
    let n = match request.query.get("n") {
        None => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            RegistryError::bad_request(
                ErrorCode::Unsupported,
                format!("`n={n}` is not a number; give the page size as a whole number"),
            )
        })?),
    };
    let last = request.query.get("last");
    let mut tags: Vec<String> = storage
        .tags(repository)
        .await?
        .into_iter()
        .filter(|t| last.is_none_or(|last| t.as_str() > last))
        .collect();
    let mut link = None;
    if let Some(n) = n
        && tags.len() > n
    {
        tags.truncate(n);
        if let Some(last_shown) = tags.last() {
            link = Some(format!(
                "</v2/{repository}/tags/list?n={n}&last={last_shown}>; rel=\"next\""
            ));
        }
    }
    let mut response =
        axum::Json(json!({"name": repository.as_str(), "tags": tags})).into_response();
    if let Some(link) = link {
        response
            .headers_mut()
            .insert(header::LINK, header_value(&link));
    }
    Ok(response)
}

/// `GET /v2/NAME/referrers/DIGEST?artifactType=…`.
pub(crate) async fn referrers(
    request: RequestParts<'_>,
    digest: &str,
) -> Result<Response, RegistryError> {
    if request.method != Method::GET {
        return Err(request.method_not_allowed());
    }
    let subject = parse_digest(digest)?;
    let mut referrers = request
        .storage()
        .referrers(&request.repository, &subject)
        .await?;
    let filter = request.query.get("artifactType");
    if let Some(artifact_type) = filter {
        referrers.retain(|r| r.artifact_type.as_deref() == Some(artifact_type));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_INDEX,
        "manifests": referrers,
    });
    let mut response = (
        [(header::CONTENT_TYPE, media_types::OCI_INDEX)],
        serde_json::to_vec(&index).expect("index serializes"),
    )
        .into_response();
    if filter.is_some() {
        response.headers_mut().insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    Ok(response)
}
