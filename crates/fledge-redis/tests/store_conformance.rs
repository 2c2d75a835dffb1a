//! The store conformance suite (`fledge_test::store`) against `RedisStore`
//! on a real redis-server: the promises the memory and file stores keep.

use fledge_redis::{Fleet, RedisStore};
use fledge_test::redis::RedisServer;
use fledge_test::store::{Backend, conformance};

struct Redis {
    server: RedisServer,
    fleet: Fleet,
}

impl Backend for Redis {
    type Store = RedisStore;
    fn open(&self) -> RedisStore {
        self.fleet.store("conformance")
    }
    fn write_raw(&self, bytes: &[u8]) -> bool {
        let key = self.open().key().to_owned();
        let reply = self.server.raw(&[b"SET", key.as_bytes(), bytes]);
        assert_eq!(reply, b"+OK\r\n", "SET {key}");
        true
    }
    fn read_raw(&self) -> Option<Vec<u8>> {
        self.open().raw().expect("GET the raw value")
    }
    fn clear(&self) {
        self.open().delete().expect("DEL the key");
    }
}

#[test]
fn the_redis_store_conforms() {
    let server = RedisServer::start();
    let fleet = Fleet::open(server.url()).expect("the test server's URL");
    conformance(&Redis { server, fleet });
}
