//! Any text handed to the n8n importer gives workflows or an error, and
//! every workflow it gives prints as YAML that reads back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(imported) = n8n_work_import::import_n8n(text) {
        for one in imported {
            let yaml = n8n_work_import::workflow_yaml(&one.workflow);
            let _ = n8n_work_model::Workflow::from_yaml(&yaml);
        }
    }
});
