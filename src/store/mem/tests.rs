//! Item memory tests: geometry, the budget, allocation and recycling, item layout, page
//! moves, concurrent alloc/write/free.

use super::*;
use crate::store::shard::ShardCore;
use std::sync::Arc;

#[test]
fn geometry_classes_grow_and_end_at_half_page() {
    let g = Geometry::new(48, 1.25, PAGE_SIZE / 2);
    // The tiny items' class, then memcached's progression from HEADER + 48 = 82 → 88.
    let first: Vec<usize> = (0..5).map(|c| g.chunk_size(c)).collect();
    assert_eq!(first, [MIN_CHUNK_SIZE, 88, 112, 144, 184]);
    for c in 1..g.n_slab() {
        assert!(g.chunk_size(c) > g.chunk_size(c - 1));
        assert_eq!(g.chunk_size(c) % 8, 0);
    }
    assert_eq!(g.chunk_size(g.n_slab() - 1), PAGE_SIZE / 2);
    assert_eq!(g.class_for(1), 0);
    assert_eq!(g.class_for(MIN_CHUNK_SIZE), 0);
    assert_eq!(g.class_for(MIN_CHUNK_SIZE + 1), 1);
    assert_eq!(g.class_for(88), 1);
    assert_eq!(g.class_for(89), 2);
    assert_eq!(g.class_for(PAGE_SIZE / 2 + 1), g.large());
    // A progression that starts at the smallest chunk gets no extra class.
    let g = Geometry::new(16, 1.25, PAGE_SIZE / 2);
    assert_eq!((g.chunk_size(0), g.chunk_size(1)), (MIN_CHUNK_SIZE, 80));
    // Tiny factor: capped at MAX_SLAB_CLASSES.
    let g = Geometry::new(1, 1.0001, PAGE_SIZE / 2);
    assert_eq!(g.n_slab(), MAX_SLAB_CLASSES);
    assert_eq!(g.chunk_size(0), MIN_CHUNK_SIZE);
}

#[test]
fn geometry_chunk_max_and_explicit_sizes() {
    let g = Geometry::new(48, 1.25, 16 * 1024);
    assert_eq!(g.chunk_max(), 16 * 1024);
    assert_eq!(g.chunk_size(g.n_slab() - 1), 16 * 1024);
    assert!(g.chunk_size(g.n_slab() - 2) < 16 * 1024);
    assert_eq!(g.class_for(16 * 1024 + 1), g.large());
    let g = Geometry::new(48, 1.25, PAGE_SIZE);
    assert_eq!((g.chunk_max(), g.per_page(g.n_slab() - 1)), (PAGE_SIZE, 1));
    // A chunk max below the first class: one class.
    let g = Geometry::new(48, 1.25, 64);
    assert_eq!((g.n_slab(), g.chunk_size(0)), (1, 64));
    // Explicit sizes: aligned to 8, chunk max appended; bad entries skipped.
    let g = Geometry::explicit(&[96, 121, 200, 150, 10], 4096);
    assert_eq!(g.sizes, vec![96, 128, 200, 4096]);
    assert_eq!(g.class_for(97), 1);

    assert!(validate_slab_chunk_max(PAGE_SIZE / 2).is_ok());
    assert!(validate_slab_chunk_max(PAGE_SIZE).is_ok());
    assert!(validate_slab_chunk_max(64).is_ok());
    assert!(validate_slab_chunk_max(PAGE_SIZE * 2).is_err());
    assert!(validate_slab_chunk_max(32).is_err());
    assert!(validate_slab_chunk_max(100_000).is_err());

    assert_eq!(
        parse_slab_sizes("96-120-200", 48, PAGE_SIZE / 2),
        Ok(vec![96, 120, 200])
    );
    let err = |s| parse_slab_sizes(s, 48, PAGE_SIZE / 2).unwrap_err();
    assert_eq!(err("96-x"), "slab size x is out of valid range");
    assert_eq!(err("40-96"), "slab size 40 is out of valid range");
    assert_eq!(err("96-600000"), "slab size 600000 is out of valid range");
    assert_eq!(
        err("96-96"),
        "slab size 96 cannot be lower than or equal to a previous class size"
    );
    assert_eq!(
        err("96-100"),
        "slab size 100 must be at least 8 bytes larger than previous class"
    );
    let many: Vec<String> = (0..63).map(|i| (100 + 16 * i).to_string()).collect();
    assert_eq!(err(&many.join("-")), "too many slab classes specified");
    let ok: Vec<String> = (0..62).map(|i| (100 + 16 * i).to_string()).collect();
    assert!(parse_slab_sizes(&ok.join("-"), 48, PAGE_SIZE / 2).is_ok());
    let g = Geometry::explicit(&(0..62).map(|i| 100 + 16 * i).collect::<Vec<_>>(), 1 << 19);
    assert_eq!(g.n_slab(), MAX_SLAB_CLASSES);
}

#[test]
fn limit_can_be_raised_past_the_initial_ids_and_lowered() {
    let m = Mem::new(PAGE_SIZE, 48, 1.25);
    assert!(m.alloc(0).is_some());
    assert!(m.alloc_large(PAGE_SIZE / 2 + 8).is_none());
    assert!(!m.set_limit(PAGE_SIZE - 1));
    assert!(!m.set_limit(MAX_LIMIT + 1));
    assert!(m.set_limit(2000 * PAGE_SIZE));
    // Far more ids than the first limit needed: segments come on demand.
    let big: Vec<Ref> = (0..1500)
        .map(|_| m.alloc_large(PAGE_SIZE / 2 + 8).expect("large"))
        .collect();
    assert!(m.set_limit(PAGE_SIZE));
    assert!(m.over_limit() > 0);
    assert!(m.alloc_large(PAGE_SIZE / 2 + 8).is_none());
    for r in big {
        m.free(r);
    }
    assert_eq!((m.over_limit(), m.used()), (0, PAGE_SIZE));
}

#[test]
fn alloc_respects_budget_and_recycles() {
    let m = Mem::new(2 * PAGE_SIZE, 48, 1.25);
    let per = m.geo.per_page(0);
    let mut got = Vec::new();
    while let Some(r) = m.alloc(0) {
        got.push(r);
    }
    assert_eq!(got.len(), 2 * per);
    assert_eq!(m.used(), 2 * PAGE_SIZE);
    assert!(m.alloc(1).is_none());
    assert!(m.alloc_large(PAGE_SIZE / 2 + 8).is_none());
    let mut sorted = got.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len());
    for &r in &got[..10] {
        m.free(r);
    }
    assert_eq!(m.class_mem(0).free_chunks, 10);
    for _ in 0..10 {
        assert!(m.alloc(0).is_some());
    }
    assert!(m.alloc(0).is_none());
}

#[test]
fn write_read_item_and_large() {
    let m = Mem::new(4 * PAGE_SIZE, 48, 1.25);
    let dummy = ShardCore::new(0, m.geo.n_slab() + 1);
    let r = m.alloc(m.geo.class_for(HEADER + 3 + 5)).expect("chunk");
    m.write_item(r, b"key", 7, 9, 11, &[b"he", b"llo"]);
    m.set_seq(r, 42);
    assert_eq!(m.key(r, &dummy), b"key");
    assert_eq!(m.value(r, &dummy), b"hello");
    assert_eq!(
        (m.flags(r), m.exptime(r), m.atime(r), m.seq(r)),
        (7, 9, 11, 42)
    );
    assert!(m.key_eq(r, b"key") && !m.key_eq(r, b"kez") && !m.key_eq(r, b"ke"));
    m.overwrite_value_padded(r, b"12");
    assert_eq!(m.value(r, &dummy), b"12   ");
    m.free(r);

    let big = vec![b'x'; PAGE_SIZE];
    let total = HEADER + 1 + big.len();
    let l = m.alloc_large(total).expect("large");
    m.write_item(l, b"b", 0, 0, 0, &[&big]);
    assert_eq!(m.class_of(l), m.geo.large());
    assert_eq!(m.value(l, &dummy).len(), PAGE_SIZE);
    assert_eq!(m.used(), total + PAGE_SIZE);
    m.free(l);
    assert_eq!(m.used(), PAGE_SIZE);
    assert_eq!(m.large_bytes(), 0);
}

#[test]
fn page_move_waits_for_owned_chunks_then_recarves_or_releases() {
    let m = Mem::new(3 * PAGE_SIZE, 48, 1.25);
    let per0 = m.geo.per_page(0);
    let a: Vec<Ref> = (0..per0 + 5).map(|_| m.alloc(0).expect("chunk")).collect();
    let p0 = a[0] >> IDX_BITS;
    let p1 = a[per0] >> IDX_BITS;
    assert_ne!(p0, p1);
    // Free all but two chunks of the first page: it is the emptiest.
    for &r in &a[2..per0] {
        m.free(r);
    }
    let pick = m.pick_page(0).expect("pages");
    assert_eq!((pick.pid, pick.in_use, pick.pages), (p0, 2, 2));
    assert!(m.begin_move(0, p0));
    assert!(!m.begin_move(0, p0), "already moving");
    assert!(m.is_moving(a[0]) && !m.is_moving(a[per0]));
    // Its free chunks are not handed out any more; the other page's are.
    for _ in 0..10 {
        let r = m.alloc_spare(0).expect("spare");
        assert_eq!(r >> IDX_BITS, p1);
        m.free(r);
    }
    let mut linked = Vec::new();
    assert_eq!(m.scan_page(0, p0, &mut linked), 2);
    assert!(linked.is_empty());
    m.set_linked(a[1], 7);
    assert_eq!(m.scan_page(0, p0, &mut linked), 1);
    assert_eq!(linked, vec![(7, a[1])]);
    assert_eq!(m.linked_shard(a[1]), Some(7));
    assert!(m.finish_move(0, p0, MoveDest::Class(3, true)).is_err());
    m.set_unlinked(a[1]);
    m.free(a[0]);
    m.free(a[1]);
    let r = m
        .finish_move(0, p0, MoveDest::Class(3, true))
        .expect("moved");
    assert_eq!(r, Some(p0 << IDX_BITS));
    assert_eq!(m.class_of(p0 << IDX_BITS), 3);
    assert_eq!(m.class_mem(0).pages, 1);
    assert_eq!(m.class_mem(3).pages, 1);
    assert_eq!(m.class_mem(3).free_chunks, m.geo.per_page(3) - 1);
    assert_eq!(m.used(), 2 * PAGE_SIZE);
    m.write_item(p0 << IDX_BITS, b"k", 1, 2, 3, &[&[b'v'; 100]]);
    m.free(p0 << IDX_BITS);
    // A page with an in-use chunk stays where it is if the move is cancelled.
    assert!(m.begin_move(0, p1));
    m.cancel_move(0, p1);
    assert_eq!(m.alloc(0).map(|r| r >> IDX_BITS), Some(p1));
    // Release: memory dropped, its budget held by the caller, the id reusable.
    let b = m.alloc(3).expect("chunk");
    m.free(b);
    assert!(m.begin_move(3, p0));
    assert_eq!(m.finish_move(3, p0, MoveDest::Release), Ok(None));
    assert_eq!((m.class_mem(3).pages, m.used()), (0, 2 * PAGE_SIZE));
    let mut held = PAGE_SIZE;
    let l = m
        .alloc_large_held(PAGE_SIZE / 2 + 100, &mut held)
        .expect("large");
    assert_eq!(held, 0);
    assert_eq!(m.used(), PAGE_SIZE + PAGE_SIZE / 2 + 100);
    m.free(l);
    assert_eq!(m.used(), PAGE_SIZE);
}

#[test]
fn concurrent_alloc_write_free() {
    let m = Arc::new(Mem::new(8 * PAGE_SIZE, 48, 1.25));
    let hs: Vec<_> = (0..4u32)
        .map(|t| {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..20_000u32 {
                    let class = (i % 5) as usize;
                    if let Some(r) = m.alloc(class) {
                        let v = (t * 1_000_000 + i).to_le_bytes();
                        m.write_item(r, &v, t, i, 0, &[&v]);
                        mine.push((r, t, i));
                    }
                    if mine.len() > 100 {
                        for (r, t, i) in mine.drain(..50) {
                            // Private chunks: nobody else may have written them.
                            assert_eq!((m.flags(r), m.exptime(r)), (t, i));
                            assert!(m.key_eq(r, &(t * 1_000_000 + i).to_le_bytes()));
                            m.free(r);
                        }
                    }
                    if i % 1000 == 0
                        && let Some(l) = m.alloc_large(PAGE_SIZE / 2 + 100)
                    {
                        m.write_item(l, b"L", t, i, 0, &[]);
                        assert_eq!(m.flags(l), t);
                        m.free(l);
                    }
                }
                for (r, _, _) in mine {
                    m.free(r);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("thread");
    }
    assert!(m.used() <= 8 * PAGE_SIZE);
    assert_eq!(m.large_bytes(), 0);
}

#[test]
fn side_table_allowance_shrinks_to_nothing_at_64_mib_and_the_budget_still_grows() {
    assert_eq!(super::side_free(64 << 20), 0);
    assert_eq!(super::side_free(1 << 30), 0);
    assert_eq!(super::side_free(1 << 20), (1 << 20) - (1 << 14));
    let mut last = 0;
    for mb in 1..=80usize {
        let budget = (mb << 20) + super::side_free(mb << 20);
        assert!(budget > last, "-m {mb}");
        last = budget;
    }
}

#[test]
fn a_page_has_a_state_byte_per_chunk_of_the_class_it_was_first_given() {
    // Default geometry: the tiny items' class 0 (64-byte chunks, 16,384 a page), then the
    // -n progression from 88 bytes (11,915 a page), which sizes the other pages' tables.
    let m = Mem::new(2 * PAGE_SIZE, 48, 1.25);
    let (tiny, small) = (m.geo.per_page(0), m.geo.per_page(1));
    assert_eq!((tiny, small), (16_384, 11_915));
    let a: Vec<Ref> = (0..small).map(|_| m.alloc(1).expect("chunk")).collect();
    let p = a[0] >> IDX_BITS;
    assert_eq!(m.states(p).len(), small);
    let b: Vec<Ref> = (0..tiny).map(|_| m.alloc(0).expect("chunk")).collect();
    let q = b[0] >> IDX_BITS;
    assert_eq!(m.states(q).len(), tiny);
    assert!(b.iter().all(|&r| r >> IDX_BITS == q));
    assert!(
        m.alloc(0).is_none() && m.alloc(1).is_none(),
        "the budget is spent"
    );
    // Page p moves to the tiny class: it has state bytes for 11,915 chunks, so it carves
    // that many (not 16,384), all within the page.
    for &r in &a {
        m.free(r);
    }
    assert!(m.begin_move(1, p));
    assert_eq!(m.finish_move(1, p, MoveDest::Class(0, false)), Ok(None));
    assert_eq!(m.class_mem(0).pages, 2);
    assert_eq!(m.class_mem(0).free_chunks, small);
    let c: Vec<Ref> = std::iter::from_fn(|| m.alloc(0)).take(tiny).collect();
    assert_eq!(c.len(), small);
    assert!(
        c.iter()
            .all(|&r| r >> IDX_BITS == p && (r & IDX_MASK) < small as u32)
    );
    let pick = m.pick_page(0).expect("pages");
    assert_eq!((pick.in_use, pick.pages), (small, 2));
}
