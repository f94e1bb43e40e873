//! Config files in memcached.conf style: one flag per line as it would be typed on the
//! command line (`-m 64`, `-l 127.0.0.1`, `-o modern`), `#` comments, blank lines, and
//! Debian's `logfile PATH` line. A stock Debian `/etc/memcached.conf` reads unchanged.
//!
//! Owns: reading and tokenising the file. Must not touch: flag meanings (the `clap` parser
//! in `config/mod.rs` validates every line), sockets, the store.

/// One flag line of a config file, tokenised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagLine {
    /// 1-based line number in the file.
    pub number: usize,
    /// The line as command-line arguments (`logfile X` becomes `--logfile X`).
    pub tokens: Vec<String>,
    /// The line as written (without comment), for messages.
    pub text: String,
}

/// Splits a config file into flag lines. Errors name the line.
pub fn parse(text: &str) -> Result<Vec<FlagLine>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        let mut tokens: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        match tokens[0].as_str() {
            // Debian's start-memcached turns this into output redirection.
            "logfile" => {
                if tokens.len() != 2 {
                    return Err(format!(
                        "line {number}: `{line}`: logfile takes exactly one path"
                    ));
                }
                tokens[0] = "--logfile".to_string();
            }
            t if t.starts_with('-') && t != "-" && t != "--" => {}
            _ => {
                return Err(format!(
                    "line {number}: `{line}`: expected a flag such as `-m 64` or `logfile PATH`"
                ));
            }
        }
        out.push(FlagLine {
            number,
            tokens,
            text: line.to_string(),
        });
    }
    Ok(out)
}

/// Removes a `#` comment: a whole-line comment, or one that starts after whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Debian's /etc/memcached.conf from the memcached 1.6.18 package, comments included.
    pub const DEBIAN: &str = include_str!("../../tests/fixtures/debian-memcached.conf");

    #[test]
    fn debian_file_tokenises() {
        let lines = parse(DEBIAN).unwrap();
        let toks: Vec<Vec<String>> = lines.iter().map(|l| l.tokens.clone()).collect();
        let want: Vec<Vec<&str>> = vec![
            vec!["-d"],
            vec!["--logfile", "/var/log/memcached.log"],
            vec!["-m", "64"],
            vec!["-p", "11211"],
            vec!["-u", "memcache"],
            vec!["-l", "127.0.0.1"],
            vec!["-P", "/var/run/memcached/memcached.pid"],
        ];
        assert_eq!(toks, want);
        assert_eq!(lines[0].number, 9);
    }

    #[test]
    fn comments_and_bad_lines() {
        let l = parse("-m 64   # memory\n\t# note\n-o modern,idle_timeout=5\n").unwrap();
        assert_eq!(l[0].tokens, ["-m", "64"]);
        assert_eq!(l[1].tokens, ["-o", "modern,idle_timeout=5"]);
        assert_eq!(l[1].number, 3);
        // A `#` inside a value is kept.
        assert_eq!(
            parse("-P /tmp/a#b\n").unwrap()[0].tokens,
            ["-P", "/tmp/a#b"]
        );
        let e = parse("-m 64\nmemory 64\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(parse("logfile\n").unwrap_err().starts_with("line 1:"));
        assert!(parse("logfile a b\n").is_err());
        assert!(parse("-\n").is_err());
    }
}
