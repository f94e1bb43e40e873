//! Administrative verbs: `flush_all [delay] [noreply]`, `stats [args]`, `version`,
//! `verbosity <level> [noreply]`, `quit`, `shutdown [graceful]`.
//!
//! memcached's rules: `version` and `quit` ignore any further tokens; `stats` picks its
//! sub-command from the first argument and ignores the rest for the fixed ones (`stats reset
//! foo` resets); `shutdown` never honours `noreply`; `flush_all` and `verbosity` take an
//! optional `noreply` last and a number (C `int32` delay, `u32` level), ignoring one extra
//! token.

use super::num::{strtod, strtol, strtoul};
use super::{BAD_FORMAT, Line, ParseError};
use crate::protocol::{Automove, CachedumpArg, Command, DetailArg, Reply, StatsArg, WatchEvents};

/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES`: `stats cachedump` refuses class ids from here.
const MAX_SLAB_CLASSES: u32 = 64;

/// `stats [sub-command ...]`; any token count.
pub(super) fn stats<'a>(line: &Line<'a>) -> Command<'a> {
    if line.n < 2 {
        return Command::Stats(StatsArg::General);
    }
    Command::Stats(match line.tok(1) {
        b"settings" => StatsArg::Settings,
        b"items" => StatsArg::Items,
        b"slabs" => StatsArg::Slabs,
        b"sizes" => StatsArg::Sizes,
        b"sizes_enable" => StatsArg::SizesTracking(true),
        b"sizes_disable" => StatsArg::SizesTracking(false),
        b"reset" => StatsArg::Reset,
        b"conns" => StatsArg::Conns,
        b"cluster" => StatsArg::Cluster,
        b"detail" => StatsArg::Detail(match (line.n, line.tok(2)) {
            (3.., b"on") => DetailArg::On,
            (3.., b"off") => DetailArg::Off,
            (3.., b"dump") => DetailArg::Dump,
            _ => DetailArg::Usage,
        }),
        b"cachedump" => StatsArg::Cachedump(if line.n < 4 {
            CachedumpArg::BadLine
        } else {
            match (strtoul(line.tok(2)), strtoul(line.tok(3))) {
                (Some(class), Some(_)) if class >= MAX_SLAB_CLASSES => CachedumpArg::IllegalId,
                (Some(class), Some(limit)) => CachedumpArg::Dump { class, limit },
                _ => CachedumpArg::BadFormat,
            }
        }),
        _ => StatsArg::Other(trim_end(line.rest(1))),
    })
}

/// `watch [event types] [noreply]`. memcached 1.6.18: no argument watches `fetchers`;
/// every argument must name an event type (repeats are fine), else `ERROR`, which a last
/// `noreply` silences (`noreply` is not an event type, so `watch ... noreply` is always that
/// silent error).
pub(super) fn watch<'a>(line: &Line<'a>) -> Command<'a> {
    let events = if line.n < 2 {
        Some(WatchEvents(WatchEvents::FETCHERS))
    } else {
        (1..line.n)
            .map(|i| WatchEvents::bit(line.tok(i)))
            .try_fold(0, |acc, b| b.map(|b| acc | b))
            .map(WatchEvents)
    };
    Command::Watch {
        noreply: line.noreply(),
        events,
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rev().take_while(|&&b| b == b' ').count();
    &s[..s.len() - n]
}

/// `shutdown [graceful]`; any token count.
///
/// memcached checks `-A` first: without it every form, valid or not, is refused with
/// `ERROR: shutdown not enabled` (the executor's call). With `-A`, anything but `shutdown` or
/// `shutdown graceful` is `CLIENT_ERROR invalid shutdown mode` (never silenced): the parser
/// marks those `invalid_mode` and the executor answers after its `-A` check.
pub(super) fn shutdown<'a>(line: &Line<'a>) -> Result<Command<'a>, ParseError> {
    Ok(match (line.n, line.tok(1)) {
        (1, _) => Command::Shutdown {
            graceful: false,
            invalid_mode: false,
        },
        (2, b"graceful") => Command::Shutdown {
            graceful: true,
            invalid_mode: false,
        },
        _ => Command::Shutdown {
            graceful: false,
            invalid_mode: true,
        },
    })
}

/// `flush_all [delay] [noreply]`; the dispatcher has checked there are 1 to 3 tokens.
pub(super) fn flush_all<'a>(line: &Line<'a>) -> Result<Command<'a>, ParseError> {
    let noreply = line.noreply();
    // memcached: `if (ntokens != (c->noreply ? 3 : 2))` parse tokens[1] as the delay. A bad
    // delay is answered by the executor: memcached counts the command and checks `-F` first.
    let (delay, bad_delay) = if line.n != if noreply { 2 } else { 1 } {
        match strtol(line.tok(1)) {
            Some(d) => (i64::from(d), false),
            None => (0, true),
        }
    } else {
        (0, false)
    };
    Ok(Command::FlushAll {
        delay,
        noreply,
        bad_delay,
    })
}

/// `verbosity <level> [noreply]`; the dispatcher has checked there are 2 or 3 tokens.
pub(super) fn verbosity<'a>(line: &Line<'a>) -> Result<Command<'a>, ParseError> {
    let noreply = line.noreply();
    match strtoul(line.tok(1)) {
        Some(level) => Ok(Command::Verbosity { level, noreply }),
        None => Err(line.client_error(BAD_FORMAT, noreply)),
    }
}

/// `slabs automove ...` and `slabs reassign <src> <dst>` (memcached's runtime slab
/// commands); any other form is `ERROR`.
///
/// memcached 1.6.18's `process_slabs_automove_command`: `ratio <r>` sets the ratio (a
/// missing or bad number: `ERROR`); otherwise the first argument is the mode (`0`-`2`;
/// another number: `ERROR`; not a number: `CLIENT_ERROR bad command line format`); a last
/// `noreply` silences every answer. memcached 1.6.45 adds `window <3..1800>` and
/// `freeratio <r>` (`new`: with `--meta-protocol 1.6.45`).
pub(super) fn slabs<'a>(line: &Line<'a>, new: bool) -> Result<Command<'a>, ParseError> {
    let bad = || line.client_error(BAD_FORMAT, false);
    match (line.tok(1), line.n) {
        (b"automove", n) if n >= 3 => {
            let noreply = line.noreply();
            let quiet = |mut e: ParseError| {
                if noreply {
                    e.reply = None;
                }
                e
            };
            let ok = |set| Ok(Command::SlabsAutomove { set, noreply });
            let ratio = || (n >= 4).then(|| strtod(line.tok(3))).flatten();
            match line.tok(2) {
                b"ratio" => match ratio() {
                    Some(r) => ok(Automove::Ratio(r.to_bits())),
                    None => Err(quiet(line.error())),
                },
                b"freeratio" if new => match ratio() {
                    Some(r) => ok(Automove::FreeRatio(r.to_bits())),
                    None => Err(quiet(line.error())),
                },
                b"window" if new => match (n >= 4).then(|| strtoul(line.tok(3))).flatten() {
                    Some(w @ 3..=1800) => ok(Automove::Window(w)),
                    Some(_) => Err(quiet(line.fail(Reply::AUTOMOVE_WINDOW))),
                    None => Err(line.client_error(BAD_FORMAT, noreply)),
                },
                t => match strtoul(t) {
                    Some(mode @ 0..=2) => ok(Automove::Mode(mode)),
                    Some(_) => Err(quiet(line.error())),
                    None => Err(line.client_error(BAD_FORMAT, noreply)),
                },
            }
        }
        (b"reassign", 4) => match (strtol(line.tok(2)), strtol(line.tok(3))) {
            (Some(src), Some(dst)) => Ok(Command::SlabsReassign { src, dst }),
            _ => Err(bad()),
        },
        _ => Err(line.error()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{client, cmd, err, error, line_err};
    use crate::protocol::{Automove, CachedumpArg, Command, DetailArg, StatsArg, WatchEvents};

    #[test]
    fn watch_and_lru_crawler_metadump() {
        let w = |noreply, bits: Option<u32>| Command::Watch {
            noreply,
            events: bits.map(WatchEvents),
        };
        assert_eq!(cmd(b"watch\r\n"), w(false, Some(WatchEvents::FETCHERS)));
        assert_eq!(
            cmd(b"watch fetchers\r\n"),
            w(false, Some(WatchEvents::FETCHERS))
        );
        assert_eq!(
            cmd(b"watch  mutations fetchers mutations connevents\r\n"),
            w(
                false,
                Some(WatchEvents::MUTATIONS | WatchEvents::FETCHERS | WatchEvents::CONNEVENTS)
            )
        );
        assert_eq!(
            cmd(b"watch evictions sysevents rawcmds proxyreqs proxyevents proxyuser\r\n"),
            w(
                false,
                Some(
                    WatchEvents::EVICTIONS
                        | WatchEvents::SYSEVENTS
                        | WatchEvents::RAWCMDS
                        | WatchEvents::PROXYREQS
                        | WatchEvents::PROXYEVENTS
                        | WatchEvents::PROXYUSER
                )
            )
        );
        // Unknown words, case and `noreply` (not an event type: a silenced ERROR).
        assert_eq!(cmd(b"watch fetchers bogus\r\n"), w(false, None));
        assert_eq!(cmd(b"watch Fetchers\r\n"), w(false, None));
        assert_eq!(cmd(b"watch deletions\r\n"), w(false, None));
        assert_eq!(cmd(b"watch noreply\r\n"), w(true, None));
        assert_eq!(cmd(b"watch fetchers noreply\r\n"), w(true, None));
        assert_eq!(cmd(b"watch noreply fetchers\r\n"), w(false, None));
        // memcached: metadump without exactly one argument -> ERROR.
        for l in [
            &b"lru_crawler metadump\r\n"[..],
            b"lru_crawler metadump all x\r\n",
            b"lru_crawler\r\n",
        ] {
            assert_eq!(err(l), error(l));
        }
    }

    #[test]
    fn slabs_commands() {
        // memcached 1.6.18: automove 0/1/2 OK, 3 ERROR, x CLIENT_ERROR, missing arg ERROR;
        // reassign needs two numbers (x: CLIENT_ERROR), other forms ERROR.
        assert_eq!(
            cmd(b"slabs automove 2\r\n"),
            Command::SlabsAutomove {
                set: Automove::Mode(2),
                noreply: false
            }
        );
        assert_eq!(
            cmd(b"slabs automove ratio 0.5 noreply\r\n"),
            Command::SlabsAutomove {
                set: Automove::Ratio(0.5f64.to_bits()),
                noreply: true
            }
        );
        let quiet = |l: &[u8]| assert_eq!(err(l).reply, None, "{l:?}");
        quiet(b"slabs automove 3 noreply\r\n");
        quiet(b"slabs automove x noreply\r\n");
        quiet(b"slabs automove ratio x noreply\r\n");
        assert_eq!(
            err(b"slabs automove ratio x\r\n"),
            error(b"slabs automove ratio x\r\n")
        );
        // 1.6.18 reads `window` as a mode: not a number.
        assert_eq!(
            err(b"slabs automove window 5\r\n"),
            client("bad command line format", 25)
        );
        assert_eq!(err(b"slabs automove 3\r\n"), error(b"slabs automove 3\r\n"));
        assert_eq!(
            err(b"slabs automove x\r\n"),
            client("bad command line format", 18)
        );
        assert_eq!(err(b"slabs automove\r\n"), error(b"slabs automove\r\n"));
        assert_eq!(
            cmd(b"slabs reassign -1 0\r\n"),
            Command::SlabsReassign { src: -1, dst: 0 }
        );
        assert_eq!(
            err(b"slabs reassign x 2\r\n"),
            client("bad command line format", 20)
        );
        assert_eq!(err(b"slabs reassign 1\r\n"), error(b"slabs reassign 1\r\n"));
        assert_eq!(err(b"slabs foo\r\n"), error(b"slabs foo\r\n"));
        assert_eq!(err(b"slabs\r\n"), error(b"slabs\r\n"));
    }

    #[test]
    fn version_and_quit_ignore_arguments() {
        // memcached: `version foo bar` -> VERSION 1.6.18; `quit foo` closes silently.
        assert_eq!(cmd(b"version\r\n"), Command::Version);
        assert_eq!(cmd(b"version foo bar\r\n"), Command::Version);
        assert_eq!(cmd(b"quit\r\n"), Command::Quit);
        assert_eq!(cmd(b"quit foo\n"), Command::Quit);
    }

    #[test]
    fn stats() {
        let s = |b: &'static [u8]| match cmd(b) {
            Command::Stats(a) => a,
            c => panic!("{c:?}"),
        };
        assert_eq!(s(b"stats\r\n"), StatsArg::General);
        // memcached: `stats  ` -> general stats.
        assert_eq!(s(b"stats  \r\n"), StatsArg::General);
        assert_eq!(s(b"stats settings\r\n"), StatsArg::Settings);
        assert_eq!(s(b"stats items\r\n"), StatsArg::Items);
        assert_eq!(s(b"stats slabs\r\n"), StatsArg::Slabs);
        assert_eq!(s(b"stats sizes\r\n"), StatsArg::Sizes);
        assert_eq!(s(b"stats reset\r\n"), StatsArg::Reset);
        assert_eq!(s(b"stats conns\r\n"), StatsArg::Conns);
        // memcached ignores further tokens: `stats reset foo` -> RESET, `stats items foo`
        // -> item stats, etc.
        assert_eq!(s(b"stats reset foo\r\n"), StatsArg::Reset);
        assert_eq!(s(b"stats items foo\r\n"), StatsArg::Items);
        assert_eq!(s(b"stats settings foo\r\n"), StatsArg::Settings);
        assert_eq!(s(b"stats conns foo\r\n"), StatsArg::Conns);
        assert_eq!(s(b"stats slabs foo\r\n"), StatsArg::Slabs);
        assert_eq!(s(b"stats sizes foo\r\n"), StatsArg::Sizes);
        // Everything else goes verbatim to the executor. memcached: `stats foo` -> ERROR;
        // `stats detail` / `stats detail foo` -> CLIENT_ERROR usage: stats detail
        // on|off|dump; `stats detail on x` -> OK; `stats cachedump` -> CLIENT_ERROR bad
        // command line; `stats cachedump 1 1` -> END; `stats sizes_enable` -> STAT
        // sizes_status enabled (no END!).
        assert_eq!(s(b"stats foo\r\n"), StatsArg::Other(b"foo"));
        assert_eq!(
            s(b"stats  detail  on x  \r\n"),
            StatsArg::Detail(DetailArg::On)
        );
        assert_eq!(s(b"stats detail off\r\n"), StatsArg::Detail(DetailArg::Off));
        assert_eq!(
            s(b"stats detail dump\r\n"),
            StatsArg::Detail(DetailArg::Dump)
        );
        for l in [
            &b"stats detail\r\n"[..],
            b"stats detail foo\r\n",
            b"stats detail ON\r\n",
        ] {
            assert_eq!(s(l), StatsArg::Detail(DetailArg::Usage));
        }
        assert_eq!(
            s(b"stats cachedump 1 1\r\n"),
            StatsArg::Cachedump(CachedumpArg::Dump { class: 1, limit: 1 })
        );
        // memcached: extra tokens are ignored; 63 is a legal (empty) class, 64 is not;
        // `-1` fails safe_strtoul.
        assert_eq!(
            s(b"stats cachedump 63 0 x\r\n"),
            StatsArg::Cachedump(CachedumpArg::Dump {
                class: 63,
                limit: 0
            })
        );
        assert_eq!(
            s(b"stats cachedump 64 1\r\n"),
            StatsArg::Cachedump(CachedumpArg::IllegalId)
        );
        for l in [&b"stats cachedump\r\n"[..], b"stats cachedump 1\r\n"] {
            assert_eq!(s(l), StatsArg::Cachedump(CachedumpArg::BadLine));
        }
        for l in [&b"stats cachedump x y\r\n"[..], b"stats cachedump -1 1\r\n"] {
            assert_eq!(s(l), StatsArg::Cachedump(CachedumpArg::BadFormat));
        }
        // Case-sensitive: `stats RESET` is not `reset`.
        assert_eq!(s(b"stats RESET\r\n"), StatsArg::Other(b"RESET"));
    }

    #[test]
    fn shutdown() {
        // memcached without -A: all of these -> `ERROR: shutdown not enabled\r\n`.
        // With -A: `shutdown` / `shutdown graceful` shut down (closing this connection
        // without a reply); anything else -> `CLIENT_ERROR invalid shutdown mode\r\n`
        // (`shutdown noreply` too).
        let sd = |graceful, invalid_mode| Command::Shutdown {
            graceful,
            invalid_mode,
        };
        assert_eq!(cmd(b"shutdown\r\n"), sd(false, false));
        assert_eq!(cmd(b"shutdown graceful\r\n"), sd(true, false));
        for l in [
            &b"shutdown foo\r\n"[..],
            b"shutdown graceful x\r\n",
            b"shutdown noreply\r\n",
        ] {
            assert_eq!(cmd(l), sd(false, true));
        }
    }

    #[test]
    fn flush_all() {
        let f = |delay, noreply| Command::FlushAll {
            delay,
            noreply,
            bad_delay: false,
        };
        assert_eq!(cmd(b"flush_all\r\n"), f(0, false));
        assert_eq!(cmd(b"flush_all 0\r\n"), f(0, false));
        assert_eq!(cmd(b"flush_all 10\r\n"), f(10, false));
        // memcached: `flush_all -1` -> OK (a delay <= 0 flushes now).
        assert_eq!(cmd(b"flush_all -1\r\n"), f(-1, false));
        assert_eq!(cmd(b"flush_all noreply\r\n"), f(0, true));
        assert_eq!(cmd(b"flush_all 10 noreply\r\n"), f(10, true));
        // memcached: `flush_all 1 2` -> OK (the 2 is ignored); `flush_all 99999999999` ->
        // OK (wraps like a C int32).
        assert_eq!(cmd(b"flush_all 1 2\r\n"), f(1, false));
        assert_eq!(cmd(b"flush_all 0 0\r\n"), f(0, false));
        assert_eq!(
            cmd(b"flush_all 99999999999\r\n"),
            f(i64::from(99999999999_i64 as i32), false)
        );
    }

    #[test]
    fn flush_all_errors() {
        // memcached: `flush_all 1 2 3` -> ERROR; `flush_all\tnoreply` is an unknown verb.
        for l in [&b"flush_all 1 2 3\r\n"[..], b"flush_all\tnoreply\r\n"] {
            assert_eq!(err(l), error(l));
        }
        // memcached: `flush_all x` and `flush_all noreply x` -> CLIENT_ERROR invalid
        // exptime argument; `flush_all x noreply` and `flush_all noreply noreply` -> silent
        // (the executor answers, after its -F check).
        let bad = |noreply| Command::FlushAll {
            delay: 0,
            noreply,
            bad_delay: true,
        };
        for l in [&b"flush_all x\r\n"[..], b"flush_all noreply x\r\n"] {
            assert_eq!(cmd(l), bad(false));
        }
        for l in [
            &b"flush_all x noreply\r\n"[..],
            b"flush_all noreply noreply\r\n",
        ] {
            assert_eq!(cmd(l), bad(true));
        }
    }

    #[test]
    fn verbosity() {
        let v = |level, noreply| Command::Verbosity { level, noreply };
        assert_eq!(cmd(b"verbosity 1\r\n"), v(1, false));
        assert_eq!(cmd(b"verbosity 0 noreply\r\n"), v(0, true));
        // memcached: `verbosity 1 2` -> OK; `verbosity 1\tx` -> OK.
        assert_eq!(cmd(b"verbosity 1 2\r\n"), v(1, false));
        assert_eq!(cmd(b"verbosity 1\tx\r\n"), v(1, false));
        // memcached: `verbosity`, `verbosity 1 2 3` -> ERROR.
        for l in [&b"verbosity\r\n"[..], b"verbosity 1 2 3\r\n"] {
            assert_eq!(err(l), error(l));
        }
        // memcached: `verbosity x`, `verbosity -1`, `verbosity HTTP/1.1` -> CLIENT_ERROR bad
        // command line format; `verbosity noreply`, `verbosity x noreply` -> silent.
        for l in [
            &b"verbosity x\r\n"[..],
            b"verbosity -1\r\n",
            b"verbosity HTTP/1.1\r\n",
        ] {
            assert_eq!(err(l), client("bad command line format", l.len()));
        }
        for l in [&b"verbosity noreply\r\n"[..], b"verbosity x noreply\r\n"] {
            assert_eq!(err(l), line_err(None, l.len()));
        }
    }
}
