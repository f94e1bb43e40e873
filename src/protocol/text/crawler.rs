//! `lru_crawler <sub-command>` and `cache_memlimit <megabytes> [noreply]`.
//!
//! memcached 1.6.18's forms (proto_text.c `process_lru_crawler_command`,
//! `process_memlimit_command`): `lru_crawler crawl <classes>`, `metadump <classes|all|hash>`,
//! `tocrawl <n>`, `sleep <usec>` take exactly one argument, `enable` / `disable` none;
//! anything else is `ERROR`. A class list is `all` or comma-separated ids in 1..=62; a bad
//! list is only reported (`BADCLASS`) after the executor's "crawler disabled" check, so it is
//! carried as [`Classes::Invalid`] rather than failing the parse.

use super::num::strtoul;
use super::{Line, ParseError};
use crate::protocol::{Classes, Command, CrawlerCmd};

/// memcached's `POWER_SMALLEST` .. `MAX_NUMBER_OF_SLAB_CLASSES - 1` (exclusive).
const FIRST_CLASS: u32 = 1;
const CLASS_LIMIT: u32 = 63;

fn classes(tok: &[u8], hash_ok: bool) -> Classes {
    match tok {
        b"all" => return Classes::All,
        b"hash" if hash_ok => return Classes::Hash,
        _ => {}
    }
    let mut ids = Vec::new();
    for part in tok.split(|&b| b == b',') {
        match strtoul(part) {
            Some(id) if (FIRST_CLASS..CLASS_LIMIT).contains(&id) => ids.push(id as usize),
            _ => return Classes::Invalid,
        }
    }
    Classes::List(ids)
}

/// `lru_crawler ...`.
pub(super) fn lru_crawler<'a>(line: &Line<'a>) -> Result<Command<'a>, ParseError> {
    let cmd = match (line.n, line.tok(1)) {
        (3, b"crawl") => CrawlerCmd::Crawl(classes(line.tok(2), false)),
        (3, b"metadump") => CrawlerCmd::Metadump(classes(line.tok(2), true)),
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
    use crate::protocol::text::tests::{cmd, err};
    use crate::protocol::{Classes, Command, CrawlerCmd, Reply};

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
        for bad in [&b"99"[..], b"0", b"63", b"x", b"1,,2", b"hash", b"1,x"] {
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
