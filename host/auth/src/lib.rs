//! Who may do what. The principal type in this crate is [`Policies`]: the
//! Cedar policies that decide every API action, from the default policies
//! that implement the roles ([`Role`]) plus a tenant's own ABAC policies.
//!
//! Stage in the data flow (docs/architecture.md): between authentication and the
//! handler. The API names each request's [`Action`], describes the
//! [`Caller`] and the [`Resource`] (its tenant, kind, id and tags) and asks
//! [`Policies::decide`]; nothing runs without an `Allow`.
//!
//! Tenants are kept apart by a `forbid` that no `permit` can override: a
//! caller acts only on resources of its own tenant. The platform actions
//! ([`Action::is_platform`]: making tenants, rotating the master key) belong
//! to the owner of the default tenant.
//!
//! ```
//! use n8n_work_auth::{Action, Caller, Policies, Resource, Role};
//!
//! let policies = Policies::new();
//! let viewer = Caller::new("acme", Role::Viewer, "key-1");
//! let flow = Resource::new("acme", "workflow", "wf-1");
//! assert!(policies.decide(&viewer, Action::WorkflowRead, &flow, None).allowed());
//! assert!(!policies.decide(&viewer, Action::WorkflowWrite, &flow, None).allowed());
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode,
    Validator,
};

/// The tenant that exists from the first start; its owner runs the platform.
pub const PLATFORM_TENANT: &str = "default";

/// What can go wrong with policies.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A tenant's policy text does not parse or does not fit the schema.
    #[error("the policy does not {0}")]
    InvalidPolicy(String),
    /// A role name that is not one of the five.
    #[error("unknown role `{0}`; use owner, admin, editor, operator or viewer")]
    UnknownRole(String),
}

/// A caller's role in a tenant; each role may do what the roles below it
/// may, and more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads workflows, runs and variables.
    Viewer,
    /// Also runs workflows, cancels and retries runs, replays dead letters.
    Operator,
    /// Also creates, edits and activates workflows, variables and credentials.
    Editor,
    /// Also manages keys, policies, plugins and reads the audit log.
    Admin,
    /// Everything in the tenant.
    Owner,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Operator,
        Role::Editor,
        Role::Admin,
        Role::Owner,
    ];

    /// The role's name, as stored and as policies spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Role, AuthError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| AuthError::UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! actions {
    ($($variant:ident = $name:literal by $role:ident: $doc:literal,)*) => {
        /// Everything the API lets a caller do; each route names one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Action {
            $(#[doc = $doc] $variant,)*
        }

        impl Action {
            /// Every action.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            /// The action's name, as policies and key scopes spell it.
            pub fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }

            /// The lowest role the default policies allow it to.
            pub fn default_role(self) -> Role {
                match self { $(Action::$variant => Role::$role,)* }
            }
        }
    };
}

actions! {
    WorkflowRead = "workflow.read" by Viewer: "Read workflows, their versions and events.",
    WorkflowWrite = "workflow.write" by Editor: "Create a workflow or add a version.",
    WorkflowActivate = "workflow.activate" by Editor: "Activate or deactivate a version.",
    WorkflowRun = "workflow.run" by Operator: "Start a run, or run one node.",
    ExecutionRead = "execution.read" by Viewer: "Read runs, their steps, events and dead letters.",
    ExecutionCancel = "execution.cancel" by Operator: "Cancel a run.",
    ExecutionRetry = "execution.retry" by Operator: "Retry a run or replay a dead letter.",
    VariableRead = "variable.read" by Viewer: "Read tenant variables.",
    VariableWrite = "variable.write" by Editor: "Set or delete tenant variables.",
    CredentialRead = "credential.read" by Editor: "List credentials (never their values).",
    CredentialWrite = "credential.write" by Editor: "Create, update or delete credentials.",
    KeyRead = "key.read" by Admin: "List API keys.",
    KeyWrite = "key.write" by Admin: "Create or revoke API keys.",
    PolicyRead = "policy.read" by Admin: "Read the tenant's policies.",
    PolicyWrite = "policy.write" by Admin: "Replace the tenant's policies.",
    AuditRead = "audit.read" by Admin: "Export the audit log.",
    PluginRead = "plugin.read" by Viewer: "Browse and search plugins.",
    PluginPublish = "plugin.publish" by Editor: "Publish a plugin.",
    PluginInstall = "plugin.install" by Admin: "Install, upgrade or remove a plugin.",
    PluginApprove = "plugin.approve" by Admin: "Approve or reject a plugin.",
    TenantCreate = "tenant.create" by Owner: "Create a tenant (the platform owner only).",
    VaultRotate = "vault.rotate" by Owner: "See the master key's id and re-wrap every data key under a new one (the platform owner only).",
    LimitRead = "limit.read" by Viewer: "Read the tenant's limits and what it uses of them.",
    TenantLimits = "tenant.limits" by Owner: "Set a tenant's own limits, or read another tenant's (the platform owner only).",
}

impl Action {
    /// Whether only the owner of the platform tenant may do it: it acts on
    /// the whole platform rather than inside one tenant.
    pub fn is_platform(self) -> bool {
        matches!(
            self,
            Action::TenantCreate | Action::VaultRotate | Action::TenantLimits
        )
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Action, String> {
        Action::ALL
            .iter()
            .copied()
            .find(|action| action.as_str() == s)
            .ok_or_else(|| format!("unknown action `{s}`"))
    }
}

/// Whether a key scope (`workflow.read`, `workflow.*` or `*`) covers `action`.
pub fn scope_covers(scope: &str, action: Action) -> bool {
    let name = action.as_str();
    match scope.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => scope == name,
    }
}

/// Who calls: an API key's or a session's tenant and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The tenant the caller acts in.
    pub tenant: String,
    /// The caller's role there.
    pub role: Role,
    /// The key's id (a session names the key it was made from).
    pub key: String,
}

impl Caller {
    /// A caller.
    pub fn new(tenant: &str, role: Role, key: &str) -> Caller {
        Caller {
            tenant: tenant.to_owned(),
            role,
            key: key.to_owned(),
        }
    }
}

/// What an action is on: its tenant, kind and id, and its tags for ABAC
/// policies (a workflow's, or a run's workflow's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The tenant it belongs to.
    pub tenant: String,
    /// `workflow`, `execution`, `credential`, `key`, `tenant`...
    pub kind: String,
    /// Its id, or `*` for a collection.
    pub id: String,
    /// Its tags.
    pub tags: Vec<String>,
}

impl Resource {
    /// A resource without tags.
    pub fn new(tenant: &str, kind: &str, id: &str) -> Resource {
        Resource {
            tenant: tenant.to_owned(),
            kind: kind.to_owned(),
            id: id.to_owned(),
            tags: Vec::new(),
        }
    }

    /// The same resource with `tags`.
    pub fn with_tags(mut self, tags: Vec<String>) -> Resource {
        self.tags = tags;
        self
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    allowed: bool,
    /// The policies that decided it: the permits that allowed it, or the
    /// forbids that denied it (none when nothing permitted it).
    pub reasons: Vec<String>,
    /// Policy evaluation errors (a tenant policy reading a missing
    /// attribute, say); such a policy is skipped.
    pub errors: Vec<String>,
}

impl Decision {
    /// Whether the action may go ahead.
    pub fn allowed(&self) -> bool {
        self.allowed
    }
}

/// The Cedar schema every policy is validated against.
const SCHEMA: &str = r#"
namespace N8nWork {
  entity Role;
  entity Caller in [Role] = { tenant: String, role: String, key: String };
  entity Resource = { tenant: String, kind: String, id: String, tags: Set<String> };
  action ACTIONS appliesTo { principal: [Caller], resource: [Resource], context: {} };
}
"#;

/// The default policies and the schema; cheap to share.
#[derive(Debug, Clone)]
pub struct Policies {
    schema: Schema,
    defaults: PolicySet,
    authorizer: std::sync::Arc<Authorizer>,
}

impl Default for Policies {
    fn default() -> Policies {
        Policies::new()
    }
}

/// A tenant's own policies, parsed and validated.
#[derive(Debug, Clone)]
pub struct TenantPolicies(PolicySet);

impl Policies {
    /// The defaults: each role's actions within its tenant, the tenant
    /// boundary, and tenant creation for the platform owner.
    pub fn new() -> Policies {
        let names: Vec<String> = Action::ALL
            .iter()
            .map(|a| format!("\"{}\"", a.as_str()))
            .collect();
        let schema = Schema::from_cedarschema_str(&SCHEMA.replace("ACTIONS", &names.join(", ")))
            .map(|(schema, _warnings)| schema)
            .expect("the built-in schema parses");
        let defaults = PolicySet::from_str(&default_policies())
            .expect("the default policies parse")
            .policies()
            .cloned()
            .collect::<Vec<_>>();
        let mut set = PolicySet::new();
        for policy in defaults {
            let id = policy
                .annotation("id")
                .expect("every default policy has an @id")
                .to_owned();
            set.add(policy.new_id(PolicyId::new(id)))
                .expect("default policy ids are unique");
        }
        let policies = Policies {
            schema,
            defaults: set,
            authorizer: std::sync::Arc::new(Authorizer::new()),
        };
        policies
            .validate(&policies.defaults)
            .expect("the default policies fit the schema");
        policies
    }

    /// The default policies as Cedar text, for people to read.
    pub fn default_text(&self) -> String {
        default_policies()
    }

    fn validate(&self, set: &PolicySet) -> Result<(), AuthError> {
        let result = Validator::new(self.schema.clone()).validate(set, ValidationMode::Strict);
        if result.validation_passed() {
            return Ok(());
        }
        let problems: Vec<String> = result.validation_errors().map(|e| e.to_string()).collect();
        Err(AuthError::InvalidPolicy(format!(
            "fit the schema: {}. Callers are N8nWork::Caller (tenant, role, key) in N8nWork::Role::\"<role>\"; resources are N8nWork::Resource (tenant, kind, id, tags); actions are N8nWork::Action::\"workflow.read\" and the like",
            problems.join("; ")
        )))
    }

    /// Parses and validates a tenant's policies (Cedar text, any number of
    /// `permit` and `forbid` statements).
    pub fn tenant_policies(&self, tenant: &str, text: &str) -> Result<TenantPolicies, AuthError> {
        let parsed = PolicySet::from_str(text)
            .map_err(|e| AuthError::InvalidPolicy(format!("parse as Cedar: {e}")))?;
        let mut set = PolicySet::new();
        for (n, policy) in parsed.policies().enumerate() {
            let id = PolicyId::new(format!("tenant {tenant} policy {n}"));
            set.add(policy.new_id(id))
                .map_err(|e| AuthError::InvalidPolicy(format!("load: {e}")))?;
        }
        if set.templates().next().is_some() {
            return Err(AuthError::InvalidPolicy(
                "use templates (`?principal`); write plain policies".into(),
            ));
        }
        self.validate(&set)?;
        Ok(TenantPolicies(set))
    }

    /// Decides whether `caller` may do `action` on `resource`, by the default
    /// policies and the tenant's own.
    pub fn decide(
        &self,
        caller: &Caller,
        action: Action,
        resource: &Resource,
        tenant: Option<&TenantPolicies>,
    ) -> Decision {
        match self.evaluate(caller, action, resource, tenant) {
            Ok(decision) => decision,
            Err(e) => Decision {
                allowed: false,
                reasons: Vec::new(),
                errors: vec![e],
            },
        }
    }

    fn evaluate(
        &self,
        caller: &Caller,
        action: Action,
        resource: &Resource,
        tenant: Option<&TenantPolicies>,
    ) -> Result<Decision, String> {
        let mut set = self.defaults.clone();
        if let Some(TenantPolicies(own)) = tenant {
            for policy in own.policies() {
                set.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
        let caller_uid = uid("Caller", &caller.key)?;
        let resource_uid = uid("Resource", &format!("{}:{}", resource.kind, resource.id))?;
        let roles: HashSet<EntityUid> = Role::ALL
            .into_iter()
            .filter(|role| *role <= caller.role)
            .map(|role| uid("Role", role.as_str()))
            .collect::<Result<_, _>>()?;
        let mut entities: Vec<Entity> = Role::ALL
            .into_iter()
            .map(|role| Ok(Entity::with_uid(uid("Role", role.as_str())?)))
            .collect::<Result<_, String>>()?;
        entities.push(
            Entity::new(
                caller_uid.clone(),
                HashMap::from([
                    ("tenant".into(), string(&caller.tenant)),
                    ("role".into(), string(caller.role.as_str())),
                    ("key".into(), string(&caller.key)),
                ]),
                roles,
            )
            .map_err(|e| e.to_string())?,
        );
        entities.push(
            Entity::new(
                resource_uid.clone(),
                HashMap::from([
                    ("tenant".into(), string(&resource.tenant)),
                    ("kind".into(), string(&resource.kind)),
                    ("id".into(), string(&resource.id)),
                    (
                        "tags".into(),
                        RestrictedExpression::new_set(resource.tags.iter().map(|t| string(t))),
                    ),
                ]),
                HashSet::new(),
            )
            .map_err(|e| e.to_string())?,
        );
        let entities =
            Entities::from_entities(entities, Some(&self.schema)).map_err(|e| e.to_string())?;
        let request = Request::new(
            caller_uid,
            uid("Action", action.as_str())?,
            resource_uid,
            Context::empty(),
            Some(&self.schema),
        )
        .map_err(|e| e.to_string())?;
        let response = self.authorizer.is_authorized(&request, &set, &entities);
        Ok(Decision {
            allowed: response.decision() == CedarDecision::Allow,
            reasons: response
                .diagnostics()
                .reason()
                .map(ToString::to_string)
                .collect(),
            errors: response
                .diagnostics()
                .errors()
                .map(ToString::to_string)
                .collect(),
        })
    }
}

fn uid(kind: &str, id: &str) -> Result<EntityUid, String> {
    let kind = EntityTypeName::from_str(&format!("N8nWork::{kind}")).map_err(|e| e.to_string())?;
    Ok(EntityUid::from_type_name_and_id(kind, EntityId::new(id)))
}

fn string(value: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(value.to_owned())
}

/// The default policies: one `permit` per role for the actions it adds,
/// the tenant boundary, and the platform owner's tenant creation.
fn default_policies() -> String {
    let mut text = String::from(
        "// Nobody acts across tenants; no permit can override a forbid.\n\
         @id(\"tenant-boundary\")\n\
         forbid (principal, action, resource)\n  unless { principal.tenant == resource.tenant };\n\n",
    );
    for role in Role::ALL {
        let actions: Vec<String> = Action::ALL
            .iter()
            .filter(|a| a.default_role() == role && !a.is_platform())
            .map(|a| format!("N8nWork::Action::\"{}\"", a.as_str()))
            .collect();
        if actions.is_empty() {
            continue;
        }
        text.push_str(&format!(
            "// A {role} (and every role above it) may:\n\
             @id(\"role-{role}\")\n\
             permit (\n  principal in N8nWork::Role::\"{role}\",\n  action in [{}],\n  resource\n);\n\n",
            actions.join(", ")
        ));
    }
    let platform: Vec<String> = Action::ALL
        .iter()
        .filter(|a| a.is_platform())
        .map(|a| format!("N8nWork::Action::\"{}\"", a.as_str()))
        .collect();
    let platform = platform.join(", ");
    text.push_str(&format!(
        "// Tenants are made, and the master key rotated, by the owner of the\n\
         // platform tenant.\n\
         @id(\"platform-owner\")\n\
         permit (\n  principal in N8nWork::Role::\"owner\",\n  action in [{platform}],\n  resource\n)\n  when {{ principal.tenant == \"{PLATFORM_TENANT}\" }};\n\n\
         // And by nobody else, whatever a tenant's own policies permit (the\n\
         // platform tenant's admins write policies too).\n\
         @id(\"platform-owner-only\")\n\
         forbid (\n  principal,\n  action in [{platform}],\n  resource\n)\n  unless {{ principal in N8nWork::Role::\"owner\" && principal.tenant == \"{PLATFORM_TENANT}\" }};\n"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(tenant: &str, tags: &[&str]) -> Resource {
        Resource::new(tenant, "workflow", "wf")
            .with_tags(tags.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn each_role_may_do_what_its_default_role_allows_and_nothing_more() {
        let policies = Policies::new();
        for role in Role::ALL {
            let caller = Caller::new("acme", role, "k");
            for &action in Action::ALL {
                let resource = match action {
                    Action::TenantCreate | Action::TenantLimits => {
                        Resource::new("acme", "tenant", "*")
                    }
                    Action::VaultRotate => Resource::new("acme", "vault", "*"),
                    _ => flow("acme", &[]),
                };
                let expected = !action.is_platform() && role >= action.default_role();
                let decision = policies.decide(&caller, action, &resource, None);
                assert_eq!(
                    decision.allowed(),
                    expected,
                    "{role} {} -> {decision:?}",
                    action.as_str()
                );
            }
        }
    }

    #[test]
    fn no_role_acts_in_another_tenant() {
        let policies = Policies::new();
        let owner = Caller::new("acme", Role::Owner, "k");
        for &action in Action::ALL {
            let decision = policies.decide(&owner, action, &flow("globex", &[]), None);
            assert!(!decision.allowed(), "{}", action.as_str());
        }
    }

    #[test]
    fn only_the_platform_owner_creates_tenants_and_rotates_the_master_key() {
        let policies = Policies::new();
        for (action, kind) in [
            (Action::TenantCreate, "tenant"),
            (Action::VaultRotate, "vault"),
            (Action::TenantLimits, "tenant"),
        ] {
            let platform = Resource::new(PLATFORM_TENANT, kind, "*");
            let owner = Caller::new(PLATFORM_TENANT, Role::Owner, "k");
            assert!(
                policies.decide(&owner, action, &platform, None).allowed(),
                "{kind}"
            );
            let admin = Caller::new(PLATFORM_TENANT, Role::Admin, "k");
            assert!(
                !policies.decide(&admin, action, &platform, None).allowed(),
                "{kind}"
            );
            let other_owner = Caller::new("acme", Role::Owner, "k");
            let own = Resource::new("acme", kind, "*");
            assert!(
                !policies.decide(&other_owner, action, &own, None).allowed(),
                "{kind}"
            );
        }
    }

    #[test]
    fn a_tenant_policy_forbids_editing_workflows_tagged_prod() {
        let policies = Policies::new();
        let own = policies
            .tenant_policies(
                "acme",
                r#"forbid (principal in N8nWork::Role::"editor", action == N8nWork::Action::"workflow.write", resource)
                   when { resource.tags.contains("prod") } unless { principal in N8nWork::Role::"admin" };"#,
            )
            .unwrap();
        let editor = Caller::new("acme", Role::Editor, "k");
        let denied = policies.decide(
            &editor,
            Action::WorkflowWrite,
            &flow("acme", &["prod"]),
            Some(&own),
        );
        assert!(!denied.allowed());
        assert_eq!(denied.reasons, vec!["tenant acme policy 0".to_owned()]);
        assert!(
            policies
                .decide(
                    &editor,
                    Action::WorkflowRun,
                    &flow("acme", &["prod"]),
                    Some(&own)
                )
                .allowed()
        );
        assert!(
            policies
                .decide(
                    &editor,
                    Action::WorkflowWrite,
                    &flow("acme", &["dev"]),
                    Some(&own)
                )
                .allowed()
        );
        let admin = Caller::new("acme", Role::Admin, "k");
        assert!(
            policies
                .decide(
                    &admin,
                    Action::WorkflowWrite,
                    &flow("acme", &["prod"]),
                    Some(&own)
                )
                .allowed()
        );
    }

    #[test]
    fn a_tenant_permit_cannot_cross_the_tenant_boundary() {
        let policies = Policies::new();
        let own = policies
            .tenant_policies("acme", "permit (principal, action, resource);")
            .unwrap();
        let viewer = Caller::new("acme", Role::Viewer, "k");
        assert!(
            !policies
                .decide(
                    &viewer,
                    Action::WorkflowWrite,
                    &flow("globex", &[]),
                    Some(&own)
                )
                .allowed()
        );
        let platform = Resource::new(PLATFORM_TENANT, "tenant", "*");
        assert!(
            !policies
                .decide(&viewer, Action::TenantCreate, &platform, Some(&own))
                .allowed()
        );
    }

    #[test]
    fn no_tenant_policy_grants_a_platform_action_to_anyone_but_the_platform_owner() {
        let policies = Policies::new();
        let own = policies
            .tenant_policies(
                PLATFORM_TENANT,
                r#"permit (principal, action in [N8nWork::Action::"tenant.create", N8nWork::Action::"vault.rotate", N8nWork::Action::"tenant.limits"], resource);"#,
            )
            .unwrap();
        for action in Action::ALL.iter().copied().filter(|a| a.is_platform()) {
            let platform = Resource::new(PLATFORM_TENANT, "tenant", "*");
            for role in [Role::Viewer, Role::Editor, Role::Admin] {
                let caller = Caller::new(PLATFORM_TENANT, role, "k");
                let decision = policies.decide(&caller, action, &platform, Some(&own));
                assert!(!decision.allowed(), "{role} {}", action.as_str());
                assert_eq!(decision.reasons, vec!["platform-owner-only".to_owned()]);
            }
            let owner = Caller::new(PLATFORM_TENANT, Role::Owner, "k");
            assert!(
                policies
                    .decide(&owner, action, &platform, Some(&own))
                    .allowed()
            );
        }
    }

    #[test]
    fn a_policy_that_does_not_fit_the_schema_is_refused_with_the_reason() {
        let policies = Policies::new();
        let err = policies
            .tenant_policies(
                "acme",
                r#"permit (principal, action, resource) when { resource.colour == "red" };"#,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("fit the schema"), "{err}");
        let err = policies
            .tenant_policies("acme", "permit (principal, action")
            .unwrap_err()
            .to_string();
        assert!(err.contains("parse as Cedar"), "{err}");
    }

    #[test]
    fn scopes_cover_actions_by_name_or_prefix() {
        assert!(scope_covers("*", Action::KeyWrite));
        assert!(scope_covers("workflow.*", Action::WorkflowRun));
        assert!(!scope_covers("workflow.*", Action::ExecutionRead));
        assert!(scope_covers("execution.read", Action::ExecutionRead));
        assert!(!scope_covers("execution.read", Action::ExecutionCancel));
    }
}
