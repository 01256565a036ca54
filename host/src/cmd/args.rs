//! Argument parsers that `client` and `bench` share, so both read durations and hosts
//! alike.

use std::time::Duration;

/// Longest interval, duration or timeout: deadlines are `Instant::now() + duration`, which
/// panics when it overflows the clock (`--timeout 1e19`); a year is more than anyone waits.
pub const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// A duration in seconds, fractions allowed: `0.2`, `5`; at most [`MAX_SECONDS`].
pub fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    let duration =
        Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a duration"))?;
    if duration > Duration::from_secs(MAX_SECONDS) {
        return Err(format!(
            "`{text}` is more than a year ({MAX_SECONDS} seconds)"
        ));
    }
    Ok(duration)
}

/// Like [`seconds`], but more than zero (a zero timeout could never see an echo).
pub fn positive_seconds(text: &str) -> Result<Duration, String> {
    let duration = seconds(text)?;
    if duration.is_zero() {
        return Err("the timeout must be more than 0 seconds".into());
    }
    Ok(duration)
}

/// `[::1]` as written in URLs (and accepted by the server's `-s`) is the address `::1`.
pub fn unbracketed(host: String) -> String {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.to_string(),
        None => host,
    }
}
