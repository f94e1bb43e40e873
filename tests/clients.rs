//! A real Rust memcached client (the `memcache` crate, text protocol) end to end.

mod common;
use common::*;

fn client(s: &Server) -> memcache::Client {
    let url = format!("memcache://127.0.0.1:{}?protocol=ascii&timeout=5", s.port);
    memcache::Client::connect(url.as_str()).expect("memcache client connect")
}

#[test]
fn set_get_delete() {
    let s = Server::start(&[]);
    let c = client(&s);
    c.set("foo", "bar", 0).unwrap();
    let v: Option<String> = c.get("foo").unwrap();
    assert_eq!(v.as_deref(), Some("bar"));
    assert!(c.delete("foo").unwrap());
    assert!(!c.delete("foo").unwrap());
    let v: Option<String> = c.get("foo").unwrap();
    assert_eq!(v, None);
}

#[test]
fn add_replace_append_prepend() {
    let s = Server::start(&[]);
    let c = client(&s);
    c.add("k", "b", 0).unwrap();
    // (the crate maps NOT_STORED to Ok; the value must be unchanged)
    let _ = c.add("k", "x", 0);
    c.append("k", "c").unwrap();
    c.prepend("k", "a").unwrap();
    let v: Option<String> = c.get("k").unwrap();
    assert_eq!(v.as_deref(), Some("abc"));
    c.replace("k", "z", 0).unwrap();
    let _ = c.replace("nope", "z", 0);
    let v: Option<String> = c.get("nope").unwrap();
    assert_eq!(v, None);
    let v: Option<String> = c.get("k").unwrap();
    assert_eq!(v.as_deref(), Some("z"));
}

#[test]
fn incr_decr() {
    let s = Server::start(&[]);
    let c = client(&s);
    c.set("n", 10u64, 0).unwrap();
    assert_eq!(c.increment("n", 5).unwrap(), 15);
    assert_eq!(c.decrement("n", 20).unwrap(), 0);
    assert!(c.increment("missing", 1).is_err());
}

#[test]
fn multi_get_and_binary() {
    let s = Server::start(&[]);
    let c = client(&s);
    let bin: Vec<u8> = vec![0, 1, 2, b'\r', b'\n', 255];
    c.set("bin", bin.as_slice(), 0).unwrap();
    c.set("a", "1", 0).unwrap();
    c.set("b", "2", 0).unwrap();
    let m: std::collections::HashMap<String, String> = c.gets(&["a", "b", "nope"]).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m["a"], "1");
    assert_eq!(m["b"], "2");
    let v: Option<Vec<u8>> = c.get("bin").unwrap();
    assert_eq!(v.unwrap(), bin);
}

#[test]
fn touch_flush_version() {
    let s = Server::start(&[]);
    let c = client(&s);
    c.set("t", "v", 0).unwrap();
    assert!(c.touch("t", 100).unwrap());
    assert!(!c.touch("nope", 100).unwrap());
    let versions = c.version().unwrap();
    assert_eq!(versions.len(), 1);
    c.flush().unwrap();
    let v: Option<String> = c.get("t").unwrap();
    assert_eq!(v, None);
}
