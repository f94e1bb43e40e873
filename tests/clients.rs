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

// ---------------------------------------------------------------------------------------
// The same crate over the binary protocol (its default; `protocol=binary` is explicit).

fn bin_client(s: &Server) -> memcache::Client {
    let url = format!("memcache://127.0.0.1:{}?protocol=binary&timeout=5", s.port);
    memcache::Client::connect(url.as_str()).expect("memcache binary client connect")
}

#[test]
fn binary_set_get_delete() {
    let s = Server::start(&[]);
    let c = bin_client(&s);
    c.set("foo", "bar", 0).unwrap();
    let v: Option<String> = c.get("foo").unwrap();
    assert_eq!(v.as_deref(), Some("bar"));
    let (v, flags, cas): (String, u32, Option<u64>) = c.get("foo").unwrap().unwrap();
    assert_eq!((v.as_str(), flags), ("bar", 0));
    assert!(cas.is_some_and(|c| c != 0));
    assert!(c.delete("foo").unwrap());
    assert!(!c.delete("foo").unwrap());
    let v: Option<String> = c.get("foo").unwrap();
    assert_eq!(v, None);
}

#[test]
fn binary_values_and_multi_get() {
    let s = Server::start(&[]);
    let c = bin_client(&s);
    let bin: Vec<u8> = vec![0, 1, 2, b'\r', b'\n', 255, 0x80, 0x81];
    c.set("bin", bin.as_slice(), 0).unwrap();
    let v: Option<Vec<u8>> = c.get("bin").unwrap();
    assert_eq!(v.unwrap(), bin);
    for i in 0..20 {
        c.set(&format!("m{i}"), i as u64, 0).unwrap();
    }
    // gets = GetKQ per key + NoOp: exactly the hits come back.
    let keys: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let m: std::collections::HashMap<String, u64> = c.gets(&refs).unwrap();
    assert_eq!(m.len(), 20);
    assert!((0..20).all(|i| m[&format!("m{i}")] == i as u64));
}

#[test]
fn binary_incr_decr() {
    let s = Server::start(&[]);
    let c = bin_client(&s);
    c.set("n", 10u64, 0).unwrap();
    assert_eq!(c.increment("n", 5).unwrap(), 15);
    assert_eq!(c.decrement("n", 20).unwrap(), 0);
    // The crate sends initial 0 / exptime 0: a missing counter is created at 0.
    assert_eq!(c.increment("created", 7).unwrap(), 0);
    assert_eq!(c.increment("created", 7).unwrap(), 7);
    c.set("s", "abc", 0).unwrap();
    assert!(c.increment("s", 1).is_err(), "non-numeric value");
}

#[test]
fn binary_add_replace_append_prepend() {
    let s = Server::start(&[]);
    let c = bin_client(&s);
    c.add("k", "b", 0).unwrap();
    assert!(c.add("k", "x", 0).is_err(), "add of an existing key fails");
    c.append("k", "c").unwrap();
    c.prepend("k", "a").unwrap();
    let v: Option<String> = c.get("k").unwrap();
    assert_eq!(v.as_deref(), Some("abc"));
    c.replace("k", "z", 0).unwrap();
    assert!(
        c.replace("nope", "z", 0).is_err(),
        "replace of a missing key fails"
    );
    assert!(
        c.append("nope", "z").is_err(),
        "append to a missing key fails"
    );
    // (memcache 0.21's binary prepend ignores the reply status: Ok, but nothing stored)
    let _ = c.prepend("nope", "z");
    let v: Option<String> = c.get("nope").unwrap();
    assert_eq!(v, None);
    let v: Option<String> = c.get("k").unwrap();
    assert_eq!(v.as_deref(), Some("z"));
}

#[test]
fn binary_touch_cas_flush_version() {
    let s = Server::start(&[]);
    let c = bin_client(&s);
    c.set("t", "v", 0).unwrap();
    assert!(c.touch("t", 100).unwrap());
    assert!(!c.touch("nope", 100).unwrap());

    let (_, _, cas): (String, u32, Option<u64>) = c.get("t").unwrap().unwrap();
    let cas = cas.unwrap();
    assert!(c.cas("t", "v2", 0, cas).unwrap());
    assert!(!c.cas("t", "v3", 0, cas).unwrap(), "stale cas");
    let v: Option<String> = c.get("t").unwrap();
    assert_eq!(v.as_deref(), Some("v2"));
    assert!(
        !c.cas("missing", "x", 0, cas).unwrap(),
        "cas on a missing key"
    );

    let versions = c.version().unwrap();
    assert_eq!(versions.len(), 1);
    assert!(versions[0].1.starts_with("1.6."), "{versions:?}");
    c.flush().unwrap();
    let v: Option<String> = c.get("t").unwrap();
    assert_eq!(v, None);
}
