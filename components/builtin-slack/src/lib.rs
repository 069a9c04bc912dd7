//! The Slack node: posts one message per input item.
//!
//! A built-in integration node, run by the host's runtime stage like any
//! other component. The principal type is `Slack`. The credential in slot
//! `slack` picks the mode: a `slack-bot-token` (`{token}`) posts with
//! `chat.postMessage`, a `slack-webhook` (`{url}`) posts to an incoming
//! webhook. Slack's own error codes (`channel_not_found`, `invalid_auth`, …)
//! become the error's code.

mod reply;

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use n8n_work_sdk::http::Request;
use n8n_work_sdk::{
    Context, CredentialSlot, Item, Node, NodeError, Outcome, Spec, export_node, log,
};

/// The credential slot.
const SLOT: &str = "slack";

/// How long one call to Slack may take before it is retried.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The parameters of one Slack step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Params {
    /// The channel: an id (`C0123456789`) or a name (`#general`). Required
    /// with a bot token; a webhook posts to its own channel.
    channel: Option<String>,
    /// The message text (mrkdwn). Required unless `blocks` is given, and
    /// shown in notifications when it is.
    text: Option<String>,
    /// Block Kit blocks.
    blocks: Option<Vec<Value>>,
    /// Reply in the thread of this message (its `ts`).
    thread_ts: Option<String>,
    /// The bot's name for this message.
    username: Option<String>,
    /// The bot's icon for this message, such as `:robot_face:`.
    icon_emoji: Option<String>,
    /// Whether Slack unfurls links in the text.
    unfurl_links: Option<bool>,
    /// The Web API's base URL.
    #[serde(default = "default_api_url")]
    api_url: String,
}

fn default_api_url() -> String {
    "https://slack.com/api".to_owned()
}

/// How the node reaches Slack, from the credential's type.
enum Mode {
    /// `chat.postMessage` with a bot token.
    Bot { token: String },
    /// An incoming webhook, whose URL is a secret.
    Webhook { url: String },
}

/// The Slack node.
struct Slack;

impl Node for Slack {
    type Params = Params;

    fn spec() -> Spec {
        Spec::new("slack", "Slack")
            .version(env!("CARGO_PKG_VERSION"))
            .description("Posts a message to a Slack channel, once per input item.")
            .icon("slack")
            .credential(
                CredentialSlot::new(SLOT, &["slack-bot-token", "slack-webhook"])
                    .required()
                    .description("A bot token (chat:write) or an incoming webhook URL"),
            )
            .egress("https://slack.com", "Slack Web API (chat.postMessage)")
            .egress("https://hooks.slack.com", "Slack incoming webhooks")
    }

    fn execute(ctx: &Context<Params>, items: Vec<Item>) -> Result<Outcome, NodeError> {
        let params = &ctx.params;
        let mode = mode(ctx)?;
        let payload = payload(params, &mode)?;
        let count = items.len().max(1);
        let mut output = Vec::with_capacity(count);
        for _ in 0..count {
            let item = match &mode {
                Mode::Bot { token } => post_message(&params.api_url, token, &payload)?,
                Mode::Webhook { url } => post_webhook(url, &payload)?,
            };
            output.push(item);
        }
        Ok(Outcome::main(output))
    }
}

export_node!(Slack);

/// The mode the granted credential selects.
fn mode(ctx: &Context<Params>) -> Result<Mode, NodeError> {
    let credential = ctx.credential(SLOT).map_err(|err| {
        NodeError::fatal(format!(
            "Slack needs the credential in slot `{SLOT}`, and the host refused it: {}; grant a \
             `slack-bot-token` ({{\"token\": \"xoxb-…\"}}) or `slack-webhook` \
             ({{\"url\": \"https://hooks.slack.com/services/…\"}}) credential to this node's \
             `{SLOT}` slot",
            err.message
        ))
        .with_code(err.code.unwrap_or_else(|| "credential_refused".to_owned()))
    })?;
    mode_of(&credential)
}

/// Reads a credential: its `type`, or else the field it has.
fn mode_of(credential: &Map<String, Value>) -> Result<Mode, NodeError> {
    let field = |name: &str| {
        credential
            .get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.trim().is_empty())
            .map(|value| value.trim().to_owned())
    };
    let kind = match credential.get("type").and_then(Value::as_str) {
        Some(kind) => kind,
        None if credential.contains_key("token") => "slack-bot-token",
        None if credential.contains_key("url") => "slack-webhook",
        None => "",
    };
    let invalid = |problem: &str| {
        NodeError::fatal(format!(
            "credential `{SLOT}` {problem}; fix the credential granted to this node"
        ))
        .with_code("invalid_credential")
    };
    match kind {
        "slack-bot-token" => Ok(Mode::Bot {
            token: field("token").ok_or_else(|| invalid("(slack-bot-token) needs a `token`"))?,
        }),
        "slack-webhook" => Ok(Mode::Webhook {
            url: field("url").ok_or_else(|| invalid("(slack-webhook) needs a `url`"))?,
        }),
        "" => Err(invalid(
            "has neither `token` (slack-bot-token) nor `url` (slack-webhook)",
        )),
        other => Err(invalid(&format!(
            "has type `{other}`; this slot accepts slack-bot-token and slack-webhook"
        ))),
    }
}

/// The JSON body of the message, checked for the mode.
fn payload(params: &Params, mode: &Mode) -> Result<Value, NodeError> {
    let invalid = |message: &str| NodeError::fatal(message).with_code("invalid_params");
    if params.text.as_deref().is_none_or(str::is_empty) && params.blocks.is_none() {
        return Err(invalid(
            "parameter `text` is missing; give the message `text`, `blocks`, or both",
        ));
    }
    if matches!(mode, Mode::Bot { .. }) && params.channel.as_deref().is_none_or(str::is_empty) {
        return Err(invalid(
            "parameter `channel` is required with a bot token; set it to a channel id such as \
             `C0123456789` or a name such as `#general`",
        ));
    }
    let mut body = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(name.to_owned(), value);
        }
    };
    put("channel", params.channel.clone().map(Value::String));
    put("text", params.text.clone().map(Value::String));
    put("blocks", params.blocks.clone().map(Value::Array));
    put("thread_ts", params.thread_ts.clone().map(Value::String));
    put("username", params.username.clone().map(Value::String));
    put("icon_emoji", params.icon_emoji.clone().map(Value::String));
    put("unfurl_links", params.unfurl_links.map(Value::Bool));
    Ok(Value::Object(body))
}

/// Posts with `chat.postMessage`; the item is Slack's answer.
fn post_message(api_url: &str, token: &str, payload: &Value) -> Result<Item, NodeError> {
    let url = format!("{}/chat.postMessage", api_url.trim_end_matches('/'));
    let response = Request::post(url)
        .bearer(token)
        .json(payload)
        .header("Content-Type", "application/json; charset=utf-8")
        .timeout(TIMEOUT)
        .send()?;
    let answer = reply::web_api(&response)?;
    log::debug!(
        "Slack chat.postMessage posted to {} (ts {})",
        answer.get("channel").and_then(Value::as_str).unwrap_or("?"),
        answer.get("ts").and_then(Value::as_str).unwrap_or("?")
    );
    Ok(Item::from(answer))
}

/// Posts to an incoming webhook; the item is `{"ok": true}`.
fn post_webhook(url: &str, payload: &Value) -> Result<Item, NodeError> {
    let response = Request::post(url)
        .secret_url()
        .json(payload)
        .header("Content-Type", "application/json; charset=utf-8")
        .timeout(TIMEOUT)
        .send()?;
    reply::webhook(&response)?;
    log::debug("Slack webhook accepted the message");
    Ok(Item::new(serde_json::json!({ "ok": true })))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(value: Value) -> Params {
        serde_json::from_value(value).unwrap()
    }

    fn bot() -> Mode {
        Mode::Bot {
            token: "xoxb-1".into(),
        }
    }

    #[test]
    fn payload_uses_slack_field_names_and_skips_missing_ones() {
        let params = params(json!({
            "channel": "#general", "text": "hi", "threadTs": "1.2",
            "iconEmoji": ":robot_face:", "unfurlLinks": false
        }));
        assert_eq!(
            payload(&params, &bot()).unwrap(),
            json!({"channel": "#general", "text": "hi", "thread_ts": "1.2",
                   "icon_emoji": ":robot_face:", "unfurl_links": false})
        );
        assert_eq!(params.api_url, "https://slack.com/api");
    }

    #[test]
    fn bot_token_needs_a_channel_and_a_webhook_does_not() {
        let params = params(json!({"text": "hi"}));
        let err = payload(&params, &bot()).unwrap_err();
        assert_eq!(err.code.as_deref(), Some("invalid_params"));
        assert!(
            err.message
                .starts_with("parameter `channel` is required with a bot token")
        );
        let webhook = Mode::Webhook {
            url: "https://hooks.slack.com/services/x".into(),
        };
        assert_eq!(payload(&params, &webhook).unwrap(), json!({"text": "hi"}));
    }

    #[test]
    fn text_or_blocks_is_required() {
        let err = payload(&params(json!({"channel": "C1"})), &bot()).unwrap_err();
        assert!(
            err.message
                .contains("give the message `text`, `blocks`, or both")
        );
        let blocks = params(json!({"channel": "C1", "blocks": [{"type": "divider"}]}));
        assert!(payload(&blocks, &bot()).is_ok());
    }

    #[test]
    fn credential_type_is_explicit_or_inferred() {
        let mode = |value: Value| mode_of(value.as_object().unwrap());
        assert!(matches!(
            mode(json!({"token": "xoxb"})),
            Ok(Mode::Bot { .. })
        ));
        assert!(matches!(
            mode(json!({"url": "https://hooks.slack.com/x"})),
            Ok(Mode::Webhook { .. })
        ));
        assert!(matches!(
            mode(json!({"type": "slack-webhook", "url": "u", "token": "t"})),
            Ok(Mode::Webhook { .. })
        ));
        let err = mode(json!({"type": "slack-bot-token"})).err().unwrap();
        assert_eq!(err.code.as_deref(), Some("invalid_credential"));
        assert!(err.message.contains("needs a `token`"));
    }

    #[test]
    fn unknown_parameters_are_refused() {
        let err = serde_json::from_value::<Params>(json!({"chanel": "C1"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `chanel`"));
    }
}
