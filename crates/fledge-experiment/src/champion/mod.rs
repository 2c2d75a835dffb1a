//! Champion / challenger: [`ChampionConfig`] and [`ChampionBuilder`] say
//! what runs (`config`), [`ChampionChallenger`] runs it (`engine`), a pure
//! function decides each tick (`classify`), and [`ChampionReport`],
//! [`Change`] and [`ChampionState`] say what happened (`report`).

mod classify;
mod config;
mod engine;
mod report;
mod roles;

pub use config::{ChampionBuilder, ChampionConfig, OldChampion};
pub use engine::ChampionChallenger;
pub use report::{ChampionReport, ChampionState, Change, ChangeKind, Evidence, Standing};
pub use roles::Role;
