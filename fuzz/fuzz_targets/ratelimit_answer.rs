//! Arbitrary bytes as the rate-limit service's answer: the gRPC frame check and the
//! `RateLimitResponse` decoder (byte 0 picks the HTTP status and `grpc-status`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use waap_engine::ratelimit::proto::Response;
use waap_engine::ratelimit::{grpc_unary_message, HttpAnswer};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let answer = HttpAnswer {
        status: match sel & 3 {
            0 => None,
            1 => Some(503),
            _ => Some(200),
        },
        grpc_status: Some(u32::from(sel >> 6)),
        grpc_message: String::new(),
        body,
    };
    if let Ok(msg) = grpc_unary_message(&answer) {
        assert!(msg.len() + 5 <= body.len());
        let _ = Response::decode(msg);
    }
    // Decoding is stable: what decodes re-encodes to the same response.
    if let Ok(r) = Response::decode(body) {
        assert_eq!(Response::decode(&r.encode()).ok(), Some(r));
    }
});
