//! The decision journal: which arm served which request, until its feedback
//! arrives.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::BanditError;

/// One pending decision: a request and the arm that served it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The request's id.
    pub request_id: u64,
    /// The arm that served it.
    pub arm: usize,
}

/// A bounded map from request id to the arm that served it, so that late
/// feedback (a click, a purchase, the actual value of a forecast) can be
/// credited to the right arm.
///
/// It is a fixed-capacity ring plus a hash index: recording is O(1), feedback
/// is O(1) and removes the decision (so a request is credited once), and when
/// the ring is full the oldest slot is overwritten; a decision still pending
/// there is *evicted* and counted in [`DecisionJournal::evicted`]. Memory is
/// bounded by the capacity whatever the traffic: there is no per-user state.
/// Size it to the number of requests served between a decision and its
/// latest useful feedback.
///
/// Request ids are `u64`; hash string ids with [`request_id`] (stable across
/// processes and versions, so a persisted journal stays valid).
#[derive(Debug, Clone)]
pub struct DecisionJournal {
    capacity: usize,
    slots: Vec<Option<Decision>>,
    next: usize,
    index: HashMap<u64, usize>,
    evicted: u64,
}

impl DecisionJournal {
    /// An empty journal holding at most `capacity` pending decisions.
    pub fn new(capacity: usize) -> Result<Self, BanditError> {
        if capacity == 0 {
            return Err(BanditError::InvalidJournalCapacity);
        }
        Ok(Self {
            capacity,
            slots: Vec::new(),
            next: 0,
            index: HashMap::new(),
            evicted: 0,
        })
    }

    /// Records that `arm` served `request_id`. Returns the decision evicted to
    /// make room, if the oldest slot still held one. Fails, recording nothing,
    /// if `request_id` is already pending.
    pub fn record(&mut self, request_id: u64, arm: usize) -> Result<Option<Decision>, BanditError> {
        if self.index.contains_key(&request_id) {
            return Err(BanditError::DuplicateRequest { request_id });
        }
        let decision = Decision { request_id, arm };
        let slot = self.next;
        let evicted = if slot < self.slots.len() {
            let old = self.slots[slot].replace(decision);
            if let Some(old) = old {
                self.index.remove(&old.request_id);
                self.evicted = self.evicted.saturating_add(1);
            }
            old
        } else {
            self.slots.push(Some(decision));
            None
        };
        self.index.insert(request_id, slot);
        self.next = (slot + 1) % self.capacity;
        Ok(evicted)
    }

    /// Removes and returns the decision for `request_id`, if pending.
    pub fn take(&mut self, request_id: u64) -> Option<Decision> {
        let slot = self.index.remove(&request_id)?;
        self.slots.get_mut(slot).and_then(Option::take)
    }

    /// The arm that served `request_id`, if its decision is pending.
    pub fn get(&self, request_id: u64) -> Option<usize> {
        let slot = *self.index.get(&request_id)?;
        self.slots.get(slot).copied().flatten().map(|d| d.arm)
    }

    /// Pending decisions, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = Decision> + '_ {
        let (newer, older) = self.slots.split_at(self.next.min(self.slots.len()));
        older.iter().chain(newer).filter_map(|d| *d)
    }

    /// Number of pending decisions.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no decision is pending.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Largest number of pending decisions.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Decisions evicted before their feedback arrived, since creation.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The journal as plain data.
    pub fn state(&self) -> JournalState {
        JournalState {
            capacity: self.capacity,
            filled: self.slots.len(),
            next: self.next,
            evicted: self.evicted,
            pending: self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(slot, d)| {
                    d.map(|d| PendingDecision {
                        slot,
                        request_id: d.request_id,
                        arm: d.arm,
                    })
                })
                .collect(),
        }
    }

    /// Restores a journal exactly (same future evictions) from its state.
    pub fn from_state(state: JournalState) -> Result<Self, BanditError> {
        let invalid = |msg: String| Err(BanditError::InvalidState(format!("journal: {msg}")));
        let mut journal = Self::new(state.capacity)?;
        if state.filled > state.capacity {
            return invalid(format!(
                "{} filled slots exceed the capacity {}",
                state.filled, state.capacity
            ));
        }
        let expected_next_ok = if state.filled < state.capacity {
            state.next == state.filled
        } else {
            state.next < state.capacity
        };
        if !expected_next_ok {
            return invalid(format!(
                "next slot {} does not fit {} filled slots of {}",
                state.next, state.filled, state.capacity
            ));
        }
        journal.slots = vec![None; state.filled];
        journal.next = state.next;
        journal.evicted = state.evicted;
        for p in state.pending {
            let Some(slot) = journal.slots.get_mut(p.slot) else {
                return invalid(format!(
                    "slot {} is past the {} filled slots",
                    p.slot, state.filled
                ));
            };
            if slot.is_some() {
                return invalid(format!("slot {} holds two decisions", p.slot));
            }
            if journal.index.insert(p.request_id, p.slot).is_some() {
                return invalid(format!("request id {} is pending twice", p.request_id));
            }
            *slot = Some(Decision {
                request_id: p.request_id,
                arm: p.arm,
            });
        }
        Ok(journal)
    }
}

/// A [`DecisionJournal`] as plain data (serde), restorable exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalState {
    /// Largest number of pending decisions.
    pub capacity: usize,
    /// Slots used so far (grows up to `capacity`).
    pub filled: usize,
    /// The slot the next decision goes to.
    pub next: usize,
    /// Decisions evicted so far.
    pub evicted: u64,
    /// Pending decisions with their slots.
    pub pending: Vec<PendingDecision>,
}

/// One pending decision in a [`JournalState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingDecision {
    /// Its slot in the ring.
    pub slot: usize,
    /// The request's id.
    pub request_id: u64,
    /// The arm that served it.
    pub arm: usize,
}

/// A stable 64-bit request id for a string or byte id (a UUID header, a
/// trace id): FNV-1a 64. Unlike `std`'s hashers it is the same in every
/// process and version, so ids in a persisted journal still match after a
/// restart.
///
/// ```
/// use fledge_bandit::request_id;
/// assert_eq!(request_id(b""), 0xcbf2_9ce4_8422_2325);
/// assert_ne!(request_id(b"req-1"), request_id(b"req-2"));
/// ```
pub fn request_id(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_takes() {
        let mut j = DecisionJournal::new(3).unwrap();
        assert_eq!(j.record(10, 0), Ok(None));
        assert_eq!(j.record(11, 1), Ok(None));
        assert_eq!(
            j.record(10, 2),
            Err(BanditError::DuplicateRequest { request_id: 10 })
        );
        assert_eq!(j.get(11), Some(1));
        assert_eq!(j.take(11).map(|d| d.arm), Some(1));
        assert_eq!(j.take(11), None);
        assert_eq!(j.len(), 1);
    }

    #[test]
    fn evicts_oldest_and_counts() {
        let mut j = DecisionJournal::new(2).unwrap();
        j.record(1, 0).unwrap();
        j.record(2, 1).unwrap();
        assert_eq!(
            j.record(3, 1).unwrap(),
            Some(Decision {
                request_id: 1,
                arm: 0
            })
        );
        assert_eq!(j.evicted(), 1);
        assert_eq!(j.get(1), None);
        // A decision that got its feedback leaves a hole: overwriting it is
        // not an eviction.
        assert!(j.take(2).is_some());
        assert_eq!(j.record(4, 0).unwrap(), None);
        assert_eq!(j.evicted(), 1);
        assert_eq!(
            j.pending().map(|d| d.request_id).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(j.len() <= j.capacity());
    }

    #[test]
    fn state_round_trip_keeps_future_evictions() {
        let mut a = DecisionJournal::new(4).unwrap();
        for id in 0..6 {
            a.record(id, (id % 3) as usize).unwrap();
        }
        a.take(3);
        let json = serde_json::to_string(&a.state()).unwrap();
        let mut b = DecisionJournal::from_state(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(a.state(), b.state());
        for id in 10..20 {
            assert_eq!(a.record(id, 1).unwrap(), b.record(id, 1).unwrap());
        }
        assert_eq!(a.state(), b.state());
    }

    #[test]
    fn rejects_bad_state() {
        assert_eq!(
            DecisionJournal::new(0).unwrap_err(),
            BanditError::InvalidJournalCapacity
        );
        let bad = JournalState {
            capacity: 2,
            filled: 2,
            next: 0,
            evicted: 0,
            pending: vec![
                PendingDecision {
                    slot: 0,
                    request_id: 1,
                    arm: 0,
                },
                PendingDecision {
                    slot: 1,
                    request_id: 1,
                    arm: 0,
                },
            ],
        };
        assert!(DecisionJournal::from_state(bad).is_err());
        let bad = JournalState {
            capacity: 2,
            filled: 3,
            next: 0,
            evicted: 0,
            pending: vec![],
        };
        assert!(DecisionJournal::from_state(bad).is_err());
    }

    #[test]
    fn fnv_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(request_id(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(request_id(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
