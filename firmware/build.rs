//! Build-time settings: the board's memory map (`src/board/memory.x`) for the linker, and
//! the network address from `ECHOKIT_IP` (CIDR, default 192.168.69.1/24) and
//! `ECHOKIT_GATEWAY` (default 192.168.69.100). A bad value stops the build with one line
//! naming the variable and the form it expects.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::{env, fs, process};

const DEFAULT_IP: &str = "192.168.69.1/24";
const DEFAULT_GATEWAY: &str = "192.168.69.100";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // memory.x where cortex-m-rt's link.x finds it.
    fs::copy("src/board/memory.x", out.join("memory.x")).expect("src/board/memory.x is readable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=src/board/memory.x");
    println!("cargo:rerun-if-env-changed=ECHOKIT_IP");
    println!("cargo:rerun-if-env-changed=ECHOKIT_GATEWAY");

    let ip_text = setting("ECHOKIT_IP", DEFAULT_IP);
    let gw_text = setting("ECHOKIT_GATEWAY", DEFAULT_GATEWAY);
    let (ip, prefix) = parse_cidr(&ip_text).unwrap_or_else(|why| {
        fail(&format!(
            "ECHOKIT_IP={ip_text:?} {why}: expected an IPv4 address with a prefix length, \
             like {DEFAULT_IP}"
        ))
    });
    let gateway: Ipv4Addr = gw_text.parse().unwrap_or_else(|_| {
        fail(&format!(
            "ECHOKIT_GATEWAY={gw_text:?} is not an IPv4 address: expected one like \
             {DEFAULT_GATEWAY}, in ECHOKIT_IP's subnet"
        ))
    });
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    if u32::from(gateway) & mask != u32::from(ip) & mask || gateway == ip {
        fail(&format!(
            "ECHOKIT_GATEWAY={gw_text:?} is not another address in ECHOKIT_IP's subnet \
             {ip}/{prefix}: expected one like {DEFAULT_GATEWAY} for {DEFAULT_IP}"
        ));
    }
    let code = format!(
        "/// The device's IPv4 address (`ECHOKIT_IP`).\n\
         pub const IP: [u8; 4] = {:?};\n\
         /// Its prefix length (`ECHOKIT_IP`).\n\
         pub const PREFIX: u8 = {prefix};\n\
         /// The default route (`ECHOKIT_GATEWAY`).\n\
         pub const GATEWAY: [u8; 4] = {:?};\n",
        ip.octets(),
        gateway.octets()
    );
    fs::write(out.join("net_config.rs"), code).expect("OUT_DIR is writable");
}

/// The variable's value, or `default` when it is unset or empty.
fn setting(name: &str, default: &str) -> String {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_owned(),
        Ok(_) | Err(env::VarError::NotPresent) => default.to_owned(),
        Err(env::VarError::NotUnicode(_)) => fail(&format!("{name} is not valid UTF-8")),
    }
}

/// `a.b.c.d/len`, a unicast host address.
fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8), &'static str> {
    let (addr, len) = text.split_once('/').ok_or("has no /prefix length")?;
    let ip: Ipv4Addr = addr.parse().map_err(|_| "is not an IPv4 address")?;
    let prefix: u8 = len.parse().map_err(|_| "has a bad prefix length")?;
    if !(1..=30).contains(&prefix) {
        return Err("has a prefix length outside 1..=30");
    }
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() {
        return Err("is not a unicast host address");
    }
    Ok((ip, prefix))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    process::exit(1)
}
