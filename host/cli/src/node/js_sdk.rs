//! The JavaScript SDK's own dependencies (esbuild, ComponentizeJS).
//!
//! A project made by `node new` links the SDK from the repository
//! (`file:<repo>/sdk-js-componentize`), and npm installs nothing inside a
//! linked folder: the SDK's dependencies come from its own `node_modules`,
//! which a fresh clone does not have. `node new` and `node build` install
//! them there once, with the SDK's lock file, so every project shares them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// The SDK's npm package name, as projects depend on it.
const PACKAGE: &str = "n8n-work-node-sdk";

/// Installs the dependencies of the SDK a project at `project` uses, when
/// they are missing. A project that does not use the SDK, or has not
/// installed it yet, is left to npm's own messages.
pub(super) fn ensure_for_project(project: &Path) -> anyhow::Result<()> {
    let linked = project.join("node_modules").join(PACKAGE);
    match linked.canonicalize() {
        Ok(sdk) => ensure(&sdk),
        Err(_) => Ok(()),
    }
}

/// Installs the dependencies of the SDK at `sdk` (`npm ci`, from its lock
/// file) when some of them do not resolve from it.
pub(super) fn ensure(sdk: &Path) -> anyhow::Result<()> {
    let missing = missing_dependencies(sdk)?;
    if missing.is_empty() {
        return Ok(());
    }
    if !sdk.join("package-lock.json").is_file() {
        // Installed from a tarball or a registry: npm placed (or should
        // have placed) its dependencies beside it, in the project.
        bail!(
            "the JS SDK at {} cannot find {}; run `npm install` in the node project",
            sdk.display(),
            missing.join(", ")
        );
    }
    eprintln!(
        "installing the JS SDK's dependencies ({}) in {} once for every project: npm ci --no-audit --no-fund",
        missing.join(", "),
        sdk.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(sdk)
        .status()
        .context(
            "could not start `npm`; install Node.js 20 or later (with npm) and put it on PATH",
        )?;
    if !status.success() {
        bail!(
            "`npm ci` failed in {} ({status}); fix what npm printed above, or run `cd {} && npm ci` yourself, then build again",
            sdk.display(),
            sdk.display()
        );
    }
    let still = missing_dependencies(sdk)?;
    if !still.is_empty() {
        bail!(
            "`npm ci` in {} did not install {}",
            sdk.display(),
            still.join(", ")
        );
    }
    Ok(())
}

/// The SDK's `dependencies` that Node.js would not find from the SDK's
/// folder: no `node_modules/NAME` in it or in a folder above it.
fn missing_dependencies(sdk: &Path) -> anyhow::Result<Vec<String>> {
    let manifest = sdk.join("package.json");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading the JS SDK's {}", manifest.display()))?;
    let package: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", manifest.display()))?;
    let mut names = package["dependencies"]
        .as_object()
        .map(|deps| deps.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    names.sort();
    Ok(names
        .into_iter()
        .filter(|name| resolved(sdk, name).is_none())
        .collect())
}

/// Where Node.js finds package `name` from `dir`, if anywhere.
fn resolved(dir: &Path, name: &str) -> Option<PathBuf> {
    dir.ancestors()
        .map(|folder| folder.join("node_modules").join(name))
        .find(|candidate| candidate.join("package.json").is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk_with(dependencies: &[&str]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let sdk = root.path().join("sdk");
        std::fs::create_dir(&sdk).unwrap();
        let deps: serde_json::Map<_, _> = dependencies
            .iter()
            .map(|d| (d.to_string(), Value::String("1.0.0".into())))
            .collect();
        std::fs::write(
            sdk.join("package.json"),
            serde_json::json!({ "name": PACKAGE, "dependencies": deps }).to_string(),
        )
        .unwrap();
        root
    }

    fn install(folder: &Path, name: &str) {
        let dir = folder.join("node_modules").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package.json"), "{}").unwrap();
    }

    #[test]
    fn dependencies_resolve_from_the_sdk_or_a_folder_above_it() {
        let root = sdk_with(&["esbuild", "@bytecodealliance/componentize-js"]);
        let sdk = root.path().join("sdk");
        assert_eq!(
            missing_dependencies(&sdk).unwrap(),
            ["@bytecodealliance/componentize-js", "esbuild"]
        );
        install(&sdk, "esbuild");
        // Hoisted beside the SDK, as npm installs a packed SDK in a project.
        install(root.path(), "@bytecodealliance/componentize-js");
        assert!(missing_dependencies(&sdk).unwrap().is_empty());
    }

    #[test]
    fn an_sdk_without_a_lock_file_names_the_missing_package_and_the_fix() {
        let root = sdk_with(&["esbuild"]);
        let error = ensure(&root.path().join("sdk")).unwrap_err().to_string();
        assert!(error.contains("cannot find esbuild"), "{error}");
        assert!(error.contains("run `npm install`"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn a_project_reaches_the_sdk_it_links() {
        let root = sdk_with(&["esbuild"]);
        let project = root.path().join("project");
        std::fs::create_dir_all(project.join("node_modules")).unwrap();
        // What npm makes for `file:<repo>/sdk-js-componentize`.
        std::os::unix::fs::symlink(
            root.path().join("sdk"),
            project.join("node_modules").join(PACKAGE),
        )
        .unwrap();
        let error = ensure_for_project(&project).unwrap_err().to_string();
        assert!(error.contains("cannot find esbuild"), "{error}");
        install(&root.path().join("sdk"), "esbuild");
        ensure_for_project(&project).unwrap();
        // A project without the SDK installed is left to npm.
        ensure_for_project(root.path()).unwrap();
    }
}
