// SPDX-License-Identifier: GPL-2.0
//! Arrays in whole pages of their own: the memory of the store that
//! userspace may map read-only (`docs/mapping.md`), the bucket array, the
//! public block table and the mapping's header page.
//!
//! Why not the store's other arrays (`Alloc::Vec`, a `KVVec` in the
//! module): a small `kvmalloc` is slab memory, whose page other kernel
//! objects share, and a mapped page must hold the store and nothing else.
//! An array here is an [`Alloc::chunk`]: page-aligned, zeroed (so the bytes
//! past the array's end in its last page are zero, never stale), and never
//! moved while it lives. Plain `no_std` Rust.

use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::NonNull;

use crate::store::Alloc;
use crate::table::CHUNK_ALIGN;

/// `len` elements of `T` at the start of whole pages from `A::chunk`.
///
/// # Invariants
///
/// `ptr` came from `A::chunk(self.bytes())`, holds `len` initialised `T`s,
/// and is freed only in `drop`.
pub struct Pages<T, A: Alloc> {
    ptr: NonNull<T>,
    len: usize,
    _owns: PhantomData<(T, A)>,
}

// SAFETY: A `Pages` owns its elements as a `Box<[T]>` would: sending or
// sharing it sends or shares them.
unsafe impl<T: Send, A: Alloc> Send for Pages<T, A> {}
// SAFETY: As above.
unsafe impl<T: Sync, A: Alloc> Sync for Pages<T, A> {}

impl<T, A: Alloc> Pages<T, A> {
    /// `len` (at least 1) elements made by `f`, or `None` when out of
    /// memory or too large. `T` must not need dropping (the store's are
    /// atomics and plain data): the pages are freed without running any
    /// element's destructor.
    pub fn new(len: usize, mut f: impl FnMut() -> T) -> Option<Self> {
        const { assert!(!core::mem::needs_drop::<T>()) };
        if len == 0 {
            return None;
        }
        let bytes = Self::bytes_for(len)?;
        let ptr = A::chunk(bytes)?.cast::<T>();
        for k in 0..len {
            // SAFETY: `ptr` is `bytes >= len * size_of::<T>()` bytes,
            // aligned to a page (which any `T` of the store's needs no more
            // than), so element `k < len` lies inside it.
            unsafe { ptr.add(k).write(f()) };
        }
        // INVARIANT: allocated with `bytes_for(len)` and every element
        // written.
        Some(Pages {
            ptr,
            len,
            _owns: PhantomData,
        })
    }

    /// Bytes of the pages holding `len` elements: a multiple of a page.
    fn bytes_for(len: usize) -> Option<usize> {
        const { assert!(core::mem::align_of::<T>() <= CHUNK_ALIGN) };
        let bytes = len.checked_mul(core::mem::size_of::<T>())?;
        bytes.checked_next_multiple_of(CHUNK_ALIGN)
    }

    /// The first page's address.
    pub fn base(&self) -> NonNull<u8> {
        self.ptr.cast()
    }

    /// Bytes of the pages: a multiple of a page, from the first element's
    /// address.
    pub fn bytes(&self) -> usize {
        // Computed once already in `new`, which checked it.
        Self::bytes_for(self.len).unwrap_or(0)
    }
}

impl<T, A: Alloc> Deref for Pages<T, A> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        // SAFETY: By the invariants, `ptr` holds `len` initialised `T`s that
        // live as long as `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T, A: Alloc> Drop for Pages<T, A> {
    fn drop(&mut self) {
        // SAFETY: From `A::chunk(self.bytes())` (invariants), freed only
        // here; `&mut self` means no borrow of the elements is left. Its
        // elements need no drop (`new`).
        unsafe { A::free_chunk(self.ptr.cast::<u8>(), self.bytes()) };
    }
}
