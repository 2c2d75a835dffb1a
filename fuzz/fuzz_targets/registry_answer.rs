//! What fledge-registry reads from a model registry: an MLflow tracking
//! server's REST answers and a directory registry's `aliases.json` and
//! `tags.json`.
//!
//! MLflow: a loopback HTTP server answers every request with the fuzzed
//! status and body, and a real `MlflowSource` (with basic auth) asks it
//! `aliases` (`registered-models/get`), `version` (`model-versions/get`) or
//! `versions` (`model-versions/search`, paginated), so the answer goes
//! through exactly the parsing the watcher relies on. An error or a value,
//! never a panic; an answer of status 300 or more is an `Api` error with
//! that status; success needs a 2xx JSON answer; errors never carry the
//! credentials; a parsed version has no empty `source`/`run_id`/`status`/
//! `description` (empty means absent), its tags and verdict read without
//! a panic, and its ids follow the `IdScheme` rules; `versions` come back
//! oldest first (numbers before names).
//!
//! Directory: the bytes become `forecaster/aliases.json` or
//! `forecaster/2/tags.json` of a `DirSource`. A file that is not a JSON
//! object of strings is a `BadFile` error, never a panic; a readable file
//! gives the same map `serde_json` does, the version's aliases are exactly
//! those pointing at it, and setting an alias or a tag (fledge's atomic
//! rewrite) reads back as the old map plus the new entry.
//!
//! Byte 0 picks the endpoint or file (`% 5`) and raw or edit mode (the
//! edit splices the rest into a real answer or file at a position and
//! length taken from bytes 2–4); byte 1 picks the HTTP status.

#![no_main]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use fledge_registry::{DirSource, IdScheme, MlflowSource, ModelSource, SourceError, ModelVerdict};
use fledge_select::MAX_ID_LEN;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "s3cret";
const BASIC: &str = "YWxpY2U6czNjcmV0";

/// `registered-models/get`, as MLflow 2.x answers it.
const MODEL: &str = r#"{"registered_model":{"name":"forecaster","creation_timestamp":1700000000000,"last_updated_timestamp":1700000360000,"description":"daily sales","latest_versions":[{"name":"forecaster","version":"4","creation_timestamp":1700000300000,"current_stage":"None","source":"mlflow-artifacts:/0/8d1f2c/artifacts/model","run_id":"8d1f2c","status":"READY"}],"tags":[{"key":"team","value":"forecasting"}],"aliases":[{"alias":"champion","version":"3"},{"alias":"challenger","version":"4"}]}}"#;
/// `model-versions/get`.
const VERSION: &str = r#"{"model_version":{"name":"forecaster","version":"4","creation_timestamp":1700000300000,"last_updated_timestamp":1700000360000,"user_id":"alice","current_stage":"None","description":"","source":"mlflow-artifacts:/0/8d1f2c/artifacts/model","run_id":"8d1f2c","status":"READY","tags":[{"key":"fledge.verdict","value":"rolled_back"},{"key":"fledge.step.1","value":"fail: latency_p99 +38%"}],"run_link":"","aliases":["challenger"]}}"#;
/// `model-versions/search`, one page of two with a next page.
const SEARCH: &str = r#"{"model_versions":[{"name":"forecaster","version":"10","source":"file:///models/10","status":"READY","tags":[],"aliases":[]},{"name":"forecaster","version":"3","source":"mlflow-artifacts:/0/77aa/artifacts/model","run_id":"77aa","status":"READY","tags":[{"key":"fledge.verdict","value":"promoted"}],"aliases":["champion"]}],"next_page_token":"eyJvZmZzZXQiOiAyfQ=="}"#;
/// A directory registry's files.
const ALIASES: &str = "{\n  \"challenger\": \"2\",\n  \"champion\": \"1\"\n}\n";
const TAGS: &str = "{\n  \"fledge.reason\": \"p99 latency +38% over the baseline\",\n  \"fledge.verdict\": \"rolled_back\"\n}\n";

/// HTTP statuses the fake tracking server answers with (no 1xx, 204, 304
/// or redirects: those change how the body is framed or followed).
const STATUSES: [u16; 8] = [200, 200, 200, 201, 400, 404, 500, 503];

/// What the fake tracking server answers next: (status, body).
static ANSWER: Mutex<(u16, Vec<u8>)> = Mutex::new((200, Vec::new()));

fn serve(mut stream: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request: headers, then a Content-Length body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let body_len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + body_len);
        let (status, body) = ANSWER.lock().unwrap().clone();
        let mut out = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}

fn mlflow() -> &'static MlflowSource {
    static SOURCE: OnceLock<MlflowSource> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        // One thread, one connection at a time: the client sends one request
        // at a time, and a thread per connection would show up as a leak
        // (its thread-local destructors) to LeakSanitizer.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_nodelay(true);
                serve(stream);
            }
        });
        MlflowSource::new(&format!("http://alice:{SECRET}@127.0.0.1:{port}")).expect("a valid URI")
    })
}

/// A directory registry: `forecaster` with versions 1, 2 and 10.
fn dir() -> &'static (DirSource, PathBuf) {
    static DIR: OnceLock<(DirSource, PathBuf)> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let root = base.join(format!("fledge-fuzz-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let source = DirSource::new(&root);
        for v in ["1", "2", "10"] {
            source
                .create_version("forecaster", v)
                .expect("a version directory");
        }
        let model = root.join("forecaster");
        (source, model)
    })
}

fn splice(seed: &[u8], rest: &[u8]) -> Vec<u8> {
    let at = usize::from(u16::from_le_bytes([
        *rest.first().unwrap_or(&0),
        *rest.get(1).unwrap_or(&0),
    ])) % (seed.len() + 1);
    let len = usize::from(*rest.get(2).unwrap_or(&0) % 32).min(seed.len() - at);
    let mut edited = seed[..at].to_vec();
    edited.extend_from_slice(rest.get(3..).unwrap_or(&[]));
    edited.extend_from_slice(&seed[at + len..]);
    edited
}

fn check_error(e: &SourceError, status: u16, body: &[u8]) {
    let text = e.to_string();
    assert!(!text.is_empty());
    if !body.windows(SECRET.len()).any(|w| w == SECRET.as_bytes())
        && !body.windows(BASIC.len()).any(|w| w == BASIC.as_bytes())
    {
        assert!(
            !text.contains(SECRET) && !text.contains(BASIC),
            "credentials in {text}"
        );
    }
    if std::str::from_utf8(body).is_err() && matches!(e, SourceError::Unreachable { .. }) {
        // ureq reads the body as text: bytes that are not UTF-8 fail there,
        // before fledge sees them (reported like a transport error).
        return;
    }
    if status >= 300 {
        assert!(matches!(e, SourceError::Api { .. }), "{status}: {e:?}");
        assert_eq!(e.status(), Some(status));
    } else {
        assert!(
            matches!(e, SourceError::BadResponse { .. }),
            "{status}: {e:?}"
        );
    }
}

fn check_version(v: &fledge_registry::ModelVersion) {
    for field in [&v.source, &v.run_id, &v.status, &v.description] {
        assert_ne!(field.as_deref(), Some(""), "an empty field is absent");
    }
    let _ = (v.verdict(), v.is_rejected(), v.is_ready(), v.to_string());
    if let Some(verdict) = v.verdict() {
        assert_eq!(ModelVerdict::parse(verdict.as_str()), Some(verdict));
    }
    for value in v.tags.values() {
        let clamped = fledge_registry::tags::clamp(value);
        assert!(clamped.chars().count() <= fledge_registry::tags::MAX_VALUE_CHARS);
    }
    for scheme in [IdScheme::V, IdScheme::ModelDashVersion] {
        if let Ok(id) = scheme.id(&v.model, &v.version) {
            assert!(!id.as_str().is_empty() && id.as_str().len() <= MAX_ID_LEN);
        }
    }
}

/// Oldest first: numbers ascending, then names ascending.
fn in_order(a: &str, b: &str) -> bool {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x <= y,
        (Ok(_), Err(_)) => true,
        (Err(_), Ok(_)) => false,
        (Err(_), Err(_)) => a <= b,
    }
}

fn mlflow_case(kind: u8, status: u16, body: Vec<u8>) {
    let source = mlflow();
    *ANSWER.lock().unwrap() = (status, body.clone());
    match kind {
        0 => match source.aliases("forecaster") {
            Ok(map) => {
                assert!(status < 300);
                let _ = map.len();
            }
            Err(e) => check_error(&e, status, &body),
        },
        1 => match source.version("forecaster", "4") {
            Ok(v) => {
                assert!(status < 300);
                check_version(&v);
            }
            Err(e) => check_error(&e, status, &body),
        },
        _ => match source.versions("forecaster") {
            Ok(versions) => {
                assert!(status < 300);
                for v in &versions {
                    check_version(v);
                }
                for pair in versions.windows(2) {
                    assert!(
                        in_order(&pair[0].version, &pair[1].version),
                        "{:?} before {:?}",
                        pair[0].version,
                        pair[1].version
                    );
                }
            }
            Err(e) => check_error(&e, status, &body),
        },
    }
}

fn dir_case(tags: bool, bytes: &[u8]) {
    let (source, model) = dir();
    let aliases_file = model.join(fledge_registry::source::ALIASES_FILE);
    let tags_file = model.join("2").join(fledge_registry::source::TAGS_FILE);
    let (file, other, other_text) = if tags {
        (&tags_file, &aliases_file, ALIASES)
    } else {
        (&aliases_file, &tags_file, TAGS)
    };
    std::fs::write(file, bytes).expect("write the fuzzed file");
    std::fs::write(other, other_text).expect("write the other file");

    let expected: Option<BTreeMap<String, String>> = if bytes.iter().all(u8::is_ascii_whitespace) {
        Some(BTreeMap::new())
    } else {
        serde_json::from_slice(bytes).ok()
    };
    let aliases = source.aliases("forecaster");
    let version = source.version("forecaster", "2");
    let versions = source.versions("forecaster");
    match &expected {
        None => {
            for e in [
                aliases.as_ref().err(),
                version.as_ref().err(),
                versions.as_ref().err(),
            ]
            .into_iter()
            .flatten()
            {
                assert!(matches!(e, SourceError::BadFile { .. }), "{e:?}");
                assert!(!e.to_string().is_empty());
            }
            assert!(version.is_err() && versions.is_err());
            assert_eq!(aliases.is_err(), !tags);
        }
        Some(map) => {
            let aliases = aliases.expect("a readable alias file");
            let version = version.expect("a readable version");
            let versions = versions.expect("readable versions");
            if tags {
                assert_eq!(&version.tags, map);
            } else {
                assert_eq!(&aliases, map);
            }
            let pointing: Vec<String> = aliases
                .iter()
                .filter(|(_, to)| to.as_str() == "2")
                .map(|(a, _)| a.clone())
                .collect();
            assert_eq!(version.aliases, pointing);
            check_version(&version);
            let order: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
            assert_eq!(order, ["1", "2", "10"]);
            // fledge's own rewrite reads back as the old map plus one entry.
            if tags {
                source
                    .set_tag("forecaster", "2", "fledge.verdict", "promoted")
                    .expect("set a tag");
                let mut want = map.clone();
                want.insert("fledge.verdict".into(), "promoted".into());
                let again = source.version("forecaster", "2").expect("re-read");
                assert_eq!(again.tags, want);
                assert_eq!(again.verdict(), Some(ModelVerdict::Promoted));
            } else {
                source
                    .set_alias("forecaster", "fuzz", "10")
                    .expect("set an alias");
                let mut want = map.clone();
                want.insert("fuzz".into(), "10".into());
                assert_eq!(source.aliases("forecaster").expect("re-read"), want);
                source
                    .delete_alias("forecaster", "fuzz")
                    .expect("delete it");
                want.remove("fuzz");
                assert_eq!(source.aliases("forecaster").expect("re-read"), want);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [mode, status, rest @ ..] = data else {
        return;
    };
    let kind = mode % 5;
    let edit = (mode / 5) % 2 == 1;
    let seed: &str = match kind {
        0 => MODEL,
        1 => VERSION,
        2 => SEARCH,
        3 => ALIASES,
        _ => TAGS,
    };
    let bytes = if edit {
        splice(seed.as_bytes(), rest)
    } else {
        rest.to_vec()
    };
    match kind {
        0..=2 => mlflow_case(kind, STATUSES[usize::from(*status) % STATUSES.len()], bytes),
        3 => dir_case(false, &bytes),
        _ => dir_case(true, &bytes),
    }
});
