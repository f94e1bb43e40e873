//! The results of a run and how they are shown: Markdown tables on stdout and, with
//! `--json`, the same figures as JSON.
//!
//! Owns: formatting. Must not measure anything.

use std::fmt::Write;

use crate::args::Args;
use crate::bound::{Bound, ratio};
use crate::expired::Summary;
use crate::replay::Counts;

pub struct ServerRun {
    pub label: String,
    pub counts: Counts,
    pub curr_items: u64,
    pub evictions: u64,
    pub reclaimed: u64,
    pub expired_unfetched: u64,
    pub evicted_unfetched: u64,
    pub bytes: u64,
    pub server_get_hits: u64,
    /// `slabs_moved` and `slab_reassign_evictions_nomem` (pages moved between classes, and
    /// items those moves evicted).
    pub slabs_moved: u64,
    pub move_evictions: u64,
    pub cpu_secs: f64,
    pub expired: Option<Summary>,
}

impl ServerRun {
    pub fn hit_ratio(&self) -> f64 {
        ratio(self.counts.hits, self.counts.gets)
    }
}

pub struct ProfileResult {
    pub name: String,
    pub basis: String,
    pub requests: u64,
    pub gets: u64,
    pub writes: u64,
    pub one_shot: u64,
    pub universe: usize,
    pub bound: Bound,
    pub mem_bytes: u64,
    pub gen_secs: f64,
    pub runs: Vec<ServerRun>,
}

/// Miss ratio of `b` over `a`'s (1 − hit), "-" when `a` never missed.
fn miss_ratio(a: f64, b: f64) -> String {
    if a >= 1.0 {
        "-".into()
    } else {
        format!("{:.3}", (1.0 - b) / (1.0 - a))
    }
}

pub fn print(args: &Args, results: &[ProfileResult], total_secs: f64) {
    let labels: Vec<&str> = match results.first() {
        Some(r) => r.runs.iter().map(|s| s.label.as_str()).collect(),
        None => Vec::new(),
    };
    println!(
        "\n## Hit ratio: -m {} -t {}, seed {}, {} conns x batch {}, paced at {} req/s, \
         TTLs x {}\n",
        args.memory_mb, args.threads, args.seed, args.conns, args.batch, args.rate, args.ttl_scale
    );
    let mut head = "| profile | requests | footprint / -m |".to_string();
    let mut rule = "|---|---:|---:|".to_string();
    for l in &labels {
        let _ = write!(head, " {l} |");
        rule.push_str("---:|");
    }
    for l in labels.iter().skip(1) {
        let _ = write!(head, " miss ratio {l}/{} |", labels[0]);
        rule.push_str("---:|");
    }
    head.push_str(" static-opt | unlimited |");
    rule.push_str("---:|---:|");
    println!("{head}\n{rule}");
    for r in results {
        let mut line = format!(
            "| {} | {} | {:.1} |",
            r.name,
            r.requests,
            r.bound.footprint as f64 / r.mem_bytes as f64
        );
        for s in &r.runs {
            let _ = write!(line, " {:.4} |", s.hit_ratio());
        }
        for s in r.runs.iter().skip(1) {
            let _ = write!(
                line,
                " {} |",
                miss_ratio(r.runs[0].hit_ratio(), s.hit_ratio())
            );
        }
        let _ = write!(
            line,
            " {:.4} | {:.4} |",
            r.bound.static_ratio(),
            r.bound.inf_ratio()
        );
        println!("{line}");
    }
    println!(
        "\n## Servers at the end of each replay\n\n| profile | server | hit ratio | items held \
         | evictions | reclaimed | expired_unfetched | evicted_unfetched | pages moved (evicted) \
         | MB held | server CPU s | CPU µs/req | run s | max lag s | set errors |\n|---|---|---:\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        for s in &r.runs {
            println!(
                "| {} | {} | {:.4} | {} | {} | {} | {} | {} | {} ({}) | {:.1} | {:.2} | {:.2} | \
                 {:.1} | {:.2} | {} |",
                r.name,
                s.label,
                s.hit_ratio(),
                s.curr_items,
                s.evictions,
                s.reclaimed,
                s.expired_unfetched,
                s.evicted_unfetched,
                s.slabs_moved,
                s.move_evictions,
                s.bytes as f64 / 1048576.0,
                s.cpu_secs,
                s.cpu_secs * 1e6 / r.requests.max(1) as f64,
                s.counts.secs,
                s.counts.max_lag,
                s.counts.set_errors
            );
        }
    }
    println!(
        "\n## Misses by cause, per 1000 reads (never set / TTL run out / gone early after a \
         write-through set / gone early after a cache-aside fill)\n\n| profile | server | \
         compulsory | expired | evicted after write | evicted after fill | bound: compulsory \
         | bound: expired |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let per_k = |n: u64| 1000.0 * n as f64 / r.gets.max(1) as f64;
        for s in &r.runs {
            let c = &s.counts;
            println!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                r.name,
                s.label,
                per_k(c.miss_compulsory),
                per_k(c.miss_expired),
                per_k(c.miss_after_write),
                per_k(c.miss_after_fill),
                per_k(r.bound.compulsory),
                per_k(r.bound.expired)
            );
        }
    }
    let sampled: Vec<_> = results
        .iter()
        .flat_map(|r| r.runs.iter().map(move |s| (r, s)))
        .filter_map(|(r, s)| s.expired.as_ref().map(|e| (r, s, e)))
        .collect();
    if !sampled.is_empty() {
        println!(
            "\n## Share of the bytes held that belong to expired items (stats + lru_crawler \
             metadump)\n\n| profile | server | samples | mean share of bytes held | max \
             | mean expired MB | mean expired items | busy |\n|---|---|---:|---:|---:|---:|---:|---:|"
        );
        for (r, s, e) in sampled {
            println!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.1} | {:.0} | {} |",
                r.name,
                s.label,
                e.samples,
                e.mean_frac,
                e.max_frac,
                e.mean_expired_mb,
                e.mean_expired_items,
                e.busy
            );
        }
    }
    println!("\nProfiles:");
    for r in results {
        println!(
            "- {}: {} ({} keys in the Zipf universe; {} one-shot requests; {:.1}% of the \
             {} distinct keys requested once; {} write-through sets)",
            r.name,
            r.basis,
            r.universe,
            r.one_shot,
            100.0 * r.bound.once as f64 / r.bound.distinct.max(1) as f64,
            r.bound.distinct,
            r.writes
        );
    }
    println!("\nTotal time {total_secs:.0} s.");
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub fn json(args: &Args, results: &[ProfileResult], total_secs: f64) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "{{\"memory_mb\":{},\"threads\":{},\"seed\":{},\"rate\":{},\"conns\":{},\"batch\":{},\
         \"ttl_scale\":{},\"total_secs\":{:.1},\"profiles\":[",
        args.memory_mb,
        args.threads,
        args.seed,
        args.rate,
        args.conns,
        args.batch,
        args.ttl_scale,
        total_secs
    );
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let b = &r.bound;
        let _ = write!(
            o,
            "{{\"name\":\"{}\",\"basis\":\"{}\",\"requests\":{},\"gets\":{},\"writes\":{},\
             \"one_shot\":{},\"universe\":{},\"distinct\":{},\"requested_once\":{},\"footprint_bytes\":{},\
             \"static_opt\":{:.6},\"static_items\":{},\"unlimited\":{:.6},\"compulsory\":{},\
             \"expired_misses\":{},\"gen_secs\":{:.2},\"runs\":[",
            esc(&r.name),
            esc(&r.basis),
            r.requests,
            r.gets,
            r.writes,
            r.one_shot,
            r.universe,
            b.distinct,
            b.once,
            b.footprint,
            b.static_ratio(),
            b.static_items,
            b.inf_ratio(),
            b.compulsory,
            b.expired,
            r.gen_secs
        );
        for (j, s) in r.runs.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "{{\"server\":\"{}\",\"gets\":{},\"hits\":{},\"hit_ratio\":{:.6},\"sets\":{},\
                 \"set_errors\":{},\"curr_items\":{},\"evictions\":{},\"reclaimed\":{},\
                 \"expired_unfetched\":{},\"evicted_unfetched\":{},\"bytes\":{},\
                 \"server_get_hits\":{},\"slabs_moved\":{},\"move_evictions\":{},\
                 \"miss_compulsory\":{},\"miss_expired\":{},\"miss_after_write\":{},\
                 \"miss_after_fill\":{},\"cpu_secs\":{:.3},\"run_secs\":{:.3},\"max_lag\":{:.3}",
                esc(&s.label),
                s.counts.gets,
                s.counts.hits,
                s.hit_ratio(),
                s.counts.sets,
                s.counts.set_errors,
                s.curr_items,
                s.evictions,
                s.reclaimed,
                s.expired_unfetched,
                s.evicted_unfetched,
                s.bytes,
                s.server_get_hits,
                s.slabs_moved,
                s.move_evictions,
                s.counts.miss_compulsory,
                s.counts.miss_expired,
                s.counts.miss_after_write,
                s.counts.miss_after_fill,
                s.cpu_secs,
                s.counts.secs,
                s.counts.max_lag
            );
            if let Some(e) = &s.expired {
                let _ = write!(
                    o,
                    ",\"expired_share\":{{\"samples\":{},\"mean\":{:.4},\"max\":{:.4},\
                     \"mean_items\":{:.0}}}",
                    e.samples, e.mean_frac, e.max_frac, e.mean_expired_items
                );
                o.pop();
                o.push_str(",\"series\":[");
                for (k, x) in e.samples_raw.iter().enumerate() {
                    let _ = write!(
                        o,
                        "{}{{\"t\":{:.1},\"curr_items\":{:.0},\"bytes\":{:.0},\"listed\":{},\
                         \"expired_items\":{:.0},\"expired_bytes\":{:.0},\"share\":{:.4}}}",
                        if k > 0 { "," } else { "" },
                        x.t,
                        x.curr_items,
                        x.bytes,
                        x.listed,
                        x.expired_items,
                        x.expired_bytes,
                        x.expired_frac
                    );
                }
                o.push_str("]}");
            }
            o.push('}');
        }
        o.push_str("]}");
    }
    o.push_str("]}\n");
    o
}
