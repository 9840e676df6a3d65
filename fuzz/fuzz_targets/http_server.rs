//! HTTP/1.1 framing: the fuzz bytes are everything a client sends on one connection
//! (pipelined requests, Content-Length and chunked bodies, Expect, Connection). Each request
//! must also survive the listener -> executor ipc frame unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serendb_data_api::frames as ipc;
use serendb_data_api::serve_connection;
use serendb_data_api::HttpResponse;
use serendb_data_api::RawRequest;
use serendb_data_api::ServerLimits;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    // timers: the server bounds every phase of a request in time
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (mut client, server) = duplex(data.len() + 64 * 1024);
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        // a small body limit, so the 413 paths are reached too
        let limits = ServerLimits::default().with_max_body(4096);
        let serve = serve_connection(server, limits, |req: RawRequest| async move {
            // the listener hands every request to an executor as an ipc frame
            let frame = ipc::encode_request(&req);
            assert_eq!(ipc::decode_request(&frame[4..]).ok().as_ref(), Some(&req));
            // a function-chosen reason phrase (RAISE ... PTnnn), here the client's
            let reason = req.header("x-reason").map(str::to_string);
            // echo parts of the request, so header encoding sees request-controlled text
            HttpResponse {
                status: 200 + (req.body.len() % 400) as u16,
                headers: vec![("X-Target".into(), req.target.clone())],
                body: req.body,
                reason,
            }
        });
        let mut out = Vec::new();
        let _ = tokio::join!(serve, client.read_to_end(&mut out));
    });
});
