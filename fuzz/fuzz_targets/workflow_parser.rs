//! Any text, read as a YAML or a JSON workflow, gives a workflow or an
//! error: never a panic, an abort, or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use n8n_work_model::Workflow;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Workflow::from_yaml(text);
    let _ = Workflow::from_json(text);
});
