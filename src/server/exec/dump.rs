//! Streaming item listings: `lru_crawler metadump` (what `memcached-tool dump` reads),
//! `lru_crawler mgdump` (`--meta-protocol 1.6.45`) and `stats cachedump`. A dump is produced in slices as the client reads (the connection's
//! driver calls [`fill_dump`] while output is below its high-water mark), so a dump of any
//! size costs bounded memory. The line formats are the protocol's (`protocol::text::encode`).
//!
//! Owns: the dump cursor of a connection and `stats cachedump`'s 2 MB cap.
//! Must not: parse bytes or touch item memory other than through `Store::walk_items`.

use crate::protocol::text::encode;
use crate::server::Shared;
use crate::store::{ItemCursor, ItemMeta};

/// A metadump, mgdump or `stats cachedump` in progress on one connection.
#[derive(Debug)]
pub struct Dump {
    cursor: ItemCursor,
    /// Only items of these classes; `None`: all.
    classes: Option<Vec<usize>>,
    kind: Kind,
}

/// What a dump lists, one line per item.
#[derive(Debug)]
enum Kind {
    /// `key=... size=...` lines, then `END`; `flags`: with memcached 1.6.45's `flags=`.
    Metadump { flags: bool },
    /// `mg <key>` lines, then `EN`.
    Mgdump,
    /// `ITEM` lines (bounded), then `END`.
    Cachedump(Cachedump),
}

/// What is left of a `stats cachedump <class> <limit>` listing.
#[derive(Debug)]
struct Cachedump {
    /// Items still to list; `None`: no limit (`limit` 0).
    left: Option<u32>,
    /// Bytes still allowed, `END\r\n` included (memcached answers at most 2 MB).
    budget: usize,
}

/// memcached's cap on a `stats cachedump` reply.
const CACHEDUMP_MAX: usize = 2 * 1024 * 1024;

/// A `stats cachedump <class> <limit>` listing: memcached's `ITEM key [N b; T s]` lines
/// (value bytes; absolute expiry time, 0 for none) of at most `limit` items (0: all) of
/// slab class `class`, within memcached's 2 MB reply cap, then `END`. Streamed like a
/// metadump, so a large cache is walked in slices. memcached lists its COLD LRU only;
/// ferrocache has one LRU per class and lists the class's live items in index order.
pub fn cachedump(class: usize, limit: u32) -> Box<Dump> {
    Box::new(Dump {
        cursor: ItemCursor::default(),
        classes: Some(vec![class]),
        kind: Kind::Cachedump(Cachedump {
            left: (limit > 0).then_some(limit),
            budget: CACHEDUMP_MAX,
        }),
    })
}

impl Dump {
    /// An `lru_crawler metadump` of `classes` (`None`: all); `flags`: memcached 1.6.45's
    /// lines (`flags=<n> `) rather than 1.6.18's.
    pub fn metadump(classes: Option<Vec<usize>>, flags: bool) -> Box<Dump> {
        Box::new(Dump {
            cursor: ItemCursor::default(),
            classes,
            kind: Kind::Metadump { flags },
        })
    }

    /// An `lru_crawler mgdump` of `classes` (`None`: all).
    pub fn mgdump(classes: Option<Vec<usize>>) -> Box<Dump> {
        Box::new(Dump {
            cursor: ItemCursor::default(),
            classes,
            kind: Kind::Mgdump,
        })
    }
}

/// Items per slice of a dump (one slice per worker turn).
const DUMP_SLICE: usize = 256;
/// Stop a turn once this much dump output is queued.
const DUMP_CHUNK: usize = 64 * 1024;

/// Appends the next slice of `dump` to `out`; true when the dump is complete (its last
/// line, `END` or `EN`, sent).
pub fn fill_dump(dump: &mut Dump, shared: &Shared, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut full = false;
    while out.len() - start < DUMP_CHUNK && !dump.cursor.is_done() && !full {
        let classes = dump.classes.as_deref();
        let kind = &mut dump.kind;
        shared
            .store
            .walk_items(&mut dump.cursor, DUMP_SLICE, |m: &ItemMeta<'_>| {
                if classes.is_some_and(|c| !c.contains(&m.class)) {
                    return true;
                }
                match kind {
                    Kind::Metadump { flags } => encode::metadump_line(
                        out,
                        &encode::DumpItem {
                            key: m.key,
                            exptime: m.exptime,
                            last_access: m.last_access,
                            cas: m.cas,
                            fetched: m.fetched,
                            class: m.class,
                            size: m.size,
                            flags: flags.then_some(m.flags),
                        },
                    ),
                    Kind::Mgdump => encode::mgdump_line(out, m.key, m.key_binary),
                    Kind::Cachedump(c) => {
                        full = !cachedump_line(out, m, c);
                        return !full;
                    }
                }
                true
            });
    }
    if dump.cursor.is_done() || full {
        match dump.kind {
            Kind::Mgdump => out.extend_from_slice(encode::MGDUMP_END),
            Kind::Metadump { .. } | Kind::Cachedump(_) => encode::end(out),
        }
        return true;
    }
    false
}

/// Appends one `ITEM` line if the listing has room; false when it is complete.
fn cachedump_line(out: &mut Vec<u8>, m: &ItemMeta<'_>, c: &mut Cachedump) -> bool {
    if c.left == Some(0) {
        return false;
    }
    let before = out.len();
    encode::cachedump_item(out, m.key, m.value_len, m.exptime.max(0) as u64);
    let len = out.len() - before;
    // memcached: `if (bufcurr + len + 6 > memlimit) break;` (6: `END\r\n` and its NUL).
    if len + 6 > c.budget {
        out.truncate(before);
        return false;
    }
    c.budget -= len;
    if let Some(n) = c.left.as_mut() {
        *n -= 1;
    }
    true
}
