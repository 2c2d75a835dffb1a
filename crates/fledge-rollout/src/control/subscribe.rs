//! Event subscribers: channels and callbacks, called in event order.

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, PoisonError, TryLockError};

use crate::machine::Event;

type Callback = Box<dyn Fn(&Event) + Send + Sync>;

enum Subscriber {
    Channel(Sender<Event>),
    Callback(Callback),
}

/// Delivers events to subscribers outside the controller's state lock, in
/// order, even when a callback calls back into the controller.
#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
    outbox: Mutex<VecDeque<Event>>,
    dispatching: Mutex<()>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("Hub").field("subscribers", &n).finish()
    }
}

impl Hub {
    pub(crate) fn add_channel(&self, sender: Sender<Event>) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Subscriber::Channel(sender));
    }

    pub(crate) fn add_callback(&self, callback: Callback) {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Subscriber::Callback(callback));
    }

    /// Queues an event; call [`Hub::dispatch`] once the state lock is released.
    pub(crate) fn queue(&self, event: Event) {
        self.outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(event);
    }

    fn pop(&self) -> Option<Event> {
        self.outbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// Delivers queued events. Only one thread delivers at a time; others
    /// return at once and the deliverer picks their events up.
    pub(crate) fn dispatch(&self) {
        loop {
            let guard = match self.dispatching.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            while let Some(event) = self.pop() {
                self.deliver(&event);
            }
            drop(guard);
            let empty = self
                .outbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
            if empty {
                return;
            }
        }
    }

    fn deliver(&self, event: &Event) {
        // Take the list out so callbacks may subscribe more without deadlock.
        let mut subs = std::mem::take(
            &mut *self
                .subscribers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        subs.retain(|s| match s {
            Subscriber::Channel(tx) => tx.send(event.clone()).is_ok(),
            Subscriber::Callback(f) => {
                // A panicking subscriber must not take the controller down.
                let _ = catch_unwind(AssertUnwindSafe(|| f(event)));
                true
            }
        });
        let mut slot = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        subs.append(&mut slot);
        *slot = subs;
    }
}
