//! Raising the open-file limit so `--max-conns` connections fit (Unix: `RLIMIT_NOFILE`;
//! Windows has no such per-process limit on sockets, so there is nothing to raise or say).

/// File descriptors the server needs besides its connections (listener, UDP, epoll, log,
/// stdio, signal pipe), with room to spare.
#[cfg(unix)]
const SPARE_FDS: u64 = 64;

/// Raises `RLIMIT_NOFILE` as far as needed for `max_conns` connections, or as far as the
/// system allows. Returns a note for stderr when the limit stays below the need.
#[cfg(unix)]
pub fn raise_nofile(max_conns: usize) -> Option<String> {
    let need = (max_conns as u64).saturating_add(SPARE_FDS);
    let lim = match nofile() {
        Ok(lim) => lim,
        Err(e) => return Some(format!("cannot read the open-file limit: {e}")),
    };
    if lim.rlim_cur >= need {
        return None;
    }
    if lim.rlim_max < need {
        // Only a privileged process may raise the hard limit; try, then settle for it.
        let want = libc::rlimit {
            rlim_cur: need,
            rlim_max: need,
        };
        // Safety: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return None;
        }
    }
    let got = need.min(lim.rlim_max);
    let want = libc::rlimit {
        rlim_cur: got,
        rlim_max: lim.rlim_max,
    };
    // Safety: as above.
    let raised = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0;
    let now = if raised { got } else { lim.rlim_cur };
    (now < need).then(|| {
        format!(
            "note: the open-file limit is {now} (hard limit {}), below the {need} that \
             --max-conns {max_conns} needs; connections beyond about {} will fail",
            lim.rlim_max,
            now.saturating_sub(SPARE_FDS)
        )
    })
}

/// `RLIMIT_NOFILE` as it stands (soft and hard).
#[cfg(unix)]
fn nofile() -> std::io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(lim)
}

/// The soft open-file limit (for advice when connections fail: the bench's too).
#[cfg(unix)]
pub fn open_files() -> Option<u64> {
    nofile().ok().map(|lim| lim.rlim_cur)
}

/// Windows: sockets are not bounded by a descriptor limit; nothing to do, nothing to say.
#[cfg(not(unix))]
pub fn raise_nofile(_max_conns: usize) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_need_is_met_without_a_note() {
        assert_eq!(raise_nofile(1), None);
    }
}
