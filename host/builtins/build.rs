//! Builds the built-in node components for `wasm32-wasip2` from source, the
//! way wasmtime builds its test programs: a nested `cargo build` of the
//! component crates into a target directory of their own, whose outputs are
//! then embedded with `include_bytes!`.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (constant name, package, wasm file stem)
const COMPONENTS: &[(&str, &str, &str)] = &[
    ("HTTP", "n8n-work-node-http", "n8n_work_node_http"),
    ("SLACK", "n8n-work-node-slack", "n8n_work_node_slack"),
    ("CODE", "n8n-work-node-code", "n8n_work_node_code"),
];
const TEST_GUEST: (&str, &str, &str) = ("TEST_GUEST", "n8n-work-test-guest", "n8n_work_test_guest");
const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.ancestors().nth(2).unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    for watched in ["wit", "sdk-rust", "components", "tests/guest", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let mut components = COMPONENTS.to_vec();
    if env::var_os("CARGO_FEATURE_TEST_GUEST").is_some() {
        components.push(TEST_GUEST);
    }
    require_wasm_target();

    // OUT_DIR is <target>/<profile>/build/<pkg>/out: share one wasm target
    // directory between profiles, beside them.
    let wasm_target = out_dir.ancestors().nth(4).unwrap().join("n8n-work-wasm");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&wasm_target);
    for (_, package, _) in &components {
        cmd.arg("--package").arg(package);
    }
    // The outer build's flags and wrappers are for the host, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    // Components ship inside the binary: optimise them for size, whole-program.
    cmd.env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the node components: {e}"));
    if !status.success() {
        panic!("building the node components for {TARGET} failed (see the cargo output above)");
    }

    let mut code = String::new();
    for (name, package, stem) in &components {
        let built = wasm_target
            .join(TARGET)
            .join("release")
            .join(format!("{stem}.wasm"));
        let embedded = out_dir.join(format!("{stem}.wasm"));
        std::fs::copy(&built, &embedded)
            .unwrap_or_else(|e| panic!("{} was not built: {e}", built.display()));
        writeln!(
            code,
            "/// The `{package}` component, built from source.\npub const {name}: &[u8] = include_bytes!({:?});",
            embedded.display().to_string()
        )
        .unwrap();
    }
    std::fs::write(out_dir.join("components.rs"), code).unwrap();
}

/// Makes sure the `wasm32-wasip2` target is installed. `rust-toolchain.toml`
/// names it, but rustup installs a toolchain file's targets only with the
/// toolchain itself: on a machine that had the toolchain already, the target
/// is missing. Under rustup, it is added here (a download of about 20 MB);
/// otherwise, or if that fails, the build stops with the one command that
/// fixes it.
fn require_wasm_target() {
    if wasm_target_installed() {
        return;
    }
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        println!(
            "cargo:warning=installing the Rust target {TARGET}, which n8n-work builds its node components for (rustup target add {TARGET})"
        );
        let added = Command::new("rustup")
            .args(["target", "add", TARGET, "--toolchain"])
            .arg(&toolchain)
            .status()
            .is_ok_and(|s| s.success());
        if added && wasm_target_installed() {
            return;
        }
    }
    panic!(
        "\n\nThe Rust target `{TARGET}` is not installed; n8n-work builds its node components for it.\n\
         Install it with:\n\n    rustup target add {TARGET}\n\n"
    );
}

fn wasm_target_installed() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    sysroot
        .as_deref()
        .map(|s| s.join("lib/rustlib").join(TARGET))
        .is_some_and(|p| Path::new(&p).is_dir())
}
