//! The registry fuzz target's seeds and every input it was found failing
//! on (`registry/fuzz/regressions/`), replayed on stable through the same
//! checks (`registry/fuzz/oci_check.rs`), over a registry on disk.

#[path = "../fuzz/oci_check.rs"]
mod oci_check;

use std::path::Path;
use std::sync::Arc;

use n8n_work_registry::storage::FsStorage;

#[tokio::test]
async fn every_kept_fuzz_input_passes_the_oci_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for dir in ["seeds/oci_manifest", "regressions/oci_manifest"] {
        let mut inputs: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        inputs.sort();
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            let tmp = tempfile::tempdir().unwrap();
            let storage = Arc::new(FsStorage::open(tmp.path()).await.unwrap());
            let outcome = tokio::spawn(async move { oci_check::check(&data, storage).await }).await;
            assert!(outcome.is_ok(), "{} fails the checks", path.display());
            replayed += 1;
        }
    }
    assert!(replayed >= 14, "the seeds are there: {replayed}");
}
