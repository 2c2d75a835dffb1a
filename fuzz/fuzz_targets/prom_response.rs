//! What fledge-prometheus reads from outside: Prometheus' `/api/v1/query`
//! answers and a user's `PromConfig`. Never a panic; a parsed answer gives a
//! single value or a reason; a config either builds an evaluator or is
//! refused with an error.
//!
//! Byte 0 picks the input: raw bytes as an answer, an edit spliced into a
//! real answer (bytes 1–2 the position, 3 the length to replace), or raw
//! bytes as a config in JSON.

#![no_main]

use fledge_prometheus::response::parse_response;
use fledge_prometheus::{PromConfig, PromEvaluator};
use libfuzzer_sys::fuzz_target;

const ANSWER: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"rollout":"predict-v2","version":"v2"},"value":[1700000000.123,"0.0125"]}]},"warnings":["w"]}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 | 1 => {
            let text = if mode % 3 == 0 {
                String::from_utf8_lossy(rest).into_owned()
            } else {
                let seed = ANSWER.as_bytes();
                let at = usize::from(u16::from_le_bytes([
                    *rest.first().unwrap_or(&0),
                    *rest.get(1).unwrap_or(&0),
                ])) % (seed.len() + 1);
                let len = usize::from(*rest.get(2).unwrap_or(&0) % 32).min(seed.len() - at);
                let mut edited = seed[..at].to_vec();
                edited.extend_from_slice(rest.get(3..).unwrap_or(&[]));
                edited.extend_from_slice(&seed[at + len..]);
                String::from_utf8_lossy(&edited).into_owned()
            };
            match parse_response(&text) {
                Ok(response) => {
                    let _ = response.value.single().map_err(|e| e.to_string());
                }
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(config) = serde_json::from_str::<PromConfig>(&text) {
                if let Err(e) = PromEvaluator::with_versions(config, "predict-v2", "v1", "v2") {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
});
