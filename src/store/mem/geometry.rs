//! Slab class geometry: the chunk sizes of the classes (memcached's `-n`/`-f` progression, or
//! explicit `-o slab_sizes`, up to `-o slab_chunk_max`) and the validating functions `config`
//! uses for those options. Immutable after construction.

use super::{HEADER, MAX_SLAB_CLASSES, MIN_CHUNK_SIZE, PAGE_SIZE};

pub(super) fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// The size classes: immutable after construction.
pub(in crate::store) struct Geometry {
    pub(super) sizes: Vec<usize>,
    pub(super) per_page: Vec<usize>,
    /// Chunks per page of the smallest class but the tiny items' class (`new`): the length
    /// of a page's chunk state table unless the page was first given to the tiny class.
    pub(super) states_len: usize,
}

impl Geometry {
    /// memcached's progression: from `HEADER + min_chunk` (at least `MIN_CHUNK_SIZE`), each
    /// class `factor` times the previous (8-byte aligned), up to `chunk_max`, which is always
    /// the last class (memcached `-o slab_chunk_max`, default half a page). When the
    /// progression starts above `MIN_CHUNK_SIZE` (88 bytes with the default `-n 48`), a
    /// class of `MIN_CHUNK_SIZE` comes first, for tiny items: a 1-byte value under a 10-byte
    /// key is a 45-byte item, which an 88-byte chunk held at half density (0.92 times
    /// memcached's items at `-m 64`, whose smallest chunk is 96 bytes with a 56-byte header).
    /// The rest of the progression is unchanged, so no other item changes class.
    pub(in crate::store) fn new(min_chunk: usize, factor: f64, chunk_max: usize) -> Geometry {
        let max = clamp_chunk_max(chunk_max);
        let mut sizes = Vec::new();
        let mut size = align8((HEADER + min_chunk).max(MIN_CHUNK_SIZE));
        let tiny = size > MIN_CHUNK_SIZE && max > MIN_CHUNK_SIZE;
        if tiny {
            sizes.push(MIN_CHUNK_SIZE);
        }
        while sizes.len() < MAX_SLAB_CLASSES - 1 && size < max {
            sizes.push(size);
            let next = align8((size as f64 * factor) as usize);
            size = next.max(size + 8);
        }
        sizes.push(max);
        let mut g = Geometry::from_sizes(sizes);
        if tiny {
            g.states_len = g.per_page[1];
        }
        g
    }

    /// Explicit class sizes (memcached `-o slab_sizes`), each rounded up to 8 bytes, then
    /// `chunk_max` as the last class. Expects sizes accepted by `validate_slab_sizes`; any
    /// that are not (out of range, not increasing, too many) are skipped rather than trusted.
    pub(in crate::store) fn explicit(given: &[usize], chunk_max: usize) -> Geometry {
        let max = clamp_chunk_max(chunk_max);
        let mut sizes: Vec<usize> = Vec::new();
        for &s in given {
            let s = align8(s);
            let ok = (MIN_CHUNK_SIZE..max).contains(&s) && sizes.last().is_none_or(|&l| s > l);
            if ok && sizes.len() < MAX_SLAB_CLASSES - 1 {
                sizes.push(s);
            }
        }
        sizes.push(max);
        Geometry::from_sizes(sizes)
    }

    pub(super) fn from_sizes(sizes: Vec<usize>) -> Geometry {
        let per_page: Vec<usize> = sizes.iter().map(|s| PAGE_SIZE / s).collect();
        Geometry {
            states_len: per_page[0],
            sizes,
            per_page,
        }
    }

    /// Number of slab classes; the large class has this id.
    pub(in crate::store) fn n_slab(&self) -> usize {
        self.sizes.len()
    }

    /// The class id of the large class.
    pub(in crate::store) fn large(&self) -> usize {
        self.sizes.len()
    }

    /// Class for an item of `total` bytes (header included); `large()` when none fits.
    pub(in crate::store) fn class_for(&self, total: usize) -> usize {
        self.sizes.partition_point(|&s| s < total)
    }

    pub(in crate::store) fn chunk_size(&self, class: usize) -> usize {
        self.sizes[class]
    }

    pub(in crate::store) fn per_page(&self, class: usize) -> usize {
        self.per_page[class]
    }

    /// The largest chunk size (`-o slab_chunk_max`); bigger items are large allocations.
    pub(in crate::store) fn chunk_max(&self) -> usize {
        self.sizes.last().copied().unwrap_or(PAGE_SIZE / 2)
    }
}

/// Keep an unvalidated `slab_chunk_max` usable (config validates it first).
pub(super) fn clamp_chunk_max(n: usize) -> usize {
    n.clamp(MIN_CHUNK_SIZE, PAGE_SIZE)
}

/// memcached's checks of `-o slab_chunk_max` (bytes): at most the page size, dividing it
/// evenly, and at least our smallest possible chunk (`MIN_CHUNK_SIZE`, 64 bytes).
pub fn validate_slab_chunk_max(n: usize) -> Result<(), String> {
    if n > PAGE_SIZE {
        return Err("slab_chunk_max cannot be larger than slab_page_size".into());
    }
    if n < MIN_CHUNK_SIZE {
        return Err(format!(
            "slab_chunk_max cannot be smaller than {MIN_CHUNK_SIZE} (the smallest chunk)"
        ));
    }
    if !PAGE_SIZE.is_multiple_of(n) {
        return Err(format!(
            "slab_chunk_max must divide evenly into {PAGE_SIZE} (slab_page_size)"
        ));
    }
    Ok(())
}

/// memcached's checks of `-o slab_sizes` (`_parse_slab_sizes`): every size between the
/// smallest chunk (`-n`, and at least 64 bytes here) and `slab_chunk_max`, each more than 8
/// bytes above the previous, fewer than 63 classes in all (`slab_chunk_max` is added as the
/// last class).
pub fn validate_slab_sizes(
    sizes: &[usize],
    min_chunk: usize,
    chunk_max: usize,
) -> Result<(), String> {
    if sizes.is_empty() {
        return Err("slab_sizes needs at least one size".into());
    }
    let low = min_chunk.max(MIN_CHUNK_SIZE);
    let mut last = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if size < low || size > chunk_max {
            return Err(format!("slab size {size} is out of valid range"));
        }
        if last >= size {
            return Err(format!(
                "slab size {size} cannot be lower than or equal to a previous class size"
            ));
        }
        if size <= last + 8 {
            return Err(format!(
                "slab size {size} must be at least 8 bytes larger than previous class"
            ));
        }
        if i >= MAX_SLAB_CLASSES - 1 {
            return Err("too many slab classes specified".into());
        }
        last = size;
    }
    Ok(())
}

/// Parse and validate memcached's `-o slab_sizes=96-120-200` value (see `validate_slab_sizes`).
pub fn parse_slab_sizes(s: &str, min_chunk: usize, chunk_max: usize) -> Result<Vec<usize>, String> {
    let sizes = s
        .split('-')
        .map(|p| {
            p.trim()
                .parse::<usize>()
                .map_err(|_| format!("slab size {p} is out of valid range"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    validate_slab_sizes(&sizes, min_chunk, chunk_max)?;
    Ok(sizes)
}
