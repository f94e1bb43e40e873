//! `lru_crawler <sub-command>` and `cache_memlimit <megabytes> [noreply]`.
//!
//! memcached 1.6.18's forms (proto_text.c `process_lru_crawler_command`,
//! `process_memlimit_command`): `lru_crawler crawl <classes>`, `metadump <classes|all|hash>`,
//! `tocrawl <n>`, `sleep <usec>` take exactly one argument, `enable` / `disable` none;
//! anything else is `ERROR`. With `--meta-protocol 1.6.45` (`meta_new`) also
//! `mgdump <classes|all|hash>` (memcached 1.6.19); 1.6.18 answers it `ERROR`.
//!
//! A class list is `all`, `hash` or ids in 1..=63 separated by commas (memcached splits it
//! with `strtok_r`, so empty parts are skipped and a list of commas names no class). A bad
//! list is only reported (`BADCLASS`) after the executor's "crawler disabled" check, so it
//! is carried as [`Classes::Invalid`] rather than failing the parse; `hash` is parsed for
//! `crawl` too, which memcached refuses later ("an unknown error happened").

use super::num::strtoul;
use super::{Line, ParseError};
use crate::protocol::{Classes, Command, CrawlerCmd};

/// memcached's `POWER_SMALLEST` .. `MAX_NUMBER_OF_SLAB_CLASSES` (exclusive).
const FIRST_CLASS: u32 = 1;
const CLASS_LIMIT: u32 = 64;

fn classes(tok: &[u8]) -> Classes {
    match tok {
        b"all" => return Classes::All,
        b"hash" => return Classes::Hash,
        _ => {}
    }
    let mut ids = Vec::new();
    for part in tok.split(|&b| b == b',').filter(|p| !p.is_empty()) {
        match strtoul(part) {
            Some(id) if (FIRST_CLASS..CLASS_LIMIT).contains(&id) => ids.push(id as usize),
            _ => return Classes::Invalid,
        }
    }
    Classes::List(ids)
}

/// `lru_crawler ...`; `meta_new`: `--meta-protocol 1.6.45` (`mgdump` exists).
pub(super) fn lru_crawler<'a>(line: &Line<'a>, meta_new: bool) -> Result<Command<'a>, ParseError> {
    let cmd = match (line.n, line.tok(1)) {
        (3, b"crawl") => CrawlerCmd::Crawl(classes(line.tok(2))),
        (3, b"metadump") => CrawlerCmd::Metadump(classes(line.tok(2))),
        (3, b"mgdump") if meta_new => CrawlerCmd::Mgdump(classes(line.tok(2))),
        (3, b"tocrawl") => match strtoul(line.tok(2)) {
            Some(n) => CrawlerCmd::ToCrawl(n),
            None => return Err(line.fail(crate::protocol::Reply::ClientError(super::BAD_FORMAT))),
        },
        (3, b"sleep") => match strtoul(line.tok(2)) {
            Some(n) if n <= 1_000_000 => CrawlerCmd::Sleep(n),
            Some(_) => {
                return Err(line.fail(crate::protocol::Reply::ClientError(
                    "sleep must be one second or less",
                )));
            }
            None => return Err(line.fail(crate::protocol::Reply::ClientError(super::BAD_FORMAT))),
        },
        (2, b"enable") => CrawlerCmd::Enable,
        (2, b"disable") => CrawlerCmd::Disable,
        _ => return Err(line.error()),
    };
    Ok(Command::LruCrawler(cmd))
}

/// `cache_memlimit <megabytes> [noreply]`.
pub(super) fn cache_memlimit<'a>(line: &Line<'a>) -> Result<Command<'a>, ParseError> {
    if line.n != 2 && line.n != 3 {
        return Err(line.error());
    }
    let noreply = line.noreply();
    match strtoul(line.tok(1)) {
        Some(mb) => Ok(Command::CacheMemlimit {
            megabytes: mb,
            noreply,
        }),
        // memcached's plain `out_string(c, "ERROR")`, which noreply silences.
        None => {
            let mut e = line.error();
            if noreply {
                e.reply = None;
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::protocol::text::ParseError;
    use crate::protocol::text::tests::{cmd, err};
    use crate::protocol::{Classes, Command, CrawlerCmd, Limits, Reply};

    #[test]
    fn mgdump_only_with_the_new_meta_protocol() {
        fn parse(l: &[u8]) -> Result<Option<(Command<'_>, usize)>, ParseError> {
            let new = Limits {
                meta_new: true,
                ..Limits::default()
            };
            crate::protocol::text::parse(l, &new)
        }
        for (l, want) in [
            (&b"lru_crawler mgdump all\r\n"[..], Classes::All),
            (b"lru_crawler mgdump hash\r\n", Classes::Hash),
            (b"lru_crawler mgdump 1,3\r\n", Classes::List(vec![1, 3])),
            (b"lru_crawler mgdump 0\r\n", Classes::Invalid),
        ] {
            match parse(l) {
                Ok(Some((Command::LruCrawler(CrawlerCmd::Mgdump(c)), n))) => {
                    assert_eq!((c, n), (want, l.len()), "{l:?}")
                }
                other => panic!("{l:?}: {other:?}"),
            }
        }
        for l in [
            &b"lru_crawler mgdump\r\n"[..],
            b"lru_crawler mgdump 1 2\r\n",
        ] {
            assert_eq!(parse(l).unwrap_err().reply, Some(Reply::Error), "{l:?}");
        }
        // 1.6.18 (the default) does not know it.
        assert_eq!(err(b"lru_crawler mgdump all\r\n").reply, Some(Reply::Error));
    }

    fn crawler(l: &[u8]) -> CrawlerCmd {
        match cmd(l) {
            Command::LruCrawler(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lru_crawler_forms() {
        assert_eq!(crawler(b"lru_crawler enable\r\n"), CrawlerCmd::Enable);
        assert_eq!(crawler(b"lru_crawler disable\r\n"), CrawlerCmd::Disable);
        assert_eq!(
            crawler(b"lru_crawler crawl all\r\n"),
            CrawlerCmd::Crawl(Classes::All)
        );
        assert_eq!(
            crawler(b"lru_crawler crawl 1,2,62\r\n"),
            CrawlerCmd::Crawl(Classes::List(vec![1, 2, 62]))
        );
        // memcached's strtok_r: empty parts are skipped; 63 is a valid id.
        for (l, ids) in [
            (&b"lru_crawler crawl 1,,63\r\n"[..], vec![1, 63]),
            (b"lru_crawler crawl ,2,\r\n", vec![2]),
            (b"lru_crawler crawl ,\r\n", vec![]),
        ] {
            assert_eq!(crawler(l), CrawlerCmd::Crawl(Classes::List(ids)), "{l:?}");
        }
        assert_eq!(
            crawler(b"lru_crawler crawl hash\r\n"),
            CrawlerCmd::Crawl(Classes::Hash)
        );
        for bad in [&b"99"[..], b"0", b"64", b"x", b"1,x", b"-1"] {
            let mut l = b"lru_crawler crawl ".to_vec();
            l.extend_from_slice(bad);
            l.extend_from_slice(b"\r\n");
            assert_eq!(crawler(&l), CrawlerCmd::Crawl(Classes::Invalid), "{bad:?}");
        }
        assert_eq!(
            crawler(b"lru_crawler metadump hash\r\n"),
            CrawlerCmd::Metadump(Classes::Hash)
        );
        assert_eq!(
            crawler(b"lru_crawler metadump 0\r\n"),
            CrawlerCmd::Metadump(Classes::Invalid)
        );
        assert_eq!(
            crawler(b"lru_crawler tocrawl 10\r\n"),
            CrawlerCmd::ToCrawl(10)
        );
        assert_eq!(
            crawler(b"lru_crawler sleep 100\r\n"),
            CrawlerCmd::Sleep(100)
        );
        assert_eq!(
            err(b"lru_crawler sleep 2000000\r\n").reply,
            Some(Reply::ClientError("sleep must be one second or less"))
        );
        assert_eq!(
            err(b"lru_crawler tocrawl x\r\n").reply,
            Some(Reply::ClientError("bad command line format"))
        );
        for l in [
            &b"lru_crawler\r\n"[..],
            b"lru_crawler foo\r\n",
            b"lru_crawler metadump\r\n",
            b"lru_crawler enable now\r\n",
            b"lru_crawler crawl 1 2\r\n",
            b"lru_crawler mgdump all\r\n",
        ] {
            assert_eq!(err(l).reply, Some(Reply::Error), "{l:?}");
        }
    }

    #[test]
    fn cache_memlimit_forms() {
        assert_eq!(
            cmd(b"cache_memlimit 100\r\n"),
            Command::CacheMemlimit {
                megabytes: 100,
                noreply: false
            }
        );
        assert_eq!(
            cmd(b"cache_memlimit 100 noreply\r\n"),
            Command::CacheMemlimit {
                megabytes: 100,
                noreply: true
            }
        );
        assert_eq!((err(b"cache_memlimit\r\n")).reply, Some(Reply::Error));
        assert_eq!((err(b"cache_memlimit abc\r\n")).reply, Some(Reply::Error));
        assert_eq!((err(b"cache_memlimit abc noreply\r\n")).reply, None);
        assert_eq!((err(b"cache_memlimit 1 2 3\r\n")).reply, Some(Reply::Error));
    }
}
