//! Roles and their traffic: each challenger a fixed share, the champion the
//! rest and at least half. A leaf.

use std::fmt;

use serde::{Deserialize, Serialize};

use fledge_select::Weight;

/// A variant's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves most traffic.
    Champion,
    /// Serves a small share and is evaluated against the champion.
    Challenger,
    /// Declared, no traffic yet; [`ChampionChallenger::enter`](crate::ChampionChallenger::enter) makes it a challenger.
    Standby,
    /// No traffic any more.
    Retired,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Champion => "champion",
            Role::Challenger => "challenger",
            Role::Standby => "standby",
            Role::Retired => "retired",
        })
    }
}

/// How many of `roles` are challengers.
pub(crate) fn challengers(roles: &[Role]) -> usize {
    roles.iter().filter(|r| **r == Role::Challenger).count()
}

/// The weights for `roles`: each challenger `share`, the champion the rest.
pub(crate) fn weights_for(roles: &[Role], share: Weight) -> Vec<Weight> {
    // At most 64 variants (a split's limit): exact.
    let k = challengers(roles) as u32;
    let champion = Weight::MAX_BPS.saturating_sub(k.saturating_mul(share.bps()));
    roles
        .iter()
        .map(|r| match r {
            Role::Champion => Weight::from_bps(champion).unwrap_or(Weight::ZERO),
            Role::Challenger => share,
            Role::Standby | Role::Retired => Weight::ZERO,
        })
        .collect()
}

/// Whether `challengers` challengers of `share` leave the champion at least half.
pub(crate) fn fits(challengers: usize, share: Weight) -> bool {
    (challengers as u64) * u64::from(share.bps()) <= u64::from(Weight::MAX_BPS / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_give_the_champion_the_rest() {
        let share = Weight::from_percent(5.0).unwrap();
        let w = weights_for(
            &[
                Role::Challenger,
                Role::Champion,
                Role::Retired,
                Role::Challenger,
                Role::Standby,
            ],
            share,
        );
        let bps: Vec<u32> = w.iter().map(|w| w.bps()).collect();
        assert_eq!(bps, [500, 9_000, 0, 500, 0]);
        assert!(fits(10, share));
        assert!(!fits(11, share));
    }
}
