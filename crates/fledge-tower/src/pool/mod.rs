//! [`VersionPool`]: a bounded pool of OS threads per version for CPU-heavy
//! inference.
//!
//! A model whose `predict` burns CPU for milliseconds must not run on the
//! async worker threads (it would stall every other request on that worker)
//! and should not share tokio's blocking pool with the other version (a slow
//! candidate would queue ahead of stable's work there). Give each version its
//! own pool:
//!
//! - **Its own OS threads**, named `fledge-<version>-<n>`, optionally at a
//!   lower OS priority ([`Priority::Nice`], [`Priority::Idle`]) so that on a
//!   small machine a CPU-burning candidate yields the cores to stable.
//! - **A bounded queue.** [`VersionPool::run`] submits at once; when the
//!   queue is full it fails with [`PoolError::Full`] (counted in
//!   [`PoolStats::overflowed`]) instead of building a backlog. Answer it the
//!   way the layer answers overflow: a 503, which the gates count as that
//!   version's failure and which a [fallback](crate::isolation::Fallback)
//!   retries on stable.
//! - **Cancellation.** A job whose caller has gone (its future dropped, e.g.
//!   by the version's timeout) is skipped when its turn comes. A job already
//!   running cannot be interrupted: it finishes and its result is dropped.
//! - **Panics contained.** A panicking job yields [`PoolError::Panicked`];
//!   the thread carries on.
//! - **Clean shutdown.** When the last handle is dropped the queue closes,
//!   the threads finish the running job (skipping queued ones whose callers
//!   are gone) and exit; the drop waits for them.
//!
//! # Sizing
//!
//! - **threads** ≈ the cores the version may use. On a 2-core machine:
//!   stable 2 threads at normal priority, a candidate 1 thread at
//!   `Priority::Nice(19)` or `Priority::Idle`. More threads than cores only
//!   adds context switches for CPU-bound work.
//! - **queue** ≈ threads × acceptable queueing delay ÷ service time. A model
//!   taking 4 ms per call on 1 thread, with 20 ms of acceptable wait: a
//!   queue of 5. A longer queue only turns overload into latency.
//! - Pair it with the version's **bulkhead**
//!   ([`Isolation::concurrency`](crate::isolation::Isolation::concurrency))
//!   of about threads + queue, so that overflow goes to stable before the
//!   queue rejects, and with a **timeout** a little above queue wait +
//!   service time. A timed-out job that already started keeps its place in
//!   the pool until it ends, so the pool may still refuse work the bulkhead
//!   let through: answer that with a 503 (the fallback retries it).
//!
//! # Example
//!
//! ```
//! use fledge_tower::pool::{Priority, VersionPool};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let stable = VersionPool::builder("v1").threads(2).queue(64).build()?;
//! let candidate = VersionPool::builder("v2")
//!     .threads(1)
//!     .queue(4)
//!     .priority(Priority::Nice(19))
//!     .build()?;
//!
//! let series = vec![1.0, 2.0, 3.0];
//! let forecast = candidate
//!     .run(move || series.iter().sum::<f64>() / series.len() as f64)
//!     .await?;
//! assert_eq!(forecast, 2.0);
//! assert_eq!(stable.stats().completed, 0);
//! # Ok(())
//! # }
//! ```

mod error;

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle, ThreadId};

use fledge_rollout::log::RateLimited;
use tokio::sync::oneshot;

use crate::isolation::incident;

pub use error::{BuildError, PoolError};

/// The OS scheduling priority of a pool's threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Priority {
    /// Left as the process's (default).
    #[default]
    Normal,
    /// A higher nice value, `1..=19` (19 is the lowest priority). On Linux a
    /// nice-19 thread gets about 1.5 % of a core when a nice-0 thread wants
    /// it. Lowering priority needs no privilege.
    Nice(u8),
    /// Linux `SCHED_IDLE`: runs only when nothing else wants the core
    /// (elsewhere: the lowest priority the platform allows).
    Idle,
}

/// Counters and gauges of a pool, read with [`VersionPool::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The pool's threads.
    pub threads: usize,
    /// The queue's capacity.
    pub queue_capacity: usize,
    /// Jobs waiting now (a job just accepted counts until a thread takes it).
    pub queued: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs accepted.
    pub submitted: u64,
    /// Jobs that ran to completion (a panic included).
    pub completed: u64,
    /// Jobs refused because the queue was full ([`PoolError::Full`]).
    pub overflowed: u64,
    /// Jobs that panicked.
    pub panicked: u64,
    /// Queued jobs skipped because their caller had gone.
    pub cancelled: u64,
}

struct Counters {
    /// The pool's version, for its log lines.
    version: String,
    /// Limit `tower.pool_full` and `tower.pool_panicked` lines.
    full_log: RateLimited,
    panic_log: RateLimited,
    /// Whether a panic was logged yet (the first always is).
    panicked_before: AtomicBool,
    /// Jobs accepted and not finished (queued or running): the admission
    /// bound, `threads + queue`.
    outstanding: AtomicUsize,
    queued: AtomicUsize,
    running: AtomicUsize,
    submitted: AtomicU64,
    completed: AtomicU64,
    overflowed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
}

impl Counters {
    fn new(version: &str) -> Self {
        Counters {
            version: version.to_owned(),
            full_log: RateLimited::new(incident::WINDOW),
            panic_log: RateLimited::new(incident::WINDOW),
            panicked_before: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            submitted: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
        }
    }

    /// `tower.pool_full`: a job was refused.
    #[cold]
    fn log_full(&self, capacity: usize) {
        if let Some(suppressed) = self.full_log.check() {
            tracing::warn!(
                name: "tower.pool_full",
                target: incident::TARGET,
                version = self.version.as_str(),
                queue = capacity,
                overflowed = self.overflowed.load(Ordering::Relaxed),
                suppressed,
                "version pool full: job refused"
            );
        }
    }

    /// `tower.pool_panicked`: a job panicked (the first always logged).
    #[cold]
    fn log_panic(&self, payload: &(dyn std::any::Any + Send)) {
        let first = !self.panicked_before.swap(true, Ordering::Relaxed);
        let suppressed = match self.panic_log.check() {
            Some(n) => n,
            None if first => 0,
            None => return,
        };
        tracing::error!(
            name: "tower.pool_panicked",
            target: incident::TARGET,
            version = self.version.as_str(),
            panic = incident::panic_message(payload),
            panicked = self.panicked.load(Ordering::Relaxed),
            suppressed,
            "a version pool's job panicked; its thread carries on"
        );
    }
}

/// A queued job: runs a closure and sends its result.
trait Job: Send {
    /// Whether the caller has gone.
    fn cancelled(&self) -> bool;
    /// Runs it, updates the counters, then sends the result.
    fn run(self: Box<Self>, counters: &Counters);
}

struct Task<F, T> {
    f: F,
    tx: oneshot::Sender<Result<T, PoolError>>,
}

impl<F, T> Job for Task<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn cancelled(&self) -> bool {
        self.tx.is_closed()
    }

    fn run(self: Box<Self>, counters: &Counters) {
        let Task { f, tx } = *self;
        counters.running.fetch_add(1, Ordering::Relaxed);
        let result = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(value) => Ok(value),
            Err(payload) => {
                counters.panicked.fetch_add(1, Ordering::Relaxed);
                counters.log_panic(payload.as_ref());
                Err(PoolError::panicked(payload.as_ref()))
            }
        };
        // Counted before the caller can see the result.
        counters.running.fetch_sub(1, Ordering::Relaxed);
        counters.completed.fetch_add(1, Ordering::Relaxed);
        counters.outstanding.fetch_sub(1, Ordering::AcqRel);
        // The caller may have gone meanwhile: fine.
        let _ = tx.send(result);
    }
}

struct Shared {
    version: String,
    threads: usize,
    queue: usize,
    priority: Priority,
    tx: Option<Sender<Box<dyn Job>>>,
    workers: Vec<(ThreadId, JoinHandle<()>)>,
    counters: Arc<Counters>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the queue ends each worker's loop once it is empty.
        drop(self.tx.take());
        let me = thread::current().id();
        for (id, handle) in self.workers.drain(..) {
            // The last handle dropped inside a job: that worker exits by
            // itself once the job returns.
            if id != me {
                let _ = handle.join();
            }
        }
    }
}

/// A bounded pool of OS threads for one version's blocking work; cheap to
/// clone (every clone is the same pool). See the [module docs](self).
#[derive(Clone)]
pub struct VersionPool {
    shared: Arc<Shared>,
}

/// Builds a [`VersionPool`]: [`VersionPool::builder`].
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    version: String,
    threads: usize,
    queue: usize,
    priority: Priority,
    stack_size: Option<usize>,
}

impl PoolBuilder {
    /// The number of threads (default 1).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// The queue's capacity: jobs waiting for a thread beyond one per thread
    /// (default 16). A job is accepted while fewer than `threads + queue`
    /// accepted jobs are unfinished; `0` accepts one only when a thread is
    /// free.
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = n;
        self
    }

    /// The threads' OS priority (default [`Priority::Normal`]).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// The threads' stack size in bytes (default: the platform's for
    /// spawned threads).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the threads and applies the priority; fails when a thread
    /// cannot be spawned or the priority cannot be set.
    pub fn build(self) -> Result<VersionPool, BuildError> {
        if self.threads == 0 {
            return Err(BuildError::NoThreads);
        }
        if let Priority::Nice(n) = self.priority
            && !(1..=19).contains(&n)
        {
            return Err(BuildError::Nice(n));
        }
        // Unbounded channel, bounded by the `outstanding` count instead, so
        // that admission is exact (a thread between two jobs is free).
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let rx = Arc::new(Mutex::new(rx));
        let counters = Arc::new(Counters::new(&self.version));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let mut shared = Shared {
            version: self.version.clone(),
            threads: self.threads,
            queue: self.queue,
            priority: self.priority,
            tx: Some(tx),
            workers: Vec::with_capacity(self.threads),
            counters: counters.clone(),
        };
        for n in 0..self.threads {
            let mut builder = thread::Builder::new().name(format!("fledge-{}-{n}", self.version));
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            let rx = rx.clone();
            let counters = counters.clone();
            let ready = ready_tx.clone();
            let priority = self.priority;
            let handle = builder
                .spawn(move || {
                    let _ = ready.send(apply_priority(priority));
                    drop(ready);
                    work(&rx, &counters);
                })
                .map_err(|e| BuildError::Spawn(e.to_string()))?;
            shared.workers.push((handle.thread().id(), handle));
        }
        drop(ready_tx);
        for _ in 0..self.threads {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(why)) => return Err(BuildError::Priority(why)),
                Err(_) => return Err(BuildError::Spawn("a pool thread exited".to_owned())),
            }
        }
        Ok(VersionPool {
            shared: Arc::new(shared),
        })
    }
}

/// A worker's loop: take a job, skip it if its caller has gone, run it.
fn work(rx: &Mutex<Receiver<Box<dyn Job>>>, counters: &Counters) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(job) = job else {
            return;
        };
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        if job.cancelled() {
            counters.cancelled.fetch_add(1, Ordering::Relaxed);
            counters.outstanding.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        job.run(counters);
    }
}

/// Sets the calling thread's priority.
fn apply_priority(priority: Priority) -> Result<(), String> {
    use thread_priority::{ThreadPriority, ThreadPriorityValue};
    match priority {
        Priority::Normal => Ok(()),
        Priority::Nice(n) => {
            // thread-priority maps 0..=99 onto nice 19..=-20 for normal
            // policies; find the value that gives `n`.
            let value = (0u8..=99)
                .find(|p| nice_of(*p) == i32::from(n))
                .ok_or_else(|| format!("nice {n} has no cross-platform value"))?;
            let value = ThreadPriorityValue::try_from(value).map_err(|e| e.to_string())?;
            thread_priority::set_current_thread_priority(ThreadPriority::Crossplatform(value))
                .map_err(|e| format!("cannot set nice {n}: {e:?}"))
        }
        Priority::Idle => set_idle(),
    }
}

/// The nice value thread-priority gives cross-platform priority `p` under a
/// normal policy on Linux.
fn nice_of(p: u8) -> i32 {
    let ratio = 1f32 - (f32::from(p) / 99f32);
    (39f32 * ratio) as i32 - 20
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_idle() -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
    .map_err(|e| format!("cannot set SCHED_IDLE: {e:?}"))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_idle() -> Result<(), String> {
    thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
        .map_err(|e| format!("cannot set the lowest priority: {e:?}"))
}

impl VersionPool {
    /// A builder for `version`'s pool (the name is used for its threads).
    pub fn builder(version: &str) -> PoolBuilder {
        PoolBuilder {
            version: version.to_owned(),
            threads: 1,
            queue: 16,
            priority: Priority::Normal,
            stack_size: None,
        }
    }

    /// Runs `f` on one of the pool's threads; the returned future resolves
    /// to its result.
    ///
    /// The job is queued at once: a full queue fails the future with
    /// [`PoolError::Full`] without waiting. Dropping the future before the
    /// job starts cancels it; a panic in `f` gives [`PoolError::Panicked`].
    /// One allocation per job (the boxed closure) and a tokio oneshot.
    pub fn run<F, T>(&self, f: F) -> PoolFuture<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let shared = &*self.shared;
        let Some(queue) = &shared.tx else {
            return PoolFuture::failed(PoolError::Closed);
        };
        let counters = &shared.counters;
        // Take a place among the `threads + queue` unfinished jobs.
        let capacity = shared.threads.saturating_add(shared.queue);
        let mut current = counters.outstanding.load(Ordering::Relaxed);
        loop {
            if current >= capacity {
                counters.overflowed.fetch_add(1, Ordering::Relaxed);
                counters.log_full(shared.queue);
                return PoolFuture::failed(PoolError::Full {
                    capacity: shared.queue,
                });
            }
            match counters.outstanding.compare_exchange_weak(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        let (tx, rx) = oneshot::channel();
        // Counted before sending so that a worker never sees it negative.
        counters.queued.fetch_add(1, Ordering::Relaxed);
        if queue.send(Box::new(Task { f, tx })).is_err() {
            counters.queued.fetch_sub(1, Ordering::Relaxed);
            counters.outstanding.fetch_sub(1, Ordering::AcqRel);
            return PoolFuture::failed(PoolError::Closed);
        }
        counters.submitted.fetch_add(1, Ordering::Relaxed);
        PoolFuture::waiting(rx)
    }

    /// The version this pool serves.
    pub fn version(&self) -> &str {
        &self.shared.version
    }

    /// The threads' priority.
    pub fn priority(&self) -> Priority {
        self.shared.priority
    }

    /// The counters so far.
    pub fn stats(&self) -> PoolStats {
        let s = &*self.shared;
        let c = &s.counters;
        PoolStats {
            threads: s.threads,
            queue_capacity: s.queue,
            queued: c.queued.load(Ordering::Relaxed),
            running: c.running.load(Ordering::Relaxed),
            submitted: c.submitted.load(Ordering::Relaxed),
            completed: c.completed.load(Ordering::Relaxed),
            overflowed: c.overflowed.load(Ordering::Relaxed),
            panicked: c.panicked.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for VersionPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionPool")
            .field("version", &self.shared.version)
            .field("priority", &self.shared.priority)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The future of [`VersionPool::run`]: the job's result.
#[must_use = "a pool job is cancelled when its future is dropped before it starts"]
pub struct PoolFuture<T> {
    state: State<T>,
}

enum State<T> {
    Waiting(oneshot::Receiver<Result<T, PoolError>>),
    Failed(Option<PoolError>),
}

impl<T> PoolFuture<T> {
    fn waiting(rx: oneshot::Receiver<Result<T, PoolError>>) -> Self {
        PoolFuture {
            state: State::Waiting(rx),
        }
    }

    fn failed(error: PoolError) -> Self {
        PoolFuture {
            state: State::Failed(Some(error)),
        }
    }
}

impl<T> Future for PoolFuture<T> {
    type Output = Result<T, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Waiting(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(result)) => Poll::Ready(result),
                // The job was dropped unrun: the pool shut down.
                Poll::Ready(Err(_)) => Poll::Ready(Err(PoolError::Closed)),
                Poll::Pending => Poll::Pending,
            },
            State::Failed(error) => Poll::Ready(Err(error.take().unwrap_or(PoolError::Closed))),
        }
    }
}

impl<T> fmt::Debug for PoolFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Waiting(_) => "waiting",
            State::Failed(_) => "failed",
        };
        f.debug_struct("PoolFuture").field("state", &state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_values_cover_1_to_19() {
        for n in 1..=19 {
            assert!((0u8..=99).any(|p| nice_of(p) == n), "nice {n}");
        }
        assert_eq!(nice_of(0), 19);
    }
}
