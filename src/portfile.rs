//! The port file memcached writes when `MEMCACHED_PORT_FILENAME` is set: how a test (or a
//! supervisor) learns which ports an ephemeral start (`-p -1`, `-U -1`) got, without
//! guessing a free port first.
//!
//! Same contract as memcached 1.6 (`memcached.c`, `portnumber_filename`): one line per
//! bound TCP socket, in `-l` order, then one per UDP socket, each `TCP INET: 11211`,
//! `TCP INET6: 11211`, `UDP INET: …` or `UDP INET6: …`; written to `<name>.lck` (opened for
//! appending) before the sockets are bound, closed and renamed to `<name>` once serving, so
//! the file appears complete and only once every socket is bound and listening. Not written with a unix socket (`-s`), like memcached.
//! A file that cannot be opened is reported on stderr and start-up goes on, as memcached
//! does.
//!
//! Owns: that file. Must not touch: the sockets themselves (it gets their addresses).

use std::ffi::OsString;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The environment variable memcached reads.
pub const ENV: &str = "MEMCACHED_PORT_FILENAME";

/// The file's text for these bound addresses (TCP first, then UDP).
pub fn contents(tcp: &[SocketAddr], udp: &[SocketAddr]) -> String {
    let mut out = String::new();
    for (kind, addrs) in [("TCP", tcp), ("UDP", udp)] {
        for a in addrs {
            let family = if a.is_ipv4() { "INET" } else { "INET6" };
            out.push_str(&format!("{kind} {family}: {}\n", a.port()));
        }
    }
    out
}

/// `<path>.lck`, the name the file is written under before the rename.
fn lock_name(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".lck");
    PathBuf::from(name)
}

/// The port file being written: `<name>.lck`, open for appending.
pub struct Pending {
    file: std::fs::File,
    lck: PathBuf,
    path: PathBuf,
}

impl Pending {
    /// Opens `<path>.lck` for appending, as memcached's `fopen(..., "a")`.
    pub fn open(path: &Path) -> io::Result<Pending> {
        let lck = lock_name(path);
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&lck)
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("Failed to open \"{}\": {e}", lck.display()),
                )
            })?;
        Ok(Pending {
            file,
            lck,
            path: path.to_path_buf(),
        })
    }

    /// Gives the `.lck` file to the user `-u` switches to, so that user can rename it
    /// into place later (as in memcached, which creates it after switching; in a sticky
    /// directory such as /tmp only the owner may rename).
    pub fn chown(&self, uid: u32, gid: u32) -> io::Result<()> {
        std::os::unix::fs::fchown(&self.file, Some(uid), Some(gid))
    }

    /// Writes the lines for the bound sockets, closes the file and renames it into place.
    pub fn finish(mut self, tcp: &[SocketAddr], udp: &[SocketAddr]) -> io::Result<()> {
        self.file.write_all(contents(tcp, udp).as_bytes())?;
        self.file.flush()?;
        let Pending { file, lck, path } = self;
        drop(file);
        std::fs::rename(&lck, &path)
    }
}

/// When `MEMCACHED_PORT_FILENAME` is set (and not empty): opens its `.lck` file. Called
/// before the TCP and UDP sockets are bound, as memcached does, and finished once the
/// server threads run: memcached's threads exist before its sockets, so the descriptor
/// the file frees goes to the first client, below the listeners; holding it until then
/// keeps ferrocache's `stats conns` in memcached's order. A failure is reported on stderr
/// and is not fatal (memcached goes on too).
pub fn open_from_env() -> Option<Pending> {
    let path = std::env::var_os(ENV).filter(|p| !p.is_empty())?;
    match Pending::open(Path::new(&path)) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// Finishes a port file opened by `open_from_env` once every socket listens; a failure is
/// logged, not fatal.
pub fn publish(pending: Option<Pending>, tcp: &[SocketAddr], udp: &[SocketAddr]) {
    if let Some(p) = pending {
        let shown = p.path.display().to_string();
        if let Err(e) = p.finish(tcp, udp) {
            log::warn!("port file {shown}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_like_memcached() {
        let tcp: Vec<SocketAddr> = vec![
            "127.0.0.1:34043".parse().unwrap(),
            "[::1]:34415".parse().unwrap(),
        ];
        let udp: Vec<SocketAddr> = vec!["127.0.0.1:46941".parse().unwrap()];
        assert_eq!(
            contents(&tcp, &udp),
            "TCP INET: 34043\nTCP INET6: 34415\nUDP INET: 46941\n"
        );
        assert_eq!(contents(&[], &[]), "");
    }

    #[test]
    fn written_through_the_lock_name() {
        let dir = std::env::temp_dir().join(format!("ferro-portfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ports");
        let tcp: Vec<SocketAddr> = vec!["127.0.0.1:1".parse().unwrap()];
        Pending::open(&path).unwrap().finish(&tcp, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "TCP INET: 1\n");
        assert!(!lock_name(&path).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
