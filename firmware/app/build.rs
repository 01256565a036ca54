//! Build-time settings: the network address from `ECHOKIT_IP` (CIDR, default
//! 192.168.69.1/24, or `dhcp`) and `ECHOKIT_GATEWAY` (default 192.168.69.100; not with
//! `dhcp`). A bad value stops the build with one line naming the variable and the form it
//! expects.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::{env, fs, process};

const DEFAULT_IP: &str = "192.168.69.1/24";
const DEFAULT_GATEWAY: &str = "192.168.69.100";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-env-changed=ECHOKIT_IP");
    println!("cargo:rerun-if-env-changed=ECHOKIT_GATEWAY");

    let ip_text = setting("ECHOKIT_IP", DEFAULT_IP);
    let gw_text = setting("ECHOKIT_GATEWAY", DEFAULT_GATEWAY);
    if ip_text.eq_ignore_ascii_case("dhcp") {
        if env::var_os("ECHOKIT_GATEWAY").is_some_and(|v| !v.is_empty()) {
            fail(&format!(
                "ECHOKIT_GATEWAY={gw_text:?} with ECHOKIT_IP=dhcp: the DHCP server gives the \
                 gateway; unset ECHOKIT_GATEWAY"
            ));
        }
        write(&out, "Addressing::Dhcp".to_owned());
        return;
    }
    let (ip, prefix) = parse_cidr(&ip_text).unwrap_or_else(|why| {
        fail(&format!(
            "ECHOKIT_IP={ip_text:?} {why}: expected an IPv4 address with a prefix length, \
             like {DEFAULT_IP}, or dhcp"
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
        "Addressing::Static {{ ip: {:?}, prefix: {prefix}, gateway: {:?} }}",
        ip.octets(),
        gateway.octets()
    );
    write(&out, code);
}

/// `src/net.rs` includes this expression as its `ADDRESSING`.
fn write(out: &Path, code: String) {
    fs::write(out.join("addressing.rs"), code).expect("OUT_DIR is writable");
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
