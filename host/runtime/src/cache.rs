//! Compiled components, cached in memory and on disk.
//!
//! A component is compiled once per content hash. The compiled form is kept
//! on disk under a key made of the content's SHA-256, the wasmtime version
//! and a hash of the engine's compilation settings, so a changed engine
//! never loads code compiled for another.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::RuntimeError;

/// Compiles components once and remembers them.
pub(crate) struct ComponentCache {
    engine: Engine,
    dir: Option<PathBuf>,
    engine_key: String,
    compiled: Mutex<HashMap<String, Component>>,
}

/// Where a component came from, for the load report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheHit {
    /// Already compiled in this process.
    Memory,
    /// Loaded from the on-disk cache.
    Disk,
    /// Compiled now.
    Compiled,
}

impl ComponentCache {
    pub(crate) fn new(engine: Engine, dir: Option<PathBuf>) -> Result<Self, RuntimeError> {
        if let Some(dir) = &dir {
            create_private_dir(dir).map_err(|e| RuntimeError::Cache {
                path: dir.clone(),
                message: e.to_string(),
            })?;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        // The compatibility hash covers wasmtime's exact version and every
        // setting that changes generated code; the prefix is for people.
        let engine_key = format!("wasmtime48-{:016x}", hasher.finish());
        Ok(ComponentCache {
            engine,
            dir,
            engine_key,
            compiled: Mutex::new(HashMap::new()),
        })
    }

    /// The content digest used as a component's identity: `sha256-<hex>`.
    pub(crate) fn digest(wasm: &[u8]) -> String {
        format!("sha256-{}", hex::encode(Sha256::digest(wasm)))
    }

    /// The compiled component for `wasm`; compiles it at most once.
    pub(crate) fn load(&self, wasm: &[u8]) -> Result<(Component, CacheHit), RuntimeError> {
        let digest = Self::digest(wasm);
        if let Some(component) = self.compiled.lock().expect("cache lock").get(&digest) {
            return Ok((component.clone(), CacheHit::Memory));
        }
        let path = self
            .dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{}.cwasm", self.engine_key)));
        let (component, hit) = match path.as_deref().and_then(|p| self.read_compiled(p)) {
            Some(component) => (component, CacheHit::Disk),
            None => {
                let component = Component::new(&self.engine, wasm)
                    .map_err(|e| RuntimeError::Compile(format!("{e:#}")))?;
                if let Some(path) = &path {
                    self.write_compiled(path, &component);
                }
                (component, CacheHit::Compiled)
            }
        };
        self.compiled
            .lock()
            .expect("cache lock")
            .insert(digest, component.clone());
        Ok((component, hit))
    }

    fn read_compiled(&self, path: &Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        // SAFETY: `deserialize_file` requires that the file was produced by
        // `Component::serialize` of an engine compatible with this one and
        // has not been altered since. The file name carries this engine's
        // compatibility key, so only our own output for this engine is ever
        // looked up, and wasmtime re-checks the version and settings header
        // and rejects a mismatch. The files are written by `write_compiled`
        // alone, atomically (write then rename), into a directory created
        // with mode 0700, so only the user running n8n-work, who could
        // replace the binary itself, can change them.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(&self.engine, path) };
        match loaded {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable compiled component, recompiling: {e}");
                None
            }
        }
    }

    fn write_compiled(&self, path: &Path, component: &Component) {
        let written = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|bytes| {
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                let mut file = std::fs::File::create(&tmp)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                std::fs::rename(&tmp, path)
            });
        if let Err(e) = written {
            // The cache is an optimisation: a step still runs without it.
            tracing::warn!(path = %path.display(), "could not cache compiled component: {e}");
        }
    }
}

/// Where compiled components are kept for a data directory: a cache shared
/// by every data directory of this user (`N8N_WORK_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/n8n-work/components`, else
/// `~/.cache/n8n-work/components`), so a new data directory starts without
/// compiling the components another has compiled already. Entries are named
/// by content digest and engine settings, so sharing them is safe. Falls
/// back to `DATA_DIR/cache/components` when the shared directory cannot be
/// made private to this user (no home, read-only, or writable by others).
pub fn shared_cache_dir(data_dir: &Path) -> PathBuf {
    cache_dir_with(data_dir, |name| std::env::var_os(name))
}

/// [`shared_cache_dir`] with the environment read through `var`.
fn cache_dir_with(data_dir: &Path, var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let own = data_dir.join("cache").join("components");
    let env = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let shared = env("N8N_WORK_CACHE_DIR").or_else(|| {
        env("XDG_CACHE_HOME")
            .or_else(|| env("HOME").map(|home| home.join(".cache")))
            .map(|base| base.join("n8n-work").join("components"))
    });
    match shared {
        Some(dir) if create_private_dir(&dir).is_ok() && is_private(&dir) => dir,
        Some(dir) => {
            tracing::debug!(shared = %dir.display(), "the shared component cache is not usable; caching in the data directory");
            own
        }
        None => own,
    }
}

/// Whether only its owner may write to `dir` (compiled code is loaded from
/// it without further checks).
fn is_private(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o022 == 0)
    }
    #[cfg(not(unix))]
    {
        dir.is_dir()
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_directories_share_one_private_cache_and_fall_back_to_their_own() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let home = root.path().join("home");
        let env = |pairs: Vec<(&'static str, PathBuf)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.clone().into_os_string())
            }
        };

        let shared = cache_dir_with(&data, env(vec![("HOME", home.clone())]));
        assert_eq!(shared, home.join(".cache/n8n-work/components"));
        assert!(is_private(&shared), "made with mode 0700");
        let chosen = root.path().join("chosen");
        assert_eq!(
            cache_dir_with(
                &data,
                env(vec![("HOME", home), ("N8N_WORK_CACHE_DIR", chosen.clone())])
            ),
            chosen
        );

        // A directory others may write to would let them plant code: the
        // data directory's own cache is used instead.
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let own = data.join("cache").join("components");
        assert_eq!(
            cache_dir_with(&data, env(vec![("N8N_WORK_CACHE_DIR", open)])),
            own
        );
        assert_eq!(cache_dir_with(&data, env(vec![])), own);
    }
}
