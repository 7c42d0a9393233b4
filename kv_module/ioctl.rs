// SPDX-License-Identifier: GPL-2.0
//! The ioctl handlers but the dump (`dump.rs`): put, get, del, stat, put
//! with flags, batch, clear, and the cache ops (expiry, increments and
//! versions) one at a time or in a batch. `kv_main.rs` dispatches to them with the
//! file's [`Access`].
//!
//! A request is checked whole before the file's access is: an invalid one
//! answers EINVAL on any file, and EBADF answers only a valid request that
//! the file may not make (a change on a file opened without write, a read
//! on a file opened without read).
//!
//! Each copies its request in, operates on the loaded store
//! (`loaded_store.rs`) and copies its answer out, with user memory touched
//! outside every lock. A batch runs one op at a time through the same paths
//! as the single ioctls (a get without a lock, an exact-LRU get's relink and
//! a put or del under the writer lock), so it buffers one op.

use core::mem::{offset_of, size_of, MaybeUninit};

use kernel::{
    cpu::CpuId,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

use kernel::transmute::{AsBytes, FromBytes};

use crate::abi::{
    self, KvBatchArgs, KvCacheOp, KvOp, KvPair, KvUsageStat, KV_BATCH_MAX, KV_PUT_EXIST,
    KV_PUT_NOEXIST,
};
use crate::loaded_store::wait_for_writer;
use crate::loaded_store::{
    clock, now_ns, shared, store_error, with_writer, with_writer_growing, Store,
};
use crate::loaded_store;
use crate::policy::Relink;
use crate::store::{Condition, Key, PutArgs, Relinked, ValueOut};
use crate::user_copy::{read_in_place, write_value};

/// What the file an ioctl came on was opened for (its `O_ACCMODE`): kept
/// as is and decoded only by the check an operation needs.
#[derive(Clone, Copy)]
pub(crate) struct Access {
    accmode: u32,
}

impl Access {
    /// `O_RDONLY`, `O_WRONLY`, `O_RDWR`, or 3 (neither: the kernel opens
    /// such a file without read or write access).
    pub(crate) fn from_accmode(accmode: u32) -> Self {
        Access { accmode }
    }

    /// What the file may do, as its fdinfo shows it: `read-write`,
    /// `read-only` (get, stat, dump), `write-only` (changes, stat) or `none`
    /// (stat only).
    pub(crate) fn name(self) -> &'static str {
        match (self.require_read().is_ok(), self.require_write().is_ok()) {
            (true, true) => "read-write",
            (true, false) => "read-only",
            (false, true) => "write-only",
            (false, false) => "none",
        }
    }

    /// A valid request to change the store: EBADF unless the file was
    /// opened for writing, as `write(2)` answers. So device permissions can
    /// hand out read-only access.
    pub(crate) fn require_write(self) -> Result {
        use kernel::fs::file::flags::{O_RDWR, O_WRONLY};
        if self.accmode == O_WRONLY || self.accmode == O_RDWR {
            Ok(())
        } else {
            Err(EBADF)
        }
    }

    /// A valid request to read items (get, dump): EBADF unless the file was
    /// opened for reading, as `read(2)` answers, so a write-only grant
    /// cannot read values.
    pub(crate) fn require_read(self) -> Result {
        use kernel::fs::file::flags::{O_RDONLY, O_RDWR};
        if self.accmode == O_RDONLY || self.accmode == O_RDWR {
            Ok(())
        } else {
            Err(EBADF)
        }
    }
}

/// The first `len` bytes of `data`, or EINVAL when `len` exceeds the array.
/// The store checks the lower bounds (a key is at least one byte).
fn prefix(data: &[u8], len: u32) -> Result<&[u8]> {
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    data.get(..len).ok_or(EINVAL)
}

/// `KV_IOC_PUT`.
pub(crate) fn put(arg: UserPtr, access: Access) -> Result {
    let mut slot = MaybeUninit::uninit();
    let pair: &KvPair = read_in_place(arg, &mut slot)?;
    let store = shared()?;
    let key = store
        .key(prefix(&pair.key.data, pair.key.len)?)
        .map_err(store_error)?;
    let value = prefix(&pair.value.data, pair.value.len)?;
    access.require_write()?;
    put_if(store, &key, value, Condition::Always, 0)
}

/// A checked put under `cond`, expiring `ttl_ms` from now (0: never).
fn put_if(store: &Store, key: &Key, value: &[u8], cond: Condition, ttl_ms: u64) -> Result {
    let args = PutArgs { cond, ttl_ms };
    with_writer_growing(|writer| writer.put_if(store, key, value, args, &clock())).map(drop)
}

/// `KV_IOC_GET`.
pub(crate) fn get(arg: UserPtr, access: Access) -> Result {
    let store = shared()?;
    let mut slot = MaybeUninit::uninit();
    let key = key_from_user(store, arg, &mut slot)?;
    access.require_read()?;
    get_to_user(store, key, arg.wrapping_byte_add(offset_of!(KvPair, value))).map(drop)
}

/// Copies the `struct kv_key` at `arg` straight into a [`Key`] in `slot`,
/// then checks and hashes it there (EINVAL for a bad length).
#[inline(always)]
fn key_from_user<'a>(
    store: &Store,
    arg: UserPtr,
    slot: &'a mut MaybeUninit<Key>,
) -> Result<&'a Key> {
    // SAFETY: `read_in_place` returns `Ok` only after copying every byte of
    // its slot from userspace.
    let key = unsafe { Key::fill_uninit(slot, |abi| read_in_place(arg, abi).map(drop)) }?;
    store.seal(key).map_err(store_error)?;
    Ok(key)
}

/// Looks `key` up and answers into the caller's `struct kv_value` at
/// `value_ptr`: `len` and the value's `len` bytes, leaving the rest of the
/// caller's buffer as it was. The lookup takes no lock, whatever the policy
/// (`table.rs` says why it is never torn), and the copy out is outside every
/// lock. Only a value that has reached the caller counts as a hit, which
/// the policy records (`policy/mod.rs`); a get that fails changes nothing.
/// An expired item is a miss; the clock is read only for an item that has
/// an expiry. Answers the version of the item delivered.
#[inline(always)]
fn get_to_user(store: &'static Store, key: &Key, value_ptr: UserPtr) -> Result<u64> {
    // A stale CPU number (after a migration) only picks another CPU's
    // counters, which are atomic. Read after the lookup, so that it is not
    // kept across it.
    let cpu = || CpuId::current().as_u32();
    let mut value = ValueOut::new();
    let found = store
        .get_on(key, cpu, &mut value, wait_for_writer, now_ns)
        .map_err(store_error)?;
    write_value(value_ptr, &value)?;
    let cpu = cpu();
    if let Some(relink) = store.hit(cpu, &found) {
        finish_get(store, key, relink, cpu, &value)?;
    }
    Ok(found.version)
}

/// The share of a delivered get that needs the writer lock (every exact-LRU
/// hit, a SIEVE hit an eviction may have overtaken): there the get takes
/// effect, or turns out a miss (ENOENT: the caller's value bytes then hold
/// what the lookup saw). Out of line, so other gets stay short.
#[inline(never)]
fn finish_get(store: &Store, key: &Key, relink: Relink, cpu: u32, value: &ValueOut) -> Result {
    match with_writer(|writer| Ok(writer.relink(store, key, relink, cpu, value.value())))? {
        Relinked::Delivered => Ok(()),
        Relinked::Gone => Err(ENOENT),
    }
}

/// `KV_IOC_DEL`.
pub(crate) fn del(arg: UserPtr, access: Access) -> Result {
    let store = shared()?;
    let mut slot = MaybeUninit::uninit();
    let key = key_from_user(store, arg, &mut slot)?;
    access.require_write()?;
    with_writer(|writer| writer.del(store, key, &clock()))
}

/// `KV_IOC_STAT`.
pub(crate) fn stat(arg: UserPtr) -> Result {
    let usage = loaded_store::usage()?;
    UserSlice::new(arg, size_of::<KvUsageStat>())
        .writer()
        .write(&usage)
}

/// A put op's `flags` as a condition.
fn condition(flags: u32) -> Result<Condition> {
    match flags {
        0 => Ok(Condition::Always),
        KV_PUT_NOEXIST => Ok(Condition::IfAbsent),
        KV_PUT_EXIST => Ok(Condition::IfPresent),
        _ => Err(EINVAL), // both flags, or an unknown bit
    }
}

/// Runs one op. A get answers into the `struct kv_value` at `value_ptr`,
/// as the get ioctl does (EFAULT only if that copy fails). The op is
/// checked whole (lengths, flags, `reserved`) before the file's access.
fn run_op(op: &KvOp, value_ptr: UserPtr, access: Access) -> Result {
    if op.reserved != 0 {
        return Err(EINVAL);
    }
    let store = shared()?;
    let key = prefix(&op.pair.key.data, op.pair.key.len)?;
    match op.op {
        abi::KV_OP_GET if op.flags == 0 => {
            let key = store.key(key).map_err(store_error)?;
            access.require_read()?;
            get_to_user(store, &key, value_ptr).map(drop)
        }
        abi::KV_OP_PUT => {
            let condition = condition(op.flags)?;
            let key = store.key(key).map_err(store_error)?;
            let value = prefix(&op.pair.value.data, op.pair.value.len)?;
            access.require_write()?;
            put_if(store, &key, value, condition, 0)
        }
        abi::KV_OP_DEL if op.flags == 0 => {
            let key = store.key(key).map_err(store_error)?;
            access.require_write()?;
            with_writer(|writer| writer.del(store, &key, &clock()))
        }
        _ => Err(EINVAL),
    }
}

/// `KV_IOC_PUT_FLAGS`: one put op; its error is the ioctl's.
pub(crate) fn put_flags(arg: UserPtr, access: Access) -> Result {
    let mut slot = MaybeUninit::uninit();
    let op: &KvOp = read_in_place(arg, &mut slot)?;
    if op.op != abi::KV_OP_PUT {
        return Err(EINVAL);
    }
    // A put has no value to answer, so `arg` is never written.
    run_op(op, arg, access)
}

/// `KV_IOC_BATCH`: the ops in order, one at a time; returns how many ran
/// ([`run_batch`]).
pub(crate) fn batch(arg: UserPtr, access: Access) -> Result<isize> {
    run_batch::<KvOp>(arg, access)
}

/// `KV_IOC_CACHE_BATCH`: [`batch`] for [`KvCacheOp`]s.
pub(crate) fn cache_batch(arg: UserPtr, access: Access) -> Result<isize> {
    run_batch::<KvCacheOp>(arg, access)
}

/// An op of a batch.
trait BatchOp: FromBytes {
    /// Offset of the op's `result`.
    const RESULT: usize;
    /// Writes back, unchanged, the fields the op answers in (its `result`
    /// and any other), so they are known writable before the op runs.
    fn probe(&self, at: UserPtr) -> Result;
    /// Runs the op, which was read from `at`, answering into it.
    fn run(&self, at: UserPtr, access: Access) -> Result;
}

impl BatchOp for KvOp {
    const RESULT: usize = offset_of!(KvOp, result);

    fn probe(&self, at: UserPtr) -> Result {
        write_result(at.wrapping_byte_add(Self::RESULT), self.result)
    }

    fn run(&self, at: UserPtr, access: Access) -> Result {
        let value_ptr = at.wrapping_byte_add(offset_of!(KvOp, pair) + offset_of!(KvPair, value));
        run_op(self, value_ptr, access)
    }
}

impl BatchOp for KvCacheOp {
    const RESULT: usize = offset_of!(KvCacheOp, result);

    fn probe(&self, at: UserPtr) -> Result {
        // `result` to `number`: every field but the pair, which only a get
        // writes (and a get that cannot deliver changes nothing).
        let fields = self
            .as_bytes()
            .get(Self::RESULT..offset_of!(KvCacheOp, pair))
            .ok_or(EINVAL)?;
        UserSlice::new(at.wrapping_byte_add(Self::RESULT), fields.len())
            .writer()
            .write_slice(fields)
    }

    fn run(&self, at: UserPtr, access: Access) -> Result {
        run_cache_op(self, at, access)
    }
}

/// The ops of a batch in order, one at a time; returns how many ran.
///
/// An op runs only once its answer fields are known to be writable (they
/// are written first with the values they hold, [`BatchOp::probe`]), so the
/// batch never changes the store without reporting it: at the first op that
/// cannot be read, whose answer fields cannot be written, or whose get
/// cannot deliver its value, the batch stops without running that op and
/// answers how many ran before it (EFAULT if none did, so a failed call
/// changed nothing).
fn run_batch<T: BatchOp>(arg: UserPtr, access: Access) -> Result<isize> {
    let args: KvBatchArgs = UserSlice::new(arg, size_of::<KvBatchArgs>())
        .reader()
        .read()?;
    if args.reserved != 0 || args.count > KV_BATCH_MAX {
        return Err(EINVAL);
    }
    // An address that does not fit a pointer cannot be a user address.
    let base = usize::try_from(args.ops).map_err(|_| EFAULT)?;
    // Ops done so far, at most KV_BATCH_MAX: the answer, or EFAULT for none.
    let done = |ran: u32| match isize::try_from(ran) {
        Ok(0) | Err(_) => Err(EFAULT),
        Ok(ran) => Ok(ran),
    };
    for i in 0..args.count {
        let Some(at) = usize::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(size_of::<T>()))
            .and_then(|offset| base.checked_add(offset))
        else {
            return done(i);
        };
        let op_ptr = UserPtr::from_addr(at);
        let mut slot = MaybeUninit::uninit();
        let Ok(op) = read_in_place::<T>(op_ptr, &mut slot) else {
            return done(i);
        };
        if op.probe(op_ptr).is_err() {
            return done(i);
        }
        let result = match op.run(op_ptr, access) {
            Ok(()) => 0,
            // A get whose value could not be written: it changed nothing.
            Err(e) if e == EFAULT => return done(i),
            Err(e) => e.to_errno(),
        };
        // Writable a moment ago: this fails only if another thread of the
        // caller unmapped it meanwhile, and the op has run, so it counts.
        let result_ptr = op_ptr.wrapping_byte_add(T::RESULT);
        if write_result(result_ptr, result).is_err() {
            return done(i.saturating_add(1));
        }
    }
    // At most KV_BATCH_MAX.
    isize::try_from(args.count).map_err(|_| EINVAL)
}

/// `KV_IOC_CACHE_OP`: one cache op; its error is the ioctl's, its answers
/// go to the struct at `arg`.
pub(crate) fn cache_op(arg: UserPtr, access: Access) -> Result {
    let mut slot = MaybeUninit::uninit();
    let op: &KvCacheOp = read_in_place(arg, &mut slot)?;
    run_cache_op(op, arg, access)
}

/// Runs one cache op read from `at`, answering into it. A put
/// (`kv_put_ttl`) is inlined into the caller, as short a path as a plain
/// put's; the other ops are [`run_other_cache_op`].
#[inline(always)]
fn run_cache_op(op: &KvCacheOp, at: UserPtr, access: Access) -> Result {
    if op.op == abi::KV_OP_PUT {
        return put_op(op, access);
    }
    run_other_cache_op(op, at, access)
}

/// A cache op's put (`kv_put_ttl`): [`put`] with flags and a TTL.
#[inline(always)]
fn put_op(op: &KvCacheOp, access: Access) -> Result {
    if op.reserved != 0 {
        return Err(EINVAL);
    }
    let condition = condition(op.flags)?;
    let store = shared()?;
    let key = store
        .key(prefix(&op.pair.key.data, op.pair.key.len)?)
        .map_err(store_error)?;
    let value = prefix(&op.pair.value.data, op.pair.value.len)?;
    access.require_write()?;
    put_if(store, &key, value, condition, op.ttl_ms)
}

/// Writes a 64-bit answer field of the op at `at`.
fn write_field<T: kernel::transmute::AsBytes>(at: UserPtr, offset: usize, value: &T) -> Result {
    UserSlice::new(at.wrapping_byte_add(offset), size_of::<T>())
        .writer()
        .write(value)
}

/// Runs one cache op other than a put, read from `at`, answering into it: a
/// get's value and `version`, an increment's or a ttl's `number`. The op is
/// checked whole (lengths, flags, `reserved`, a `ttl_ms` only where it means
/// something) before the file's access. A get and a ttl need read access, a
/// change write access, and an increment, which answers the value, both.
fn run_other_cache_op(op: &KvCacheOp, at: UserPtr, access: Access) -> Result {
    if op.reserved != 0 {
        return Err(EINVAL);
    }
    if op.flags != 0 {
        return Err(EINVAL);
    }
    if op.ttl_ms != 0 && !matches!(op.op, abi::KV_OP_INCR | abi::KV_OP_TOUCH) {
        return Err(EINVAL);
    }
    let store = shared()?;
    let key = store
        .key(prefix(&op.pair.key.data, op.pair.key.len)?)
        .map_err(store_error)?;
    let value = || prefix(&op.pair.value.data, op.pair.value.len);
    let clock = clock();
    match op.op {
        abi::KV_OP_GET => {
            access.require_read()?;
            let value_ptr =
                at.wrapping_byte_add(offset_of!(KvCacheOp, pair) + offset_of!(KvPair, value));
            let version = get_to_user(store, &key, value_ptr)?;
            write_field(at, offset_of!(KvCacheOp, version), &version)
        }
        abi::KV_OP_DEL => {
            access.require_write()?;
            with_writer(|writer| writer.del(store, &key, &clock))
        }
        abi::KV_OP_PUT_VER => {
            let value = value()?;
            access.require_write()?;
            with_writer_growing(|writer| writer.put_version(store, &key, value, op.version, &clock))
                .map(drop)
        }
        abi::KV_OP_INCR => {
            access.require_read()?;
            access.require_write()?;
            // The answer's room first: an increment that cannot answer
            // must not happen.
            write_field(at, offset_of!(KvCacheOp, number), &op.number)?;
            let number =
                with_writer_growing(|writer| writer.incr(store, &key, op.number, op.ttl_ms, &clock))?;
            write_field(at, offset_of!(KvCacheOp, number), &number)
        }
        abi::KV_OP_TOUCH => {
            access.require_write()?;
            with_writer_growing(|writer| writer.touch(store, &key, op.ttl_ms, &clock))
        }
        abi::KV_OP_TTL => {
            access.require_read()?;
            let number = with_writer(|writer| writer.ttl(store, &key, &clock))?;
            write_field(at, offset_of!(KvCacheOp, number), &number)
        }
        _ => Err(EINVAL),
    }
}

/// Writes an op's `result`.
fn write_result(at: UserPtr, result: i32) -> Result {
    UserSlice::new(at, size_of::<i32>()).writer().write(&result)
}

/// `KV_IOC_CLEAR`.
pub(crate) fn clear(access: Access) -> Result {
    access.require_write()?;
    crate::loaded_store::clear()
}
