//! The cost of one `Bucketer::bucket` call in every hash mode, for 36-byte
//! ASCII user ids (UUIDs: the common case) and for short non-ASCII ids
//! (names and e-mail addresses with accents, CJK, emoji).
//!
//! Group `modes/ascii` and `modes/non_ascii`, one function per mode; the
//! `fledge` mode is the baseline the compatibility modes are read against.
//!
//! Run with `cargo bench -p fledge-sticky --bench modes`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fledge_sticky::{Bucketer, HashMode};

/// Distinct keys cycled through so the hash sees varied input.
const KEYS: usize = 1024;

/// `KEYS` UUID-shaped ids of 36 ASCII bytes from a fixed-seed generator.
fn ascii_ids() -> Vec<String> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..KEYS)
        .map(|_| {
            let hex = format!("{:016x}{:016x}", next(), next());
            format!(
                "{}-{}-4{}-a{}-{}",
                &hex[0..8],
                &hex[8..12],
                &hex[12..15],
                &hex[15..18],
                &hex[18..30]
            )
        })
        .collect()
}

/// `KEYS` non-ASCII ids: a few realistic shapes with a counter.
fn non_ascii_ids() -> Vec<String> {
    let shapes = [
        "josé.garcía@exämple.com",
        "用户",
        "Zoë Ångström",
        "محمد",
        "ユーザー",
        "👩‍💻 dev",
    ];
    (0..KEYS)
        .map(|i| format!("{}-{i}", shapes[i % shapes.len()]))
        .collect()
}

fn modes(c: &mut Criterion) {
    for (name, keys) in [("ascii", ascii_ids()), ("non_ascii", non_ascii_ids())] {
        let mut group = c.benchmark_group(format!("modes/{name}"));
        for mode in HashMode::ALL {
            let bucketer = Bucketer::new(mode, "bench-rollout");
            group.bench_function(mode.as_str(), |b| {
                let mut i = 0usize;
                b.iter(|| {
                    i = i.wrapping_add(1);
                    black_box(bucketer.bucket(black_box(keys[i % KEYS].as_bytes())))
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, modes);
criterion_main!(benches);
