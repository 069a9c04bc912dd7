//! Workflows: create, list, get, update (a new immutable version each
//! time), versions, activation, validation, manual runs, and running one
//! node on pinned input.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use n8n_work_auth::Action;
use n8n_work_engine::EngineError;
use n8n_work_model::{DocumentLimit, ParseError, ValidationError, Workflow};
use n8n_work_runtime::Item;
use n8n_work_store::{WorkflowVersion, items_json};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState, caller};

/// Validation problems as the API reports them, each with the node it
/// concerns when its path is under `nodes[i]`.
pub(crate) fn problems(errors: &[ValidationError]) -> Value {
    problems_in(None, errors)
}

fn problems_in(workflow: Option<&Workflow>, errors: &[ValidationError]) -> Value {
    Value::Array(
        errors
            .iter()
            .map(|e| {
                let node = node_index(&e.path)
                    .and_then(|i| workflow.and_then(|w| w.nodes.get(i)))
                    .map(|n| n.id.clone());
                json!({
                    "path": e.path,
                    "line": e.location.map(|l| l.line),
                    "column": e.location.map(|l| l.column),
                    "message": e.message,
                    "node": node,
                })
            })
            .collect(),
    )
}

/// `nodes[3].params.url` → 3.
fn node_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("nodes[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// Reads a workflow from JSON or (any other content type) YAML.
fn parse(headers: &HeaderMap, body: &[u8]) -> ApiResult<Workflow> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the workflow must be UTF-8 text"))?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let parsed = if json {
        Workflow::from_json(text)
    } else {
        Workflow::from_yaml(text)
    };
    parsed.map_err(|e| {
        if let Some(limit) = e.limit {
            return too_large(&e, limit);
        }
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_workflow", e.to_string())
            .with_details(json!([{ "path": e.path, "line": e.location.map(|l| l.line), "column": e.location.map(|l| l.column), "message": e.message, "node": null }]))
    })
}

/// 422 `document_too_large`: the document went past `limit` (aliases
/// expanded), which the message and `details.limit` name.
fn too_large(e: &ParseError, limit: DocumentLimit) -> ApiError {
    let (kind, max) = match limit {
        DocumentLimit::Values(n) => ("values", n),
        DocumentLimit::Bytes(n) => ("bytes", n),
        DocumentLimit::Depth(n) => ("depth", n),
    };
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "document_too_large",
        format!("the document is not read: {limit}"),
    )
    .with_details(json!({ "limit": kind, "max": max, "path": e.path, "line": e.location.map(|l| l.line), "column": e.location.map(|l| l.column) }))
}

/// A deploy's outcome, with each validation problem tied to its node.
fn stored(
    workflow: &Workflow,
    result: Result<WorkflowVersion, EngineError>,
) -> ApiResult<WorkflowVersion> {
    result.map_err(|e| match e {
        EngineError::Invalid(errors) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_workflow",
            format!("the workflow has {} problem(s)", errors.len()),
        )
        .with_details(problems_in(Some(workflow), &errors)),
        other => other.into(),
    })
}

fn summary(version: &WorkflowVersion) -> Value {
    json!({ "id": version.workflow_id, "name": version.name, "version": version.version })
}

/// `POST /workflows`: stores a workflow under its name (a new version when
/// the name exists and the definition changed).
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows", request_body(content = String, description = "The workflow, YAML or JSON (`content-type: application/json`)", content_type = "application/yaml"), responses((status = 201, description = "Stored: `{id, name, version}`", body = serde_json::Value), (status = 422, description = "Problems, each with path, line and node", body = serde_json::Value)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    let workflow = parse(&headers, &body)?;
    let version = stored(
        &workflow,
        state.engine.deploy(&caller.tenant, &workflow).await,
    )?;
    let after = state_of(
        &state,
        &caller.tenant,
        &version.workflow_id,
        version.version,
    )
    .await;
    state
        .record(
            &caller,
            Action::WorkflowWrite,
            format!("workflow:{}", version.workflow_id),
            None,
            after.as_ref(),
        )
        .await;
    Ok((StatusCode::CREATED, Json(summary(&version))))
}

/// `PUT /workflows/{id}`: a new version of workflow `id`.
#[utoipa::path(put, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path, description = "The workflow")), request_body(content = String, content_type = "application/yaml"), responses((status = 200, description = "The new version", body = serde_json::Value), (status = 404, body = serde_json::Value), (status = 422, body = serde_json::Value)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let workflow = parse(&headers, &body)?;
    let latest = state
        .engine
        .store()
        .workflow_summary(&caller.tenant, &id)
        .await?
        .latest_version;
    let before = state_of(&state, &caller.tenant, &id, latest).await;
    let version = stored(
        &workflow,
        state.engine.update(&caller.tenant, &id, &workflow).await,
    )?;
    let after = state_of(&state, &caller.tenant, &id, version.version).await;
    state
        .record(
            &caller,
            Action::WorkflowWrite,
            format!("workflow:{id}"),
            before.as_ref(),
            after.as_ref(),
        )
        .await;
    Ok(Json(summary(&version)))
}

/// `POST /workflows/validate`: the problems, without storing anything.
#[utoipa::path(post, path = "/api/v1/workflows/validate", tag = "workflows", request_body(content = String, content_type = "application/yaml"), responses((status = 200, description = "`{problems: [{path, line, column, message, node}]}`", body = serde_json::Value)))]
pub(crate) async fn validate(
    State(state): State<AppState>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let problems = match parse(&headers, &body) {
        Ok(workflow) => match state.engine.validate(&caller.tenant, &workflow).await {
            Ok(()) => json!([]),
            Err(errors) => problems_in(Some(&workflow), &errors),
        },
        // A document past a size limit is refused, not listed as a problem.
        Err(e) if e.code == "document_too_large" => return Err(e),
        Err(e) => e.details,
    };
    Ok(Json(json!({ "problems": problems })))
}

#[derive(serde::Deserialize)]
pub(crate) struct ListQuery {
    search: Option<String>,
}

/// `GET /workflows?search=`: by name, with versions, tags, run counts and
/// last run.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", params(("search" = Option<String>, Query, description = "Name, description or tag")), responses((status = 200, description = "`{items}` with versions, tags, run counts (`runs: {total, failed}`) and last run", body = serde_json::Value)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    extensions: Extensions,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let needle = query.search.unwrap_or_default().to_lowercase();
    let mut items = Vec::new();
    let definitions = store.latest_definitions(&caller.tenant).await?;
    let runs = store.run_counts(&caller.tenant, None).await?;
    for summary in store.workflow_summaries(&caller.tenant).await? {
        let definition = definitions.get(&summary.id).unwrap_or(&Value::Null);
        let tags = definition["tags"].clone();
        let description = definition["description"].as_str().unwrap_or_default();
        let matches = needle.is_empty()
            || summary.name.to_lowercase().contains(&needle)
            || description.to_lowercase().contains(&needle)
            || tags.as_array().is_some_and(|t| {
                t.iter()
                    .any(|t| t.as_str().is_some_and(|t| t.to_lowercase() == needle))
            });
        if matches {
            let runs = runs.get(&summary.id).copied().unwrap_or_default();
            items.push(listed(&summary, tags, runs));
        }
    }
    Ok(Json(json!({ "items": items })))
}

fn listed(
    summary: &n8n_work_store::WorkflowSummary,
    tags: Value,
    runs: n8n_work_store::RunCounts,
) -> Value {
    json!({
        "id": summary.id,
        "name": summary.name,
        "version": summary.latest_version,
        "activeVersion": summary.active_version,
        "tags": if tags.is_array() { tags } else { json!([]) },
        "createdAt": summary.created_at,
        "updatedAt": summary.updated_at,
        "runs": runs,
        "lastRun": summary.last_run,
    })
}

/// `GET /workflows/{id}`: the latest version, with its definition.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)), responses((status = 200, description = "The latest version with its definition", body = serde_json::Value), (status = 404, body = serde_json::Value)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let summary = store.workflow_summary(&caller.tenant, &id).await?;
    let latest = store
        .workflow_version(&caller.tenant, &id, summary.latest_version)
        .await?;
    let runs = store.run_counts(&caller.tenant, Some(&id)).await?;
    let runs = runs.get(&id).copied().unwrap_or_default();
    let mut body = listed(&summary, latest.definition["tags"].clone(), runs);
    body["definition"] = latest.definition;
    Ok(Json(body))
}

/// `GET /workflows/{id}/versions`.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/versions", tag = "workflows", params(("id" = String, Path)), responses((status = 200, description = "`{items: [{version, createdAt, active}]}`", body = serde_json::Value)))]
pub(crate) async fn versions(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let summary = store.workflow_summary(&caller.tenant, &id).await?;
    let items: Vec<Value> = store
        .versions(&caller.tenant, &id)
        .await?
        .into_iter()
        .map(|(version, created_at)| {
            json!({ "version": version, "createdAt": created_at, "active": summary.active_version == Some(version) })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /workflows/{id}/versions/{version}`.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/versions/{version}", tag = "workflows", params(("id" = String, Path), ("version" = i64, Path)), responses((status = 200, description = "`{id, name, version, definition}`", body = serde_json::Value)))]
pub(crate) async fn version(
    State(state): State<AppState>,
    extensions: Extensions,
    Path((id, version)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let stored = state
        .engine
        .store()
        .workflow_version(&caller.tenant, &id, version)
        .await?;
    Ok(Json(
        json!({ "id": id, "name": stored.name, "version": version, "definition": stored.definition }),
    ))
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct ActivateBody {
    version: Option<i64>,
}

/// `POST /workflows/{id}/activate {"version"?}`: that version (the latest
/// by default) replaces the active one at once.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/activate", tag = "workflows", params(("id" = String, Path)), request_body(content = serde_json::Value, description = "`{version}`; the latest by default"), responses((status = 200, description = "`{id, activeVersion}`", body = serde_json::Value)))]
pub(crate) async fn activate(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
    body: Option<Json<ActivateBody>>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let before = active_state(&state, &caller.tenant, &id).await?;
    let target = match body.version {
        Some(version) => version,
        None => {
            state
                .engine
                .store()
                .workflow_summary(&caller.tenant, &id)
                .await?
                .latest_version
        }
    };
    // Plugin nodes resolve to installed digests now, or it does not activate.
    let plugins = state
        .engine
        .pin_plugins(&caller.tenant, &id, target)
        .await?;
    let version = activate_holding_routes(&state, &caller.tenant, &id, target).await?;
    state.activations_changed().await?;
    state
        .record(
            &caller,
            Action::WorkflowActivate,
            format!("workflow:{id}"),
            Some(&before),
            Some(&json!({ "activeVersion": version, "plugins": plugins })),
        )
        .await;
    Ok(Json(
        json!({ "id": id, "activeVersion": version, "plugins": plugins }),
    ))
}

/// Activates `version` of workflow `id` once its webhook routes are its
/// (409 when another workflow holds one), and gives up the routes it held
/// that this version no longer listens on. A deactivated workflow keeps its
/// routes, so nobody else can take over deliveries still on their way.
async fn activate_holding_routes(
    state: &AppState,
    tenant: &str,
    id: &str,
    version: i64,
) -> ApiResult<i64> {
    let store = state.engine.store();
    let definition = store
        .workflow_version(tenant, id, version)
        .await?
        .definition;
    let routes: Vec<_> = Workflow::from_value(definition)
        .map(|workflow| {
            crate::webhooks::webhook_routes(&workflow)
                .into_iter()
                .map(|(route, _)| route)
                .collect()
        })
        .unwrap_or_default();
    let now = n8n_work_store::now_millis();
    let claimed = store.claim_webhook_routes(tenant, id, &routes, now).await?;
    let activated = match store.activate(tenant, id, Some(version), now).await {
        Ok(version) => version,
        Err(e) => {
            store.release_webhook_routes(tenant, id, &claimed).await?;
            return Err(e.into());
        }
    };
    let stale: Vec<_> = store
        .webhook_claims()
        .await?
        .into_iter()
        .filter(|claim| {
            claim.tenant == tenant && claim.workflow_id == id && !routes.contains(&claim.route)
        })
        .map(|claim| claim.route)
        .collect();
    store.release_webhook_routes(tenant, id, &stale).await?;
    Ok(activated)
}

/// `POST /workflows/{id}/deactivate`: its triggers stop.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/deactivate", tag = "workflows", params(("id" = String, Path)), responses((status = 200, body = serde_json::Value)))]
pub(crate) async fn deactivate(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let before = active_state(&state, &caller.tenant, &id).await?;
    state
        .engine
        .store()
        .deactivate(&caller.tenant, &id, n8n_work_store::now_millis())
        .await?;
    state.activations_changed().await?;
    state
        .record(
            &caller,
            Action::WorkflowActivate,
            format!("workflow:{id}"),
            Some(&before),
            Some(&json!({ "activeVersion": null })),
        )
        .await;
    Ok(Json(json!({ "id": id, "activeVersion": null })))
}

/// A version's definition, as the audit log hashes it.
async fn state_of(state: &AppState, tenant: &str, id: &str, version: i64) -> Option<Value> {
    state
        .engine
        .store()
        .workflow_version(tenant, id, version)
        .await
        .ok()
        .map(|v| v.definition)
}

/// Which version is active, as the audit log hashes it.
async fn active_state(state: &AppState, tenant: &str, id: &str) -> ApiResult<Value> {
    let summary = state.engine.store().workflow_summary(tenant, id).await?;
    Ok(json!({ "activeVersion": summary.active_version }))
}

/// The version a manual run uses: the active one, else the latest.
async fn runnable(state: &AppState, tenant: &str, id: &str) -> ApiResult<WorkflowVersion> {
    let store = state.engine.store();
    let summary = store.workflow_summary(tenant, id).await?;
    let version = summary.active_version.unwrap_or(summary.latest_version);
    Ok(store.workflow_version(tenant, id, version).await?)
}

fn items_from(body: Option<Value>, what: &str) -> ApiResult<Vec<Item>> {
    Item::list_from_value(body.unwrap_or_else(|| json!({})))
        .map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

#[derive(serde::Deserialize)]
pub(crate) struct RunQuery {
    #[serde(default)]
    wait: bool,
}

/// `POST /workflows/{id}/run[?wait=true]`: a manual run with the body as
/// its input; with `wait`, the answer is the run's outcome.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/run", tag = "runs", params(("id" = String, Path), ("wait" = Option<bool>, Query, description = "Answer with the run's outcome")), request_body(content = serde_json::Value, description = "The input: an object or an array of objects"), responses((status = 202, description = "`{executionId}`", body = serde_json::Value), (status = 200, description = "With `wait`: `{executionId, status, output, error}`", body = serde_json::Value)))]
pub(crate) async fn run(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
    Query(query): Query<RunQuery>,
    body: Option<Json<Value>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    let version = runnable(&state, &caller.tenant, &id).await?;
    let items = items_from(body.map(|Json(v)| v), "the body")?;
    state
        .limiter
        .run(state.engine.store(), &caller.tenant)
        .await?;
    let execution = state
        .engine
        .start(&caller.tenant, &version, items, None)
        .await?;
    if !query.wait {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "executionId": execution })),
        ));
    }
    let row = state.engine.wait(&caller.tenant, &execution).await?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "executionId": execution,
            "status": row.status.as_str(),
            "output": row.output(),
            "error": row.error,
        })),
    ))
}

#[derive(serde::Deserialize)]
pub(crate) struct PinnedInput {
    items: Option<Value>,
    version: Option<i64>,
}

/// `POST /workflows/{id}/nodes/{node}/run {"items"}`: that node alone, on
/// the given items; nothing is stored.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/nodes/{node}/run", tag = "runs", params(("id" = String, Path), ("node" = String, Path)), request_body(content = serde_json::Value, description = "`{items, version?}`"), responses((status = 200, description = "`{outputs, error, logs, usage}`", body = serde_json::Value)))]
pub(crate) async fn run_node(
    State(state): State<AppState>,
    extensions: Extensions,
    Path((id, node)): Path<(String, String)>,
    body: Option<Json<PinnedInput>>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let (items, version) = match body {
        Some(Json(b)) => (b.items, b.version),
        None => (None, None),
    };
    let version = match version {
        Some(v) => {
            state
                .engine
                .store()
                .workflow_version(&caller.tenant, &id, v)
                .await?
        }
        None => runnable(&state, &caller.tenant, &id).await?,
    };
    let items = items_from(items, "items")?;
    let ran = state
        .engine
        .run_node(&caller.tenant, &version, &node, items)
        .await?;
    let outputs: serde_json::Map<String, Value> = ran
        .outputs
        .as_object()
        .map(|ports| {
            ports
                .iter()
                .map(|(port, items)| (port.clone(), Value::Array(items_json(items))))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "outputs": outputs,
        "error": ran.error,
        "logs": ran.logs,
        "usage": ran.usage,
    })))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreviewBody {
    template: String,
    execution_id: Option<String>,
    node: Option<String>,
}

/// `POST /expressions/preview`: a template's value against a node's input
/// in a past run; a template that fails answers 200 with the error, since
/// the editor shows it beside the field.
#[utoipa::path(post, path = "/api/v1/expressions/preview", tag = "workflows", request_body(content = serde_json::Value, description = "`{template, executionId?, node?}`"), responses((status = 200, description = "`{value}` or `{error}`", body = serde_json::Value)))]
pub(crate) async fn preview(
    State(state): State<AppState>,
    extensions: Extensions,
    Json(body): Json<PreviewBody>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let at = body.execution_id.as_deref().zip(body.node.as_deref());
    match state
        .engine
        .preview(&caller.tenant, &body.template, at)
        .await
    {
        Ok(value) => Ok(Json(json!({ "value": value }))),
        // The editor shows these beside the field being edited.
        Err(
            EngineError::Expression(message)
            | EngineError::BadRequest(message)
            | EngineError::NotFound(message),
        ) => Ok(Json(json!({ "error": message }))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_name_their_node() {
        assert_eq!(node_index("nodes[3].params.url"), Some(3));
        assert_eq!(node_index("nodes[12]"), Some(12));
        assert_eq!(node_index("connections[0].to"), None);
        assert_eq!(node_index("nodes[x]"), None);
    }
}
