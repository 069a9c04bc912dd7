//! The vault against real SQLite files and PostgreSQL databases.

use std::sync::Arc;

use n8n_work_store::both_backends;
use n8n_work_store::testing::TestStore;
use n8n_work_vault::{
    CredentialChange, KeyProvider, LocalMasterKey, MasterKeyConfig, MasterKeyOrigin, Vault,
    VaultError, key_file_warning,
};
use serde_json::json;

async fn add_tenant(store: &TestStore, id: &str) {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&store.url)
        .await
        .expect("connect");
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0)")
        .bind(id)
        .execute(&mut conn)
        .await
        .expect("add tenant");
}

/// Overwrites one column of a credential row, as someone with database
/// access might.
async fn set_column(store: &TestStore, tenant: &str, id: &str, column: &str, value: &str) {
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&store.url)
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE credentials SET {column} = $1 WHERE tenant_id = $2 AND id = $3"
    )))
    .bind(value)
    .bind(tenant)
    .bind(id)
    .execute(&mut conn)
    .await
    .expect("update");
}

async fn row(store: &TestStore, tenant: &str, id: &str) -> n8n_work_store::CredentialRow {
    store.credential(tenant, id).await.expect("row")
}

fn master() -> Arc<dyn KeyProvider> {
    Arc::new(LocalMasterKey::generate())
}

both_backends!(
    async fn round_trip_and_metadata_only_list(store) {
        let vault = Vault::new(store.store.clone(), master());
        let value = json!({"token": "xoxb-planted-4711", "nested": {"user": "ana"}});
        let made = vault
            .create("default", "slack", "slackApi", &value)
            .await
            .unwrap();
        let got = vault.get("default", &made.id).await.unwrap();
        assert_eq!(got.value.expose(), &value);
        assert_eq!(got.summary.name, "slack");
        assert!(!format!("{got:?}").contains("xoxb-planted-4711"));

        // Stored encrypted, and never listed.
        let stored = row(&store, "default", &made.id).await;
        assert!(!stored.ciphertext.contains("xoxb"));
        let listed = serde_json::to_string(&vault.list("default").await.unwrap()).unwrap();
        assert!(listed.contains("\"slack\"") && listed.contains("slackApi"));
        assert!(!listed.contains("xoxb-planted-4711"));

        // Each encryption takes a fresh nonce.
        vault
            .update(
                "default",
                &made.id,
                CredentialChange {
                    value: Some(value.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_ne!(row(&store, "default", &made.id).await.ciphertext, stored.ciphertext);
        assert_eq!(vault.get("default", &made.id).await.unwrap().value.expose(), &value);

        // A rename keeps the value readable.
        vault
            .update(
                "default",
                &made.id,
                CredentialChange {
                    name: Some("slack-bot".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(vault.get("default", &made.id).await.unwrap().summary.name, "slack-bot");

        vault.delete("default", &made.id).await.unwrap();
        assert!(matches!(
            vault.get("default", &made.id).await,
            Err(VaultError::Store(n8n_work_store::StoreError::NotFound(_)))
        ));
        assert!(vault.list("default").await.unwrap().is_empty());
    }
);

both_backends!(
    async fn tenants_do_not_see_each_others_credentials(store) {
        add_tenant(&store, "acme").await;
        let vault = Vault::new(store.store.clone(), master());
        let made = vault
            .create("default", "github", "githubApi", &json!({"token": "ghp_one"}))
            .await
            .unwrap();
        assert!(vault.get("acme", &made.id).await.is_err());
        assert!(vault.list("acme").await.unwrap().is_empty());
        assert!(vault.delete("acme", &made.id).await.is_err());
        assert!(vault.get("default", &made.id).await.is_ok());
    }
);

both_backends!(
    async fn ciphertext_moved_to_another_row_or_tenant_does_not_decrypt(store) {
        add_tenant(&store, "acme").await;
        let vault = Vault::new(store.store.clone(), master());
        let secret = vault
            .create("default", "a", "t", &json!({"token": "secret-a"}))
            .await
            .unwrap();
        let other = vault
            .create("default", "b", "t", &json!({"token": "secret-b"}))
            .await
            .unwrap();
        let theirs = vault
            .create("acme", "c", "t", &json!({"token": "secret-c"}))
            .await
            .unwrap();
        let source = row(&store, "default", &secret.id).await;

        // Same tenant and data key, another credential id.
        set_column(&store, "default", &other.id, "ciphertext", &source.ciphertext).await;
        let err = vault.get("default", &other.id).await.unwrap_err();
        assert!(matches!(err, VaultError::CredentialDamaged { .. }), "{err}");
        assert!(err.to_string().contains(&other.id), "{err}");

        // Another tenant, with and without the key id.
        set_column(&store, "acme", &theirs.id, "ciphertext", &source.ciphertext).await;
        assert!(matches!(
            vault.get("acme", &theirs.id).await,
            Err(VaultError::CredentialDamaged { .. })
        ));
        set_column(&store, "acme", &theirs.id, "key_id", &source.key_id).await;
        assert!(matches!(
            vault.get("acme", &theirs.id).await,
            Err(VaultError::CredentialDamaged { .. })
        ));
        // The original still reads.
        assert_eq!(
            vault.get("default", &secret.id).await.unwrap().value.expose()["token"],
            "secret-a"
        );
    }
);

both_backends!(
    async fn a_wrapped_data_key_moved_to_another_tenant_does_not_unwrap(store) {
        add_tenant(&store, "acme").await;
        let key = master();
        let vault = Vault::new(store.store.clone(), key.clone());
        vault.create("default", "a", "t", &json!({"token": "secret-a"})).await.unwrap();
        let made = vault.create("acme", "b", "t", &json!({"token": "secret-b"})).await.unwrap();
        let keys = store.data_keys().await.unwrap();
        let (acme, default) = (&keys[0], &keys[1]);
        assert_eq!((acme.tenant.as_str(), default.tenant.as_str()), ("acme", "default"));
        assert_ne!(acme.id, default.id);

        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&store.url)
            .await
            .unwrap();
        sqlx::query("UPDATE vault_data_keys SET wrapped = $1 WHERE tenant_id = 'acme'")
            .bind(&default.wrapped)
            .execute(&mut conn)
            .await
            .unwrap();
        // A process that has not unwrapped acme's key yet.
        let fresh = Vault::new(store.store.clone(), key);
        let err = fresh.get("acme", &made.id).await.unwrap_err();
        assert!(matches!(err, VaultError::DataKeyDamaged { .. }), "{err}");
        assert!(err.to_string().contains("acme"), "{err}");
        assert!(fresh.check().await.is_err());
    }
);

both_backends!(
    async fn a_tampered_byte_does_not_decrypt(store) {
        use base64::Engine;
        use base64::engine::general_purpose::STANDARD;
        let vault = Vault::new(store.store.clone(), master());
        let made = vault
            .create("default", "a", "t", &json!({"token": "secret-a"}))
            .await
            .unwrap();
        let sealed = STANDARD.decode(row(&store, "default", &made.id).await.ciphertext).unwrap();
        // Every byte: nonce, ciphertext and tag.
        for at in [0, 11, 12, sealed.len() / 2, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[at] ^= 0x01;
            set_column(&store, "default", &made.id, "ciphertext", &STANDARD.encode(&bad)).await;
            assert!(
                matches!(
                    vault.get("default", &made.id).await,
                    Err(VaultError::CredentialDamaged { .. })
                ),
                "byte {at}"
            );
        }
        set_column(&store, "default", &made.id, "ciphertext", &STANDARD.encode(&sealed)).await;
        assert!(vault.get("default", &made.id).await.is_ok());
    }
);

both_backends!(
    async fn a_wrong_master_key_fails_with_the_fix(store) {
        let right = master();
        let vault = Vault::new(store.store.clone(), right.clone());
        let made = vault
            .create("default", "a", "t", &json!({"token": "secret-a"}))
            .await
            .unwrap();

        let wrong = Vault::new(store.store.clone(), master());
        let err = wrong.get("default", &made.id).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, VaultError::WrongMasterKey { .. }), "{text}");
        assert!(text.contains(right.id()), "{text}");
        assert!(text.contains("N8N_WORK_MASTER_KEY"), "{text}");
        assert!(wrong.check().await.is_err());
        assert_eq!(Vault::new(store.store.clone(), right).check().await.unwrap(), 1);
    }
);

both_backends!(
    async fn rotation_rewraps_every_data_key(store) {
        add_tenant(&store, "acme").await;
        let old = master();
        let vault = Vault::new(store.store.clone(), old.clone());
        let mut made = Vec::new();
        for (tenant, token) in [("default", "d-1"), ("default", "d-2"), ("acme", "a-1")] {
            let summary = vault
                .create(tenant, token, "t", &json!({"token": token}))
                .await
                .unwrap();
            made.push((tenant, summary.id, token));
        }
        let before: Vec<_> = futures_ciphertexts(&store, &made).await;

        let new = master();
        let rotation = vault.rotate(new.clone()).await.unwrap();
        assert_eq!(rotation.rewrapped, 2);
        assert_eq!(rotation.master_key_id, new.id());
        assert_eq!(vault.master_key_id(), new.id());
        for key in store.data_keys().await.unwrap() {
            assert_eq!(key.master_key_id, new.id());
            assert!(key.rewrapped_at.is_some());
        }
        // Credential ciphertexts are untouched.
        assert_eq!(futures_ciphertexts(&store, &made).await, before);

        // The rotating vault, a fresh process with the new key: all readable.
        let fresh = Vault::new(store.store.clone(), new);
        for (tenant, id, token) in &made {
            assert_eq!(vault.get(tenant, id).await.unwrap().value.expose()["token"], *token);
            assert_eq!(fresh.get(tenant, id).await.unwrap().value.expose()["token"], *token);
        }
        // The old key alone: nothing.
        let stale = Vault::new(store.store.clone(), old);
        for (tenant, id, _) in &made {
            assert!(matches!(
                stale.get(tenant, id).await,
                Err(VaultError::WrongMasterKey { .. })
            ));
        }
    }
);

async fn futures_ciphertexts(store: &TestStore, made: &[(&str, String, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for (tenant, id, _) in made {
        out.push(row(store, tenant, id).await.ciphertext);
    }
    out
}

#[cfg(unix)]
#[test]
fn default_key_file_is_private_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let path = config.path().join("n8n-work").join("master.key");
    let settings = MasterKeyConfig {
        default_file: Some(path.clone()),
        ..Default::default()
    };
    let (first, origin) = settings.load().unwrap();
    assert_eq!(
        origin,
        MasterKeyOrigin::DefaultFile {
            path: path.clone(),
            created: true
        }
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert!(key_file_warning(&path, data.path()).is_none());
    assert!(n8n_work_vault::key_file_permission_warning(&path).is_none());

    let (second, origin) = settings.load().unwrap();
    assert_eq!(second.id(), first.id());
    assert_eq!(
        origin,
        MasterKeyOrigin::DefaultFile {
            path,
            created: false
        }
    );

    // A key file inside the data directory is called out.
    let inside = data.path().join("keys").join("master.key");
    LocalMasterKey::create_file(&inside).unwrap();
    let warning = key_file_warning(&inside, data.path()).expect("warning");
    assert!(warning.contains("N8N_WORK_MASTER_KEY_FILE"), "{warning}");
}

#[test]
fn master_key_sources_come_in_order_and_bad_keys_name_the_fix() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let bytes = [7u8; 32];
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    let file = dir.path().join("key");
    std::fs::write(&file, format!("{text}\n")).unwrap();
    let expected = LocalMasterKey::from_bytes(&bytes);

    let from_env = MasterKeyConfig {
        key: Some(text.into()),
        key_file: Some(dir.path().join("absent")),
        default_file: Some(dir.path().join("default")),
    };
    let (key, origin) = from_env.load().unwrap();
    assert_eq!(
        (key.id(), origin),
        (expected.id(), MasterKeyOrigin::Environment)
    );

    let from_file = MasterKeyConfig {
        key_file: Some(file.clone()),
        default_file: Some(dir.path().join("default")),
        ..Default::default()
    };
    let (key, origin) = from_file.load().unwrap();
    assert_eq!(
        (key.id(), origin),
        (expected.id(), MasterKeyOrigin::File(file))
    );
    assert!(!dir.path().join("default").exists());

    let short = MasterKeyConfig {
        key: Some("c2hvcnQ=".to_owned().into()),
        ..Default::default()
    };
    let err = short.load().unwrap_err().to_string();
    assert!(
        err.contains("N8N_WORK_MASTER_KEY") && err.contains("32"),
        "{err}"
    );
    let missing = MasterKeyConfig {
        key_file: Some(dir.path().join("absent")),
        ..Default::default()
    };
    let err = missing.load().unwrap_err().to_string();
    assert!(err.contains("absent"), "{err}");
}

/// The embedded default: the database in a data directory, the key in a
/// config directory elsewhere. A copy of the data directory, opened where
/// that key is not, decrypts nothing, and holds no plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_the_data_directory_alone_decrypts_nothing() {
    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let planted = "planted-secret-5f1c9e";
    let id = {
        let store = n8n_work_store::Store::open_sqlite(&data.path().join("n8n-work.db"))
            .await
            .unwrap();
        let (key, _) = MasterKeyConfig {
            default_file: Some(config.path().join("n8n-work").join("master.key")),
            ..Default::default()
        }
        .load()
        .unwrap();
        let vault = Vault::new(store, Arc::new(key));
        let made = vault
            .create("default", "api", "t", &json!({"password": planted}))
            .await
            .unwrap();
        assert_eq!(
            vault.get("default", &made.id).await.unwrap().value.expose()["password"],
            planted
        );
        made.id
    };

    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let entry = entry.unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        assert!(
            !bytes
                .windows(planted.len())
                .any(|w| w == planted.as_bytes()),
            "{} holds the plaintext",
            entry.path().display()
        );
        std::fs::write(copy.path().join(entry.file_name()), bytes).unwrap();
    }
    assert!(
        !std::fs::read_dir(copy.path())
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains("key") })
    );

    // Another machine: its own (new) default key file.
    let elsewhere = tempfile::tempdir().unwrap();
    let store = n8n_work_store::Store::open_sqlite(&copy.path().join("n8n-work.db"))
        .await
        .unwrap();
    let (key, _) = MasterKeyConfig {
        default_file: Some(elsewhere.path().join("master.key")),
        ..Default::default()
    }
    .load()
    .unwrap();
    let vault = Vault::new(store, Arc::new(key));
    assert_eq!(vault.list("default").await.unwrap().len(), 1);
    assert!(matches!(
        vault.get("default", &id).await,
        Err(VaultError::WrongMasterKey { .. })
    ));
}

both_backends!(
    async fn rotation_while_credentials_are_read_and_tenants_start(store) {
        for tenant in ["t0", "t1", "t2", "t3", "late0", "late1", "late2"] {
            add_tenant(&store, tenant).await;
        }
        let old = master();
        let setup = Vault::new(store.store.clone(), old.clone());
        let mut made = Vec::new();
        for tenant in ["t0", "t1", "t2", "t3"] {
            let summary = setup
                .create(tenant, "c", "t", &json!({"token": tenant}))
                .await
                .unwrap();
            made.push((tenant, summary.id));
        }
        // A process that has unwrapped no key yet rotates, while readers
        // and tenants making their first data key run beside it.
        let vault = Arc::new(Vault::new(store.store.clone(), old));
        let mut tasks = Vec::new();
        for (tenant, id) in made.clone() {
            let vault = vault.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..40 {
                    let got = vault.get(tenant, &id).await.expect("read during rotation");
                    assert_eq!(got.value.expose()["token"], tenant);
                    tokio::task::yield_now().await;
                }
            }));
        }
        for tenant in ["late0", "late1", "late2"] {
            let vault = vault.clone();
            tasks.push(tokio::spawn(async move {
                let summary = vault
                    .create(tenant, "c", "t", &json!({"token": tenant}))
                    .await
                    .expect("create during rotation");
                vault.get(tenant, &summary.id).await.expect("read back");
            }));
        }
        let new = master();
        vault.rotate(new.clone()).await.unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        // Every key, including those made during the rotation, is under the
        // new master key, and a fresh process with it reads everything.
        let keys = store.data_keys().await.unwrap();
        assert_eq!(keys.len(), 7);
        assert!(keys.iter().all(|k| k.master_key_id == new.id()));
        let fresh = Vault::new(store.store.clone(), new);
        assert_eq!(fresh.check().await.unwrap(), 7);
        for (tenant, id) in &made {
            assert!(fresh.get(tenant, id).await.is_ok());
        }
    }
);

both_backends!(
    async fn rotating_a_key_file_replaces_it_with_the_new_key(store) {
        let config = tempfile::tempdir().unwrap();
        let path = config.path().join("master.key");
        let (old, _) = LocalMasterKey::create_file(&path).unwrap();
        let old_id = old.id().to_owned();
        let vault = Vault::new(store.store.clone(), Arc::new(old));
        let made = vault
            .create("default", "a", "t", &json!({"token": "secret-a"}))
            .await
            .unwrap();

        let rotation = vault.rotate_key_file(&path).await.unwrap();
        assert_ne!(rotation.master_key_id, old_id);
        assert!(!config.path().join("master.key.new").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The file now holds the new key, and it reads the credential.
        let reloaded = LocalMasterKey::from_file(&path).unwrap();
        assert_eq!(reloaded.id(), rotation.master_key_id);
        let fresh = Vault::new(store.store.clone(), Arc::new(reloaded));
        assert_eq!(
            fresh.get("default", &made.id).await.unwrap().value.expose()["token"],
            "secret-a"
        );
    }
);

both_backends!(
    async fn a_process_that_missed_a_rotation_wraps_new_data_keys_under_the_new_key_or_not_at_all(
        store
    ) {
        // Two processes on one database and one key file: `rotating`
        // rotates, `other` hears nothing of it (no Redis here) and is then
        // asked for a new tenant's first data key.
        let config = tempfile::tempdir().unwrap();
        let path = config.path().join("master.key");
        let (old, _) = LocalMasterKey::create_file(&path).unwrap();
        let old_id = old.id().to_owned();
        let file = MasterKeyConfig {
            key_file: Some(path.clone()),
            ..MasterKeyConfig::default()
        };
        let copy = || LocalMasterKey::from_file(&path).unwrap();
        let (other_key, stuck_key) = (copy(), copy());
        let rotating = Vault::new(store.store.clone(), Arc::new(old));
        rotating.check().await.unwrap();
        let other = Vault::new(store.store.clone(), Arc::new(other_key)).reloading(file);
        other.check().await.unwrap();
        let rotation = rotating.rotate_key_file(&path).await.unwrap();

        add_tenant(&store, "late").await;
        let made = other
            .create("late", "c", "t", &json!({"token": "late"}))
            .await
            .unwrap();
        let key = store.data_key("late").await.unwrap().unwrap();
        assert_eq!(
            key.master_key_id, rotation.master_key_id,
            "not wrapped under the retired key {old_id}"
        );
        assert_eq!(other.master_key_id(), rotation.master_key_id);
        // The rotating process reads what the other made.
        assert_eq!(
            rotating.get("late", &made.id).await.unwrap().value.expose()["token"],
            "late"
        );

        // A process that cannot load the new key refuses to wrap with its
        // old one, and says what to do.
        let stuck = Vault::new(store.store.clone(), Arc::new(stuck_key));
        add_tenant(&store, "later").await;
        let refused = stuck
            .create("later", "c", "t", &json!({"token": "later"}))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, VaultError::MasterKeyRetired { .. }),
            "{refused}"
        );
        assert!(refused.to_string().contains("rotated to"), "{refused}");
        assert!(store.data_key("later").await.unwrap().is_none());
    }
);
