//! Command-line options of the torture programs.

/// `--name value` from `args`, parsed; `default` when absent.
pub fn opt<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| format!("{name} needs a value"))?;
            parse_num(v).ok_or_else(|| format!("{name} {v}: not a number"))
        }
    }
}

/// Decimal or 0x-prefixed hexadecimal.
pub fn parse_num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if let Some(hex) = s.strip_prefix("0x") {
        let v = u64::from_str_radix(hex, 16).ok()?;
        v.to_string().parse().ok()
    } else {
        s.parse().ok()
    }
}
