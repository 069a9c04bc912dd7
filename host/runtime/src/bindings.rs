//! Host bindings generated from `wit/` (world `n8n-work:node/node`).

#![allow(unreachable_pub, missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "n8n-work:node/node",
    imports: { default: async | trappable },
    exports: { default: async },
    require_store_data_send: true,
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "n8n-work:node/binary.writer": crate::host::BinaryWriter,
    },
});
