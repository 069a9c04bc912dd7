//! `n8n-work member add|list|remove`: who may sign in to the UI with the
//! OpenID Connect provider, and with which role in the caller's tenant.

use std::process::ExitCode;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::Client;

/// `n8n-work member ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum MemberCommand {
    /// Let someone sign in with the provider, with a role in your tenant; a
    /// member already there gets the new role (and signs in again).
    Add {
        /// Their email, as the provider verified it, or `sub:SUBJECT` for
        /// the provider's subject id.
        who: String,
        /// owner, admin, editor, operator or viewer (no higher than yours).
        #[arg(long)]
        role: String,
    },
    /// List your tenant's members.
    List,
    /// Remove a member, ending their sessions.
    Remove {
        /// Their email, `sub:SUBJECT`, or the member's id.
        who: String,
    },
}

/// The email or subject a member is shown by.
fn shown(member: &Value) -> String {
    match (member["email"].as_str(), member["subject"].as_str()) {
        (Some(email), _) => email.to_owned(),
        (None, Some(subject)) => format!("sub:{subject}"),
        (None, None) => String::new(),
    }
}

pub(crate) async fn member(command: MemberCommand, client: &Client) -> anyhow::Result<ExitCode> {
    match command {
        MemberCommand::Add { who, role } => {
            let body = match who.trim().strip_prefix("sub:") {
                Some(subject) => json!({ "subject": subject, "role": role }),
                None => json!({ "email": who.trim(), "role": role }),
            };
            let added = client.json(Method::POST, "/members", body).await?;
            println!(
                "{} is a {} in tenant {}; they sign in with \"Sign in with SSO\"",
                shown(&added),
                added["role"].as_str().unwrap_or_default(),
                added["tenant"].as_str().unwrap_or_default()
            );
        }
        MemberCommand::List => {
            let list = client.call(Method::GET, "/members", None).await?;
            println!("{:<38} {:<9} MEMBER", "ID", "ROLE");
            for member in list["items"].as_array().into_iter().flatten() {
                println!(
                    "{:<38} {:<9} {}",
                    member["id"].as_str().unwrap_or_default(),
                    member["role"].as_str().unwrap_or_default(),
                    shown(member)
                );
            }
        }
        MemberCommand::Remove { who } => {
            // By id, so an email or subject needs no escaping in the path.
            let list = client.call(Method::GET, "/members", None).await?;
            let wanted = who.trim();
            // Emails are stored lower-cased; subjects as the provider gave them.
            let found = list["items"].as_array().into_iter().flatten().find(|m| {
                m["id"] == wanted || shown(m) == wanted || shown(m) == wanted.to_lowercase()
            });
            let Some(found) = found else {
                anyhow::bail!(
                    "no member `{wanted}` in your tenant; `n8n-work member list` shows them"
                );
            };
            let id = found["id"].as_str().unwrap_or_default();
            client
                .call(Method::DELETE, &format!("/members/{id}"), None)
                .await?;
            println!("removed {}; their sessions have ended", shown(found));
        }
    }
    Ok(ExitCode::SUCCESS)
}
