//! The plan the fledge-redis tests run (the redis-server, free ports and
//! waits are `fledge_test`'s).
#![allow(dead_code, unreachable_pub)]

use fledge_rollout::Plan;

/// The plan the tests run: four steps, no gates.
pub fn plan(name: &str) -> Plan {
    Plan::from_toml(&format!(
        r#"
        name = "{name}"
        baseline = "v1"
        candidate = "v2"
        steps = [5, 25, 50, 100]
        interval = "30s"
        "#
    ))
    .expect("test plan")
}
