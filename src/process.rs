//! Process-wide OS settings memcached's flags ask for: dropping root privileges (`-u`),
//! daemonizing (`-d`), locking memory (`-k`) and raising the core file limit (`-r`).
//!
//! Owns: the libc calls for those. Must not touch: sockets' contents, the store, threads
//! (daemonize must run before any thread is spawned).

use std::ffi::CString;
use std::io;

/// The uid and gid `-u user` switches to: `Some` only when running as root with a user
/// given (the cases where `drop_if_root` switches).
pub fn target_ids(user: Option<&str>) -> io::Result<Option<(libc::uid_t, libc::gid_t)>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let (0, Some(user)) = (euid, user) else {
        return Ok(None);
    };
    let name = CString::new(user)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "-u: bad user name"))?;
    // SAFETY: `name` is a valid NUL-terminated string; getpwnam returns NULL or a pointer to
    // static storage that we read immediately, before any other getpw* call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("-u {user}: can't find the user to switch to"),
        ));
    }
    // SAFETY: `pw` is non-null and points to a valid passwd record (see above).
    Ok(Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) }))
}

/// When running as root: switch to `user` (groups, gid, then uid), or warn if none given.
/// When not root: nothing to do (`-u` is ignored, as memcached does).
pub fn drop_if_root(user: Option<&str>) -> io::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Ok(());
    }
    let Some(user) = user else {
        log::warn!(
            "running as root without -u: consider -u <user> (e.g. -u memcache) to drop privileges"
        );
        return Ok(());
    };
    let Some((uid, gid)) = target_ids(Some(user))? else {
        return Ok(());
    };
    // SAFETY: plain syscalls on integer arguments; the group list pointer is to one gid.
    let ok = unsafe {
        libc::setgroups(1, &gid) == 0 && libc::setgid(gid) == 0 && libc::setuid(uid) == 0
    };
    if !ok {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("-u {user}: failed to assume identity: {e}"),
        ));
    }
    log::info!("dropped privileges to {user} (uid {uid}, gid {gid})");
    Ok(())
}

/// `-d`: fork, let the parent exit 0, start a new session, `chdir /`, and point stdin,
/// stdout and stderr at /dev/null (log lines go to `--logfile` when one is set).
///
/// Must be called while the process has a single thread: after binding the listening
/// sockets (so bind errors still reach the caller's terminal) and before spawning any.
pub fn daemonize() -> io::Result<()> {
    // SAFETY: the process is single-threaded here (documented precondition, upheld by main:
    // no thread has been spawned yet), so the child does not inherit locks held by others.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        // SAFETY: _exit is always safe; the parent must not run destructors or flush stdio
        // buffers the child also owns.
        _ => unsafe { libc::_exit(0) },
    }
    // SAFETY: plain syscall without arguments.
    if unsafe { libc::setsid() } == -1 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_current_dir("/")?;
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    use std::os::fd::AsRawFd;
    for fd in 0..3 {
        // SAFETY: both descriptors are open; dup2 atomically replaces `fd`.
        if unsafe { libc::dup2(devnull.as_raw_fd(), fd) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `-k`: lock current and future pages in memory. memcached only warns when it fails.
pub fn lock_memory() {
    // SAFETY: plain syscall on integer flags.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc != 0 {
        log::warn!(
            "-k: mlockall() failed: {}; proceeding without locked memory",
            io::Error::last_os_error()
        );
    } else {
        log::info!("-k: all memory locked");
    }
}

/// `-r`: raise the core file size limit to the hard maximum (memcached exits when it
/// cannot).
pub fn enable_coredumps() -> io::Result<()> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    rl.rlim_cur = rl.rlim_max;
    // SAFETY: `rl` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &rl) } != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("-r: failed to ensure corefile creation: {e}"),
        ));
    }
    Ok(())
}

/// systemd's readiness protocol (`Type=notify`): sends `state` (e.g. `READY=1`) as one
/// datagram to `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Without
/// that variable (not under systemd) it does nothing. Failures are logged, never fatal.
pub fn sd_notify(state: &str) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = path.as_bytes();
    let sent = UnixDatagram::unbound().and_then(|sock| {
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), std::path::Path::new(&path))
        }
    });
    if let Err(e) = sent {
        log::warn!("sd_notify to {}: {e}", path.to_string_lossy());
    }
}

/// `RELOADING=1` with the monotonic timestamp systemd asks for.
pub fn sd_notify_reloading() {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let usec = (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000;
    sd_notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// Raises the soft open-files limit so that `conns` connections plus our own descriptors
/// fit, as memcached does for `-c`. When the hard limit is lower, raises the soft limit to
/// it and warns (memcached refuses to start; the listener copes with accept failures).
pub fn ensure_nofile(conns: usize) -> io::Result<()> {
    let need = (conns as u64).saturating_add(64);
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if rl.rlim_cur >= need {
        return Ok(());
    }
    if rl.rlim_max < need {
        log::warn!(
            "-c {conns}: the open files limit is {} (hard), fewer connections will fit; raise it (ulimit -n, LimitNOFILE=) or lower -c",
            rl.rlim_max
        );
    }
    rl.rlim_cur = need.min(rl.rlim_max);
    // SAFETY: `rl` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        log::warn!(
            "-c {conns}: failed to raise the open files limit: {}",
            io::Error::last_os_error()
        );
    }
    Ok(())
}
