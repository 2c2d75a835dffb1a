//! LeaderLease on a real redis-server: one leader, takeover after the TTL,
//! no renewing or releasing someone else's lease.

use std::time::{Duration, Instant};

use fledge_redis::Fleet;
use fledge_test::redis::RedisServer;
use fledge_test::wait;

// Long enough that a stall of a loaded CI machine between renewals does not
// lose the lease; short enough to keep the tests quick.
const TTL: Duration = Duration::from_millis(1_000);

#[test]
fn only_one_of_two_contenders_is_leader() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let a = fleet.lease("predict", "replica-a").with_ttl(TTL);
    let b = fleet.lease("predict", "replica-b").with_ttl(TTL);

    assert!(a.try_acquire().unwrap());
    assert!(!b.try_acquire().unwrap());
    assert!(a.is_leader());
    assert!(!b.is_leader());
    // Acquiring again while holding it extends it.
    assert!(a.try_acquire().unwrap());

    let holder = b.current_holder().unwrap().unwrap();
    assert_eq!(holder.holder, "replica-a");
    assert_eq!(holder.token, a.token());
    let left = holder.expires_in.unwrap();
    assert!(left <= TTL && left > Duration::ZERO, "{left:?}");

    // Contenders racing on a free lease: exactly one wins.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            fleet
                .lease("race", &format!("r{i}"))
                .with_ttl(Duration::from_secs(5))
        })
        .collect();
    let winners = std::thread::scope(|scope| {
        let handles: Vec<_> = racers
            .iter()
            .map(|l| scope.spawn(|| l.try_acquire().unwrap()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&won| won)
            .count()
    });
    assert_eq!(winners, 1);
    assert_eq!(racers.iter().filter(|l| l.is_leader()).count(), 1);
}

#[test]
fn renewing_keeps_the_lease_past_its_ttl() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let a = fleet.lease("predict", "a").with_ttl(TTL);
    let b = fleet.lease("predict", "b").with_ttl(TTL);
    assert!(a.try_acquire().unwrap());
    let start = Instant::now();
    while start.elapsed() < TTL * 3 {
        std::thread::sleep(TTL / 4);
        assert!(a.renew().unwrap());
        assert!(a.is_leader());
        assert!(!b.try_acquire().unwrap());
    }
}

#[test]
fn the_other_takes_over_after_the_ttl_and_the_stale_holder_cannot_touch_its_lease() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let a = fleet.lease("predict", "replica-a").with_ttl(TTL);
    let b = fleet.lease("predict", "replica-b").with_ttl(TTL);

    let acquired = Instant::now();
    assert!(a.try_acquire().unwrap());
    assert!(!b.try_acquire().unwrap());

    // A stops renewing (paused, partitioned): it stops counting itself as
    // leader by its own clock, no later than the TTL...
    assert!(a.remaining().unwrap() <= TTL);
    wait::timed(TTL * 2, || !a.is_leader()).expect("A steps down by itself");
    // ... and B takes over once Redis expires the key.
    wait::timed(TTL * 3, || b.try_acquire().unwrap()).expect("B takes over after the TTL");
    assert!(acquired.elapsed() >= TTL - Duration::from_millis(10));
    assert!(b.is_leader());

    // A wakes up: it can neither renew nor release B's lease.
    assert!(!a.renew().unwrap());
    assert!(!a.is_leader());
    assert!(!a.release().unwrap());
    assert!(!a.try_acquire().unwrap());
    let holder = a.current_holder().unwrap().unwrap();
    assert_eq!(holder.holder, "replica-b");
    assert_eq!(holder.token, b.token());

    // B releases: free at once, no TTL to wait for.
    assert!(b.release().unwrap());
    assert!(!b.is_leader());
    assert!(a.current_holder().unwrap().is_none());
    assert!(a.try_acquire().unwrap());
}

#[test]
fn a_holder_with_the_same_name_in_another_process_is_another_holder() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).unwrap();
    let first = fleet
        .lease("predict", "api-0")
        .with_ttl(Duration::from_secs(5));
    let twin = fleet
        .lease("predict", "api-0")
        .with_ttl(Duration::from_secs(5));
    assert!(first.try_acquire().unwrap());
    assert!(!twin.try_acquire().unwrap());
    assert!(!twin.renew().unwrap());
    assert!(!twin.release().unwrap());
    assert!(first.renew().unwrap());
}
