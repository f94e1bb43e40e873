//! Dropping root privileges (`-u USER`), as memcached does after binding its ports.

use std::ffi::CString;
use std::io;

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
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
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
