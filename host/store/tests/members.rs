//! Members and sign-in attempts against SQLite and PostgreSQL.

use n8n_work_store::*;

fn member(tenant: &str, identity: &str, role: &str, key: &str) -> NewMember {
    NewMember {
        tenant: tenant.into(),
        identity: identity.into(),
        role: role.into(),
        key_prefix: key[..4].into(),
        key_hash: format!("hash-{key}"),
    }
}

fn attempt(state: &str, expires_at: i64) -> SignInAttempt {
    SignInAttempt {
        state: state.into(),
        nonce: "n".into(),
        verifier: "v".into(),
        next: "/workflows".into(),
        tenant: None,
        expires_at,
    }
}

n8n_work_store::both_backends! {
    async fn a_member_acts_through_its_own_key_until_removed(store) {
        store.create_tenant("Globex", 1).await.unwrap();
        let (ada, before) = store
            .add_member(member("default", "ada@example.com", "viewer", "key-1"), 10)
            .await
            .unwrap();
        assert_eq!(before, None);
        let key = store.active_key("default", &ada.key_id, 11).await.unwrap().unwrap();
        assert_eq!((key.role.as_str(), key.name.as_str()), ("viewer", "member ada@example.com"));
        assert_eq!(store.api_key("hash-key-1", 11).await.unwrap().unwrap().id, ada.key_id);
        // Another tenant's member is that tenant's alone.
        assert_eq!(store.active_key("globex", &ada.key_id, 11).await.unwrap(), None);
        store
            .add_member(member("globex", "ada@example.com", "editor", "key-2"), 20)
            .await
            .unwrap();
        assert_eq!(store.members("default").await.unwrap(), vec![ada.clone()]);
        let found = store
            .memberships(&["ada@example.com".into(), "sub:1".into()])
            .await
            .unwrap();
        let tenants: Vec<&str> = found.iter().map(|m| m.tenant.as_str()).collect();
        assert_eq!(tenants, ["default", "globex"], "earliest added first");

        // A new role: a new key, the old one revoked with its sessions.
        store.add_session("session-1", &key, 12, 1_000).await.unwrap();
        let (promoted, before) = store
            .add_member(member("default", "ada@example.com", "admin", "key-3"), 30)
            .await
            .unwrap();
        assert_eq!(before.as_ref(), Some(&ada));
        assert_eq!((promoted.id.as_str(), promoted.role.as_str()), (ada.id.as_str(), "admin"));
        assert_ne!(promoted.key_id, ada.key_id);
        assert_eq!(store.session("session-1", 31).await.unwrap(), None);
        assert_eq!(store.active_key("default", &ada.key_id, 31).await.unwrap(), None);

        // Another tenant cannot remove it; its own tenant can, by identity.
        let err = store.remove_member("globex", &promoted.id, 40).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
        let removed = store.remove_member("default", "ada@example.com", 40).await.unwrap();
        assert_eq!(removed, promoted);
        assert_eq!(store.active_key("default", &promoted.key_id, 41).await.unwrap(), None);
        assert!(store.members("default").await.unwrap().is_empty());
        assert_eq!(store.members("globex").await.unwrap().len(), 1);
    }
}

n8n_work_store::both_backends! {
    async fn a_sign_in_attempt_is_taken_once_and_lapses(store) {
        store.begin_sign_in("h1", attempt("s1", 100), 0).await.unwrap();
        store.begin_sign_in("h2", attempt("s2", 100), 0).await.unwrap();
        assert_eq!(store.take_sign_in("h1", 50).await.unwrap(), Some(attempt("s1", 100)));
        assert_eq!(store.take_sign_in("h1", 50).await.unwrap(), None, "used once");
        assert_eq!(store.take_sign_in("h2", 100).await.unwrap(), None, "lapsed");
        assert_eq!(store.take_sign_in("nope", 0).await.unwrap(), None);
    }
}
