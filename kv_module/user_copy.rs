// SPDX-License-Identifier: GPL-2.0
//! Copies between userspace and the kernel, and the byte traits of the ABI
//! structs that let the kernel crate's `UserSlice` copy them.
//!
//! The ABI structs (`abi.rs`) are `repr(C)`, made only of integers and
//! integer arrays, and `abi.rs` asserts their sizes, which shows there is no
//! padding. Every bit pattern is therefore a valid value (`FromBytes`) and
//! every byte of a value is initialised (`AsBytes`).

use core::mem::{size_of, MaybeUninit};

use kernel::{
    bindings,
    prelude::*,
    transmute::{AsBytes, FromBytes},
    uaccess::UserPtr,
};

use crate::abi::{KvBatchArgs, KvCacheOp, KvDumpArgs, KvKey, KvOp, KvPair, KvUsageStat};
use crate::store::ValueOut;

// SAFETY: See the file header: every bit pattern is a valid `KvKey`.
unsafe impl FromBytes for KvKey {}
// SAFETY: See the file header: every bit pattern is a valid `KvPair`.
unsafe impl FromBytes for KvPair {}
// SAFETY: See the file header: every bit pattern is a valid `KvOp`.
unsafe impl FromBytes for KvOp {}
// SAFETY: See the file header: every bit pattern is a valid `KvCacheOp`.
unsafe impl FromBytes for KvCacheOp {}
// SAFETY: See the file header: every bit pattern is a valid `KvBatchArgs`.
unsafe impl FromBytes for KvBatchArgs {}
// SAFETY: See the file header: every bit pattern is a valid `KvDumpArgs`.
unsafe impl FromBytes for KvDumpArgs {}
// SAFETY: See the file header: no padding, so every byte is initialised.
unsafe impl AsBytes for KvPair {}
// SAFETY: See the file header: no padding, so every byte is initialised.
unsafe impl AsBytes for KvUsageStat {}
// SAFETY: See the file header: no padding, so every byte is initialised.
unsafe impl AsBytes for KvDumpArgs {}
// SAFETY: See the file header: no padding, so every byte is initialised.
unsafe impl AsBytes for KvCacheOp {}

/// Copies a `T` from userspace at `arg` into `slot` and returns it there:
/// [`UserSliceReader::read`] without the move out of its buffer (a request
/// is up to `size_of::<KvOp>()` bytes, and copying it again would be much
/// of an operation's cost).
///
/// [`UserSliceReader::read`]: kernel::uaccess::UserSliceReader::read
#[inline]
pub(crate) fn read_in_place<T: FromBytes>(arg: UserPtr, slot: &mut MaybeUninit<T>) -> Result<&T> {
    // SAFETY: `slot` is valid for writes of `size_of::<T>()` bytes, and
    // `_copy_from_user` checks the user range itself. The size is a
    // compile-time constant, so, like `UserSliceReader::read` and the C
    // side for constant sizes, this skips `check_object_size`.
    let left = unsafe {
        bindings::_copy_from_user(slot.as_mut_ptr().cast(), arg.as_const_ptr(), size_of::<T>())
    };
    if left != 0 {
        return Err(EFAULT);
    }
    // SAFETY: The copy succeeded, so all `size_of::<T>()` bytes of `slot`
    // are initialised, and `T: FromBytes` makes every byte pattern valid.
    Ok(unsafe { slot.assume_init_ref() })
}

/// Answers a get: copies `value` (its `len` and the value's bytes) to the
/// caller's `struct kv_value` at `dst`, leaving the caller's bytes after the
/// value as they were: [`UserSliceWriter::write_slice`] in one call instead
/// of its chain of four, as every get answers through here. It takes a
/// [`ValueOut`] and nothing else, because it skips the hardened-usercopy
/// check (`check_object_size`) that `copy_to_user` makes for sizes not known
/// at compile time: the source is always that one object, of at most
/// `size_of::<ValueOut>()` bytes.
///
/// [`UserSliceWriter::write_slice`]: kernel::uaccess::UserSliceWriter::write_slice
#[inline]
pub(crate) fn write_value(dst: UserPtr, value: &ValueOut) -> Result {
    let src = value.bytes();
    // SAFETY: `src` borrows `value`, so its `src.len()` bytes are valid for
    // reads, which is all `_copy_to_user` needs; it checks the user range
    // itself. What `check_object_size` would verify, that the kernel range
    // lies inside one object, holds by construction: `ValueOut::bytes` is a
    // slice of the `ValueOut`.
    let left = unsafe { bindings::_copy_to_user(dst.as_mut_ptr(), src.as_ptr().cast(), src.len()) };
    if left != 0 {
        return Err(EFAULT);
    }
    Ok(())
}
