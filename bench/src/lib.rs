//! Benchmarks for n8n-work live in `benches/`; run them with
//! `cargo bench -p n8n-work-bench`. Each prints its figures next to a peer
//! measured in the same run, and the ratio.

/// Bare wasmtime: `InstancePre`, a fresh `Store` with fuel and an epoch
/// deadline, and one call of the node's `execute` export, with the same
/// pooling settings as the runtime. The peer every step figure is compared
/// with.
#[allow(missing_docs, unreachable_pub)]
pub mod bare {
    use std::time::Duration;

    use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

    mod bindings {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "n8n-work:node/node",
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "wasi:io": wasmtime_wasi::p2::bindings::io,
                "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
                "wasi:random": wasmtime_wasi::p2::bindings::random,
                "wasi:http": wasmtime_wasi_http::p2::bindings::http,
                "n8n-work:node/binary.writer": super::NoWriter,
            },
        });
    }

    /// The bare host's imports are stand-ins: the trivial node never calls them.
    pub struct NoWriter;

    struct Bare {
        table: ResourceTable,
        wasi: WasiCtx,
        http: wasmtime_wasi_http::WasiHttpCtx,
    }

    impl wasmtime_wasi_http::WasiHttpView for Bare {
        fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
            wasmtime_wasi_http::WasiHttpCtxView {
                ctx: &mut self.http,
                table: &mut self.table,
                hooks: Default::default(),
            }
        }
    }

    impl WasiView for Bare {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView {
                ctx: &mut self.wasi,
                table: &mut self.table,
            }
        }
    }

    use bindings::n8n_work::node::{binary, credentials, log, state, types};

    impl types::Host for Bare {}
    impl log::Host for Bare {
        async fn log(&mut self, _: log::Level, _: String) -> wasmtime::Result<()> {
            Ok(())
        }
    }
    impl credentials::Host for Bare {
        async fn get(&mut self, _: String) -> wasmtime::Result<Result<String, String>> {
            Ok(Err(String::new()))
        }
    }
    impl state::Host for Bare {
        async fn get(&mut self, _: String) -> wasmtime::Result<Option<Vec<u8>>> {
            Ok(None)
        }
        async fn set(&mut self, _: String, _: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
            Ok(Ok(()))
        }
        async fn delete(&mut self, _: String) -> wasmtime::Result<()> {
            Ok(())
        }
    }
    impl binary::Host for Bare {
        async fn read(
            &mut self,
            _: String,
            _: u64,
            _: u32,
        ) -> wasmtime::Result<Result<Vec<u8>, String>> {
            Ok(Err(String::new()))
        }
    }
    impl binary::HostWriter for Bare {
        async fn new(
            &mut self,
            _: String,
            _: Option<String>,
        ) -> wasmtime::Result<Resource<NoWriter>> {
            Ok(self.table.push(NoWriter)?)
        }
        async fn append(
            &mut self,
            _: Resource<NoWriter>,
            _: Vec<u8>,
        ) -> wasmtime::Result<Result<(), String>> {
            Ok(Ok(()))
        }
        async fn finish(
            &mut self,
            _: Resource<NoWriter>,
        ) -> wasmtime::Result<Result<types::BinaryRef, String>> {
            Ok(Err(String::new()))
        }
        async fn drop(&mut self, r: Resource<NoWriter>) -> wasmtime::Result<()> {
            self.table.delete(r)?;
            Ok(())
        }
    }

    fn bare_engine() -> Engine {
        let mut config = Config::new();
        config.consume_fuel(true);
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(64);
        pool.max_memory_size(1 << 30);
        pool.linear_memory_keep_resident(1 << 20);
        pool.table_keep_resident(1 << 20);
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        Engine::new(&config).expect("engine")
    }

    /// One bare instantiate + call of `wasm`'s `execute` with `params`.
    pub fn step(
        wasm: &[u8],
        params: &str,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
    + Clone
    + Send
    + Sync
    + 'static {
        let engine = bare_engine();
        let component = Component::new(&engine, wasm).expect("component");
        let mut linker = Linker::<Bare>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasi");
        types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        credentials::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        state::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        binary::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).expect("wasi:http");
        let pre = bindings::NodePre::new(linker.instantiate_pre(&component).expect("pre"))
            .expect("node pre");
        let ticker_engine = engine.clone();
        std::thread::spawn(move || {
            loop {
                ticker_engine.increment_epoch();
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let context = types::Context {
            workflow_id: "w".into(),
            execution_id: "e".into(),
            node_id: "n".into(),
            idempotency_key: "k".into(),
            attempt: 1,
            params: params.into(),
            resume: None,
        };
        let bare_step = {
            move || {
                let (engine, pre, context) = (engine.clone(), pre.clone(), context.clone());
                async move {
                    let wasi = WasiCtx::builder().build();
                    let mut store = Store::new(
                        &engine,
                        Bare {
                            table: ResourceTable::new(),
                            wasi,
                            http: Default::default(),
                        },
                    );
                    store.set_fuel(1_000_000_000).unwrap();
                    store.set_epoch_deadline(1000);
                    let node = pre
                        .instantiate_async(&mut store)
                        .await
                        .expect("instantiate");
                    node.call_execute(&mut store, &context, &[])
                        .await
                        .expect("call")
                        .expect("ok");
                }
            }
        };

        let bare_step = bare_step;
        move || Box::pin(bare_step())
    }
}
