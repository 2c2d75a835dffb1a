//! Labels of categorical outputs: [`LabelTable`], the recorder's shared
//! label → index registry (looked up without a lock or an allocation), and
//! [`LabelCounts`], a window's count per label.
//!
//! # Registration
//!
//! A categorical output counts up to `max_labels` labels by name; every
//! other label counts as `other`. The labels declared on the
//! [`OutputSpec`](super::OutputSpec) are registered first, in order; then
//! each new label is registered the first time any version records it,
//! until `max_labels` are registered. One table serves every version and
//! shard, so a label has the same index on both sides of a comparison, and
//! a label is either always counted by name or always as `other` for the
//! recorder's life (labels are never evicted).
//!
//! Looking a label up is a hash and a linear probe over `OnceLock`s (an
//! atomic load each): no lock, no allocation. Registering takes a mutex
//! and allocates the label's copy, at most `max_labels` times per output.
//! Two threads that see the same new label at once both take the mutex;
//! the second finds the label the first registered (the probe is repeated
//! under the lock), so a label never gets two indices and the count never
//! passes `max_labels`. Labels longer than
//! [`MAX_LABEL_LEN`](super::MAX_LABEL_LEN) bytes are not registered: they
//! count as `other`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::spec::MAX_LABEL_LEN;

/// A registry slot: a label and its index, set once.
type Slot = OnceLock<(Box<str>, u32)>;

/// The recorder's label registry of one categorical output.
pub(crate) struct LabelTable {
    max_labels: usize,
    /// Open addressing, `2^k ≥ 2 × max_labels` slots: `(label, index)`.
    slots: Box<[Slot]>,
    /// Index → label, for reading.
    names: Box<[OnceLock<Box<str>>]>,
    registered: AtomicUsize,
    insert: Mutex<()>,
}

impl std::fmt::Debug for LabelTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelTable")
            .field("max_labels", &self.max_labels)
            .field("registered", &self.len())
            .finish()
    }
}

/// FNV-1a: a short, allocation-free hash of a label.
#[inline]
fn hash(label: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl LabelTable {
    /// A table for `max_labels` (1 ..= 4,096) labels, `initial` registered
    /// in order (validated: distinct, short enough, at most `max_labels`).
    pub(crate) fn new(max_labels: usize, initial: &[String]) -> LabelTable {
        let cap = (2 * max_labels).next_power_of_two().max(2);
        let table = LabelTable {
            max_labels,
            slots: (0..cap).map(|_| OnceLock::new()).collect(),
            names: (0..max_labels).map(|_| OnceLock::new()).collect(),
            registered: AtomicUsize::new(0),
            insert: Mutex::new(()),
        };
        for label in initial {
            table.index(label);
        }
        table
    }

    /// The index of `other`: `max_labels`.
    pub(crate) fn other(&self) -> usize {
        self.max_labels
    }

    /// Labels registered so far.
    pub(crate) fn len(&self) -> usize {
        self.registered.load(Ordering::Acquire)
    }

    /// The label at `index`, once registered.
    pub(crate) fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).and_then(|n| n.get()).map(|s| &**s)
    }

    /// Where `label` is, or the empty slot ending its probe: `Ok(index)`
    /// when found, `Err(slot)` with the first empty slot (or `None` when
    /// the table is full, which it never is: it has twice the slots).
    #[inline]
    fn find(&self, label: &str) -> Result<usize, Option<usize>> {
        let mask = self.slots.len() - 1;
        let start = hash(label) as usize & mask;
        for probe in 0..self.slots.len() {
            let at = (start + probe) & mask;
            match self.slots.get(at).and_then(OnceLock::get) {
                Some((name, index)) if **name == *label => return Ok(*index as usize),
                Some(_) => continue,
                None => return Err(Some(at)),
            }
        }
        Err(None)
    }

    /// The index of `label`, registering it when there is room; `other`
    /// (`max_labels`) otherwise. Allocates only when it registers.
    #[inline]
    pub(crate) fn index(&self, label: &str) -> usize {
        match self.find(label) {
            Ok(i) => i,
            Err(_) if label.len() > MAX_LABEL_LEN => self.max_labels,
            // Full: no label is inserted any more, and every insertion is
            // visible after the `Acquire` load of the count. Probe once
            // more, in case the label was the last one registered since the
            // first probe.
            Err(_) if self.len() >= self.max_labels => self.find(label).unwrap_or(self.max_labels),
            Err(_) => self.register(label),
        }
    }

    #[cold]
    fn register(&self, label: &str) -> usize {
        let _guard = self.insert.lock();
        // Another thread may have registered it (or filled the table)
        // since the lock-free probe.
        let slot = match self.find(label) {
            Ok(i) => return i,
            Err(Some(slot)) => slot,
            Err(None) => return self.max_labels,
        };
        let index = self.registered.load(Ordering::Acquire);
        if index >= self.max_labels {
            return self.max_labels;
        }
        // Under the lock nobody else sets these cells, so both sets succeed.
        let _ = self.names[index].set(label.into());
        let _ = self.slots[slot].set((label.into(), index as u32));
        self.registered.store(index + 1, Ordering::Release);
        index
    }
}

/// A categorical output's counts in a window: one per label, sorted by
/// label, and `other` for the labels past the output's `max_labels`.
///
/// Merging adds counts label by label (exact, associative, commutative):
/// the merged table holds the union of the labels, which across replicas
/// may be more than one recorder's `max_labels` (at most their sum).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelCounts {
    /// `(label, count)`, sorted by label, counts > 0.
    pub(crate) labels: Vec<(String, u64)>,
    pub(crate) other: u64,
    pub(crate) max_labels: usize,
}

impl LabelCounts {
    /// Empty counts for an output keeping `max_labels` labels.
    pub fn new(max_labels: usize) -> LabelCounts {
        LabelCounts {
            labels: Vec::new(),
            other: 0,
            max_labels,
        }
    }

    /// Counts built by hand (tests, simulations, other sources): `counts`
    /// in any order (a label given twice adds up), zero counts skipped.
    /// `None` when a count overflows.
    pub fn from_counts<I, S>(max_labels: usize, counts: I, other: u64) -> Option<LabelCounts>
    where
        I: IntoIterator<Item = (S, u64)>,
        S: AsRef<str>,
    {
        let mut out = LabelCounts::new(max_labels);
        for (label, count) in counts {
            out.add(label.as_ref(), count).ok()?;
        }
        out.other = other;
        Some(out)
    }

    /// All values: the labels' counts and `other`.
    pub fn total(&self) -> u64 {
        self.labels
            .iter()
            .fold(self.other, |a, (_, c)| a.saturating_add(*c))
    }

    /// `(label, count)` of every label seen, sorted by label.
    pub fn labels(&self) -> &[(String, u64)] {
        &self.labels
    }

    /// The count of `label` (0 when unseen; labels counted as other are
    /// not found).
    pub fn count(&self, label: &str) -> u64 {
        self.labels
            .binary_search_by(|(l, _)| l.as_str().cmp(label))
            .map_or(0, |i| self.labels[i].1)
    }

    /// Values whose label was past `max_labels` (or too long).
    pub fn other(&self) -> u64 {
        self.other
    }

    /// The recorder's `max_labels` for this output.
    pub fn max_labels(&self) -> usize {
        self.max_labels
    }

    /// `label`'s share of all values, `None` when empty.
    pub fn share(&self, label: &str) -> Option<f64> {
        let t = self.total();
        (t > 0).then(|| self.count(label) as f64 / t as f64)
    }

    /// The most frequent label with its count (the first by name on ties).
    pub fn top(&self) -> Option<(&str, u64)> {
        self.labels
            .iter()
            .fold(None, |best: Option<(&str, u64)>, (l, c)| match best {
                Some((_, bc)) if bc >= *c => best,
                _ => Some((l.as_str(), *c)),
            })
    }

    /// Adds `count` to `label` (keeps the order).
    pub(crate) fn add(&mut self, label: &str, count: u64) -> Result<(), ()> {
        if count == 0 {
            return Ok(());
        }
        match self.labels.binary_search_by(|(l, _)| l.as_str().cmp(label)) {
            Ok(i) => {
                let c = &mut self.labels[i].1;
                *c = c.checked_add(count).ok_or(())?;
            }
            Err(i) => self.labels.insert(i, (label.to_owned(), count)),
        }
        Ok(())
    }

    /// Adds another window's counts, label by label.
    pub(crate) fn merge(&mut self, other: &LabelCounts) -> Result<(), ()> {
        for (l, c) in &other.labels {
            self.add(l, *c)?;
        }
        self.other = self.other.checked_add(other.other).ok_or(())?;
        self.max_labels = self.max_labels.max(other.max_labels);
        Ok(())
    }

    /// Canary and baseline counts aligned over the union of their labels,
    /// `other` last: the columns of a 2 × K contingency table.
    pub fn aligned(
        canary: &LabelCounts,
        baseline: &LabelCounts,
    ) -> (Vec<String>, Vec<u64>, Vec<u64>) {
        let mut names: Vec<String> = Vec::new();
        let (mut c, mut b) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        loop {
            let (x, y) = (canary.labels.get(i), baseline.labels.get(j));
            let order = match (x, y) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(p), Some(q)) => p.0.cmp(&q.0),
            };
            let name = match order {
                std::cmp::Ordering::Greater => y.map(|q| &q.0),
                _ => x.map(|p| &p.0),
            };
            names.push(name.cloned().unwrap_or_default());
            let take_c = order != std::cmp::Ordering::Greater;
            let take_b = order != std::cmp::Ordering::Less;
            c.push(if take_c { x.map_or(0, |p| p.1) } else { 0 });
            b.push(if take_b { y.map_or(0, |q| q.1) } else { 0 });
            i += usize::from(take_c);
            j += usize::from(take_b);
        }
        names.push("(other)".to_owned());
        c.push(canary.other);
        b.push(baseline.other);
        (names, c, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_first_come_then_other() {
        let t = LabelTable::new(3, &["a".to_owned()]);
        assert_eq!(t.index("a"), 0);
        assert_eq!(t.index("b"), 1);
        assert_eq!(t.index("b"), 1);
        assert_eq!(t.index("c"), 2);
        assert_eq!(t.index("d"), 3); // other
        assert_eq!(t.index("a"), 0);
        assert_eq!(t.len(), 3);
        assert_eq!(t.name(2), Some("c"));
        assert_eq!(t.index(&"x".repeat(200)), 3);
    }

    #[test]
    fn concurrent_registration_gives_one_index_per_label() {
        let t = std::sync::Arc::new(LabelTable::new(8, &[]));
        let threads: Vec<_> = (0..4)
            .map(|k| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .map(|i| (i % 12, t.index(&format!("l{}", (i + k) % 12))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert_eq!(t.len(), 8);
        let mut seen = std::collections::HashSet::new();
        for i in 0..8 {
            let name = t.name(i).unwrap().to_owned();
            assert_eq!(t.index(&name), i);
            assert!(seen.insert(name));
        }
    }

    #[test]
    fn aligned_is_a_union() {
        let mut a = LabelCounts::new(4);
        a.add("x", 2).unwrap();
        a.add("z", 1).unwrap();
        a.other = 5;
        let mut b = LabelCounts::new(4);
        b.add("y", 3).unwrap();
        b.add("z", 4).unwrap();
        let (names, c, d) = LabelCounts::aligned(&a, &b);
        assert_eq!(names, ["x", "y", "z", "(other)"]);
        assert_eq!(c, [2, 0, 1, 5]);
        assert_eq!(d, [0, 3, 4, 0]);
        assert_eq!(a.top(), Some(("x", 2)));
    }
}
