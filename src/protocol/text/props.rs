//! Property tests of the text parser as a whole: no input panics or over-consumes, every
//! valid frame is `Ok(None)` until its last byte arrives, and pipelines parse back one
//! command at a time.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{ParseError, parse};
use crate::protocol::{ArithOp, Command, GetKind, Limits, StatsArg, StoreMode};

/// An owned description of a valid request, to build its bytes and check its parse.
#[derive(Clone, Debug)]
enum Spec {
    Get {
        kind: GetKind,
        exptime: i32,
        keys: Vec<Vec<u8>>,
    },
    Store {
        mode: StoreMode,
        key: Vec<u8>,
        flags: u32,
        exptime: i32,
        data: Vec<u8>,
        cas: u64,
        noreply: bool,
    },
    Delete {
        key: Vec<u8>,
        zero: bool,
        noreply: bool,
    },
    Arith {
        op: ArithOp,
        key: Vec<u8>,
        delta: u64,
        noreply: bool,
    },
    Touch {
        key: Vec<u8>,
        exptime: i32,
        noreply: bool,
    },
    FlushAll {
        delay: Option<i32>,
        noreply: bool,
    },
    Stats(usize),
    Version,
    Verbosity {
        level: u32,
        noreply: bool,
    },
    Quit,
    Shutdown {
        graceful: bool,
    },
}

const STATS: [(&str, StatsArg<'static>); 8] = [
    ("", StatsArg::General),
    (" settings", StatsArg::Settings),
    (" items", StatsArg::Items),
    (" slabs", StatsArg::Slabs),
    (" sizes", StatsArg::Sizes),
    (" reset", StatsArg::Reset),
    (" conns", StatsArg::Conns),
    (
        " detail on",
        StatsArg::Detail(crate::protocol::DetailArg::On),
    ),
];

fn key() -> impl Strategy<Value = Vec<u8>> {
    "[A-Za-z0-9_:./-]{1,24}".prop_map(String::into_bytes)
}

fn spec() -> impl Strategy<Value = Spec> {
    let kinds = prop_oneof![
        Just(GetKind::Get),
        Just(GetKind::Gets),
        Just(GetKind::Gat),
        Just(GetKind::Gats)
    ];
    let modes = prop_oneof![
        Just(StoreMode::Set),
        Just(StoreMode::Add),
        Just(StoreMode::Replace),
        Just(StoreMode::Append),
        Just(StoreMode::Prepend),
        Just(StoreMode::Cas)
    ];
    let ops = prop_oneof![Just(ArithOp::Incr), Just(ArithOp::Decr)];
    prop_oneof![
        (kinds, any::<i32>(), vec(key(), 1..6)).prop_map(|(kind, exptime, keys)| Spec::Get {
            kind,
            exptime,
            keys
        }),
        (
            modes,
            key(),
            any::<u32>(),
            any::<i32>(),
            vec(any::<u8>(), 0..64),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(
                |(mode, key, flags, exptime, data, cas, noreply)| Spec::Store {
                    mode,
                    key,
                    flags,
                    exptime,
                    data,
                    cas: if mode == StoreMode::Cas { cas } else { 0 },
                    noreply
                }
            ),
        (key(), any::<bool>(), any::<bool>()).prop_map(|(key, zero, noreply)| Spec::Delete {
            key,
            zero,
            noreply
        }),
        (ops, key(), any::<u64>(), any::<bool>()).prop_map(|(op, key, delta, noreply)| {
            Spec::Arith {
                op,
                key,
                delta,
                noreply,
            }
        }),
        (key(), any::<i32>(), any::<bool>()).prop_map(|(key, exptime, noreply)| Spec::Touch {
            key,
            exptime,
            noreply
        }),
        (proptest::option::of(any::<i32>()), any::<bool>())
            .prop_map(|(delay, noreply)| Spec::FlushAll { delay, noreply }),
        (0..STATS.len()).prop_map(Spec::Stats),
        Just(Spec::Version),
        (any::<u32>(), any::<bool>())
            .prop_map(|(level, noreply)| Spec::Verbosity { level, noreply }),
        Just(Spec::Quit),
        any::<bool>().prop_map(|graceful| Spec::Shutdown { graceful }),
    ]
}

/// Line framing variations: separator width and line ending.
#[derive(Clone, Copy, Debug)]
struct Style {
    sep: usize,
    crlf: bool,
}

fn style() -> impl Strategy<Value = Style> {
    (1usize..3, any::<bool>()).prop_map(|(sep, crlf)| Style { sep, crlf })
}

fn bytes(spec: &Spec, style: Style) -> Vec<u8> {
    let mut words: Vec<Vec<u8>> = Vec::new();
    let w = |s: &str| s.as_bytes().to_vec();
    let nr = |words: &mut Vec<Vec<u8>>, noreply: bool| {
        if noreply {
            words.push(w("noreply"));
        }
    };
    let mut data = None;
    match spec {
        Spec::Get {
            kind,
            exptime,
            keys,
        } => {
            let verb = match kind {
                GetKind::Get => "get",
                GetKind::Gets => "gets",
                GetKind::Gat => "gat",
                GetKind::Gats => "gats",
            };
            words.push(w(verb));
            if matches!(kind, GetKind::Gat | GetKind::Gats) {
                words.push(w(&exptime.to_string()));
            }
            words.extend(keys.iter().cloned());
        }
        Spec::Store {
            mode,
            key,
            flags,
            exptime,
            data: d,
            cas,
            noreply,
        } => {
            let verb = match mode {
                StoreMode::Set => "set",
                StoreMode::Add => "add",
                StoreMode::Replace => "replace",
                StoreMode::Append => "append",
                StoreMode::Prepend => "prepend",
                StoreMode::Cas => "cas",
            };
            words.extend([
                w(verb),
                key.clone(),
                w(&flags.to_string()),
                w(&exptime.to_string()),
                w(&d.len().to_string()),
            ]);
            if *mode == StoreMode::Cas {
                words.push(w(&cas.to_string()));
            }
            nr(&mut words, *noreply);
            data = Some(d);
        }
        Spec::Delete { key, zero, noreply } => {
            words.extend([w("delete"), key.clone()]);
            if *zero {
                words.push(w("0"));
            }
            nr(&mut words, *noreply);
        }
        Spec::Arith {
            op,
            key,
            delta,
            noreply,
        } => {
            let verb = if *op == ArithOp::Incr { "incr" } else { "decr" };
            words.extend([w(verb), key.clone(), w(&delta.to_string())]);
            nr(&mut words, *noreply);
        }
        Spec::Touch {
            key,
            exptime,
            noreply,
        } => {
            words.extend([w("touch"), key.clone(), w(&exptime.to_string())]);
            nr(&mut words, *noreply);
        }
        Spec::FlushAll { delay, noreply } => {
            words.push(w("flush_all"));
            if let Some(d) = delay {
                words.push(w(&d.to_string()));
            }
            nr(&mut words, *noreply);
        }
        Spec::Stats(i) => words.push(w(&format!("stats{}", STATS[*i].0))),
        Spec::Version => words.push(w("version")),
        Spec::Verbosity { level, noreply } => {
            words.extend([w("verbosity"), w(&level.to_string())]);
            nr(&mut words, *noreply);
        }
        Spec::Quit => words.push(w("quit")),
        Spec::Shutdown { graceful } => {
            words.push(w("shutdown"));
            if *graceful {
                words.push(w("graceful"));
            }
        }
    }
    let mut out = words.join(&b" ".repeat(style.sep)[..]);
    out.extend_from_slice(if style.crlf { b"\r\n" } else { b"\n" });
    if let Some(d) = data {
        out.extend_from_slice(d);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Whether `cmd` is what `spec` describes.
fn check(spec: &Spec, cmd: &Command<'_>) -> bool {
    match (spec, cmd) {
        (
            Spec::Get {
                kind,
                exptime,
                keys,
            },
            Command::Get {
                kind: k,
                exptime: e,
                keys: ks,
            },
        ) => {
            let want_exp = if matches!(kind, GetKind::Gat | GetKind::Gats) {
                i64::from(*exptime)
            } else {
                0
            };
            kind == k && want_exp == *e && ks.iter().eq(keys.iter().map(Vec::as_slice))
        }
        (
            Spec::Store {
                mode,
                key,
                flags,
                exptime,
                data,
                cas,
                noreply,
            },
            _,
        ) => {
            *cmd == Command::Store {
                mode: *mode,
                key,
                flags: *flags,
                exptime: i64::from(*exptime),
                data,
                cas: *cas,
                noreply: *noreply,
            }
        }
        (Spec::Delete { key, noreply, .. }, _) => {
            *cmd == Command::Delete {
                key,
                noreply: *noreply,
            }
        }
        (
            Spec::Arith {
                op,
                key,
                delta,
                noreply,
            },
            _,
        ) => {
            *cmd == Command::Arith {
                op: *op,
                key,
                delta: *delta,
                noreply: *noreply,
            }
        }
        (
            Spec::Touch {
                key,
                exptime,
                noreply,
            },
            _,
        ) => {
            *cmd == Command::Touch {
                key,
                exptime: i64::from(*exptime),
                noreply: *noreply,
            }
        }
        (Spec::FlushAll { delay, noreply }, _) => {
            *cmd == Command::FlushAll {
                delay: i64::from(delay.unwrap_or(0)),
                noreply: *noreply,
                bad_delay: false,
            }
        }
        (Spec::Stats(i), _) => *cmd == Command::Stats(STATS[*i].1),
        (Spec::Version, _) => *cmd == Command::Version,
        (Spec::Verbosity { level, noreply }, _) => {
            *cmd == Command::Verbosity {
                level: *level,
                noreply: *noreply,
            }
        }
        (Spec::Quit, _) => *cmd == Command::Quit,
        (Spec::Shutdown { graceful }, _) => {
            *cmd == Command::Shutdown {
                graceful: *graceful,
                invalid_mode: false,
            }
        }
        _ => false,
    }
}

/// Words that steer random input into the parser's deeper paths.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let atoms: Vec<&'static [u8]> = vec![
        b"get",
        b"gets",
        b"gat",
        b"gats",
        b"bget",
        b"set",
        b"add",
        b"replace",
        b"append",
        b"prepend",
        b"cas",
        b"delete",
        b"incr",
        b"decr",
        b"touch",
        b"flush_all",
        b"stats",
        b"version",
        b"verbosity",
        b"quit",
        b"shutdown",
        b"graceful",
        b"noreply",
        // Meta commands and their flags.
        b"mg",
        b"ms",
        b"md",
        b"ma",
        b"mn",
        b"me",
        b"v",
        b"k",
        b"q",
        b"b",
        b"c",
        b"f",
        b"t",
        b"s",
        b"T30",
        b"N30",
        b"R30",
        b"I",
        b"MS",
        b"ME",
        b"MA",
        b"MI",
        b"MD",
        b"C99",
        b"D5",
        b"J7",
        b"Oabc",
        b"F7",
        b"Zm9v",
        // ElastiCache discovery.
        b"config",
        b"cluster",
        b"HTTP/1.1",
        b"0",
        b"1",
        b"3",
        b"-1",
        b"+2",
        b"2147483647",
        b"4294967296",
        b"18446744073709551616",
        b"-9223372036854775808",
        b"k",
        b"key",
        b" ",
        b" ",
        b" ",
        b"  ",
        b"\r",
        b"\n",
        b"\r\n",
        b"\r\n",
        b"\t",
        b"\0",
        b"abc",
        b"x",
    ];
    let atom = prop_oneof![
        4 => proptest::sample::select(atoms).prop_map(<[u8]>::to_vec),
        1 => vec(any::<u8>(), 1..4),
    ];
    vec(atom, 0..40).prop_map(|v| v.concat())
}

/// Parses everything in `buf` like a connection would; checks the invariants on the way.
fn drain(buf: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let mut at = 0;
    let mut swallow = 0usize;
    loop {
        let skip = swallow.min(buf.len() - at);
        at += skip;
        swallow -= skip;
        let rest = &buf[at..];
        if rest.is_empty() {
            return Ok(());
        }
        match parse(rest, limits) {
            Ok(None) => return Ok(()),
            Ok(Some((_, n))) => {
                prop_assert!(n > 0 && n <= rest.len(), "consumed {} of {}", n, rest.len());
                at += n;
            }
            Err(ParseError {
                consumed,
                swallow: s,
                close,
                unlink_key,
                ..
            }) => {
                prop_assert!(consumed > 0 && consumed <= rest.len());
                if let Some(r) = unlink_key {
                    prop_assert!(r.start <= r.end && r.end <= consumed);
                }
                if close {
                    return Ok(());
                }
                at += consumed;
                swallow = s;
            }
        }
    }
}

fn small_limits() -> Limits {
    Limits {
        max_key: 4,
        max_value: 8,
        max_get_line: 3000,
        meta_new: false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(buf in vec(any::<u8>(), 0..600)) {
        drain(&buf, &Limits::default())?;
        drain(&buf, &small_limits())?;
    }

    #[test]
    fn token_soup_never_panics(buf in soup()) {
        drain(&buf, &Limits::default())?;
        drain(&buf, &small_limits())?;
    }

    #[test]
    fn valid_frame_needs_every_byte(spec in spec(), style in style()) {
        let buf = bytes(&spec, style);
        let limits = Limits::default();
        for i in 0..buf.len() {
            prop_assert_eq!(parse(&buf[..i], &limits), Ok(None), "prefix {} of {:?}", i, buf);
        }
        match parse(&buf, &limits) {
            Ok(Some((cmd, n))) => {
                prop_assert_eq!(n, buf.len());
                prop_assert!(check(&spec, &cmd), "{:?} parsed as {:?}", spec, cmd);
            }
            other => prop_assert!(false, "{:?} -> {:?}", buf, other),
        }
    }

    #[test]
    fn pipelines_parse_back(specs in vec((spec(), style()), 1..20)) {
        let frames: Vec<Vec<u8>> = specs.iter().map(|(s, st)| bytes(s, *st)).collect();
        let buf = frames.concat();
        let limits = Limits::default();
        let mut at = 0;
        for (spec, _) in &specs {
            match parse(&buf[at..], &limits) {
                Ok(Some((cmd, n))) => {
                    prop_assert!(check(spec, &cmd), "{:?} parsed as {:?}", spec, cmd);
                    at += n;
                }
                other => prop_assert!(false, "at {}: {:?}", at, other),
            }
        }
        prop_assert_eq!(at, buf.len());
        prop_assert_eq!(parse(&buf[at..], &limits), Ok(None));
    }
}
