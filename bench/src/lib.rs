//! Benchmarks for n8n-work live in `benches/`; run them with
//! `cargo bench -p n8n-work-bench`. Each prints its figures next to a peer
//! measured in the same run, and the ratio.
