//! OCI manifest and index parsing (through the registry's routes), cosign
//! signature checking, and the names a request carries; see `oci_check.rs`.

#![no_main]

#[path = "../oci_check.rs"]
mod oci_check;

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use n8n_work_registry::storage::ObjectStorage;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // A fresh registry in memory per input, so one input never sees another's.
    let storage = Arc::new(ObjectStorage::new(
        Arc::new(object_store::memory::InMemory::new()),
        "fuzz",
    ));
    runtime().block_on(oci_check::check(data, storage));
});
