// SPDX-License-Identifier: GPL-2.0
//! Increments: the decimal format, creation with an expiry, the errors that
//! change nothing, and the text stored back.

use core::hint::spin_loop;

use super::{get, never, put, store};
use crate::policy::Policy;
use crate::store::{parse_decimal, Clock, Decimal, Error};
use crate::table::ValueOut;

#[test]
fn decimal_text_is_an_optional_minus_and_1_to_19_digits() {
    for (text, n) in [
        (&b"0"[..], 0),
        (b"-12", -12),
        (b"42", 42),
        (b"007", 7),
        (b"-0", 0),
        (b"9223372036854775807", i64::MAX),
        (b"-9223372036854775808", i64::MIN),
    ] {
        assert_eq!(parse_decimal(text), Some(n), "{text:?}");
    }
    for text in [
        &b""[..],
        b"-",
        b"+1",
        b" 1",
        b"1 ",
        b"1a",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"00000000000000000001",
        b"1.5",
        b"\x001",
    ] {
        assert_eq!(parse_decimal(text), None, "{text:?}");
    }
    for n in [0, 1, -1, 10, -10, i64::MAX, i64::MIN, 1234567890] {
        let d = Decimal::new(n);
        assert_eq!(d.bytes(), std::format!("{n}").as_bytes());
        assert_eq!(parse_decimal(d.bytes()), Some(n));
    }
}

#[test]
fn incr_adds_creates_and_refuses() {
    let (s, mut w) = store(8, 8, Policy::None);
    let key = s.key(b"n").unwrap();
    assert_eq!(w.incr(&s, &key, 5, 0, &never()), Ok(5));
    assert_eq!(w.incr(&s, &key, -7, 0, &never()), Ok(-2));
    assert_eq!(get(&s, &mut w, b"n"), Ok(b"-2".to_vec()));
    put(&s, &mut w, b"n", b"9223372036854775806").unwrap();
    assert_eq!(w.incr(&s, &key, 1, 0, &never()), Ok(i64::MAX));
    let before = s.usage(&w);
    assert_eq!(w.incr(&s, &key, 1, 0, &never()), Err(Error::Overflow));
    put(&s, &mut w, b"m", b"12x").unwrap();
    let m = s.key(b"m").unwrap();
    let before_m = s.usage(&w);
    assert_eq!(w.incr(&s, &m, 1, 0, &never()), Err(Error::NotANumber));
    assert_eq!(s.usage(&w), before_m);
    assert_eq!(get(&s, &mut w, b"n"), Ok(b"9223372036854775807".to_vec()));
    assert_eq!(s.usage(&w).puts, before.puts + 1);
    put(&s, &mut w, b"e", b"").unwrap();
    let e = s.key(b"e").unwrap();
    assert_eq!(w.incr(&s, &e, 1, 0, &never()), Err(Error::NotANumber));
}

#[test]
fn a_created_counter_expires_and_a_present_one_keeps_its_expiry() {
    let (s, mut w) = store(8, 8, Policy::None);
    let key = s.key(b"rate").unwrap();
    let at = |ms: u64| Clock::new(move || ms * 1_000_000);
    assert_eq!(w.incr(&s, &key, 1, 1000, &at(5000)), Ok(1));
    // The TTL of a later increment does not move the expiry.
    assert_eq!(w.incr(&s, &key, 1, 60_000, &at(5500)), Ok(2));
    assert_eq!(w.ttl(&s, &key, &at(5500)), Ok(500));
    // Expired: the next increment starts afresh.
    assert_eq!(w.incr(&s, &key, 1, 1000, &at(6000)), Ok(1));
    assert_eq!(s.usage(&w).expired, 1);
    let mut out = ValueOut::new();
    let found = s
        .get(&key, 0, &mut out, spin_loop, || 6000 * 1_000_000)
        .unwrap();
    // 1000 ms after 6000 ms, early by less than 1/1024 of the TTL.
    let deadline = 7000 * 1_000_000;
    assert!(found.expires <= deadline && found.expires > deadline - 1_000_000_000 / 1024);
    assert_eq!(out.value(), b"1");
}
