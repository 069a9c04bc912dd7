//! The built-in node components of n8n-work, compiled from source for
//! `wasm32-wasip2` by this crate's build script and embedded, so that the
//! `n8n-work` binary needs nothing beside it.
//!
//! The principal function is [`get`], which maps a `builtin:` reference to
//! the component's bytes.

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// The built-in nodes by name, as workflows refer to them (`builtin:http`).
pub const BUILTINS: &[(&str, &[u8])] = &[("http", HTTP), ("slack", SLACK), ("code", CODE)];

/// The component for `builtin:NAME` (or just `NAME`), if there is one.
pub fn get(reference: &str) -> Option<&'static [u8]> {
    let name = reference.strip_prefix("builtin:").unwrap_or(reference);
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, wasm)| *wasm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_components_and_found_by_reference() {
        for (name, wasm) in BUILTINS {
            // The component-model preamble: magic, then layer 1.
            assert_eq!(&wasm[..8], b"\0asm\x0d\0\x01\0", "builtin:{name}");
            assert_eq!(get(&format!("builtin:{name}")), Some(*wasm));
        }
        assert_eq!(get("builtin:nope"), None);
    }
}
