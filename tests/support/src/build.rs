//! The ABI structs built from bytes.

use kv_module::abi::{KvCacheOp, KvKey, KvOp, KvPair, KV_MAX_KEY, KV_MAX_VAL};

/// A key struct. `key` may be longer than `KV_MAX_KEY` only to build a bad
/// length: the length says so, the bytes stop at the limit.
pub fn key_of(key: &[u8]) -> KvKey {
    let mut k = KvKey::ZERO;
    let n = key.len().min(KV_MAX_KEY);
    k.data[..n].copy_from_slice(&key[..n]);
    k.len = key.len() as u32;
    k
}

/// A pair struct; lengths past the limits only to build bad requests.
pub fn pair(key: &[u8], value: &[u8]) -> KvPair {
    let mut p = KvPair::ZERO;
    p.key = key_of(key);
    let n = value.len().min(KV_MAX_VAL);
    p.value.data[..n].copy_from_slice(&value[..n]);
    p.value.len = value.len() as u32;
    p
}

/// What [`op`] puts in `result`: a value the kernel must overwrite.
pub const RESULT_UNSET: i32 = 12345;

/// A batch op (or a put with flags) of `kind` on `key`.
pub fn op(kind: u32, flags: u32, key: &[u8], value: &[u8]) -> KvOp {
    KvOp {
        op: kind,
        flags,
        result: RESULT_UNSET,
        reserved: 0,
        pair: pair(key, value),
    }
}

/// A `kv_cache_op` of `kind` on `key` with `value`, every other field 0.
pub fn cache_op(kind: u32, key: &[u8], value: &[u8]) -> KvCacheOp {
    KvCacheOp {
        op: kind,
        result: RESULT_UNSET,
        pair: pair(key, value),
        ..KvCacheOp::ZERO
    }
}

/// `len` bytes running through 0..=255 in a salt-dependent order: NUL and
/// 0xFF included.
pub fn binary(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}
