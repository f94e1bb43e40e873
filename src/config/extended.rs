//! memcached's `-o` extended options (`-o modern,idle_timeout=600 -o track_sizes`).
//!
//! Owns: the list of option names memcached 1.6.18 knows, which of them ferrocache applies,
//! which it accepts with a warning (they tune memcached machinery that has no equivalent
//! here: segmented LRU, extstore, its hash table; the `ssl_*` options go to tls.rs), and the rejection of unknown names
//! with memcached's message. Must not touch: sockets, the store.

/// Settings from `-o` that ferrocache applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Extended {
    /// `idle_timeout=N`: close client connections idle for N seconds (0: never).
    pub idle_timeout: u64,
    /// `maxconns_fast` (default) / `no_maxconns_fast`: over `-c`, answer
    /// `ERROR Too many open connections` and close at once, or stop accepting until a
    /// connection closes.
    pub maxconns_fast: bool,
    /// `lru_crawler` (default) / `no_lru_crawler`: background reclaim of expired items.
    pub lru_crawler: bool,
    /// `track_sizes`: keep the item size histogram for `stats sizes`.
    pub track_sizes: bool,
    /// `slab_chunk_max=BYTES`: largest slab chunk (bigger items get their own allocation).
    pub slab_chunk_max: Option<usize>,
    /// `slab_sizes=A-B-C`: explicit chunk sizes instead of the `-f`/`-n` progression.
    pub slab_sizes: Option<Vec<usize>>,
    /// `slab_reassign` (default) / `no_slab_reassign`: whether pages may move between
    /// classes (`slabs reassign`, automove).
    pub slab_reassign: bool,
    /// `slab_automove=0|1|2` / `no_slab_automove`: initial automove mode.
    pub slab_automove: u32,
    /// `slab_automove_ratio`, `slab_automove_window`, `slab_automove_freeratio`: memcached's
    /// tuning of its automove algorithms, validated as memcached does and shown in `stats
    /// settings` (`slabs automove ratio ...` changes them); ferrocache's automove rule does
    /// not read them.
    pub automove_ratio: f64,
    pub automove_window: u32,
    pub automove_freeratio: f64,
    /// The `ssl_*` options (`config/tls.rs`); `enabled` is `-Z`, set by validate.rs.
    pub tls: super::tls::TlsSettings,
    /// Options accepted but without effect here, one entry per option as given.
    pub ignored: Vec<String>,
}

impl Default for Extended {
    fn default() -> Self {
        Extended {
            idle_timeout: 0,
            maxconns_fast: true,
            lru_crawler: true,
            track_sizes: false,
            slab_chunk_max: None,
            slab_sizes: None,
            slab_reassign: true,
            slab_automove: 1,
            automove_ratio: 0.8,
            automove_window: 30,
            automove_freeratio: 0.01,
            tls: super::tls::TlsSettings::default(),
            ignored: Vec::new(),
        }
    }
}

/// Options memcached 1.6.18 (Debian build: TLS and extstore compiled in) knows that tune its
/// own machinery; ferrocache accepts them with a warning.
const NO_EQUIVALENT: &[&str] = &[
    "hashpower",
    "no_hashexpand",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "lru_maintainer",
    "no_lru_maintainer",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "no_inline_ascii_resp",
    "inline_ascii_resp",
    "no_chunked_items",
    "drop_privileges",
    "no_drop_privileges",
    "resp_obj_mem_limit",
    "read_buf_mem_limit",
    "ext_page_size",
    "ext_wbuf_size",
    "ext_threads",
    "ext_io_depth",
    "ext_path",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_sleep",
    "ext_max_frag",
    "ext_drop_unread",
];

fn number(name: &str, value: Option<&str>) -> Result<u64, String> {
    let v = value.ok_or_else(|| format!("-o {name}: missing numeric argument for {name}"))?;
    v.trim()
        .parse::<u64>()
        .map_err(|_| format!("-o {name}={v}: could not parse argument to {name}"))
}

/// A finite decimal number, as memcached's `safe_strtod` reads one.
fn decimal_f64(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok().filter(|r| r.is_finite())
}

/// Parses every `-o` argument in order (later settings win).
pub fn parse(args: &[String]) -> Result<Extended, String> {
    let mut x = Extended::default();
    for arg in args {
        for opt in arg.split(',').filter(|s| !s.is_empty()) {
            apply(&mut x, opt)?;
        }
    }
    Ok(x)
}

fn apply(x: &mut Extended, opt: &str) -> Result<(), String> {
    let (name, value) = match opt.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (opt, None),
    };
    match name {
        // The modern defaults are ferrocache's defaults.
        "modern" => {}
        // memcached 1.6.18: no_modern turns off what "modern" turned on (the crawler, page
        // moves, fast connection refusal). Its other effects have no counterpart here: the
        // hash, the LRU maintainer, and slab chunks as large as a page (memcached then
        // chunks no item; ferrocache gives items over half a page their exact size anyway,
        // and a class that would take whole pages per item could not get its first page
        // under a hard -m where memcached grants it beyond the limit).
        "no_modern" => {
            x.lru_crawler = false;
            x.slab_reassign = false;
            x.slab_automove = 0;
            x.maxconns_fast = false;
        }
        "idle_timeout" => x.idle_timeout = number(name, value)?,
        "maxconns_fast" => x.maxconns_fast = true,
        "no_maxconns_fast" => x.maxconns_fast = false,
        "lru_crawler" => x.lru_crawler = true,
        "no_lru_crawler" => x.lru_crawler = false,
        "track_sizes" => x.track_sizes = true,
        "slab_reassign" => x.slab_reassign = true,
        "no_slab_reassign" => x.slab_reassign = false,
        "no_slab_automove" => x.slab_automove = 0,
        "slab_automove" => {
            // memcached: a bare `slab_automove` means mode 1.
            let n = if value.is_some() {
                number(name, value)?
            } else {
                1
            };
            if n > 2 {
                return Err(format!("-o {opt}: slab_automove must be between 0 and 2"));
            }
            x.slab_automove = n as u32;
        }
        // memcached 1.6.18: an unparsable number counts as 0, then fails the range check.
        "slab_automove_ratio" => {
            let v = value.ok_or_else(|| format!("-o {opt}: Missing {name} argument"))?;
            let r = decimal_f64(v).unwrap_or(0.0);
            if r <= 0.0 || r >= 1.0 {
                return Err(format!("-o {opt}: {name} must be > 0 and < 1"));
            }
            x.automove_ratio = r;
        }
        "slab_automove_window" => {
            let v = value.ok_or_else(|| format!("-o {opt}: Missing {name} argument"))?;
            let w = v.trim().parse::<u32>().unwrap_or(0);
            if w < 3 {
                return Err(format!("-o {opt}: {name} must be > 2"));
            }
            x.automove_window = w;
        }
        "slab_automove_freeratio" => {
            let v = value.ok_or_else(|| format!("-o {opt}: Missing {name} argument"))?;
            x.automove_freeratio = decimal_f64(v)
                .ok_or_else(|| format!("-o {opt}: could not parse argument to {name}"))?;
        }
        "slab_chunk_max" => {
            let n = number(name, value)?;
            x.slab_chunk_max = Some(n as usize);
        }
        "slab_sizes" => {
            let v = value.ok_or_else(|| format!("-o {name}: missing slab_sizes argument"))?;
            let mut sizes = Vec::new();
            for part in v.split('-') {
                let n: usize = part
                    .trim()
                    .parse()
                    .map_err(|_| format!("-o {opt}: could not parse slab size {part:?}"))?;
                if sizes.last().is_some_and(|&last| n <= last) {
                    return Err(format!(
                        "-o {opt}: slab size {n} cannot be lower than or equal to a previous class size"
                    ));
                }
                sizes.push(n);
            }
            x.slab_sizes = Some(sizes);
        }
        "hashpower" => {
            // memcached validates the value even though ferrocache's index sizes itself.
            let n = number(name, value)?;
            if n < 12 {
                return Err(format!(
                    "-o {opt}: initial hashtable multiplier of {n} is too low"
                ));
            }
            if n > 32 {
                return Err(format!(
                    "-o {opt}: initial hashtable multiplier of {n} is too high"
                ));
            }
            x.ignored.push(opt.to_string());
        }
        _ if name.starts_with("ssl_") && super::tls::apply(&mut x.tls, name, value)? => {}
        _ if NO_EQUIVALENT.contains(&name) => x.ignored.push(opt.to_string()),
        _ => return Err(format!("-o {opt}: illegal suboption \"{opt}\"")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Extended, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_match_memcached() {
        let x = p(&[]).unwrap();
        assert_eq!(x, Extended::default());
        assert!(x.maxconns_fast && x.lru_crawler && x.slab_reassign && !x.track_sizes);
        assert_eq!((x.idle_timeout, x.slab_automove), (0, 1));
    }

    #[test]
    fn automove_tuning_is_validated_like_memcached() {
        let x = p(&["slab_automove_ratio=0.5,slab_automove_window=7"]).unwrap();
        assert_eq!((x.automove_ratio, x.automove_window), (0.5, 7));
        let x = p(&["slab_automove_freeratio=0.25"]).unwrap();
        assert_eq!(x.automove_freeratio, 0.25);
        for (bad, msg) in [
            ("slab_automove_window=2", "must be > 2"),
            ("slab_automove_window=x", "must be > 2"),
            (
                "slab_automove_window",
                "Missing slab_automove_window argument",
            ),
            ("slab_automove_ratio=x", "must be > 0 and < 1"),
            ("slab_automove_ratio=1", "must be > 0 and < 1"),
            ("slab_automove_freeratio=x", "could not parse argument"),
        ] {
            let e = p(&[bad]).unwrap_err();
            assert!(e.contains(msg), "{bad}: {e}");
        }
    }

    #[test]
    fn no_modern_is_memcached_1_6_18s() {
        let x = p(&["no_modern"]).unwrap();
        assert!(!x.lru_crawler && !x.slab_reassign && !x.maxconns_fast);
        assert_eq!((x.slab_automove, x.slab_chunk_max), (0, None));
        let x = p(&["no_modern,lru_crawler"]).unwrap();
        assert!(x.lru_crawler && !x.slab_reassign);
    }

    #[test]
    fn applied_options() {
        let x = p(&[
            "modern,idle_timeout=600",
            "track_sizes",
            "no_lru_crawler,no_maxconns_fast",
            "slab_chunk_max=16384",
            "slab_sizes=96-120-200",
            "slab_automove=2",
        ])
        .unwrap();
        assert_eq!(x.idle_timeout, 600);
        assert!(x.track_sizes && !x.lru_crawler && !x.maxconns_fast);
        assert_eq!(x.slab_chunk_max, Some(16384));
        assert_eq!(x.slab_sizes, Some(vec![96, 120, 200]));
        assert_eq!(x.slab_automove, 2);
        assert!(x.ignored.is_empty());
        // Later settings win.
        assert!(p(&["no_lru_crawler", "lru_crawler"]).unwrap().lru_crawler);
    }

    #[test]
    fn internals_are_accepted_and_listed() {
        let x = p(&["hashpower=20,lru_maintainer", "ext_path=/tmp/x:64m"]).unwrap();
        assert_eq!(
            x.ignored,
            ["hashpower=20", "lru_maintainer", "ext_path=/tmp/x:64m"]
        );
    }

    #[test]
    fn bad_and_unknown_options_are_rejected_by_name() {
        for (args, needle) in [
            (&["fooble"][..], "illegal suboption \"fooble\""),
            (&["modern,proxy_config=x"][..], "proxy_config=x"),
            (&["idle_timeout"][..], "idle_timeout"),
            (&["idle_timeout=abc"][..], "idle_timeout=abc"),
            (&["slab_automove=3"][..], "between 0 and 2"),
            (&["slab_sizes=200-100"][..], "slab size 100"),
            (&["hashpower=5"][..], "too low"),
            (&["hashpower=40"][..], "too high"),
        ] {
            let e = p(args).unwrap_err();
            assert!(e.contains(needle), "{args:?}: {e}");
            assert!(e.starts_with("-o "), "{e}");
        }
    }
}
