//! Expiry, counters and versions: [`Store`]'s cache methods and the ops of
//! [`Store::cache_batch`]. TTLs are [`Duration`]s, `None` meaning never;
//! they travel as whole milliseconds, rounded up (so a TTL shorter than a
//! millisecond still expires, at the next one) and saturated. The module
//! rounds a deadline down by less than 1/1024 of its TTL (docs/abi.md).

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use kv_module::abi::{
    KvBatchArgs, KvCacheOp, KvPair, KV_OP_DEL, KV_OP_GET, KV_OP_INCR, KV_OP_PUT, KV_OP_PUT_VER,
    KV_OP_TOUCH, KV_OP_TTL,
};
use nix::errno::Errno;

use crate::{op_error, pair, sys, BatchOp, Error, Put, Result, Store, NOT_RUN};

/// A TTL as the ABI's milliseconds: 0 for never.
fn ttl_ms(ttl: Option<Duration>) -> u64 {
    match ttl {
        None => 0,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000).max(1);
            u64::try_from(ms).unwrap_or(u64::MAX)
        }
    }
}

/// The ABI's milliseconds left (-1: never) as a TTL.
fn ttl_left(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// An increment's errno: EINVAL means the value is not a number (lengths
/// are checked here before the kernel sees them).
fn incr_error(errno: Errno) -> Error {
    match errno {
        Errno::EINVAL => Error::NotANumber,
        Errno::EOVERFLOW => Error::Overflow,
        errno => op_error("incr", errno),
    }
}

fn op(code: u32, pair: KvPair) -> KvCacheOp {
    KvCacheOp {
        op: code,
        result: NOT_RUN,
        pair,
        ..KvCacheOp::ZERO
    }
}

impl Store {
    fn cache_op(&self, name: &'static str, mut op: KvCacheOp) -> Result<KvCacheOp> {
        sys::cache_op(self.fd.as_raw_fd(), &mut op).map_err(|e| op_error(name, e))?;
        Ok(op)
    }

    /// [`Store::put_with`], the item expiring after `ttl` (`None`: never).
    pub fn put_ttl(
        &self,
        key: &[u8],
        value: &[u8],
        when: Put,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.cache_op("put", CacheOp::put(key, value, when, ttl)?.0)
            .map(drop)
    }

    /// Sets a present item's expiry to `ttl` from now (`None`: never),
    /// keeping its value; [`Error::NotFound`] if absent.
    pub fn touch(&self, key: &[u8], ttl: Option<Duration>) -> Result<()> {
        self.cache_op("touch", CacheOp::touch(key, ttl)?.0)
            .map(drop)
    }

    /// The time `key` has left (rounded up to a millisecond), or `None`
    /// if it never expires.
    pub fn ttl(&self, key: &[u8]) -> Result<Option<Duration>> {
        let op = self.cache_op("ttl", CacheOp::ttl(key)?.0)?;
        Ok(ttl_left(op.number))
    }

    /// Adds `delta` to the value read as the decimal text of an `i64` and
    /// answers the result, stored back as such text. An absent key is
    /// created with the value `delta`, expiring after `ttl` (`None`: never);
    /// a present one keeps its expiry. [`Error::NotANumber`] or
    /// [`Error::Overflow`] change nothing.
    pub fn incr(&self, key: &[u8], delta: i64, ttl: Option<Duration>) -> Result<i64> {
        let mut op = CacheOp::incr(key, delta, ttl)?.0;
        sys::cache_op(self.fd.as_raw_fd(), &mut op).map_err(incr_error)?;
        Ok(op.number)
    }

    /// The value of `key` and its item's version.
    pub fn get_ver(&self, key: &[u8]) -> Result<(Vec<u8>, u64)> {
        let op = CacheOp(self.cache_op("get", CacheOp::get(key)?.0)?);
        let value = op.0.pair.value.data.get(..op.0.pair.value.len as usize);
        let value = value.ok_or(Error::Os {
            op: "get",
            errno: Errno::EIO, // the kernel never returns a length above KV_MAX_VAL
        })?;
        Ok((value.to_vec(), op.0.version))
    }

    /// Replaces the value of `key` only if its item's version is still
    /// `version`: [`Error::Exists`] if it changed, [`Error::NotFound`] if the
    /// key is absent. The item keeps its expiry.
    pub fn put_ver(&self, key: &[u8], value: &[u8], version: u64) -> Result<()> {
        self.cache_op("put", CacheOp::put_ver(key, value, version)?.0)
            .map(drop)
    }

    /// [`Store::batch`] for [`CacheOp`]s.
    pub fn cache_batch(&self, ops: &mut [CacheOp]) -> Result<()> {
        self.run_batches(ops)
    }
}

/// One operation of [`Store::cache_batch`]: every operation of [`crate::Op`]
/// and the cache's, built by the functions below; once run, read
/// [`CacheOp::result`] and the answers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct CacheOp(KvCacheOp);

// SAFETY: `CacheOp` is a transparent `KvCacheOp`, what `sys::cache_batch`
// sends.
unsafe impl BatchOp for CacheOp {
    const RUN: unsafe fn(RawFd, &mut KvBatchArgs) -> std::result::Result<u32, Errno> =
        sys::cache_batch;
    fn result(&mut self) -> &mut i32 {
        &mut self.0.result
    }
}

impl CacheOp {
    /// Looks up `key`: its value and version.
    pub fn get(key: &[u8]) -> Result<CacheOp> {
        Ok(CacheOp(op(KV_OP_GET, pair(key, b"")?)))
    }

    /// Puts `key` with `value` if `when` allows, expiring after `ttl`.
    pub fn put(key: &[u8], value: &[u8], when: Put, ttl: Option<Duration>) -> Result<CacheOp> {
        let mut o = op(KV_OP_PUT, pair(key, value)?);
        o.flags = when.flags();
        o.ttl_ms = ttl_ms(ttl);
        Ok(CacheOp(o))
    }

    /// Deletes `key`.
    pub fn del(key: &[u8]) -> Result<CacheOp> {
        Ok(CacheOp(op(KV_OP_DEL, pair(key, b"")?)))
    }

    /// Replaces the value of `key` if its version is still `version`.
    pub fn put_ver(key: &[u8], value: &[u8], version: u64) -> Result<CacheOp> {
        let mut o = op(KV_OP_PUT_VER, pair(key, value)?);
        o.version = version;
        Ok(CacheOp(o))
    }

    /// Adds `delta` to `key`'s number ([`Store::incr`]).
    pub fn incr(key: &[u8], delta: i64, ttl: Option<Duration>) -> Result<CacheOp> {
        let mut o = op(KV_OP_INCR, pair(key, b"")?);
        o.number = delta;
        o.ttl_ms = ttl_ms(ttl);
        Ok(CacheOp(o))
    }

    /// Sets `key`'s expiry ([`Store::touch`]).
    pub fn touch(key: &[u8], ttl: Option<Duration>) -> Result<CacheOp> {
        let mut o = op(KV_OP_TOUCH, pair(key, b"")?);
        o.ttl_ms = ttl_ms(ttl);
        Ok(CacheOp(o))
    }

    /// Reads `key`'s time left ([`Store::ttl`]).
    pub fn ttl(key: &[u8]) -> Result<CacheOp> {
        Ok(CacheOp(op(KV_OP_TTL, pair(key, b"")?)))
    }

    /// The op's outcome once run: `Ok`, or its error ([`Error::NotRun`]
    /// before). An increment's EINVAL and EOVERFLOW are
    /// [`Error::NotANumber`] and [`Error::Overflow`].
    pub fn result(&self) -> Result<()> {
        match self.0.result {
            0 => Ok(()),
            NOT_RUN => Err(Error::NotRun),
            neg => {
                let errno = Errno::from_raw(neg.saturating_neg());
                Err(if self.0.op == KV_OP_INCR {
                    incr_error(errno)
                } else {
                    op_error("batch", errno)
                })
            }
        }
    }

    /// The value a successful get found.
    pub fn value(&self) -> Option<&[u8]> {
        if self.0.op != KV_OP_GET || self.0.result != 0 {
            return None;
        }
        self.0.pair.value.data.get(..self.0.pair.value.len as usize)
    }

    /// The version a successful get found.
    pub fn version(&self) -> Option<u64> {
        (self.0.op == KV_OP_GET && self.0.result == 0).then_some(self.0.version)
    }

    /// A successful increment's result.
    pub fn number(&self) -> Option<i64> {
        (self.0.op == KV_OP_INCR && self.0.result == 0).then_some(self.0.number)
    }

    /// A successful ttl op's answer: `Some(None)` for never.
    pub fn ttl_left(&self) -> Option<Option<Duration>> {
        (self.0.op == KV_OP_TTL && self.0.result == 0).then(|| ttl_left(self.0.number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_milliseconds_and_saturate() {
        assert_eq!(ttl_ms(None), 0);
        assert_eq!(ttl_ms(Some(Duration::ZERO)), 1);
        assert_eq!(ttl_ms(Some(Duration::from_micros(1500))), 2);
        assert_eq!(ttl_ms(Some(Duration::from_secs(2))), 2000);
        assert_eq!(ttl_ms(Some(Duration::MAX)), u64::MAX);
        assert_eq!(ttl_left(-1), None);
        assert_eq!(ttl_left(1500), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn increment_errors_are_typed() {
        assert_eq!(incr_error(Errno::EINVAL), Error::NotANumber);
        assert_eq!(incr_error(Errno::EOVERFLOW), Error::Overflow);
        assert_eq!(incr_error(Errno::ENOSPC), Error::StoreFull);
        let mut o = CacheOp::incr(b"n", 1, None).unwrap();
        assert_eq!(o.result(), Err(Error::NotRun));
        o.0.result = -libc::EOVERFLOW;
        assert_eq!(o.result(), Err(Error::Overflow));
        o.0.result = 0;
        o.0.number = 7;
        assert_eq!(o.number(), Some(7));
        let p = CacheOp::put(b"k", b"v", Put::IfAbsent, Some(Duration::from_secs(1))).unwrap();
        assert_eq!((p.0.flags, p.0.ttl_ms), (crate::KV_PUT_NOEXIST, 1000));
        assert_eq!(CacheOp::put_ver(b"k", b"v", 9).unwrap().0.version, 9);
        assert!(crate::key_struct(b"").is_err());
    }
}
