//! OCI Distribution Spec behaviour, driven over HTTP on loopback.

mod common;

use common::TestRegistry;
use n8n_work_registry::Digest;
use n8n_work_registry::media_types::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

async fn error_code(response: Response) -> String {
    let body: Value = response.json_or_panic().await;
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

trait JsonBody {
    async fn json_or_panic(self) -> Value;
}

impl JsonBody for Response {
    async fn json_or_panic(self) -> Value {
        let bytes = self.bytes().await.unwrap();
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    }
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has no `{name}` header"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn push_blob(reg: &TestRegistry, client: &Client, repo: &str, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    let response = client
        .post(reg.url(&format!("/v2/{repo}/blobs/uploads/?digest={digest}")))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    digest
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes).to_string(), "size": bytes.len()})
}

async fn push_image(
    reg: &TestRegistry,
    client: &Client,
    repo: &str,
    tag: &str,
    layer: &[u8],
) -> (Digest, Vec<u8>) {
    let config = br#"{"architecture":"wasm","os":"wasip2"}"#;
    push_blob(reg, client, repo, config).await;
    push_blob(reg, client, repo, layer).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.wasm.config.v0+json", config),
        "layers": [descriptor("application/wasm", layer)],
    }))
    .unwrap();
    let response = client
        .put(reg.url(&format!("/v2/{repo}/manifests/{tag}")))
        .header("content-type", OCI_MANIFEST)
        .body(manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let digest = Digest::of(&manifest);
    assert_eq!(
        header(&response, "docker-content-digest"),
        digest.to_string()
    );
    assert_eq!(
        header(&response, "location"),
        format!("/v2/{repo}/manifests/{digest}")
    );
    (digest, manifest)
}

#[tokio::test]
async fn base_endpoint_answers_with_an_empty_object() {
    let reg = TestRegistry::start().await;
    let response = reqwest::get(reg.url("/v2/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json_or_panic().await, json!({}));
}

#[tokio::test]
async fn monolithic_upload_then_head_get_and_ranges() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let digest = push_blob(&reg, &client, "plugins/x", &data).await;
    let url = reg.url(&format!("/v2/plugins/x/blobs/{digest}"));

    let head = client.head(&url).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "content-length"), "10000");
    assert_eq!(header(&head, "docker-content-digest"), digest.to_string());

    let full = client.get(&url).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.bytes().await.unwrap().as_ref(), &data[..]);

    let part = client
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&part, "content-range"), "bytes 100-199/10000");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &data[100..200]);

    let tail = client
        .get(&url)
        .header("range", "bytes=9990-")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &data[9990..]);

    let beyond = client
        .get(&url)
        .header("range", "bytes=10000-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn chunked_upload_enforces_chunk_order_and_verifies_the_digest() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let data = b"hello, chunked world".to_vec();
    let start = client
        .post(reg.url("/v2/a/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::ACCEPTED);
    let location = reg.url(&header(&start, "location"));

    let first = client
        .patch(&location)
        .header("content-range", "0-4")
        .header("content-type", "application/octet-stream")
        .body(data[..5].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&first, "range"), "0-4");

    let out_of_order = client
        .patch(&location)
        .header("content-range", "9-12")
        .body(data[9..13].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(out_of_order.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&out_of_order, "range"), "0-4");
    assert_eq!(error_code(out_of_order).await, "BLOB_UPLOAD_INVALID");

    let second = client
        .patch(&location)
        .header("content-range", "5-9")
        .body(data[5..10].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(header(&second, "range"), "0-9");

    let status = client.get(&location).send().await.unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&status, "range"), "0-9");

    // The last chunk travels with the closing PUT.
    let digest = Digest::of(&data);
    let put = client
        .put(format!("{location}?digest={digest}"))
        .body(data[10..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(header(&put, "location"), format!("/v2/a/blobs/{digest}"));
    let got = client
        .get(reg.url(&format!("/v2/a/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), &data[..]);

    // The session is closed.
    let after = client.get(&location).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(after).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn digest_mismatch_is_refused_and_nothing_is_stored() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let claimed = Digest::of(b"what the client claims");
    let response = client
        .post(reg.url(&format!("/v2/a/blobs/uploads/?digest={claimed}")))
        .body(b"what it sends".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.json_or_panic().await;
    assert_eq!(body["errors"][0]["code"], "DIGEST_INVALID");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&claimed.to_string()), "{message}");
    assert!(
        message.contains(&Digest::of(b"what it sends").to_string()),
        "{message}"
    );
    for digest in [claimed, Digest::of(b"what it sends")] {
        let head = client
            .head(reg.url(&format!("/v2/a/blobs/{digest}")))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::NOT_FOUND);
    }
    let malformed = client
        .post(reg.url("/v2/a/blobs/uploads/?digest=sha256:xyz"))
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(malformed).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn unknown_blob_upload_and_bad_names_have_spec_error_codes() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let unknown = Digest::of(b"never pushed");
    let response = client
        .get(reg.url(&format!("/v2/a/blobs/{unknown}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "BLOB_UNKNOWN");

    let response = client
        .patch(reg.url("/v2/a/blobs/uploads/0123456789abcdef0123456789abcdef"))
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "BLOB_UPLOAD_UNKNOWN");

    let response = client
        .get(reg.url("/v2/Upper/Case/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "NAME_INVALID");

    // A blob pushed to one repository is not visible in another without a mount.
    let digest = push_blob(&reg, &client, "a", b"only in a").await;
    let response = client
        .head(reg.url(&format!("/v2/b/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cross_repository_mount_links_an_existing_blob() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let digest = push_blob(&reg, &client, "a", b"shared layer").await;
    let mount = client
        .post(reg.url(&format!("/v2/b/blobs/uploads/?mount={digest}&from=a")))
        .send()
        .await
        .unwrap();
    assert_eq!(mount.status(), StatusCode::CREATED);
    assert_eq!(header(&mount, "location"), format!("/v2/b/blobs/{digest}"));
    let got = client
        .get(reg.url(&format!("/v2/b/blobs/{digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"shared layer");

    // Mounting from a repository that lacks the blob falls back to a session.
    let fallback = client
        .post(reg.url(&format!("/v2/c/blobs/uploads/?mount={digest}&from=nowhere")))
        .send()
        .await
        .unwrap();
    assert_eq!(fallback.status(), StatusCode::ACCEPTED);
    assert!(header(&fallback, "location").starts_with("/v2/c/blobs/uploads/"));
}

#[tokio::test]
async fn manifests_by_tag_and_digest_keep_their_media_type() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let (digest, bytes) = push_image(&reg, &client, "plugins/slack", "1.0.0", b"\0asm layer").await;
    for reference in ["1.0.0".to_owned(), digest.to_string()] {
        let url = reg.url(&format!("/v2/plugins/slack/manifests/{reference}"));
        let got = client
            .get(&url)
            .header("accept", OCI_MANIFEST)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(header(&got, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&got, "docker-content-digest"), digest.to_string());
        assert_eq!(got.bytes().await.unwrap().as_ref(), &bytes[..]);
        let head = client.head(&url).send().await.unwrap();
        assert_eq!(header(&head, "content-length"), bytes.len().to_string());
    }

    // An index over it.
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest.to_string(), "size": bytes.len()}],
    }))
    .unwrap();
    let put = client
        .put(reg.url("/v2/plugins/slack/manifests/multi"))
        .header("content-type", OCI_INDEX)
        .body(index.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let got = client
        .get(reg.url("/v2/plugins/slack/manifests/multi"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&got, "content-type"), OCI_INDEX);

    // A Docker schema 2 manifest over the same blobs.
    let docker = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor("application/vnd.wasm.config.v0+json", br#"{"architecture":"wasm","os":"wasip2"}"#),
        "layers": [descriptor("application/wasm", b"\0asm layer")],
    }))
    .unwrap();
    let put = client
        .put(reg.url("/v2/plugins/slack/manifests/docker"))
        .header("content-type", DOCKER_MANIFEST)
        .body(docker)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    let got = client
        .get(reg.url("/v2/plugins/slack/manifests/docker"))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&got, "content-type"), DOCKER_MANIFEST);
}

#[tokio::test]
async fn invalid_manifests_are_refused_with_the_reason() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let (_, bytes) = push_image(&reg, &client, "a", "t", b"layer").await;
    let put = |content_type: &'static str, reference: String, body: Vec<u8>| {
        let client = client.clone();
        let url = reg.url(&format!("/v2/a/manifests/{reference}"));
        async move {
            client
                .put(url)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };

    let response = put("text/plain", "x".into(), bytes.clone()).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "MANIFEST_INVALID");

    let response = put(OCI_INDEX, "x".into(), bytes.clone()).await;
    assert_eq!(error_code(response).await, "MANIFEST_INVALID");

    let wrong_digest = Digest::of(b"another manifest");
    let response = put(OCI_MANIFEST, wrong_digest.to_string(), bytes.clone()).await;
    assert_eq!(error_code(response).await, "DIGEST_INVALID");

    let dangling = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.wasm.config.v0+json", b"{}"),
        "layers": [descriptor("application/wasm", b"never uploaded")],
    }))
    .unwrap();
    let response = put(OCI_MANIFEST, "x".into(), dangling).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "MANIFEST_BLOB_UNKNOWN");

    // Bytes that are not UTF-8, in a field the registry does not read
    // (found by the `oci_manifest` fuzz target).
    let mut not_utf8 = b"{\"schemaVersion\": 2, \"x\": \"".to_vec();
    not_utf8.extend_from_slice(&[0x99, 0xa1]);
    not_utf8.extend_from_slice(b"\", \"manifests\": []}");
    let response = put(OCI_INDEX, "x".into(), not_utf8).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(response).await, "MANIFEST_INVALID");

    let response = client
        .get(reg.url("/v2/a/manifests/missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(response).await, "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn tags_list_paginates_with_n_last_and_link() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    for tag in ["v3", "v1", "v5", "v2", "v4"] {
        push_image(&reg, &client, "p", tag, tag.as_bytes()).await;
    }
    let all = client.get(reg.url("/v2/p/tags/list")).send().await.unwrap();
    assert!(all.headers().get("link").is_none());
    assert_eq!(
        all.json_or_panic().await,
        json!({"name": "p", "tags": ["v1", "v2", "v3", "v4", "v5"]})
    );

    let mut url = reg.url("/v2/p/tags/list?n=2");
    let mut pages = Vec::new();
    loop {
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.json_or_panic().await;
        pages.push(body["tags"].clone());
        let Some(link) = link else { break };
        assert!(link.ends_with("; rel=\"next\""), "{link}");
        let target = link.trim_start_matches('<').split('>').next().unwrap();
        url = reg.url(target);
    }
    assert_eq!(
        pages,
        vec![json!(["v1", "v2"]), json!(["v3", "v4"]), json!(["v5"])]
    );

    let after = client
        .get(reg.url("/v2/p/tags/list?last=v4"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.json_or_panic().await["tags"], json!(["v5"]));

    let unknown = client
        .get(reg.url("/v2/nothing/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(unknown).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn referrers_list_manifests_whose_subject_is_the_digest() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let (subject, subject_bytes) = push_image(&reg, &client, "p", "1", b"component").await;
    let empty = b"{}";
    push_blob(&reg, &client, "p", empty).await;
    push_blob(&reg, &client, "p", b"sbom").await;
    let referrer = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": descriptor("application/vnd.oci.empty.v1+json", empty),
        "layers": [descriptor("application/spdx+json", b"sbom")],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.to_string(), "size": subject_bytes.len()},
        "annotations": {"org.example": "yes"},
    }))
    .unwrap();
    let referrer_digest = Digest::of(&referrer);
    let put = client
        .put(reg.url(&format!("/v2/p/manifests/{referrer_digest}")))
        .header("content-type", OCI_MANIFEST)
        .body(referrer.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::CREATED);
    assert_eq!(header(&put, "oci-subject"), subject.to_string());

    let list = client
        .get(reg.url(&format!("/v2/p/referrers/{subject}")))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&list, "content-type"), OCI_INDEX);
    let index = list.json_or_panic().await;
    assert_eq!(index["manifests"][0]["digest"], referrer_digest.to_string());
    assert_eq!(
        index["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
    assert_eq!(index["manifests"][0]["size"], referrer.len());
    assert_eq!(index["manifests"][0]["annotations"]["org.example"], "yes");

    let filtered = client
        .get(reg.url(&format!(
            "/v2/p/referrers/{subject}?artifactType=application/other"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&filtered, "oci-filters-applied"), "artifactType");
    assert_eq!(filtered.json_or_panic().await["manifests"], json!([]));

    let delete = client
        .delete(reg.url(&format!("/v2/p/manifests/{referrer_digest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::ACCEPTED);
    let list = client
        .get(reg.url(&format!("/v2/p/referrers/{subject}")))
        .send()
        .await
        .unwrap();
    assert_eq!(list.json_or_panic().await["manifests"], json!([]));
}

#[tokio::test]
async fn deleting_tags_manifests_and_blobs() {
    let reg = TestRegistry::start().await;
    let client = Client::new();
    let (digest, _) = push_image(&reg, &client, "p", "1", b"layer").await;
    let by_tag = reg.url("/v2/p/manifests/1");
    let by_digest = reg.url(&format!("/v2/p/manifests/{digest}"));

    assert_eq!(
        client.delete(&by_tag).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        client.get(&by_tag).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        client.get(&by_digest).send().await.unwrap().status(),
        StatusCode::OK
    );

    client
        .put(reg.url("/v2/p/manifests/again"))
        .header("content-type", OCI_MANIFEST)
        .body(
            client
                .get(&by_digest)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        client.delete(&by_digest).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let gone = client.get(&by_digest).send().await.unwrap();
    assert_eq!(error_code(gone).await, "MANIFEST_UNKNOWN");
    // Deleting a manifest removes the tags that pointed at it.
    assert_eq!(
        client
            .get(reg.url("/v2/p/manifests/again"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    let layer = reg.url(&format!("/v2/p/blobs/{}", Digest::of(b"layer")));
    assert_eq!(
        client.delete(&layer).send().await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let gone = client.get(&layer).send().await.unwrap();
    assert_eq!(error_code(gone).await, "BLOB_UNKNOWN");
}
