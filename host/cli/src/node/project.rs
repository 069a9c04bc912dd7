//! The node author's loop on a project folder: `node new`, `build`, `test`,
//! `docs` and `publish`, the same commands for every language.
//!
//! A project's language shows in its files: `Cargo.toml` is Rust (built with
//! cargo for `wasm32-wasip2`), `package.json` is JavaScript or TypeScript
//! (built by the JS SDK's `n8n-work-node build`, that is esbuild and
//! ComponentizeJS). Either way the component lands in `dist/node.wasm` and
//! is precompiled into the component cache, so no step waits on compilation.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use n8n_work_runtime::{Item, NodeSpec, Runtime, StepOutcome, StepRequest};
use serde::Deserialize;
use serde_json::Value;

/// Where a project's component is built to.
const DIST_WASM: &str = "dist/node.wasm";

/// A project's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lang {
    /// Rust, with the `n8n-work-sdk` crate.
    Rust,
    /// JavaScript, with the `n8n-work-node-sdk` npm package.
    Js,
    /// TypeScript, with the `n8n-work-node-sdk` npm package.
    Ts,
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The node's name: lowercase letters, digits and `-` (`hello-world`).
    name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "ts")]
    lang: Lang,
    /// The folder to create (default: ./NAME).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The n8n-work repository whose SDKs the project uses (default: the one
    /// this binary was built from, or $N8N_WORK_REPO).
    #[arg(long, env = "N8N_WORK_REPO", value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Do not run `npm install` in a new JS/TS project (nor `npm ci` in the
    /// SDK when its dependencies are missing; `node build` does both).
    #[arg(long)]
    no_install: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ProjectArgs {
    /// The node project (default: the current folder).
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Test the component as it is, without building it first.
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DocsArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Where to write the Markdown (`-` for standard output; default: DIR/NODE.md).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// `n8n-work node new`.
pub(crate) fn new(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let name = &args.name;
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "node name `{name}`: use lowercase letters, digits and `-`, starting with a letter (such as `hello-world`)"
        );
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() && dir.read_dir()?.next().is_some() {
        bail!(
            "{} exists and is not empty; pick another NAME or --dir",
            dir.display()
        );
    }
    let repo = repository(args.repo.as_deref())?;
    let display: String = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let type_name: String = display.split(' ').collect();
    let (lang_name, source, native_tests) = match args.lang {
        Lang::Rust => ("Rust", "src/lib.rs", "the unit tests (`cargo test`)"),
        Lang::Js => ("JavaScript", "src/node.js", "`npm test` (test/)"),
        Lang::Ts => ("TypeScript", "src/node.ts", "`npm test` (test/)"),
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{display}}", &display)
            .replace("{{type_name}}", &type_name)
            .replace("{{lang_name}}", lang_name)
            .replace("{{source}}", source)
            .replace("{{native_tests}}", native_tests)
            .replace("{{sdk_rust}}", &repo.join("sdk-rust").display().to_string())
            .replace(
                "{{sdk_js}}",
                &repo.join("sdk-js-componentize").display().to_string(),
            )
            .replace(
                "{{params_type}}",
                if args.lang == Lang::Ts {
                    "\ninterface Params {\n  greeting?: string;\n}\n"
                } else {
                    ""
                },
            )
            .replace(
                "{{params_generic}}",
                if args.lang == Lang::Ts {
                    "<Params>"
                } else {
                    ""
                },
            )
    };
    let mut files: Vec<(&str, String)> = vec![
        (
            "README.md",
            fill(include_str!("templates/common/README.md")),
        ),
        (
            "tests/cases.json",
            fill(include_str!("templates/common/cases.json")),
        ),
        (
            "flow.yaml",
            fill(include_str!("templates/common/flow.yaml")),
        ),
    ];
    match args.lang {
        Lang::Rust => {
            files.push((
                "Cargo.toml",
                fill(include_str!("templates/rust/Cargo.toml")),
            ));
            files.push(("src/lib.rs", fill(include_str!("templates/rust/lib.rs"))));
            files.push((".gitignore", fill(include_str!("templates/rust/gitignore"))));
        }
        Lang::Js | Lang::Ts => {
            files.push((
                "package.json",
                fill(include_str!("templates/js/package.json")),
            ));
            files.push((source, fill(include_str!("templates/js/node.src"))));
            files.push((
                "test/node.test.js",
                fill(include_str!("templates/js/node.test.js")),
            ));
            files.push((".gitignore", fill(include_str!("templates/js/gitignore"))));
            if args.lang == Lang::Ts {
                files.push((
                    "tsconfig.json",
                    fill(include_str!("templates/js/tsconfig.json")),
                ));
            }
        }
    }
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if matches!(args.lang, Lang::Js | Lang::Ts) && !args.no_install {
        super::js_sdk::ensure(&repo.join("sdk-js-componentize"))?;
        run_tool(
            Command::new("npm").args(["install", "--no-audit", "--no-fund"]),
            &dir,
            "npm install",
        )?;
    }
    println!("created {} ({lang_name}): {source}", dir.display());
    println!(
        "next: cd {} && n8n-work node build && n8n-work node test",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The n8n-work repository holding the SDKs.
fn repository(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let repo = match given {
        Some(dir) => dir.to_path_buf(),
        // host/cli → the repository.
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    let repo = repo
        .canonicalize()
        .with_context(|| format!("the n8n-work repository at {}", repo.display()))?;
    if !repo.join("sdk-rust").is_dir() || !repo.join("sdk-js-componentize").is_dir() {
        bail!(
            "{} holds no n8n-work SDKs (sdk-rust/, sdk-js-componentize/); pass the repository with --repo or N8N_WORK_REPO",
            repo.display()
        );
    }
    Ok(repo)
}

/// The project's language, from its build files.
fn detect(dir: &Path) -> anyhow::Result<Lang> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Lang::Rust)
    } else if dir.join("package.json").is_file() {
        Ok(if dir.join("src/node.ts").is_file() {
            Lang::Ts
        } else {
            Lang::Js
        })
    } else {
        bail!(
            "{} is not a node project (no Cargo.toml or package.json); create one with `n8n-work node new NAME --lang rust|js|ts`",
            dir.display()
        )
    }
}

/// Runs a tool in `dir`, failing with its name when it fails.
fn run_tool(command: &mut Command, dir: &Path, what: &str) -> anyhow::Result<()> {
    let status = command
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not start `{what}`; is it installed and on PATH?"))?;
    if !status.success() {
        bail!("`{what}` failed in {} ({status})", dir.display());
    }
    Ok(())
}

/// Builds the project into `dist/node.wasm`; returns its path.
fn build_component(dir: &Path) -> anyhow::Result<PathBuf> {
    let lang = detect(dir)?;
    let dist = dir.join(DIST_WASM);
    match lang {
        Lang::Rust => {
            let target = dir.join("target");
            run_tool(
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                    .args(["build", "--release", "--target", "wasm32-wasip2"])
                    .arg("--target-dir")
                    .arg(&target),
                dir,
                "cargo build --release --target wasm32-wasip2",
            )?;
            let built = target
                .join("wasm32-wasip2/release")
                .join(format!("{}.wasm", package_name(dir)?.replace('-', "_")));
            std::fs::create_dir_all(dir.join("dist"))?;
            std::fs::copy(&built, &dist)
                .with_context(|| format!("copying {} to {}", built.display(), dist.display()))?;
        }
        Lang::Js | Lang::Ts => {
            if !dir.join("node_modules").is_dir() {
                run_tool(
                    Command::new("npm").args(["install", "--no-audit", "--no-fund"]),
                    dir,
                    "npm install",
                )?;
            }
            super::js_sdk::ensure_for_project(dir)?;
            run_tool(
                Command::new("npm").args(["run", "--silent", "build"]),
                dir,
                "npm run build",
            )?;
        }
    }
    if !dist.is_file() {
        bail!("the build made no {}", dist.display());
    }
    Ok(dist)
}

/// A Rust project's package name, as cargo reads its manifest.
fn package_name(dir: &Path) -> anyhow::Result<String> {
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(dir)
        .output()
        .context("running `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    metadata["packages"][0]["name"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{}: Cargo.toml has no package", dir.display()))
}

/// `n8n-work node build`: builds, then precompiles into the component cache.
pub(crate) async fn build(args: &ProjectArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let wasm = build_component(&args.dir)?;
    let built = started.elapsed();
    let runtime = super::runtime(data_dir, &crate::EgressArgs::default())?;
    let bytes = std::fs::read(&wasm)?;
    let started = Instant::now();
    let node = runtime
        .load(&bytes)
        .await
        .with_context(|| format!("loading {}", wasm.display()))?;
    println!(
        "built {} ({} KiB) in {:.1} s; precompiled `{}` in {:.1} s",
        wasm.display(),
        bytes.len() / 1024,
        built.as_secs_f64(),
        node.spec().name,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// One case of `tests/cases.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    input: Option<Value>,
    /// The JSON of the items expected on port `main`.
    #[serde(default)]
    output: Option<Vec<Value>>,
    /// A piece of the expected error message.
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    grants: Vec<String>,
}

/// `n8n-work node test`: the project's own tests, then its cases through the
/// real runtime.
pub(crate) async fn test(args: &TestArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let dir = &args.project.dir;
    let lang = detect(dir)?;
    let wasm = if args.no_build {
        dir.join(DIST_WASM)
    } else {
        build_component(dir)?
    };
    match lang {
        Lang::Rust => run_tool(Command::new("cargo").arg("test"), dir, "cargo test")?,
        Lang::Js | Lang::Ts => run_tool(
            Command::new("npm")
                .args(["test", "--silent"])
                .env("N8N_WORK_BIN", std::env::current_exe()?),
            dir,
            "npm test",
        )?,
    }
    let cases_path = dir.join("tests/cases.json");
    if !cases_path.is_file() {
        println!("no tests/cases.json: no runtime cases");
        return Ok(ExitCode::SUCCESS);
    }
    let cases: Vec<Case> = serde_json::from_str(&std::fs::read_to_string(&cases_path)?)
        .with_context(|| {
            format!(
                "{}: expected an array of {{name, params, input, output | error}}",
                cases_path.display()
            )
        })?;
    let runtime = super::runtime(data_dir, &crate::EgressArgs::default())?;
    let node = runtime
        .load(
            &std::fs::read(&wasm)
                .with_context(|| format!("reading {}; build it first", wasm.display()))?,
        )
        .await?;
    let mut failed = 0;
    for case in &cases {
        match run_case(&runtime, &node, case).await {
            Ok(()) => println!("ok - {}", case.name),
            Err(why) => {
                failed += 1;
                println!("FAILED - {}: {why}", case.name);
            }
        }
    }
    println!("{} passed, {failed} failed", cases.len() - failed);
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_case(
    runtime: &Runtime,
    node: &n8n_work_runtime::LoadedNode,
    case: &Case,
) -> Result<(), String> {
    let mut request = StepRequest::new(
        node.spec().name.clone(),
        case.params
            .clone()
            .unwrap_or_else(|| Value::Object(Default::default())),
    );
    request.items = Item::list_from_value(case.input.clone().unwrap_or(Value::Array(vec![])))
        .map_err(|e| format!("`input`: {e}"))?;
    request.grants = case
        .grants
        .iter()
        .map(|g| g.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`grants`: {e}"))?;
    let report = runtime.run_step(node, request).await;
    match (&report.result, &case.output, &case.error) {
        (Ok(StepOutcome::Done { outputs }), Some(expected), _) => {
            let got: Vec<Value> = outputs
                .get("main")
                .map(|items| {
                    items
                        .iter()
                        .map(|i| Value::Object(i.json.clone()))
                        .collect()
                })
                .unwrap_or_default();
            if &got == expected {
                Ok(())
            } else {
                Err(format!(
                    "expected {}, got {}",
                    Value::Array(expected.clone()),
                    Value::Array(got)
                ))
            }
        }
        (Err(error), _, Some(expected)) if error.to_string().contains(expected.as_str()) => Ok(()),
        (Err(error), _, _) => Err(format!("the step failed: {error}")),
        (Ok(outcome), _, Some(expected)) => Err(format!(
            "expected an error containing `{expected}`, got {outcome:?}"
        )),
        (Ok(_), None, None) => Err("the case gives neither `output` nor `error`".to_owned()),
        (Ok(outcome), Some(_), None) => Err(format!("expected items, got {outcome:?}")),
    }
}

/// `n8n-work node docs`: Markdown from the node's spec.
pub(crate) async fn docs(args: &DocsArgs, data_dir: &Path) -> anyhow::Result<ExitCode> {
    let dir = &args.project.dir;
    let runtime = super::runtime(data_dir, &crate::EgressArgs::default())?;
    let wasm = if dir.extension().is_some_and(|e| e == "wasm") {
        dir.clone()
    } else {
        dir.join(DIST_WASM)
    };
    let bytes = std::fs::read(&wasm).with_context(|| {
        format!(
            "reading {}; run `n8n-work node build` first",
            wasm.display()
        )
    })?;
    let node = runtime.load(&bytes).await?;
    let markdown = markdown(node.spec());
    match args.out.as_deref() {
        Some(path) if path == Path::new("-") => print!("{markdown}"),
        out => {
            let path = out.map_or_else(|| dir.join("NODE.md"), Path::to_path_buf);
            std::fs::write(&path, markdown)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A node's reference page.
pub(crate) fn markdown(spec: &NodeSpec) -> String {
    use std::fmt::Write as _;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# {} (`{}` {})\n",
        spec.display_name, spec.name, spec.version
    );
    if !spec.description.is_empty() {
        let _ = writeln!(md, "{}\n", spec.description);
    }
    md.push_str("## Parameters\n\n");
    let properties = spec
        .params_schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = spec
        .params_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if properties.is_empty() {
        md.push_str("None.\n\n");
    } else {
        md.push_str(
            "| name | type | required | default | description |\n| --- | --- | --- | --- | --- |\n",
        );
        for (name, schema) in &properties {
            let kind = schema_type(schema);
            let default = schema
                .get("default")
                .map(|d| format!("`{d}`"))
                .unwrap_or_default();
            let description = schema
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .replace('\n', " ");
            let _ = writeln!(
                md,
                "| `{name}` | {kind} | {} | {default} | {description} |",
                if required.contains(&name.as_str()) {
                    "yes"
                } else {
                    "no"
                }
            );
        }
        md.push('\n');
    }
    if !spec.credentials.is_empty() {
        md.push_str("## Credentials\n\n");
        for slot in &spec.credentials {
            let _ = writeln!(
                md,
                "- `{}` ({}){}: {}",
                slot.name,
                slot.types.join(", "),
                if slot.required { ", required" } else { "" },
                slot.description
            );
        }
        md.push('\n');
    }
    if !spec.egress.is_empty() {
        md.push_str("## Network access\n\nGrant these origins to the node in the workflow:\n\n");
        for need in &spec.egress {
            let _ = writeln!(md, "- `{}`: {}", need.origin, need.reason);
        }
        md.push('\n');
    }
    if !spec.outputs.is_empty() {
        md.push_str("## Outputs\n\n");
        for port in &spec.outputs {
            let _ = writeln!(md, "- `{}`: {}", port.name, port.display_name);
        }
        md.push('\n');
    }
    md
}

fn schema_type(schema: &Value) -> String {
    if let Some(kind) = schema.get("type") {
        return match kind {
            Value::String(s) => s.clone(),
            Value::Array(kinds) => kinds
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" or "),
            _ => String::new(),
        };
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    if let Some(options) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        return options
            .iter()
            .map(schema_type)
            .collect::<Vec<_>>()
            .join(" or ");
    }
    String::new()
}
