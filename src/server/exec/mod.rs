//! The execution seam: the only code that imports both `protocol` and `store`. One runner
//! per operation owns its store call's surroundings — memcached's counters, `stats detail`,
//! the watch log — and the decoders, one per protocol, map parsed requests onto the
//! runners and hand the outcomes to `protocol` to word. No I/O here: replies go into the
//! connection's output (`net/outq.rs`), and the network room sends them.
//!
//! ```text
//!   step.rs    one request: sniff, parse, trace, decode (TCP workers and UDP alike)
//!                    │
//!   decoders   text.rs (classic verbs)   meta.rs (mg ms md ma me)   binary.rs
//!                    │                        │                        │
//!   runners    get.rs  store.rs  delete.rs  arith.rs  touch.rs  admin.rs  crawler.rs
//!                    │ counters, stats detail, watch lines
//!   store      crate::store::Store
//! ```
//!
//! `ctx.rs` holds what they all share: [`Ctx`], [`Next`], [`Received`], [`Via`]. `dump.rs`
//! streams `lru_crawler metadump` and `stats cachedump` listings slice by slice.
//! A new command: parse it in `protocol`, add its runner here (or use one), then one arm
//! in each decoder that speaks it.

pub mod admin;
pub mod arith;
pub mod binary;
pub mod crawler;
pub mod ctx;
pub mod delete;
pub mod dump;
pub mod get;
mod meta;
pub mod step;
pub mod store;
pub mod text;
pub mod touch;

pub use ctx::{Ctx, Next, Received, Via, store_value};
