//! Who signed in, and which member they act as: the email the provider
//! verified and the subject name members; a
//! person who is a member of several tenants acts in the one asked for, else
//! in the one they were added to first.

use n8n_work_store::MemberRow;

use crate::members::SUBJECT_PREFIX;

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The provider's `sub`.
    pub(crate) subject: String,
    /// Its `email`, if it sent one.
    pub(crate) email: Option<String>,
    /// Its `email_verified`, if it sent one.
    pub(crate) email_verified: Option<bool>,
}

impl Identity {
    /// The email members are matched on: one the provider says it verified
    /// (`email_verified` missing counts only for a provider trusted for
    /// email, `--oidc-trust-email`, which fills it in before).
    pub(crate) fn verified_email(&self) -> Option<String> {
        match (&self.email, self.email_verified) {
            (Some(email), Some(true)) => Some(email.trim().to_lowercase()),
            _ => None,
        }
    }

    /// The stored identities that name this person: the verified email,
    /// then the subject.
    pub(crate) fn candidates(&self) -> Vec<String> {
        let mut names: Vec<String> = self.verified_email().into_iter().collect();
        names.push(format!("{SUBJECT_PREFIX}{}", self.subject));
        names
    }

    /// How an admin would add this person.
    fn add_hint(&self) -> String {
        let name = self
            .verified_email()
            .unwrap_or_else(|| format!("{SUBJECT_PREFIX}{}", self.subject));
        format!("`n8n-work member add {name} --role editor`")
    }

    /// The person, as a message names them.
    fn described(&self) -> String {
        match (self.verified_email(), &self.email) {
            (Some(email), _) => format!("email {email}"),
            (None, Some(email)) => format!(
                "subject {} (the provider has not verified the email {email}; verify it with the provider, be added by subject, or, if the provider sends only verified emails, start the server with --oidc-trust-email)",
                self.subject
            ),
            (None, None) => format!(
                "subject {} (the provider sent no email; allow the `email` scope for this client, or be added by subject)",
                self.subject
            ),
        }
    }
}

/// The membership a sign-in acts as: the tenant asked for, else the one the
/// person was added to first.
pub(crate) fn choose<'a>(
    who: &Identity,
    memberships: &'a [MemberRow],
    tenant: Option<&str>,
) -> Result<&'a MemberRow, String> {
    let Some(first) = memberships.first() else {
        return Err(format!(
            "no member with {} in any tenant; an admin adds you with {}",
            who.described(),
            who.add_hint()
        ));
    };
    let Some(tenant) = tenant else {
        return Ok(first);
    };
    memberships
        .iter()
        .find(|m| m.tenant == tenant)
        .ok_or_else(|| {
            let tenants: Vec<String> = memberships
                .iter()
                .map(|m| format!("`{}`", m.tenant))
                .collect();
            format!(
                "{} is not a member of tenant `{tenant}` (but of {}); sign in to one of those, or an admin of `{tenant}` adds you with {}",
                who.described(),
                tenants.join(", "),
                who.add_hint()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(tenant: &str) -> MemberRow {
        MemberRow {
            tenant: tenant.into(),
            id: format!("m-{tenant}"),
            identity: "ada@example.com".into(),
            role: "viewer".into(),
            key_id: "k".into(),
            created_at: 1,
        }
    }

    #[test]
    fn an_unverified_email_names_nobody_and_the_refusal_says_so() {
        let ada = Identity {
            subject: "248289761001".into(),
            email: Some("Ada@Example.com".into()),
            email_verified: Some(false),
        };
        assert_eq!(ada.candidates(), ["sub:248289761001"]);
        let refused = choose(&ada, &[], None).unwrap_err();
        assert!(
            refused.contains("not verified the email Ada@Example.com"),
            "{refused}"
        );
        assert!(
            refused.contains("`n8n-work member add sub:248289761001 --role editor`"),
            "{refused}"
        );

        // Without `email_verified`, the email is not taken as verified.
        let unsaid = Identity {
            email_verified: None,
            ..ada.clone()
        };
        assert_eq!(unsaid.candidates(), ["sub:248289761001"]);

        let verified = Identity {
            email_verified: Some(true),
            ..ada
        };
        assert_eq!(
            verified.candidates(),
            ["ada@example.com", "sub:248289761001"]
        );
        let refused = choose(&verified, &[], None).unwrap_err();
        assert_eq!(
            refused,
            "no member with email ada@example.com in any tenant; an admin adds you with `n8n-work member add ada@example.com --role editor`"
        );
    }

    #[test]
    fn several_memberships_pick_the_tenant_asked_for_else_the_first() {
        let ada = Identity {
            subject: "s".into(),
            email: Some("ada@example.com".into()),
            email_verified: Some(true),
        };
        let both = [member("default"), member("globex")];
        assert_eq!(choose(&ada, &both, None).unwrap().tenant, "default");
        assert_eq!(
            choose(&ada, &both, Some("globex")).unwrap().tenant,
            "globex"
        );
        let refused = choose(&ada, &both, Some("initech")).unwrap_err();
        assert!(
            refused.contains("not a member of tenant `initech` (but of `default`, `globex`)"),
            "{refused}"
        );
    }
}
