//! Runs (executions): list, detail, step data, cancel, retry; dead letters
//! and replay; tenant variables.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{Extensions, StatusCode};
use n8n_work_store::{ExecutionFilter, StepKey, StepStatus, items_json};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState, caller};

// Not `#[serde(flatten)]`: query strings flattened lose their numbers.
#[derive(serde::Deserialize)]
pub(crate) struct ListQuery {
    workflow: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    limit: Option<i64>,
}

/// `GET /executions?workflow&status&since&until&cursor&limit`: newest
/// first, each with its workflow's name; `nextCursor` fetches the next page.
#[utoipa::path(get, path = "/api/v1/executions", tag = "runs", params(("workflow" = Option<String>, Query, description = "a workflow id"), ("status" = Option<String>, Query), ("since" = Option<i64>, Query, description = "ms since the epoch"), ("until" = Option<i64>, Query), ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"), ("limit" = Option<i64>, Query)), responses((status = 200, description = "`{items, nextCursor}`", body = serde_json::Value)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    extensions: Extensions,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let filter = ExecutionFilter {
        workflow: query.workflow,
        status: query.status,
        before: query.cursor,
        since: query.since,
        until: query.until,
    };
    let rows = state
        .engine
        .store()
        .list_executions(&caller.tenant, &filter, limit)
        .await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    let names = workflow_names(&state, &caller.tenant).await?;
    let items: Vec<Value> = rows.iter().map(|row| named(json!(row), &names)).collect();
    Ok(Json(json!({ "items": items, "nextCursor": next })))
}

/// The tenant's workflow names by id.
async fn workflow_names(
    state: &AppState,
    tenant: &str,
) -> ApiResult<std::collections::HashMap<String, String>> {
    let workflows = state.engine.store().workflows(tenant).await?;
    Ok(workflows
        .into_iter()
        .map(|(id, name, _)| (id, name))
        .collect())
}

/// A run as the API shows it: the stored row and its workflow's name, so
/// lists show what people call the workflow.
fn named(mut run: Value, names: &std::collections::HashMap<String, String>) -> Value {
    let name = run["workflow_id"]
        .as_str()
        .and_then(|id| names.get(id))
        .cloned();
    run["workflow_name"] = json!(name);
    run
}

/// `GET /executions/{id}`: the run, its steps, and where to resume steps
/// parked until called.
/// `nodeState` is the state its workflow's nodes keep across runs, as it
/// is now: node → key → value (text, or `{"base64": ...}` when the bytes
/// are not UTF-8).
#[utoipa::path(get, path = "/api/v1/executions/{id}", tag = "runs", params(("id" = String, Path)), responses((status = 200, description = "`{execution, steps, resumeUrls, nodeState}`; `execution.workflow_name` is its workflow's name", body = serde_json::Value), (status = 404, body = serde_json::Value)))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let execution = store.execution(&caller.tenant, &id).await?;
    let steps = store.steps(&caller.tenant, &id).await?;
    let mut resume = serde_json::Map::new();
    for step in steps.iter().filter(|s| s.status == StepStatus::Waiting) {
        let key = StepKey {
            tenant: caller.tenant.clone(),
            execution_id: id.clone(),
            seq: step.seq,
        };
        if let Some(token) = store.resume_token(&key).await? {
            resume.insert(
                step.node_id.clone(),
                Value::String(format!(
                    "{}/resume/{token}",
                    state.webhook_url.as_deref().unwrap_or_default()
                )),
            );
        }
    }
    let node_state: serde_json::Map<String, Value> = store
        .workflow_node_state(&caller.tenant, &execution.workflow_id)
        .await?
        .into_iter()
        .map(|(node, values)| {
            let values = values
                .into_iter()
                .map(|(key, bytes)| (key, state_value(bytes)))
                .collect();
            (node, Value::Object(values))
        })
        .collect();
    let execution = named(
        json!(execution),
        &workflow_names(&state, &caller.tenant).await?,
    );
    Ok(Json(
        json!({ "execution": execution, "steps": steps, "resumeUrls": resume, "nodeState": node_state }),
    ))
}

/// A node state value as JSON: its text, or its bytes in base64.
fn state_value(bytes: Vec<u8>) -> Value {
    use base64::Engine as _;
    match String::from_utf8(bytes) {
        Ok(text) => Value::String(text),
        Err(e) => {
            json!({ "base64": base64::engine::general_purpose::STANDARD.encode(e.as_bytes()) })
        }
    }
}

/// `GET /executions/{id}/steps/{seq}`: a step with its input and output
/// items and its log.
#[utoipa::path(get, path = "/api/v1/executions/{id}/steps/{seq}", tag = "runs", params(("id" = String, Path), ("seq" = i64, Path)), responses((status = 200, description = "`{step, input, inputs, outputs, logs}`", body = serde_json::Value)))]
pub(crate) async fn step(
    State(state): State<AppState>,
    extensions: Extensions,
    Path((id, seq)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let store = state.engine.store();
    let step = store
        .steps(&caller.tenant, &id)
        .await?
        .into_iter()
        .find(|s| s.seq == seq)
        .ok_or_else(|| ApiError::not_found(format!("step {seq} of run `{id}`")))?;
    let payload = store.payload(&caller.tenant, &id, seq).await?;
    let input: Vec<Value> = payload
        .input
        .as_object()
        .map(|inputs| inputs.values().flat_map(items_json).collect())
        .unwrap_or_default();
    let outputs: serde_json::Map<String, Value> = payload
        .output
        .as_ref()
        .and_then(Value::as_object)
        .map(|ports| {
            ports
                .iter()
                .map(|(p, items)| (p.clone(), Value::Array(items_json(items))))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "step": step,
        "input": input,
        "inputs": payload.input,
        "outputs": outputs,
        "logs": payload.logs.unwrap_or_else(|| json!([])),
    })))
}

/// `POST /executions/{id}/cancel`.
#[utoipa::path(post, path = "/api/v1/executions/{id}/cancel", tag = "runs", params(("id" = String, Path)), responses((status = 200, body = serde_json::Value)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    state.engine.cancel(&caller.tenant, &id).await?;
    Ok(Json(json!({ "id": id, "status": "cancelled" })))
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct RetryBody {
    from: Option<String>,
}

/// `POST /executions/{id}/retry {"from": "failed" | "start"}`: from the
/// failed step in the same run (the default), or a new run from the start.
#[utoipa::path(post, path = "/api/v1/executions/{id}/retry", tag = "runs", params(("id" = String, Path)), request_body(content = serde_json::Value, description = "`{from: failed | start}`"), responses((status = 202, description = "`{executionId, retryOf}`", body = serde_json::Value)))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
    body: Option<Json<RetryBody>>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    let from = body.and_then(|Json(b)| b.from);
    let from_start = match from.as_deref() {
        None | Some("failed") => false,
        Some("start") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "from `{other}`: use `failed` (rerun the failed step) or `start` (a new run)"
            )));
        }
    };
    state
        .limiter
        .run(state.engine.store(), &caller.tenant)
        .await?;
    let execution = state.engine.retry(&caller.tenant, &id, from_start).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "executionId": execution, "retryOf": id })),
    ))
}

/// `GET /dead-letters`.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "runs", responses((status = 200, body = serde_json::Value)))]
pub(crate) async fn dead_letters(
    State(state): State<AppState>,
    extensions: Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    let letters = state.engine.store().dead_letters(&caller.tenant).await?;
    Ok(Json(json!({ "items": letters })))
}

/// `POST /dead-letters/{id}/replay`.
#[utoipa::path(post, path = "/api/v1/dead-letters/{id}/replay", tag = "runs", params(("id" = String, Path)), responses((status = 202, body = serde_json::Value)))]
pub(crate) async fn replay(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = caller(&extensions)?;
    state
        .limiter
        .run(state.engine.store(), &caller.tenant)
        .await?;
    let step = state.engine.replay(&caller.tenant, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "executionId": step.execution_id, "step": step.seq })),
    ))
}

/// `GET /variables`.
#[utoipa::path(get, path = "/api/v1/variables", tag = "variables", responses((status = 200, description = "Name to value", body = serde_json::Value)))]
pub(crate) async fn variables(
    State(state): State<AppState>,
    extensions: Extensions,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    Ok(Json(Value::Object(
        state.engine.store().variables(&caller.tenant).await?,
    )))
}

#[derive(serde::Deserialize)]
pub(crate) struct VariableBody {
    value: String,
}

/// `PUT /variables/{name} {"value"}`.
#[utoipa::path(put, path = "/api/v1/variables/{name}", tag = "variables", params(("name" = String, Path)), request_body(content = serde_json::Value, description = "`{value}`"), responses((status = 200, body = serde_json::Value), (status = 400, body = serde_json::Value)))]
pub(crate) async fn set_variable(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(name): Path<String>,
    Json(body): Json<VariableBody>,
) -> ApiResult<Json<Value>> {
    let caller = caller(&extensions)?;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::bad_request(format!(
            "variable name `{name}`: use letters, digits and `_`, so expressions can read it as $vars.{name}"
        )));
    }
    state
        .engine
        .store()
        .set_variable(
            &caller.tenant,
            &name,
            &body.value,
            n8n_work_store::now_millis(),
        )
        .await?;
    Ok(Json(json!({ "name": name, "value": body.value })))
}

/// `DELETE /variables/{name}`.
#[utoipa::path(delete, path = "/api/v1/variables/{name}", tag = "variables", params(("name" = String, Path)), responses((status = 204), (status = 404, body = serde_json::Value)))]
pub(crate) async fn delete_variable(
    State(state): State<AppState>,
    extensions: Extensions,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let caller = caller(&extensions)?;
    if state
        .engine
        .store()
        .delete_variable(&caller.tenant, &name)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("variable `{name}` not found")))
    }
}
